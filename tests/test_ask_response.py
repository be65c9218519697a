"""POST /ask's body is encoded by orjson: the bytes must be jsonify's, whatever the body holds."""
import pytest
from flask import jsonify

from qa import app as app_module
from qa.answer import ask
from qa.app import ask_response, create_app

ODD = "".join(chr(c) for c in range(0x20)) + '"\\/ \x7f\u00e9\u2028\u2029\ufeff\U0001F642 ’ «» \u0000end'


def _body(score: float, took_ms: float = 1.234, text: str = "plain") -> dict:
    passage = {"rank": 1, "score": score, "chunk_id": "r-0", "text": text,
               "citation": {"report_id": "r", "title": text, "publisher": None, "page": 3, "section": None},
               "also_in": []}
    return {"question": text, "found": True, "answer": text, "passages": [passage], "index_version": "g",
            "took_ms": took_ms}


@pytest.mark.parametrize("body", [
    _body(11.92), _body(0.000123), _body(123456.5, 0.0), _body(3.0, text=ODD),
    _body(4e-05), _body(1e-7, 2e-05), _body(2e16), _body(float("nan")),  # written by jsonify
])
def test_body_bytes_are_jsonifys(sample_index_dir, body):
    app = create_app(sample_index_dir, {"TESTING": True})
    with app.app_context():
        fast, slow = ask_response(body), jsonify(body)
        assert fast.get_data() == slow.get_data()
        assert fast.headers.to_wsgi_list() == slow.headers.to_wsgi_list()


def test_real_answers_go_through_orjson(sample_index_dir, sample_index, monkeypatch):
    calls = []
    real = app_module.orjson.dumps
    monkeypatch.setattr(app_module.orjson, "dumps", lambda obj: calls.append(1) or real(obj))
    app = create_app(sample_index_dir, {"TESTING": True})
    body = ask(sample_index, "how is London CRC doing on public protection?")
    with app.app_context():
        assert ask_response(body).get_data() == jsonify(body).get_data()
    assert calls == [1]
