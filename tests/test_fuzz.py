"""Fuzzing the real server: gunicorn with 2 workers over the bundled sample, fed QA_FUZZ_REQUESTS
(default 10,000) generated requests. No response may be a 5xx, and every error is the contract's
envelope (an HTML 404 only for a browser on an HTML page).

Two generators share the count:
- schemathesis reads the service's own ``/openapi.json`` and generates requests for every operation,
  in positive mode (valid by the schema) and negative mode (each rule broken: wrong types, missing
  fields, out-of-range values); 2xx bodies must also match the schema.
- hypothesis builds raw HTTP requests no client library would send: odd and lowercase methods, paths
  with ``../``, ``%2e%2e``, encoded slashes and NUL, query strings with bad percent-encoding and
  non-UTF-8 bytes, odd or missing content types, huge and many headers, invalid JSON, deep nesting,
  lone surrogates, bodies over 64 KB, broken chunked encoding, unicode of every plane.
"""
from __future__ import annotations

import collections
import json
import multiprocessing
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from urllib.parse import quote

import pytest
import requests

from qa.build import build_index
from qa.config import SAMPLE_REPORTS

from .conftest import server_process
from .rawhttp import check_response, request_bytes, send_raw

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis.checks import content_type_conformance, response_schema_conformance  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402

TOTAL = int(os.environ.get("QA_FUZZ_REQUESTS", "10000"))
SCHEMA_SHARE = 0.3  # the rest are raw requests (schemathesis generates at about half the speed)
TOKEN = "fuzz-admin-token"


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    """gunicorn, 2 workers, the service's own settings (qa/serve.py), logs to a file (a pipe nobody
    reads would fill up under thousands of logged bad requests)."""
    root = tmp_path_factory.mktemp("fuzz")
    reports, index, log = root / "reports", root / "index", root / "gunicorn.log"
    shutil.copytree(SAMPLE_REPORTS, reports)
    build_index(reports, index)
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", "python:qa.gunicorn_config", "-w", "2", "-b", "127.0.0.1:{port}",
                "qa.app:create_app()"]
    command = ["sh", "-c", 'exec "$@" >>"$QA_FUZZ_LOG" 2>&1', "sh", *gunicorn]
    env = {"QA_INDEX_DIR": str(index), "QA_REPORTS_DIR": str(reports), "QA_ADMIN_TOKEN": TOKEN,
           "QA_RATE_LIMIT": "0", "QA_FUZZ_LOG": str(log)}
    with server_process(command, env) as base:
        yield base, log


class Tally:
    def __init__(self):
        self.sent = 0
        self.statuses: collections.Counter = collections.Counter()
        self.failures: list[str] = []

    def record(self, label: str, status: int, problem: str | None, request: str) -> None:
        self.sent += 1
        self.statuses[(label, status)] += 1
        if problem and len(self.failures) < 50:
            self.failures.append(f"{label} -> {problem}\n    request: {request[:300]}")


# --- schemathesis: from /openapi.json --------------------------------------------------------------

def run_schema_cases(base: str, n: int, tally: Tally) -> None:
    schema = schemathesis.openapi.from_url(base + "/openapi.json")
    operations = [r.ok() if hasattr(r, "ok") else r for r in schema.get_all_operations()]
    assert {(o.method.upper(), o.path) for o in operations} >= {
        ("GET", "/ask"), ("POST", "/ask"), ("GET", "/health"), ("GET", "/reports"), ("GET", "/reports/{report_id}"),
        ("GET", "/reports/{report_id}/text")}
    branches = []
    for op in operations:
        weight = 4 if op.path == "/ask" else 1  # the public question endpoint gets most of the traffic
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            branches += [op.as_strategy(generation_mode=mode)] * weight
    session = requests.Session()
    target = tally.sent + n

    @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=st.one_of(branches))
    def one(case):
        if tally.sent >= target:
            return
        label = f"{case.method} {case.path}"
        accept = (case.headers or {}).get("Accept", "*/*")
        try:
            response = case.call(base_url=base, session=session, timeout=30)
        except requests.RequestException as exc:
            tally.record(label, 0, f"no response: {exc!r}", repr(case))
            return
        headers = {k.lower(): v[0] if isinstance(v, list) else v for k, v in response.headers.items()}
        problem = check_response(case.method, case.formatted_path, accept, response.status_code,
                                 headers.get("content-type", ""), response.content, headers)
        if problem is None and response.status_code < 300:
            try:
                case.validate_response(response, checks=[response_schema_conformance, content_type_conformance])
            except Exception as exc:  # schemathesis raises its failure group
                problem = f"2xx body does not match /openapi.json: {str(exc)[:300]}"
        tally.record(label, response.status_code, problem, (case.as_curl_command() if problem else ""))

    while tally.sent < target:  # hypothesis may stop early; run again until the share is sent
        before = tally.sent
        one()
        if tally.sent == before:
            break


# --- hypothesis: raw requests no client would send --------------------------------------------------

API_PATHS = ["/ask", "/health", "/reports", "/openapi.json", "/examples", "/admin/reindex", "/admin/reports",
             "/admin/jobs/" + "0" * 32, "/", "/browse", "/static/chat.js"]
TRAVERSAL = ["../../etc/passwd", "..%2f..%2fetc%2fpasswd", "%2e%2e/%2e%2e/etc/passwd", "%2e%2e", "..", "%00",
             "a%00b", "%c0%ae%c0%ae/%c0%ae%c0%ae", "....//....//etc", "%252e%252e%252f", "..\\..\\windows",
             "2018-03-london-crc-press-release/../../x", "%ff%fe", "%", "%z", "%e2%82", "\u202e.txt",
             "2018-03-london-crc-press-release"]
KEYS = ["q", "question", "top_k", "history", "report_id", "report_ids", "published_from", "published_to"]
CONTENT_TYPES = ["application/json", "application/json; charset=utf-16", "application/json; charset=latin-1",
                 "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz",
                 "multipart/form-data", "application/xml", "", "*/*", "application/json; charset=bogus",
                 "text/html; charset=utf-8", "image/png"]
ACCEPTS = ["*/*", "application/json", "text/html", "text/html,application/xhtml+xml", "", "image/*;q=0.1, x/y"]

# Hypothesis draws the shape of each raw request (method, path kind, which headers, which kind of body)
# and a seeded random.Random for the content: drawing every character through hypothesis costs about
# 0.1 ms a draw, which would make 10,000 requests take minutes of generation alone.
UNICODE = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF), (0x900, 0x97F),
           (0x3040, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0x1F300, 0x1FAFF), (0x0, 0x1F), (0x7F, 0x9F),
           (0x200B, 0x202E), (0xFFF0, 0xFFFF), (0x10000, 0x10FFFF), (0xD800, 0xDFFF)]


def rtext(rnd, max_size: int = 40) -> str:
    """Random text from one or two scripts, control characters and lone surrogates included."""
    pools = rnd.sample(UNICODE, 2)
    return "".join(chr(rnd.randint(*rnd.choice(pools))) for _ in range(rnd.randint(0, max_size)))


def q(text: str, safe: str = "") -> str:
    """Percent-encoded UTF-8 (lone surrogates encoded as they are: invalid UTF-8 on purpose)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe=safe)


def rlong(rnd) -> str:
    """A string just under, at or over the 1,000-character limit."""
    n = rnd.choice([999, 1000, 1001, 1100, 5000])
    return (rtext(rnd, 4) or "a") * n


def rjson(rnd, depth: int = 0):
    kind = rnd.randrange(12 if depth < 3 else 8)
    if kind == 0:
        return None
    if kind == 1:
        return rnd.choice([True, False])
    if kind == 2:
        return rnd.choice([0, -1, 1, 5, 50, 51, 2**31, -2**63, 2**70, rnd.randint(-10**6, 10**6)])
    if kind == 3:
        return rnd.choice([0.5, -0.0, 1e308, 5.0, 1e-300, rnd.random() * 100])
    if kind in (4, 5, 6):
        return rtext(rnd)
    if kind == 7:
        return rnd.choice(["", " ", "\x00", "risk", "\u202e", rlong(rnd)])
    if kind in (8, 9):
        return [rjson(rnd, depth + 1) for _ in range(rnd.randint(0, 25 if depth == 0 else 4))]
    return {rtext(rnd, 8): rjson(rnd, depth + 1) for _ in range(rnd.randint(0, 4))}


def rquestion_body(rnd) -> dict:
    fields = {
        "question": lambda: rnd.choice([rtext(rnd, 80), rlong(rnd), "how is London CRC doing on public protection",
                                        rjson(rnd)]),
        "top_k": lambda: rnd.choice([rnd.randint(-5, 60), rjson(rnd), "5", 5.0, True]),
        "history": lambda: rnd.choice([[rtext(rnd) for _ in range(rnd.randint(0, 30))], [rlong(rnd)], rjson(rnd)]),
        "report_ids": lambda: rnd.choice([["2018-03-london-crc-press-release"], ["../../etc/passwd"],
                                          [rtext(rnd) for _ in range(rnd.randint(0, 120))], rjson(rnd)]),
        "published_from": lambda: rnd.choice(["2018", "2018-03", "2018-02-30", "9999-99-99", rtext(rnd, 10), rjson(rnd)]),
        "published_to": lambda: rnd.choice(["2019-01-01", "0000", rjson(rnd)]),
    }
    return {k: make() for k, make in fields.items() if rnd.random() < (0.9 if k == "question" else 0.25)}


def dumps(value, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


BODY_KINDS = ["none", "json", "json", "json", "value", "bytes", "truncated", "deep", "surrogate", "huge", "encoded",
              "form", "nan"]


def rbody(kind: str, rnd) -> bytes:
    if kind == "none":
        return b""
    if kind == "json":
        return dumps(rquestion_body(rnd), rnd.random() < 0.5)
    if kind == "value":
        return dumps(rjson(rnd), rnd.random() < 0.5)
    if kind == "bytes":
        return rnd.randbytes(rnd.randint(1, 3000))
    if kind == "truncated":
        text = dumps(rquestion_body(rnd), True)
        return text[:rnd.randint(0, max(0, len(text) - 1))]
    if kind == "deep":
        return rnd.choice([b"[", b'{"a":', b'{"question":[']) * rnd.randint(500, 60_000)
    if kind == "surrogate":
        return rnd.choice([b'{"question":"risk \\ud800"}', b'{"question":"risk","history":["\\udfff"]}',
                           b'{"\\udc00":1}', b'{"question":"\\ud83d"}', b'{"question":"ok \\ud83d\\ude00"}'])
    if kind == "huge":
        return b'{"question":"' + b"a" * rnd.choice([64 * 1024 + 1, 70_000, 200_000]) + b'"}'
    if kind == "encoded":
        text = json.dumps(rquestion_body(rnd), ensure_ascii=False)
        return text.encode(rnd.choice(["utf-16", "utf-32", "latin-1", "cp1252", "shift_jis"]), "replace")
    if kind == "form":
        return ("question=" + q(rtext(rnd, 200))).encode()
    return rnd.choice([b'{"question": NaN}', b'{"question": "x", "top_k": Infinity}', b'{"question": "x", "top_k": 1e999}',
                       b'{"question": "x", "top_k": 5.0}', b'{"question": "x", "top_k": ' + b"9" * 5000 + b"}"])


QUERY_VALUES = ["", "%", "%z", "%zz", "%e2%82", "%ff%fe", "%c0%af", "%00", "0", "-1", "51", "1e3", "NaN", "9" * 30,
                "%EF%BF%BE", "%ED%A0%80", "+", "&&", "2018-02-30", "0000", "2018-03-london-crc-press-release"]


def rquery(rnd) -> str:
    parts = []
    for _ in range(rnd.choice([0, 1, 1, 2, 2, 3, 4, 6])):
        key = rnd.choice(KEYS + KEYS + [q(rtext(rnd, 8)), ""])
        roll = rnd.random()
        if roll < 0.45:
            value = q(rtext(rnd, 60))
        elif roll < 0.9:
            value = rnd.choice(QUERY_VALUES) if rnd.random() < 0.7 else str(rnd.randint(-100, 100))
        elif roll < 0.97:
            value = q(rlong(rnd))  # over 1,000 chars, or 4 KB of line
        else:
            value = quote(rnd.randbytes(rnd.randint(1, 20)), safe="")  # percent-encoded non-UTF-8
        parts.append(f"{key}={value}" if key or rnd.random() < 0.5 else value)
    return "&".join(parts)


METHODS = ["GET", "GET", "GET", "POST", "POST", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH", "PROPFIND",
           "TRACE", "FOO_BAR", "get", "G\x00T", "PO ST", "", "X" * 40]
PATH_KINDS = ["api", "api", "api", "ask", "ask", "ask", "traversal", "traversal_text", "static", "random"]


@st.composite
def raw_requests(draw) -> tuple[str, str, str, bytes]:
    rnd = draw(st.randoms(use_true_random=True))
    method = draw(st.sampled_from(METHODS))
    path_kind = draw(st.sampled_from(PATH_KINDS))
    path = {"api": lambda: rnd.choice(API_PATHS), "ask": lambda: "/ask",
            "traversal": lambda: "/reports/" + rnd.choice(TRAVERSAL),
            "traversal_text": lambda: "/reports/" + rnd.choice(TRAVERSAL) + "/text",
            "static": lambda: "/static/" + rnd.choice(TRAVERSAL),
            "random": lambda: "/reports/" + q(rtext(rnd, 30), safe="/")}[path_kind]()
    query = rquery(rnd)
    target = path + ("?" + query if query or rnd.random() < 0.3 else "")
    headers = {}
    accept = draw(st.sampled_from(ACCEPTS))
    if accept:
        headers["Accept"] = accept
    if draw(st.booleans()):
        headers["Content-Type"] = draw(st.sampled_from(CONTENT_TYPES))
    if rnd.random() < 0.1:
        headers["Authorization"] = rnd.choice(["Bearer wrong", "Bearer " + TOKEN[:-1], "Basic Zm9v", "Bearer \xe9\xff",
                                               "Bearer " + "x" * 5000, "Bearer " + TOKEN + " "])
    extra = draw(st.sampled_from(["none"] * 27 + ["huge", "many", "bytes"]))
    if extra == "huge":
        headers["X-Huge"] = "h" * rnd.choice([8000, 9000, 20_000])
    elif extra == "many":
        headers.update({f"X-Many-{i}": "1" for i in range(rnd.choice([90, 120]))})
    elif extra == "bytes":
        headers["X-Bytes"] = "\xff\xfe\x80"
    body = rbody(draw(st.sampled_from(BODY_KINDS)), rnd)
    chunked = bool(body) and draw(st.integers(0, 7)) == 0
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
        if rnd.random() < 0.5:
            body = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 4096]), body[i:i + 4096])
                            for i in range(0, len(body), 4096)) + b"0\r\n\r\n"
        else:
            body = b"zz\r\n" + body  # a broken chunk size
    raw_target = target.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 15)) == 0:  # raw non-UTF-8 / non-ASCII bytes in the request line
        raw_target += rnd.choice([b"\xff\xfe", b"\xe9", b"\x80q", b" x", b"\x00", "é".encode()])
    request = request_bytes(method, "TARGET", headers, body, content_length=not chunked)
    return method, path, accept, request.replace(b"TARGET", raw_target, 1)


def run_raw_cases(base: str, n: int, tally: Tally) -> None:
    target = tally.sent + n

    @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(req=raw_requests())
    def one(req):
        if tally.sent >= target:
            return
        method, path, accept, raw = req
        label = f"raw {method[:10]} {path[:40]}"
        try:
            response = send_raw(base, raw)
        except (OSError, ValueError) as exc:
            tally.record(label, 0, f"no response: {exc!r}", repr(raw[:300]))
            return
        problem = check_response(method, path, accept, response.status, response.content_type, response.body,
                                 response.headers)
        tally.record(label, response.status, problem, repr(raw[:300]))

    while tally.sent < target:
        before = tally.sent
        one()
        if tally.sent == before:
            break


def schema_cases_in_child(base: str, n: int) -> tuple[Tally, float]:
    t0 = time.monotonic()
    tally = Tally()
    run_schema_cases(base, n, tally)
    return tally, time.monotonic() - t0


def test_fuzzing_the_running_server_gives_no_5xx_and_only_envelopes(fuzz_server):
    base, log = fuzz_server
    n_schema = int(TOTAL * SCHEMA_SHARE)
    # The two generators run side by side (generation, not the server, is the bottleneck): schemathesis
    # in a child process, the raw requests here.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        schema_job = pool.submit(schema_cases_in_child, base, n_schema)
        t0 = time.monotonic()
        tally = Tally()
        run_raw_cases(base, TOTAL - n_schema, tally)
        raw_seconds = time.monotonic() - t0
        schema_tally, schema_seconds = schema_job.result(timeout=1800)
    raw_sent, schema_sent = tally.sent, schema_tally.sent
    tally.sent += schema_tally.sent
    tally.statuses.update(schema_tally.statuses)
    tally.failures += schema_tally.failures
    by_status = collections.Counter()
    for (_, status), count in tally.statuses.items():
        by_status[status] += count
    print(f"\nfuzz: {tally.sent} requests sent ({schema_sent} from /openapi.json by schemathesis in {schema_seconds:.0f} s, "
          f"{raw_sent} raw by hypothesis in {raw_seconds:.0f} s, side by side); "
          f"5xx: {sum(c for s, c in by_status.items() if s >= 500)}; no response: {by_status.get(0, 0)}")
    print("fuzz: responses by status: " + ", ".join(f"{s}: {c}" for s, c in sorted(by_status.items())))
    assert requests.get(base + "/health", timeout=10).status_code == 200, "the server did not survive the fuzzing"
    if tally.failures:
        print("fuzz: server log tail:\n" + log.read_text(errors="replace")[-3000:])
    assert not tally.failures, f"{len(tally.failures)} bad responses, first ones:\n" + "\n".join(tally.failures[:15])
    assert tally.sent >= TOTAL
    assert by_status[200] > 0.1 * schema_sent, "too few valid questions got through: the generators are off"
