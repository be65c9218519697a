"""Citations on the real shared corpus: every PDF passage is on the page it cites; running
headers and footers never leak into passages."""
import re
import unicodedata

import pypdfium2
import pytest

from .conftest import CORPUS

pytestmark = pytest.mark.shared


def _alnum(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", unicodedata.normalize("NFKC", text).lower())


@pytest.fixture(scope="module")
def raw_pages(corpus_index):
    """The text pypdfium2 reads from each page of each indexed PDF, reduced to letters and digits."""
    pages = {}
    for r in corpus_index.reports:
        if r["format"] == "pdf":
            pdf = pypdfium2.PdfDocument(str(CORPUS / r["file"]))
            pages[r["id"]] = [_alnum(pdf[i].get_textpage().get_text_range()) for i in range(len(pdf))]
            pdf.close()
    return pages


def test_every_pdf_passage_starts_and_ends_on_the_pages_it_cites(corpus_index, raw_pages):
    checked = 0
    for i in range(corpus_index.n_chunks):
        report = corpus_index.reports[int(corpus_index.chunk_report[i])]
        if report["id"] not in raw_pages:
            continue
        lines = corpus_index.chunk_text(i).split("\n")  # a line (block) never crosses a page
        page, page_end = int(corpus_index.chunk_page[i]), int(corpus_index.chunk_page_end[i])
        assert 1 <= page <= page_end <= report["pages"]
        head, tail = _alnum(lines[0])[:30], _alnum(lines[-1])[-30:]
        assert head in raw_pages[report["id"]][page - 1], (report["id"], corpus_index.chunk_id(i), page)
        assert tail in raw_pages[report["id"]][page_end - 1], (report["id"], corpus_index.chunk_id(i), page_end)
        checked += 1
    assert checked > 3000


@pytest.mark.parametrize("report_id,phrase,page", [
    ("ofsted-103980-5", "Safeguarding is ineffective", 1),
    ("ofsted-103980-5", "this school requires special measures", 2),
    ("ofsted-139305-5", "Information about this inspection", 12),
    ("volume-1-blood-inquiry-recomm", "The few surviving former pupils", 21),
])
def test_known_passages_cite_their_known_page(corpus_index, report_id, phrase, page):
    hits = [i for i in corpus_index.chunks_of(report_id) if phrase in corpus_index.chunk_text(int(i))]
    assert hits
    i = int(hits[0])
    start = corpus_index.chunk_text(i).index(phrase) + int(corpus_index.chunk_start[i])
    layout = corpus_index.report_layout(report_id)
    s, e = layout["pages"][page - 1]
    assert s <= start < e
    assert int(corpus_index.chunk_page[i]) <= page <= int(corpus_index.chunk_page_end[i])


@pytest.mark.parametrize("report_id,running", [
    ("ofsted-103980-5", r"Page \d+ of 13"),
    ("ofsted-103980-5", r"Inspection report: Rounds Green Primary School"),
    ("ofsted-139305-5", r"Inspection report: Rough Hay Primary School"),
    ("volume-1-blood-inquiry-recomm", r"Infected Blood Inquiry \| The Report"),
    ("postofficehorizon-it-inquiry-report-vol1", r"Post Office Horizon IT Inquiry Report: Volume 1"),
    ("thespaceeconomyrecomm", r"\d* ?The Space Economy: Act Now or Lose Out \d+"),
    ("behaviour-change-report-recomm", r"\bBEHAVIOUR CHANGE \d+|\d+ BEHAVIOUR CHANGE\b"),
    ("uk-covid-19-inquiry-module-1-recomm", r"Module 1: The resilience and preparedness of the United Kingdom"),
])
def test_running_headers_and_footers_never_appear_in_passages(corpus_index, raw_pages, report_id, running):
    pattern = re.compile(running)
    rid_pages = raw_pages[report_id]
    assert len(rid_pages) > 2
    for i in corpus_index.chunks_of(report_id):
        assert not pattern.search(corpus_index.chunk_text(int(i))), corpus_index.chunk_id(int(i))
