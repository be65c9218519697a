"""OCR of PDFs without a text layer (`qa index build --ocr`, `QA_OCR=1`), through Debian's Tesseract.

Without the tesseract program these tests skip, unless QA_REQUIRE_TESSERACT is set (.ci/run sets it
in CI, where it installs tesseract-ocr): then they fail.
"""
from __future__ import annotations

import io
import shutil
import time
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageDraw, ImageFont

from qa.answer import ask
from qa.build import build_index
from qa.config import SAMPLE_REPORTS, Settings
from qa.index import IndexStore
from qa.ingest import ocr as ocr_mod

from .conftest import CORPUS, need_shared, qa_cli

SCANNED = "PostOfficeHorizon-IT-Inquiry-Response.pdf"
pytestmark = pytest.mark.ocr


pytestmark = pytest.mark.usefixtures("tesseract")


def image_only_pdf(pages: list[list[str]]) -> bytes:
    """A PDF of page images (no text layer), the text drawn by Pillow in reportlab's Vera font."""
    import reportlab

    fonts = Path(reportlab.__file__).parent / "fonts"
    heading, body = ImageFont.truetype(str(fonts / "VeraBd.ttf"), 56), ImageFont.truetype(str(fonts / "Vera.ttf"), 30)
    images = []
    for lines in pages:
        img = Image.new("L", (1240, 1754), 255)  # A4 at 150 dpi
        draw = ImageDraw.Draw(img)
        for i, line in enumerate(lines):
            draw.text((110, 150 + i * 70), line, fill=0, font=heading if i == 0 else body)
        images.append(img)
    out = io.BytesIO()
    images[0].save(out, "PDF", resolution=150, save_all=True, append_images=images[1:])
    return out.getvalue()


PAGES = [
    ["Northfield probation service", "The service works with adults on", "probation across the county."],
    ["Unpaid work", "", "Inspectors found that the kitchen garden", "project helped people on probation",
     "complete their unpaid work hours and", "gain a food hygiene certificate."],
]


def test_a_scan_is_rejected_without_ocr_and_read_with_it(tmp_path):
    reports = tmp_path / "reports"
    shutil.copytree(SAMPLE_REPORTS, reports)
    (reports / "scan.pdf").write_bytes(image_only_pdf(PAGES))
    plain = build_index(reports, tmp_path / "plain")
    [rejected] = plain.rejected
    assert "no text layer" in rejected.reason and "--ocr" in rejected.reason and "QA_OCR=1" in rejected.reason

    result = build_index(reports, tmp_path / "index", settings=Settings(ocr=True))
    assert not result.rejected and result.reports == 2
    body = ask(IndexStore(tmp_path / "index").current(), "what did the kitchen garden project help with?", 3)
    top = body["passages"][0]
    assert top["citation"]["report_id"] == "scan"
    assert top["citation"]["page"] == 2
    assert "kitchen garden" in top["text"] and "unpaid work" in top["text"]

    # The reading is cached by content: an update takes it from the cache, only with OCR on (QA_OCR=1).
    again = qa_cli("index", "update", "--reports", reports, "--index", tmp_path / "index", env={"QA_OCR": "1"})
    assert again.returncode == 0 and "reused from cache: 2 file(s)" in again.stdout, again.stdout + again.stderr
    off = qa_cli("index", "update", "--reports", reports, "--index", tmp_path / "index", env={"QA_OCR": None})
    assert "rejected: scan.pdf: the PDF has no text layer" in off.stdout, off.stdout


@pytest.mark.shared
def test_the_scanned_post_office_response_answers_with_its_pages(tmp_path):
    """The one scanned report of ../shared/corpus, read by OCR for real (about a minute on 2 cores)."""
    source = need_shared(CORPUS / "other" / SCANNED)
    reports = tmp_path / "reports"
    reports.mkdir()
    shutil.copy(source, reports / SCANNED)
    t0 = time.perf_counter()
    result = build_index(reports, tmp_path / "index", settings=Settings(ocr=True))
    seconds = time.perf_counter() - t0
    assert result.reports == 1 and not result.rejected
    index = IndexStore(tmp_path / "index").current()
    [record] = index.reports
    assert record["pages"] == 16
    assert record["title"] == "Government response to the Post Office Horizon IT Inquiry report (volume 1)"
    body = ask(index, "do HSS claimants get legal advice on the Fixed Sum Offer?", 3)
    assert body["found"]
    top = body["passages"][0]
    assert "Fixed Sum Offer" in top["text"]
    page = top["citation"]["page"]
    # The cited page is the page of the PDF that holds the passage's words: OCR that page alone.
    with_page = pdfium.PdfDocument(source)
    try:
        alone = " ".join(l.text for l in ocr_mod.ocr_page(with_page[page - 1], SCANNED, page))
    finally:
        with_page.close()
    opening = " ".join(top["text"].split()[:8])
    assert opening in alone, (page, opening)
    print(f"\nOCR build of {SCANNED}: {seconds:.1f} s for 16 pages")
