"""The HTTP API through Flask's test client, on the bundled sample and on the shared corpus."""
import pytest

SEED = "how is London CRC doing on public protection?"


def check_passages_against_text(client, body):
    """Every passage is the exact slice of its report's text that its citation names."""
    texts = {}
    for p in body["passages"]:
        c = p["citation"]
        if c["report_id"] not in texts:
            r = client.get(f"/reports/{c['report_id']}/text")
            assert r.status_code == 200 and r.headers["Content-Type"] == "text/plain; charset=utf-8"
            texts[c["report_id"]] = r.get_data(as_text=True)
        assert p["text"] == texts[c["report_id"]][c["char_start"]:c["char_end"]]
        assert c["url"] == f"/reports/{c['report_id']}#{p['chunk_id']}"


def test_seed_question_returns_the_public_protection_passage_first(client):
    r = client.get("/ask", query_string={"q": SEED})
    assert r.status_code == 200
    body = r.get_json()
    assert body["found"] is True
    first = body["passages"][0]
    assert "quality of public protection work was variable" in first["text"]
    c = first["citation"]
    assert c["title"].startswith("London Community Rehabilitation Company")
    assert c["published"] == "2018-03-08"
    assert c["source"].startswith("https://www.justiceinspectorates.gov.uk/")
    assert c["page"] is None  # a plain-text file has no pages
    assert "quality of public protection work was variable" in body["answer"] and "[1]" in body["answer"]
    check_passages_against_text(client, body)


def test_post_and_get_answer_the_same(client):
    got = client.get("/ask", query_string={"q": SEED, "top_k": 3}).get_json()
    posted = client.post("/ask", json={"question": SEED, "top_k": 3, "history": []}).get_json()
    for body in (got, posted):
        body.pop("took_ms")
    assert got == posted and len(got["passages"]) == 3
    assert [p["rank"] for p in got["passages"]] == [1, 2, 3]
    scores = [p["score"] for p in got["passages"]]
    assert scores == sorted(scores, reverse=True)


def test_history_steers_a_follow_up(client):
    body = client.post("/ask", json={"question": "and on reducing reoffending?", "history": [SEED]}).get_json()
    assert "Reducing reoffending" in body["passages"][0]["text"]


def test_out_of_scope_question_is_not_found(client):
    body = client.post("/ask", json={"question": "what is the recipe for a victoria sponge cake?"}).get_json()
    assert body["found"] is False
    assert body["answer"].startswith("Nothing in the indexed reports answers this")


@pytest.mark.parametrize("kwargs,status,code", [
    ({"data": "{not json", "content_type": "application/json"}, 400, "invalid_json"),
    ({"data": "[1, 2]", "content_type": "application/json"}, 400, "invalid_json"),
    ({"json": {}}, 400, "invalid_question"),
    ({"json": {"question": "   "}}, 400, "invalid_question"),
    ({"json": {"question": 42}}, 400, "invalid_question"),
    ({"json": {"question": "x" * 10_000}}, 400, "question_too_long"),
    ({"json": {"question": "risk", "top_k": 0}}, 400, "invalid_top_k"),
    ({"json": {"question": "risk", "top_k": 51}}, 400, "invalid_top_k"),
    ({"json": {"question": "risk", "top_k": "5"}}, 400, "invalid_top_k"),
    ({"json": {"question": "risk", "top_k": True}}, 400, "invalid_top_k"),
    ({"json": {"question": "risk", "history": "earlier"}}, 400, "invalid_history"),
    ({"json": {"question": "risk", "history": [1]}}, 400, "invalid_history"),
    ({"data": b"x" * 100_000, "content_type": "application/json"}, 413, "payload_too_large"),
])
def test_bad_requests_get_the_error_envelope(client, kwargs, status, code):
    r = client.post("/ask", **kwargs)
    assert r.status_code == status
    assert r.is_json
    err = r.get_json()["error"]
    assert err["code"] == code and len(err["message"]) > 10


@pytest.mark.parametrize("url,status,code", [
    ("/ask", 400, "invalid_question"),
    ("/ask?q=risk&top_k=abc", 400, "invalid_top_k"),
    ("/ask?q=" + "y" * 1001, 400, "question_too_long"),
    ("/reports/nope/text", 404, "not_found"),
    ("/no-such-endpoint", 404, "not_found"),
])
def test_bad_get_requests_get_the_error_envelope(client, url, status, code):
    r = client.get(url)
    assert r.status_code == status and r.get_json()["error"]["code"] == code


def test_wrong_method_is_an_envelope_too(client):
    r = client.delete("/ask")
    assert r.status_code == 405 and r.get_json()["error"]["code"] == "method_not_allowed"


def test_health_and_reports(client, sample_index):
    health = client.get("/health").get_json()
    assert health == {"status": "ok", "index_version": sample_index.version, "reports": 1,
                      "chunks": sample_index.n_chunks, "reranker": "off"}
    reports = client.get("/reports").get_json()
    assert reports[0]["id"] == "2018-03-london-crc-press-release"
    assert {"id", "title", "published", "source", "chunks"} <= set(reports[0])


def test_no_index_is_a_503_envelope(tmp_path):
    from qa.app import create_app

    r = create_app(tmp_path / "none").test_client().get("/ask?q=risk")
    assert r.status_code == 503 and r.get_json()["error"]["code"] == "index_unavailable"


def test_report_page_anchors_every_passage_and_escapes_text(client, sample_index):
    rid = sample_index.reports[0]["id"]
    r = client.get(f"/reports/{rid}")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    for c in sample_index.chunks_of(rid):
        assert f'id="{sample_index.chunk_id(int(c))}"' in html
    assert "Content-Security-Policy" in r.headers and r.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.shared
def test_corpus_passages_are_exact_slices_and_cite_their_pages(corpus_client):
    questions = ["how many pupils attend Rounds Green", "recommendations on infected blood compensation",
                 "satellite launch capability", "dress code for visitors", "knife crime in Tower Hamlets"]
    for q in questions:
        body = corpus_client.post("/ask", json={"question": q, "top_k": 10}).get_json()
        assert body["passages"], q
        check_passages_against_text(corpus_client, body)
        for p in body["passages"]:
            if p["citation"]["source"].lower().endswith(".pdf"):
                assert isinstance(p["citation"]["page"], int) and p["citation"]["page"] >= 1
