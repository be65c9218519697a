"""The on-disk index: immutable generations, an atomic pointer, no pickle, refusal of other versions."""
import json
import os

import numpy as np
import pytest

from qa.build import build_index
from qa.errors import BuildError, IndexUnavailable
from qa.index import FORMAT_VERSION, GENERATIONS, Index, IndexStore, prune_generations, read_pointer

from .makefiles import probation_pdf


@pytest.fixture()
def reports(tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    probation_pdf(folder / "example.pdf")
    (folder / "note.txt").write_text("Unpaid work\n\nUnpaid work placements were well organised in Kent.\n")
    return folder


def test_build_writes_a_complete_generation_and_points_to_it(reports, tmp_path):
    index = tmp_path / "index"
    result = build_index(reports, index)
    assert result.reports == 2 and result.chunks > 0 and not result.rejected
    assert read_pointer(index) == result.generation
    gen = index / GENERATIONS / result.generation
    manifest = json.loads((gen / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION and manifest["tokenizer"]["stemmer"] == "snowball-english"
    for npy in gen.glob("*.npy"):
        arr = np.load(npy, mmap_mode="r", allow_pickle=False)  # never pickled objects
        assert arr.dtype != object
    assert not list(gen.rglob("*.pkl")) and not list(gen.rglob("*.pickle"))


def test_a_failed_build_leaves_the_previous_index_serving(reports, tmp_path):
    index = tmp_path / "index"
    first = build_index(reports, index)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "bad.pdf").write_bytes(b"%PDF-1.4 truncated")
    with pytest.raises(BuildError, match="previous index is untouched"):
        build_index(empty, index)
    assert read_pointer(index) == first.generation
    assert IndexStore(index).current().version == first.generation


def test_store_moves_to_a_new_generation_without_restart(reports, tmp_path):
    index = tmp_path / "index"
    build_index(reports, index)
    store = IndexStore(index)
    old = store.current()
    (reports / "more.txt").write_text("Resettlement\n\nResettlement services in Wales were outstanding.\n")
    second = build_index(reports, index, incremental=True)
    new = store.current()
    assert new.version == second.generation != old.version
    assert len(new.reports) == 3
    # the old generation object still answers consistently
    assert old.chunk_text(0) == old.report_text(old.reports[0]["id"])[int(old.chunk_start[0]):int(old.chunk_end[0])]


def test_update_reuses_extractions_of_unchanged_files(reports, tmp_path):
    index = tmp_path / "index"
    build_index(reports, index)
    (reports / "more.txt").write_text("Resettlement\n\nResettlement services in Wales were outstanding.\n")
    result = build_index(reports, index, incremental=True)
    assert result.extracted == ["more.txt"]
    assert sorted(result.reused) == ["example.pdf", "note.txt"]


def test_duplicate_content_is_indexed_once(reports, tmp_path):
    (reports / "copy.pdf").write_bytes((reports / "example.pdf").read_bytes())
    result = build_index(reports, tmp_path / "index")
    assert result.reports == 2
    assert result.duplicates == [("example.pdf", "copy.pdf")]


def test_index_of_another_format_version_is_refused(reports, tmp_path):
    index = tmp_path / "index"
    result = build_index(reports, index)
    manifest = index / GENERATIONS / result.generation / "manifest.json"
    data = json.loads(manifest.read_text())
    data["format_version"] = 999
    manifest.write_text(json.dumps(data))
    with pytest.raises(IndexUnavailable, match="format version 999"):
        Index(manifest.parent)


def test_missing_index_gives_a_clear_message(tmp_path):
    with pytest.raises(IndexUnavailable, match="qa index build"):
        IndexStore(tmp_path / "nothing").current()


def test_leftovers_of_a_dead_build_are_cleaned_and_old_generations_pruned(reports, tmp_path):
    index = tmp_path / "index"
    gens = [build_index(reports, index).generation for _ in range(4)]
    (index / GENERATIONS / ".tmp-dead").mkdir()
    prune_generations(index, keep=2, grace=0)
    left = sorted(p.name for p in (index / GENERATIONS).iterdir())
    assert left == sorted(gens[-2:])
    assert read_pointer(index) == gens[-1]


def test_unreadable_file_is_reported_and_the_build_goes_on(reports, tmp_path):
    (reports / "locked.txt").write_text("secret")
    os.chmod(reports / "locked.txt", 0)
    try:
        result = build_index(reports, tmp_path / "index")
    finally:
        os.chmod(reports / "locked.txt", 0o644)
    if os.geteuid() == 0:  # root reads it anyway; then it is simply too short to be a report
        assert any("locked.txt" in r.file for r in result.rejected)
    else:
        assert any("cannot be read" in r.reason for r in result.rejected)
    assert result.reports == 2


def test_passage_text_is_the_report_text_slice_whatever_the_characters(tmp_path):
    """chunk_text reads a passage's own bytes of texts.bin: it must equal the character slice of the
    report's text also where characters take several bytes, and in ASCII reports beside them."""
    folder = tmp_path / "reports"
    folder.mkdir()
    para = "Probation officers’ caseloads — é, ü, • and 🙂 — were reviewed in Ashford. " * 30
    (folder / "wide.txt").write_text("Caseloads ✓\n\n" + "\n\n".join([para] * 6) + "\n", encoding="utf-8")
    (folder / "plain.txt").write_text("Plain\n\n" + "\n\n".join(["Unpaid work was well run in Kent. " * 40] * 5))
    index_dir = tmp_path / "index"
    build_index(folder, index_dir)
    index = IndexStore(index_dir).current()
    assert index.n_chunks > 4
    for i in range(index.n_chunks):
        rid = index.reports[int(index.chunk_report[i])]["id"]
        assert index.chunk_text(i) == index.report_text(rid)[int(index.chunk_start[i]):int(index.chunk_end[i])]


def _stored_sentences_are_the_splitter_s(index, every: int = 1) -> None:
    from qa.chunking import sentences
    from qa.text import tokenize

    for c in range(0, index.n_chunks, every):
        text = index.chunk_text(c)
        stored = index.sentences(c)
        assert [(s, e) for s, e, _ in stored] == sentences(text), (index.chunk_id(c), text[:80])
        assert [terms for _, _, terms in stored] == [tokenize(text[s:e]) for s, e, _ in stored]


def test_every_passage_s_sentences_and_terms_are_stored_at_build_time(sample_index):
    """The sentences the index stores are what the splitter and the tokenizer give for the passage, so
    answering reads them instead of running either."""
    _stored_sentences_are_the_splitter_s(sample_index)


@pytest.mark.shared
def test_stored_sentences_on_the_real_reports(corpus_index):
    _stored_sentences_are_the_splitter_s(corpus_index, every=7)


def test_answering_runs_no_sentence_splitter(sample_index_dir, monkeypatch):
    from qa import chunking
    from qa.answer import ask

    def refuse(*args, **kwargs):
        raise AssertionError("the sentence splitter ran while answering")

    index = IndexStore(sample_index_dir).current()
    index.memo.clear()
    monkeypatch.setattr(chunking._punkt, "span_tokenize", refuse)
    for question in ("how is London CRC doing on public protection?", "who owns the CRC?", "unpaid work"):
        body = ask(index, question)
        assert body["passages"] and body["answer"]
