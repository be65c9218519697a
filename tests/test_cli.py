"""The `qa` command as a user runs it: a real process, real files."""
import json

import pytest

from qa.app import create_app

from .conftest import CORPUS, need_shared
from .conftest import qa_cli as qa


@pytest.mark.shared
def test_build_on_the_shared_corpus_indexes_every_readable_pdf_and_names_the_scanned_one(tmp_path):
    need_shared()
    r = qa("index", "build", "--reports", CORPUS, "--index", tmp_path / "i")
    assert r.returncode == 0, r.stderr
    assert "rejected: other/PostOfficeHorizon-IT-Inquiry-Response.pdf: the PDF has no text layer" in r.stdout
    assert "indexed 17 report(s)" in r.stdout
    reports = create_app(tmp_path / "i").test_client().get("/reports").get_json()
    pdfs = [x for x in reports if x["source"].lower().endswith(".pdf")]
    assert len(pdfs) == 16 and all(x["pages"] and x["chunks"] > 0 for x in pdfs)


def test_build_with_nothing_readable_exits_non_zero(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "empty.txt").write_text("")
    r = qa("index", "build", "--reports", tmp_path / "r", "--index", tmp_path / "i")
    assert r.returncode != 0
    assert "error: no report could be indexed" in r.stderr
    assert "rejected: empty.txt: the file is empty" in r.stderr


def test_build_with_a_missing_folder_says_so(tmp_path):
    r = qa("index", "build", "--reports", tmp_path / "nope", "--index", tmp_path / "i")
    assert r.returncode != 0 and "does not exist" in r.stderr


def test_ask_json_prints_exactly_the_post_ask_body(sample_index_dir):
    question = "how is London CRC doing on public protection?"
    r = qa("ask", question, "--index", sample_index_dir, "--json", "--top-k", "3")
    assert r.returncode == 0, r.stderr
    cli_body = json.loads(r.stdout)
    http_body = create_app(sample_index_dir).test_client().post("/ask", json={"question": question, "top_k": 3}).get_json()
    cli_body.pop("took_ms"), http_body.pop("took_ms")
    assert cli_body == http_body


def test_ask_reads_the_index_folder_from_the_environment(sample_index_dir):
    import os

    r = qa("ask", "unpaid work", env={**os.environ, "QA_INDEX_DIR": str(sample_index_dir)})
    assert r.returncode == 0 and "unpaid work" in r.stdout.lower()


def test_ask_without_an_index_explains_how_to_build_one(tmp_path):
    r = qa("ask", "anything", "--index", tmp_path / "none")
    assert r.returncode == 3 and "qa index build" in r.stderr


def test_ask_rejects_an_overlong_question(sample_index_dir):
    r = qa("ask", "x" * 10_000, "--index", sample_index_dir)
    assert r.returncode == 2 and "limit is 1000" in r.stderr
