import pytest

from qa.chunking import chunk_document, sentences
from qa.ingest import extract

from .makefiles import probation_pdf


@pytest.fixture()
def doc(tmp_path):
    return extract(probation_pdf(tmp_path / "r.pdf", n_pages=6).read_bytes(), "r.pdf")


def test_abbreviations_do_not_end_sentences():
    text = "Dr. Patel met Mr. Jones, e.g. about No. 5 Court. It went well."
    assert [text[s:e] for s, e in sentences(text)] == [
        "Dr. Patel met Mr. Jones, e.g. about No. 5 Court.", "It went well."]


def test_sentences_never_span_two_blocks():
    text = "Protecting the public:\n• Work was variable. Plans were weak."
    assert [text[s:e] for s, e in sentences(text)] == [
        "Protecting the public:", "• Work was variable.", "Plans were weak."]


@pytest.mark.parametrize("size,overlap", [(10, 0), (20, 1), (120, 1), (30, 2)])
def test_chunks_are_exact_sentence_aligned_slices_inside_one_section(doc, size, overlap):
    chunks = chunk_document(doc, size, overlap)
    starts = {s for s, _ in sentences(doc.text)}
    ends = {e for _, e in sentences(doc.text)}
    covered = set()
    for c in chunks:
        assert c.start in starts and c.end in ends
        heading = max((h for h in doc.headings if h.start <= c.start), key=lambda h: h.start, default=None)
        assert c.section == (heading.title if heading else None)
        assert not any(c.start < h.start < c.end for h in doc.headings), "a passage crosses a heading"
        assert c.page == doc.page_at(c.start) and c.page_end == doc.page_at(c.end - 1)
        covered.update(range(c.start, c.end))
    # every sentence is in some passage
    assert all(s in covered for s, _ in sentences(doc.text))


def test_overlap_repeats_the_last_sentence_of_a_multi_sentence_passage(doc):
    chunks = chunk_document(doc, 20, 1)
    spans = sentences(doc.text)
    pairs = [(a, b) for a, b in zip(chunks, chunks[1:])
             if a.section == b.section and sum(a.start <= s < a.end for s, _ in spans) > 1]
    assert pairs
    for a, b in pairs:
        last = max(s for s, _ in spans if a.start <= s < a.end)
        assert b.start == last


def test_sample_report_passages(sample_index):
    rid = sample_index.reports[0]["id"]
    text = sample_index.report_text(rid)
    for c in sample_index.chunks_of(rid):
        chunk = sample_index.chunk_text(int(c))
        assert chunk == text[int(sample_index.chunk_start[c]):int(sample_index.chunk_end[c])]
        assert chunk == chunk.strip()
