"""Report files the tests generate: real PDFs made with reportlab, HTML, Markdown and text."""
from __future__ import annotations

from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

_FONT = "Vera"


def _font() -> str:
    """Bitstream Vera ships inside reportlab and has the U+FB01 'fi' ligature glyph."""
    if _FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(_FONT, "Vera.ttf"))
        pdfmetrics.registerFont(TTFont(_FONT + "Bd", "VeraBd.ttf"))
    return _FONT


def make_pdf(path: Path, pages: list[list[tuple[str, str]]], *, header: str | None = None,
             footer: str | None = None, title: str | None = None, author: str | None = None,
             encrypt: str | None = None) -> Path:
    """Write a PDF whose page i holds the (style, text) lines of ``pages[i]``.

    style is "t" (a 36 pt cover title), "h" (a 20 pt bold heading) or "p" (an 11 pt body line).
    ``header`` and ``footer`` repeat on every page ("{n}" and "{total}" are filled in); ``title`` and
    ``author`` are the PDF's metadata fields.
    """
    font = _font()
    c = canvas.Canvas(str(path), pagesize=A4, encrypt=encrypt)
    if title:
        c.setTitle(title)
    if author:
        c.setAuthor(author)
    width, height = A4
    total = len(pages)
    for n, lines in enumerate(pages, start=1):
        if header:
            c.setFont(font, 8)
            c.drawString(50, height - 30, header.format(n=n, total=total))
        y = height - 80
        for style, text in lines:
            if style == "t":
                c.setFont(font, 36)
                y -= 20
                c.drawString(50, y, text)
                y -= 24
            elif style == "h":
                c.setFont(font + "Bd", 20)
                y -= 10
                c.drawString(50, y, text)
                y -= 30
            else:
                c.setFont(font, 11)
                c.drawString(50, y, text)
                y -= 15
        if footer:
            c.setFont(font, 8)
            c.drawString(50, 30, footer.format(n=n, total=total))
        c.showPage()
    c.save()
    return path


TOPICS = ["supervision", "risk of harm", "unpaid work", "leadership", "resettlement", "partnerships"]


def probation_pdf(path: Path, n_pages: int = 4) -> Path:
    """A report with a running header, a 'Page N of M' footer, a 20 pt heading per page, an 'ﬁ'
    ligature (U+FB01), a word hyphenated across lines ("assess-/ment") and a real compound split at
    a line end ("well-/developed", written whole elsewhere in the document)."""
    pages = []
    for n in range(1, n_pages + 1):
        topic = TOPICS[(n - 1) % len(TOPICS)]
        pages.append([
            ("h", f"Chapter {n}: {topic.title()}"),
            ("p", f"Inspectors looked at {topic} in {10 + n} cases across the region and found that"),
            ("p", "the quality of assess-"),
            ("p", f"ment for {topic} was well-"),
            ("p", f"developed in most of them. Dr. Patel said our ﬁndings on well-developed plans for {topic}"),
            ("p", f"cover domain {n}."),
        ])
    return make_pdf(path, pages, header="HM Inspectorate of Probation: Example CRC inspection",
                    footer="Page {n} of {total}", title="Inspection of Example CRC")
