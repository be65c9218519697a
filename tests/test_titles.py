"""Titles, publishers and dates read from the documents (PDF covers, HTML, Markdown, text), not from
file metadata that names a template, a file or the person who saved it."""
import json

import pytest

from qa.build import build_index
from qa.errors import IndexUnavailable
from qa.index import GENERATIONS, Index, IndexStore
from qa.ingest import extract
from qa.ingest.about import publisher_named, reads_as_title, stated_dates

from .makefiles import make_pdf

BODY = [("p", "Inspectors visited the establishment and spoke to staff and people in custody about their"),
        ("p", "experience of visits, searching and the security of the visits hall over two weeks.")]


def pdf_meta(tmp_path, cover, *, title=None, author=None, more_pages=1) -> dict:
    path = make_pdf(tmp_path / "r.pdf", [cover + BODY] + [BODY] * more_pages, title=title, author=author)
    return extract(path.read_bytes(), "r.pdf").meta


@pytest.mark.parametrize("name", [
    "[Insert title of document]", "Committee Report 4.3", "ID", "Dresscode", "Report", "The Report",
    "20241216- Government Response to Recommendations- FINAL (Standard Print)", "Government response to",
    "inspection_report_v2.docx", "Microsoft Word - draft", "Untitled", "",
])
def test_placeholders_file_names_drafts_and_single_words_do_not_read_as_titles(name):
    assert not reads_as_title(name)


@pytest.mark.parametrize("name", ["The Space Economy: Act Now or Lose Out", "Inspection of Example CRC",
                                  "Clean Air Strategy", "Final report of the Leveson Inquiry",
                                  "UK Covid-19 Inquiry - Module 1: The resilience and preparedness of the United Kingdom"])
def test_real_titles_read_as_titles(name):
    assert reads_as_title(name)


def test_pdf_cover_title_is_joined_across_lines_over_a_placeholder_and_a_user_name(tmp_path):
    meta = pdf_meta(tmp_path, [("t", "Government response to"), ("t", "the Justice Committee report"),
                               ("t", "on prison visits")], title="[Insert title of document]", author="coopersk")
    assert meta["title"] == "Government response to the Justice Committee report on prison visits"
    assert meta["publisher"] == "HM Government"
    assert "author" not in meta


def test_an_author_field_is_never_the_publisher(tmp_path):
    meta = pdf_meta(tmp_path, [("t", "Visits to prisons in the north")], author="Heseltine, Rachel")
    assert meta["title"] == "Visits to prisons in the north"
    assert meta.get("publisher") is None


def test_the_publisher_is_the_body_the_cover_names(tmp_path):
    meta = pdf_meta(tmp_path, [("p", "HM Inspectorate of Prisons"), ("t", "Report on an inspection of HMP Leeds")],
                    author="Acrobat Pro 24.2")
    assert meta["publisher"] == "HM Inspectorate of Prisons"
    assert meta["title"] == "Report on an inspection of HMP Leeds"


def test_a_bare_body_name_takes_its_subtitle_and_a_generic_label_gives_way(tmp_path):
    meta = pdf_meta(tmp_path, [("t", "The Report"), ("h", "Overview and Recommendations"), ("h", "20 May 2024"),
                               ("p", ""), ("h", "Infected Blood Inquiry")], title="The Report")
    assert meta["title"] == "Infected Blood Inquiry: Overview and Recommendations"
    assert meta["publisher"] == "Infected Blood Inquiry"
    assert meta["published"] == "2024-05-20"
    meta = pdf_meta(tmp_path, [("h", "Volume 1"), ("t", "Report"), ("h", "HC 1119"),
                               ("t", "Post Office Horizon IT Inquiry")])
    assert meta["title"] == "Post Office Horizon IT Inquiry: Volume 1"


def test_a_short_title_is_named_with_the_committee_on_the_cover(tmp_path):
    meta = pdf_meta(tmp_path, [("h", "HOUSE OF LORDS"), ("h", "Science and Technology Select Committee"),
                               ("p", ""), ("t", "Behaviour Change"),
                               ("p", "Ordered to be printed 11 July 2011 and published 19 July 2011")],
                    title="Committee Report 4.3", author="coopersk")
    assert meta["title"] == "House of Lords Science and Technology Select Committee: Behaviour Change"
    assert meta["publisher"] == "House of Lords Science and Technology Select Committee"
    assert meta["published"] == "2011-07-19"


def test_a_periodic_summary_keeps_its_period_and_a_numbered_heading_is_no_title(tmp_path):
    meta = pdf_meta(tmp_path, [("t", "Monthly Knife Crime Summary"), ("h", "July 2015")],
                    title="Met HQ - Portfolio & Planning - Monthly Knife Crime Summary - July 2015")
    assert meta["title"] == "Monthly Knife Crime Summary - July 2015"
    assert "published" not in meta or meta["published"] != "2015-07"  # the period, not the publication
    meta = pdf_meta(tmp_path, [("h", "Chapter 1: Supervision")], title="Inspection of Example CRC")
    assert meta["title"] == "Inspection of Example CRC"


def test_a_labelled_policy_name_and_a_reissue_date(tmp_path):
    meta = pdf_meta(tmp_path, [("p", "Policy name: Management of Security at Visits Policy Framework- Closed Estate"),
                               ("p", "Re-Issue Date: 30 May 2023")],
                    title="[Insert title of document]", author="Heseltine, Rachel")
    assert meta["title"] == "Management of Security at Visits Policy Framework - Closed Estate"
    assert meta["published"] == "2023-05-30"
    assert meta.get("publisher") is None


def test_without_display_type_or_a_usable_title_the_opening_line_names_the_report(tmp_path):
    meta = pdf_meta(tmp_path, [("p", "Below is Annex A, part of the HMPPS policy, Management of security at"),
                               ("p", "visits Policy Framework: Open estate")], title="ID")
    assert meta["title"] == "Annex A, part of the HMPPS policy, Management of security at visits Policy Framework: Open estate"
    assert meta["publisher"] == "HM Prison and Probation Service"


def test_inspection_dates_are_kept_apart_from_publication(tmp_path):
    meta = pdf_meta(tmp_path, [("p", "School report"), ("h", "Rounds Green Primary School"),
                               ("p", "Inspection dates 9–10 November 2016")])
    assert meta["inspected"] == "2016-11-09/2016-11-10"
    assert meta["published"] != "2016-11-09"  # the file's own date stands for publication
    assert stated_dates("Inspection dates: 30 November – 1 December 2016")["inspected"] == "2016-11-30/2016-12-01"
    assert stated_dates("Inspection date 4 March 2019") == {"inspected": "2019-03-04"}
    assert stated_dates("Module 1\nJuly 2024\nHC 18") == {"published": "2024-07"}


def test_the_lexicon_names_uk_public_bodies():
    assert publisher_named("Published by Ofsted") == "Ofsted"
    assert publisher_named("Creating Branch/Directorate: Met HQ - Performance") == "Metropolitan Police Service"
    assert publisher_named("Presented by the Department for Science, Innovation and Technology") == \
        "Department for Science, Innovation and Technology"
    assert publisher_named("HOUSE OF LORDS\nUK Engagement with Space Committee") == \
        "House of Lords UK Engagement with Space Committee"
    assert publisher_named("The Report\nInfected Blood Inquiry") == "Infected Blood Inquiry"
    assert publisher_named("Government Response to the Infected Blood Inquiry",
                           "Government Response to the Infected Blood Inquiry") == "HM Government"
    assert publisher_named("coopersk wrote this on a Tuesday") is None
    assert publisher_named("The Police said this Inquiry and the Committee met. This Committee agreed") is None


def test_html_title_og_then_h1_then_title_less_the_site_name():
    page = b"""<html><head><title>Inspection of Kent CRC - GOV.UK</title>%s</head><body>
    <header>HM Inspectorate of Probation</header><main>%s
    <p>Inspectors found the quality of work to protect the public was good in most cases they examined.</p>
    <p>Published 2 May 2019</p></main></body></html>"""
    og = b'<meta property="og:title" content="Kent CRC: an inspection">'
    doc = extract(page % (og, b"<h1>Kent inspection</h1>"), "kent.html")
    assert doc.meta["title"] == "Kent CRC: an inspection"
    assert doc.meta["publisher"] == "HM Inspectorate of Probation"
    assert doc.meta["published"] == "2019-05-02"
    assert extract(page % (b"", b"<h1>Kent inspection</h1>"), "kent.html").meta["title"] == "Kent inspection"
    assert extract(page % (b"", b""), "kent.html").meta["title"] == "Inspection of Kent CRC"
    site = b'<meta property="og:site_name" content="Justice Inspectorates">'
    titled = page.replace(b"Inspection of Kent CRC - GOV.UK", b"Justice Inspectorates | Inspection of Kent CRC")
    assert extract(titled % (site, b""), "kent.html").meta["title"] == "Inspection of Kent CRC"


def test_markdown_first_heading_and_text_first_line():
    md = "Some preface text about the report.\n\n# Annual report of the Chief Inspector\n\n## Risk\n\nText here.\n"
    assert extract(md.encode(), "a.md").meta["title"] == "Annual report of the Chief Inspector"
    text = "Kent probation inspection, findings and recommendations.\nInspectors found most work good.\n"
    assert extract(text.encode(), "a.txt").meta["title"] == "Kent probation inspection, findings and recommendations."


def test_records_take_the_document_s_names_and_a_sidecar_overrides_them(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    make_pdf(reports / "visits.pdf", [[("t", "Visits to prisons in the north"),
                                       ("p", "Inspection dates 3-4 June 2021")] + BODY, BODY],
             title="[Insert title of document]", author="coopersk")
    make_pdf(reports / "other.pdf", [[("t", "Visits to prisons in the south")] + BODY, BODY], author="coopersk")
    (reports / "other.meta.json").write_text(json.dumps({"title": "Southern visits", "publisher": "HMPPS"}))
    build_index(reports, tmp_path / "index")
    records = {r["file"]: r for r in IndexStore(tmp_path / "index").current().reports}
    assert records["visits.pdf"]["title"] == "Visits to prisons in the north"
    assert records["visits.pdf"]["publisher"] is None
    assert records["visits.pdf"]["inspected"] == "2021-06-03/2021-06-04"
    assert (records["other.pdf"]["title"], records["other.pdf"]["publisher"]) == ("Southern visits", "HMPPS")


def test_an_index_of_the_previous_format_is_refused_with_how_to_rebuild(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    make_pdf(reports / "visits.pdf", [[("t", "Visits to prisons in the north")] + BODY])
    result = build_index(reports, tmp_path / "index")
    manifest = tmp_path / "index" / GENERATIONS / result.generation / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format_version": 4}))
    with pytest.raises(IndexUnavailable, match=r"format version 4.*rebuild it with 'qa index build'"):
        Index(manifest.parent)


def test_a_hostile_cover_is_read_in_bounded_time(tmp_path):
    import time
    start = time.monotonic()
    cover = "Aa " * 300_000 + "[" * 100_000
    publisher_named(cover)
    stated_dates(cover)
    reads_as_title(cover)
    assert time.monotonic() - start < 2


# --- the shared corpus --------------------------------------------------------------------------

EXPECTED_TITLE_WORDS = {
    "other/Behaviour-Change-Report-Recomm.pdf": ["House of Lords", "Behaviour Change"],
    "other/Behaviour-Change-Response.pdf": ["Government Response", "Science and Technology", "Behaviour Change"],
    "other/HMPPS-Management-of-Security-at-Visits-Policy-Framework-Closed-Estate.pdf":
        ["Management of Security at Visits", "Policy Framework", "Closed Estate"],
    "other/HMPPS-Visits-Annex-A-ID.pdf": ["Annex A", "visits Policy Framework"],
    "other/HMPPS-Visits-Annex-H-Dresscode.pdf": ["Dress code", "visitors", "Annex H"],
    "other/PostOfficeHorizon-IT-Inquiry-Report-Vol1.pdf": ["Post Office Horizon IT Inquiry", "Volume 1"],
    "other/TheSpaceEconomyRecomm.pdf": ["The Space Economy", "Act Now or Lose Out"],
    "other/TheSpaceEconomyResponse.pdf": ["Government response", "The Space Economy: Act Now or Lose Out"],
    "other/UK-Covid-19-Inquiry-Module-1-Recomm.pdf": ["UK Covid-19 Inquiry", "Module 1", "resilience and preparedness"],
    "other/UK-Covid-19_Inquiry_Module_1_Response.pdf": ["Government Response", "Covid-19 Inquiry", "Module 1"],
    "other/Volume_1-Blood-Inquiry-Recomm.pdf": ["Infected Blood Inquiry", "Recommendations"],
    "other/Volume_1-Blood-Inquiry-Response.pdf": ["Government Response", "Infected Blood Inquiry"],
    "other/WASPI-Recomm.pdf": ["Women’s State Pension age", "communications"],
    "other/monthly_knife_crime_summary_july2015.pdf": ["Monthly Knife Crime Summary", "July 2015"],
    "reports/2018-03-london-crc-press-release.txt": ["London Community Rehabilitation Company"],
    "reports/ofsted_103980__5.PDF": ["Rounds Green Primary School"],
    "reports/ofsted_139305__5.PDF": ["Rough Hay Primary School"],
}
AUTHOR_FIELDS = {"coopersk", "Heseltine, Rachel", "Acrobat Pro 24.2.20736", "DWP", "UK Engagement with Space Committee",
                 "UK Covid-19 Inquiry", "Georgina Cosma"}
UNREADABLE_TITLES = {"Committee Report 4.3", "Government Response to", "[Insert title of document]", "ID", "Dresscode",
                     "Report", "Government response to", "The Report"}


@pytest.mark.shared
def test_every_shared_report_has_a_title_a_reader_recognises_and_no_author_as_publisher(corpus_index):
    records = {r["file"]: r for r in corpus_index.reports}
    assert set(records) == set(EXPECTED_TITLE_WORDS)
    for file, words in EXPECTED_TITLE_WORDS.items():
        title = records[file]["title"]
        assert title not in UNREADABLE_TITLES, file
        for word in words:
            assert word.lower() in title.lower(), (file, title, word)
        publisher = records[file]["publisher"]
        assert publisher is None or publisher not in AUTHOR_FIELDS or publisher in title, (file, publisher)
    assert records["reports/ofsted_103980__5.PDF"]["publisher"] == "Ofsted"
    assert records["reports/ofsted_103980__5.PDF"]["inspected"] == "2016-11-09/2016-11-10"
    assert records["other/Behaviour-Change-Report-Recomm.pdf"]["published"] == "2011-07-19"
    assert records["other/HMPPS-Management-of-Security-at-Visits-Policy-Framework-Closed-Estate.pdf"]["published"] \
        == "2023-05-30"
    assert records["reports/2018-03-london-crc-press-release.txt"]["publisher"] == "HM Inspectorate of Probation"


@pytest.mark.shared
def test_citations_reports_browse_and_the_viewer_show_the_names_read_from_the_documents(corpus_client):
    listed = {r["id"]: r for r in corpus_client.get("/reports").get_json()}
    blood = next(r for r in listed.values() if r["title"] == "Infected Blood Inquiry: Overview and Recommendations")
    assert blood["publisher"] == "Infected Blood Inquiry" and blood["published"] == "2024-05-20"
    assert not {"[Insert title of document]", "Committee Report 4.3"} & {r["title"] for r in listed.values()}
    assert not {"coopersk", "Heseltine, Rachel"} & {r["publisher"] for r in listed.values()}
    browse = corpus_client.get("/browse").get_data(as_text=True)
    assert "Infected Blood Inquiry: Overview and Recommendations" in browse and "Insert title" not in browse
    assert "July 2024" in browse  # a cover's month and year, written out
    ofsted = next(r for r in listed.values() if r["title"] == "Rounds Green Primary School")
    assert ofsted["inspected"] == "2016-11-09/2016-11-10"
    page = corpus_client.get(f"/reports/{ofsted['id']}").get_data(as_text=True)
    assert "<h1 id=\"report-title\">Rounds Green Primary School</h1>" in page
    assert "<dd>Ofsted</dd>" in page and "9–10 November 2016" in page
    body = corpus_client.get("/ask", query_string={"q": "What did the Infected Blood Inquiry recommend about compensation?"}).get_json()
    cited = {p["citation"]["title"] for p in body["passages"]}
    assert cited and cited <= {r["title"] for r in listed.values()}
    assert cited & {"Infected Blood Inquiry: Overview and Recommendations", "Government Response to the Infected Blood Inquiry"}
