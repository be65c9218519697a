"""Hardening: limits, the rate limit, security headers, no debug output, the admin token, path
traversal, and requests only a raw socket can send, against the Flask app and the real gunicorn server."""
import hmac
import io
import json
import shutil
import sys
import time

import pytest
import requests

from qa.app import create_app
from qa.build import build_index
from qa.config import SAMPLE_REPORTS
from qa.ratelimit import RateLimiter, parse_rate

from .conftest import ADMIN_TOKEN, server_process, wait_for_job
from .rawhttp import check_response, envelope_problem, request_bytes, send_raw

SEED = "how is London CRC doing on public protection?"
RID = "2018-03-london-crc-press-release"
TOKEN = ADMIN_TOKEN


def assert_envelope(r, status, code=None):
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[:300])
    problem = envelope_problem(r.status_code, r.headers.get("Content-Type", ""), r.get_data())
    assert problem is None, problem
    if code:
        assert r.get_json()["error"]["code"] == code


# --- limits -------------------------------------------------------------------------------------

@pytest.mark.parametrize("body,status,code", [
    ({"question": "x" * 1000}, 200, None),
    ({"question": "x" * 1001}, 400, "question_too_long"),
    ({"question": "  " + "x" * 1000 + "  "}, 200, None),  # 1 to 1,000 characters after trimming
    ({"question": "risk", "top_k": 1}, 200, None),
    ({"question": "risk", "top_k": 50}, 200, None),
    ({"question": "risk", "top_k": 0}, 400, "invalid_top_k"),
    ({"question": "risk", "top_k": 51}, 400, "invalid_top_k"),
    ({"question": "risk", "top_k": 10**30}, 400, "invalid_top_k"),
    ({"question": "risk", "top_k": 5.0}, 400, "invalid_top_k"),
    ({"question": "risk", "history": ["h"] * 200}, 200, None),  # only the last 20 are used
    ({"question": "risk", "history": ["h" * 1001]}, 400, "invalid_history"),
    ({"question": "risk", "history": {"a": 1}}, 400, "invalid_history"),
])
def test_question_top_k_and_history_limits(client, body, status, code):
    r = client.post("/ask", json=body)
    if status == 200:
        assert r.status_code == 200 and len(r.get_json()["passages"]) <= body.get("top_k", 5)
    else:
        assert_envelope(r, status, code)


@pytest.mark.parametrize("data,code", [
    (b"[" * 50_000, "invalid_json"),  # nesting too deep to parse: RecursionError, not a 500
    (b'{"question":' + b"[" * 30_000, "invalid_json"),
    (b'{"question": "risk \\ud800"}', "invalid_json"),  # a lone surrogate could never be written back as UTF-8
    (b'{"\\udc00": 1, "question": "risk"}', "invalid_json"),
    (b'{"question": "risk", "top_k": ' + b"9" * 5000 + b"}", "invalid_json"),  # over Python's int digit limit
    (b'{"question": NaN}', "invalid_question"),
    (b'{"question": "risk", "top_k": Infinity}', "invalid_top_k"),
    (b"\xff\xfe\x00garbage", "invalid_json"),
    (b"", "invalid_json"),
])
def test_malformed_json_bodies_are_400_envelopes(client, data, code):
    assert_envelope(client.post("/ask", data=data, content_type="application/json"), 400, code)


def test_json_in_utf16_and_a_paired_surrogate_escape_are_read(client):
    r = client.post("/ask", data=json.dumps({"question": SEED}).encode("utf-16"), content_type="application/json")
    assert r.status_code == 200 and r.get_json()["passages"]
    r = client.post("/ask", data=b'{"question": "public protection \\ud83d\\ude00"}', content_type="application/json")
    assert r.status_code == 200 and r.get_json()["question"].endswith("\U0001F600")


@pytest.mark.parametrize("size", [64 * 1024 + 1, 1_000_000])
def test_a_body_over_64_kb_is_413(client, size):
    assert_envelope(client.post("/ask", data=b"x" * size, content_type="application/json"), 413, "payload_too_large")


# --- rate limit -----------------------------------------------------------------------------------

def test_rate_limit_is_off_by_default(sample_index_dir, monkeypatch):
    monkeypatch.delenv("QA_RATE_LIMIT", raising=False)
    client = create_app(sample_index_dir, {"TESTING": True}).test_client()
    assert all(client.get("/ask", query_string={"q": "risk"}).status_code == 200 for _ in range(30))


def test_rate_limit_answers_429_with_retry_after_per_client(sample_index_dir, monkeypatch):
    monkeypatch.setenv("QA_RATE_LIMIT", "3/minute")
    client = create_app(sample_index_dir, {"TESTING": True}).test_client()
    one = {"REMOTE_ADDR": "203.0.113.7"}
    for _ in range(3):
        assert client.get("/ask", query_string={"q": "risk"}, environ_base=one).status_code == 200
    r = client.post("/ask", json={"question": "risk"}, environ_base=one)
    assert_envelope(r, 429, "rate_limited")
    assert 1 <= int(r.headers["Retry-After"]) <= 20  # a token comes back every 20 s
    assert "3 per 60 s" in r.get_json()["error"]["message"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    other = {"REMOTE_ADDR": "198.51.100.9"}
    assert client.get("/ask", query_string={"q": "risk"}, environ_base=other).status_code == 200
    assert client.get("/health", environ_base=one).status_code == 200  # only /ask is limited
    assert client.get(f"/reports/{RID}/text", environ_base=one).status_code == 200


def test_rate_limiter_refills_and_bounds_its_table():
    now = [0.0]
    limiter = RateLimiter(parse_rate("2/second"), max_clients=100, clock=lambda: now[0])
    assert limiter.hit("a") == 0 and limiter.hit("a") == 0
    wait = limiter.hit("a")
    assert 0 < wait <= 0.5 and limiter.retry_after(wait) == 1
    now[0] += 0.5
    assert limiter.hit("a") == 0
    for i in range(1000):
        limiter.hit(f"client-{i}")
    assert len(limiter) <= 100


@pytest.mark.parametrize("spec,expected", [("60/minute", (60, 60)), ("10/second", (10, 1)), ("1000/hour", (1000, 3600)),
                                           ("100/15m", (100, 900)), ("5/s", (5, 1)), ("0", None), ("", None), (None, None)])
def test_rate_limit_spec(spec, expected):
    rate = parse_rate(spec)
    assert (rate and (rate.requests, rate.seconds)) == expected


@pytest.mark.parametrize("spec", ["fast", "10/fortnight", "1/0s", "-5/minute"])
def test_a_malformed_rate_limit_stops_the_app_with_its_reason(sample_index_dir, monkeypatch, spec):
    monkeypatch.setenv("QA_RATE_LIMIT", spec)
    with pytest.raises(ValueError, match="QA_RATE_LIMIT"):
        create_app(sample_index_dir)


# --- headers, debug, errors -----------------------------------------------------------------------

@pytest.mark.parametrize("method,url,kwargs", [
    ("get", "/", {}), ("get", "/ask?q=risk", {}), ("get", "/ask", {}), ("post", "/ask", {"data": b"x" * 70_000}),
    ("delete", "/ask", {}), ("get", "/nowhere", {}), ("get", f"/reports/{RID}", {}), ("get", "/reports/nope", {}),
    ("get", "/openapi.json", {}), ("get", "/static/style.css", {}), ("options", "/ask", {}), ("head", "/ask?q=risk", {}),
])
def test_every_response_carries_the_security_headers(client, method, url, kwargs):
    r = getattr(client, method)(url, **kwargs)
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "text/html" not in r.headers.get("Content-Type", "") or url in ("/", f"/reports/{RID}", "/reports/nope")


def test_odd_methods_on_ask_never_give_html_or_500(client):
    for method in ("PUT", "DELETE", "PATCH", "PROPFIND", "TRACE", "FOO"):
        r = client.open("/ask", method=method)
        assert_envelope(r, 405, "method_not_allowed")
        assert {"GET", "POST"} <= set(r.headers["Allow"].replace(" ", "").split(","))
    r = client.open("/ask", method="OPTIONS")
    assert r.status_code == 200 and "html" not in r.headers["Content-Type"]
    r = client.head("/ask")
    assert r.status_code == 400 and r.headers["Content-Type"] == "application/json"


def test_no_debug_mode_and_no_stack_trace_even_with_flask_debug(sample_index_dir, monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    app = create_app(sample_index_dir)
    assert app.debug is False

    def boom(*args, **kwargs):
        raise RuntimeError("secret internal detail /etc/qa.conf")

    monkeypatch.setattr("qa.app.ask", boom)
    r = app.test_client().get("/ask?q=risk")
    assert_envelope(r, 500, "internal_error")
    text = r.get_data(as_text=True)
    assert "Traceback" not in text and "secret internal detail" not in text and "RuntimeError" not in text


def test_openapi_describes_the_contract(client):
    r = client.get("/openapi.json")
    assert r.status_code == 200 and r.is_json
    spec = r.get_json()
    assert spec["openapi"].startswith("3.0")
    paths = spec["paths"]
    assert {"get", "post"} <= set(paths["/ask"])
    for path in ("/health", "/reports", "/reports/{report_id}", "/reports/{report_id}/text"):
        assert "get" in paths[path]
    ask = spec["components"]["schemas"]["AskRequest"]["properties"]
    assert ask["question"]["maxLength"] == 1000 and (ask["top_k"]["minimum"], ask["top_k"]["maximum"]) == (1, 50)
    error = spec["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["required"] == ["code", "message"]
    schemathesis = pytest.importorskip("schemathesis")
    operations = list(schemathesis.openapi.from_dict(spec).get_all_operations())
    assert len(operations) >= 9


# --- the admin token ---------------------------------------------------------------------------------

def test_the_admin_token_is_compared_in_constant_time(admin_app, monkeypatch):
    client, _, _ = admin_app
    calls, compare = [], hmac.compare_digest

    def spy(a, b):
        calls.append((type(a), type(b)))
        return compare(a, b)

    monkeypatch.setattr("qa.admin.hmac.compare_digest", spy)
    for given in ("Bearer x", "Bearer " + TOKEN[:-1], "Bearer " + TOKEN + "x", "Bearer \u00e9\u00ff", "", "x" * 5000):
        r = client.post("/admin/reindex", headers={"Authorization": given})
        assert_envelope(r, 401, "unauthorized")
    assert len(calls) == 6 and all(t == (bytes, bytes) for t in calls)


@pytest.mark.parametrize("given,stored", [
    ("....//....//etc/passwd.txt", "passwd.txt"),
    ("..", None), ("../", None),
    ("C:\\Windows\\System32\\evil.txt", "*"),  # how the client escapes backslashes varies; never a path
    ("evil\u202etxt.md", "eviltxt.md"),  # right-to-left override (a format character) dropped
    ("re\x00port\x07\x1b.txt", "report.txt"),
    ("доклад 報告書.txt", "доклад 報告書.txt"),
    ("%2e%2e%2fescape.txt", "_2e_2e_2fescape.txt"),
])
def test_upload_names_stay_inside_the_reports_folder(admin_app, given, stored):
    client, reports, _ = admin_app
    outside = lambda: {p for p in reports.parent.rglob("*") if reports not in p.parents and p != reports  # noqa: E731
                       and (reports.parent / "index") not in p.parents}
    before = outside()
    r = client.post("/admin/reports", headers={"Authorization": f"Bearer {TOKEN}"},
                    data={"file": (io.BytesIO(b"Unpaid work was well organised in every region we visited."), given)})
    if stored is None:
        assert_envelope(r, 415, "unsupported_type")
        return
    assert r.status_code == 202, r.get_json()
    name = r.get_json()["stored"][0]
    assert stored in ("*", name) and "/" not in name and "\\" not in name and not name.startswith(".")
    assert (reports / name).is_file() and (reports / name).resolve().parent == reports.resolve()
    assert outside() == before  # nothing written beside the reports and index folders
    assert wait_for_job(client, r.get_json()["job"])["status"] == "succeeded"


def test_a_chunked_upload_without_length_is_refused(admin_app):
    client, _, _ = admin_app
    r = client.post("/admin/reports", headers={"Authorization": f"Bearer {TOKEN}", "Transfer-Encoding": "chunked"},
                    input_stream=io.BytesIO(b"--x--\r\n"), content_type="multipart/form-data; boundary=x")
    assert_envelope(r, 411, "length_required")


# --- path traversal on /reports/<id> --------------------------------------------------------------------

@pytest.mark.parametrize("rid", ["..", "../..", "..%2f..%2fetc%2fpasswd", "%2e%2e", "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                                 "a%00b", "%00", "..%5c..%5cwindows", "%252e%252e", "%c0%ae%c0%ae", "....//",
                                 f"{RID}%2f..%2f..", "%ff%fe"])
def test_traversal_like_report_ids_are_clean_404s(client, rid):
    assert_envelope(client.get(f"/reports/{rid}/text"), 404, "not_found")
    assert_envelope(client.get(f"/reports/{rid}", headers={"Accept": "application/json"}), 404, "not_found")
    page = client.get(f"/reports/{rid}", headers={"Accept": "text/html"})
    assert page.status_code == 404  # a browser gets the HTML error page
    assert "root:" not in page.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/static/../../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd",
                                  "/static/..%2f..%2fpyproject.toml", "/static/%00", "/static/templates/../../qa/app.py"])
def test_static_files_cannot_leave_the_web_folder(client, path):
    r = client.get(path)
    assert r.status_code == 404
    assert b"root:" not in r.get_data() and b"create_app" not in r.get_data()


# --- the real server: what only a raw socket can send ----------------------------------------------

@pytest.fixture(scope="module")
def gunicorn_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("hardening")
    reports, index = root / "reports", root / "index"
    shutil.copytree(SAMPLE_REPORTS, reports)
    build_index(reports, index)
    command = [sys.executable, "-m", "gunicorn", "-c", "python:qa.gunicorn_config", "-w", "2", "-b", "127.0.0.1:{port}",
               "qa.app:create_app()"]
    with server_process(command, {"QA_INDEX_DIR": str(index), "QA_REPORTS_DIR": str(reports),
                                  "QA_RATE_LIMIT": "0"}) as base:
        yield base


RAW = {
    "non-UTF-8 query": b"GET /ask?q=\xff\xfe%20risk HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "Latin-1 query": b"GET /ask?q=caf\xe9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "bad percent-encoding": b"GET /ask?q=%zz%e2%82%ff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "NUL in path": b"GET /reports/a\x00b/text HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "huge header": b"GET /ask?q=risk HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\nConnection: close\r\n\r\n",
    "200 headers": b"GET /ask?q=risk HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200))
                   + b"Connection: close\r\n\r\n",
    "10 KB request line": b"GET /ask?q=" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "HTTP/9.9": b"GET /ask?q=risk HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n",
    "TLS hello": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
    "lowercase method": b"get /ask?q=risk HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "bad Content-Length": b"POST /ask HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\nConnection: close\r\n\r\n",
    "broken chunk": b"POST /ask HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n",
    "chunked over 64 KB": b"POST /ask HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                          + (b"8000\r\n" + b" " * 0x8000 + b"\r\n") * 3 + b"0\r\n\r\n",
    "gzip coding": b"POST /ask HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n",
    "Expect": b"POST /ask HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    "HEAD": b"HEAD /ask HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "OPTIONS": b"OPTIONS /ask HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "PROPFIND": b"PROPFIND /ask HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "deep JSON": request_bytes("POST", "/ask", {"Content-Type": "application/json"}, b"[" * 60_000),
    "lone surrogate": request_bytes("POST", "/ask", {"Content-Type": "application/json"}, b'{"question":"\\ud800"}'),
    "form body": request_bytes("POST", "/ask", {"Content-Type": "application/x-www-form-urlencoded"}, b"question=risk"),
    "traversal": b"GET /reports/..%2f..%2fetc%2fpasswd/text HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "encoded dots": b"GET /reports/%2e%2e/text HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
}


@pytest.mark.parametrize("name", list(RAW))
def test_raw_requests_get_no_500_and_no_html(gunicorn_server, name):
    raw = RAW[name]
    r = send_raw(gunicorn_server, raw)
    method = raw.split(b" ", 1)[0].decode("latin-1")
    problem = check_response(method, "/ask", "", r.status, r.content_type, r.body, r.headers)
    assert problem is None, f"{name}: {problem}"
    assert "html" not in r.content_type, f"{name}: {r.content_type}"
    assert r.status < 500
    if r.status >= 400 and method != "HEAD":
        print(f"{name}: {r.status} {json.loads(r.body)['error']['code']}")


def test_the_server_still_answers_after_the_raw_requests(gunicorn_server):
    for raw in RAW.values():
        send_raw(gunicorn_server, raw)
    r = requests.get(gunicorn_server + "/ask", params={"q": SEED}, timeout=10)
    assert r.status_code == 200 and "public protection" in r.json()["passages"][0]["text"]


def test_qa_serve_runs_the_json_error_worker(tmp_path):
    from .conftest import running_server

    reports = tmp_path / "reports"
    shutil.copytree(SAMPLE_REPORTS, reports)
    with running_server(tmp_path / "index", reports) as base:
        r = send_raw(base, RAW["10 KB request line"])
        assert r.status == 414 and json.loads(r.body)["error"]["code"] == "uri_too_long"
