"""Ingest on files the tests make (PDF, HTML, Markdown, text) and on the real shared corpus."""
import json

import pytest

from qa.errors import RejectedFile
from qa.ingest import extract, find_reports, read_sidecar

from .conftest import CORPUS, need_shared
from .makefiles import make_pdf, probation_pdf


@pytest.fixture()
def pdf_doc(tmp_path):
    return extract(probation_pdf(tmp_path / "r.pdf").read_bytes(), "r.pdf")


def test_pdf_pages_map_each_page_to_its_text(pdf_doc):
    assert len(pdf_doc.pages) == 4
    for n, (start, end) in enumerate(pdf_doc.pages, start=1):
        assert f"{10 + n} cases" in pdf_doc.text[start:end]
        assert pdf_doc.page_at(start) == n


def test_pdf_running_header_footer_and_page_numbers_are_removed(pdf_doc):
    assert "HM Inspectorate of Probation" not in pdf_doc.text
    assert "Page 1 of 4" not in pdf_doc.text and "of 4" not in pdf_doc.text


def test_pdf_ligature_becomes_letters(pdf_doc):
    assert "ﬁ" not in pdf_doc.text
    assert "our findings on well-developed plans" in pdf_doc.text


def test_pdf_words_hyphenated_at_line_end_are_rejoined_but_compounds_keep_their_hyphen(pdf_doc):
    assert "quality of assessment for supervision was well-developed in most" in pdf_doc.text
    assert "assess-" not in pdf_doc.text and "assess ment" not in pdf_doc.text


def test_pdf_headings_are_detected_from_larger_type(pdf_doc):
    assert [h.title for h in pdf_doc.headings] == [
        "Chapter 1: Supervision", "Chapter 2: Risk Of Harm", "Chapter 3: Unpaid Work", "Chapter 4: Leadership"]
    for h in pdf_doc.headings:
        assert pdf_doc.text[h.start:h.end] == h.title


def test_pdf_title_comes_from_metadata(pdf_doc):
    assert pdf_doc.meta["title"] == "Inspection of Example CRC"


def test_encrypted_pdf_is_rejected_with_a_reason(tmp_path):
    path = make_pdf(tmp_path / "locked.pdf", [[("p", "secret text")]], encrypt="pw")
    with pytest.raises(RejectedFile, match="encrypted"):
        extract(path.read_bytes(), "locked.pdf")


def test_truncated_pdf_is_rejected_with_a_reason(tmp_path):
    data = probation_pdf(tmp_path / "r.pdf").read_bytes()
    with pytest.raises(RejectedFile, match="truncated or corrupt"):
        extract(data[: len(data) // 3], "broken.pdf")


def test_random_bytes_named_pdf_are_rejected(tmp_path):
    with pytest.raises(RejectedFile, match="not a readable PDF"):
        extract(bytes(range(256)) * 40, "noise.pdf")


def test_pdf_without_text_is_rejected_as_scanned(tmp_path):
    path = make_pdf(tmp_path / "blank.pdf", [[], [], []])
    with pytest.raises(RejectedFile, match="no text layer"):
        extract(path.read_bytes(), "blank.pdf")


@pytest.mark.parametrize("data,name,reason", [
    (b"", "empty.txt", "empty"),
    (b"   \n  ", "blank.md", "empty"),
    (b"hello", "report.docx", "unsupported file type"),
    (b"\x00\x01binary", "x.txt", "binary"),
])
def test_unreadable_files_are_rejected_with_a_reason(data, name, reason):
    with pytest.raises(RejectedFile, match=reason):
        extract(data, name)


def test_html_main_content_headings_and_no_boilerplate():
    html = b"""<html><head><title>Inspection of Kent CRC</title>
    <meta name="DC.date" content="2019-05-02"></head><body>
    <nav><a href="/">Home</a> <a href="/x">Inspections</a></nav>
    <header>HM Inspectorate of Probation</header>
    <main><article><h1>Inspection of Kent CRC</h1>
    <p>Inspectors found the quality of work to protect the public was good in most cases they examined across the county.</p>
    <h2>Reducing reoffending</h2>
    <p>Work to reduce reoffending was not yet good enough; too few people started accredited programmes on time.</p>
    <p>Back to top</p>
    <script>var tracking = 1;</script></article></main>
    <footer>Cookies | Contact</footer></body></html>"""
    doc = extract(html, "kent.html")
    assert doc.meta["title"] == "Inspection of Kent CRC"
    assert doc.meta["published"] == "2019-05-02"
    assert [h.title for h in doc.headings] == ["Inspection of Kent CRC", "Reducing reoffending"]
    assert "protect the public was good" in doc.text
    for noise in ("Back to top", "tracking", "Cookies", "Home"):
        assert noise not in doc.text


def test_markdown_headings_become_sections_and_markup_is_dropped():
    md = "# Annual report\n\nThe **service** was [rated](http://x) good overall.\n\n## Risk\n\n- Risk plans were *thorough*.\n"
    doc = extract(md.encode(), "annual.md")
    assert [h.title for h in doc.headings] == ["Annual report", "Risk"]
    assert "The service was rated good overall." in doc.text
    assert "Risk plans were thorough." in doc.text
    assert "*" not in doc.text and "](" not in doc.text


def test_text_in_a_windows_encoding_is_read():
    doc = extract("Caf\u00e9 staff were \u201cinspired\u201d by the new plan.\n".encode("cp1252"), "old.txt")
    assert "Café staff were “inspired” by the new plan." in doc.text


def test_sidecar_metadata_is_read_and_malformed_sidecars_are_rejected(tmp_path):
    (tmp_path / "a.txt").write_text("A report about supervision.\n")
    (tmp_path / "a.meta.json").write_text(json.dumps({"title": "A", "published": "2020-01-02", "ignored": 1}))
    assert read_sidecar(tmp_path / "a.txt") == {"title": "A", "published": "2020-01-02"}
    (tmp_path / "a.meta.json").write_text("{not json")
    with pytest.raises(RejectedFile, match="not valid JSON"):
        read_sidecar(tmp_path / "a.txt")


def test_find_reports_skips_sidecars_and_hidden_files(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("a.txt", "a.meta.json", ".hidden.txt", "sub/b.pdf"):
        (tmp_path / name).write_text("x")
    assert [r.name for r in find_reports(tmp_path)] == ["a.txt", "sub/b.pdf"]


# --- the real shared corpus -------------------------------------------------------------------

def test_ofsted_footer_and_page_numbers_are_gone_and_pages_kept():
    path = need_shared() / "reports" / "ofsted_103980__5.PDF"
    doc = extract(path.read_bytes(), path.name)
    assert len(doc.pages) == 13
    assert "Page 2 of 13" not in doc.text and "Inspection report: Rounds Green" not in doc.text
    assert doc.meta["title"] == "Rounds Green Primary School"
    assert "Safeguarding" in [h.title for h in doc.headings]


def test_running_titles_of_a_long_inquiry_report_are_removed():
    path = need_shared() / "other" / "Volume_1-Blood-Inquiry-Recomm.pdf"
    doc = extract(path.read_bytes(), path.name)
    assert "Infected Blood Inquiry | The Report" not in doc.text
    assert len(doc.pages) == 295


def test_scanned_pdf_is_rejected_and_named():
    path = need_shared() / "other" / "PostOfficeHorizon-IT-Inquiry-Response.pdf"
    with pytest.raises(RejectedFile, match=r"PostOfficeHorizon-IT-Inquiry-Response\.pdf: the PDF has no text layer"):
        extract(path.read_bytes(), path.name)


def test_every_other_shared_pdf_is_read(tmp_path):
    need_shared()
    for rf in find_reports(CORPUS):
        if "PostOfficeHorizon-IT-Inquiry-Response" in rf.name:
            continue
        doc = extract(rf.path.read_bytes(), rf.name)
        assert len(doc.text) > 1000, rf.name
        assert doc.meta.get("title"), rf.name
