"""PDF reports, page by page, with pypdfium2 (fastest of the libraries measured here, and it reads
ligature glyphs as letters).

Per page we read the text lines with the height and weight of their glyphs, drop the running headers,
footers and page numbers that repeat across pages, mark heading-like lines (larger or bold, short,
no closing full stop) and join the rest into paragraphs, rejoining words hyphenated across lines.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from ..errors import RejectedFile
from .document import SOFT_HYPHEN, Document, TextBuilder, clean_inline

MAX_PAGES = 5000
_ZONE = 3  # lines at the top and bottom of a page where running headers/footers live
_PAGE_OF = re.compile(r"\bpage\s+\d+(\s*(of|/)\s*\d+)?")
_EDGE_NUMBER = re.compile(r"^\d+\b|\b\d+$")
_PAGE_NUMBER = re.compile(r"^(page\s*)?[#ivxlc]+(\s*(of|/)\s*#)?$", re.I)
_BULLET_START = re.compile(r"^([•\-–—▪◦●■]|\(?\d{1,3}[.)]\s|\(?[a-z][.)]\s|\(?[ivx]+[.)]\s)")
_END_OF_SENTENCE = re.compile(r"[.!?:;\"”’)]$")
_LINE_END_HYPHEN = re.compile(r"(?<=[^\W\d_])-$")
_SOFT_BREAK = re.compile(r"([^\W\d_]+)\u00ad\s*([^\W\d_]*)")
_PLACEHOLDER_TITLE = re.compile(r"^(microsoft (word|powerpoint)|untitled|document\d*$)|\.(docx?|pdf|indd)$", re.I)


@dataclass
class Line:
    text: str
    height: float
    bold: bool


def _line_style(textpage, first: int, last: int) -> tuple[float, bool]:
    """Glyph height and boldness of a line, from its first and last visible characters."""
    heights, bold = [], True
    for i in {first, (first + last) // 2, last}:
        box = textpage.get_charbox(i, loose=True)
        heights.append(box[3] - box[1])
        weight = pdfium_c.FPDFText_GetFontWeight(textpage.raw, i)
        bold = bold and weight >= 600
    return max(heights), bold


def _page_lines(page) -> list[Line]:
    textpage = page.get_textpage()
    try:
        raw = textpage.get_text_range()
        n_chars = textpage.count_chars()
        lines: list[Line] = []
        pos = 0
        for piece in raw.split("\n"):
            start, end = pos, pos + len(piece)
            pos = end + 1
            text = clean_inline(piece, keep_soft_hyphens=True)
            if not text:
                continue
            first = start + (len(piece) - len(piece.lstrip()))
            last = start + len(piece.rstrip()) - 1
            if raw.count("\n") and len(raw) == n_chars and 0 <= first <= last < n_chars:
                height, bold = _line_style(textpage, first, last)
            else:
                height, bold = 0.0, False
            lines.append(Line(text, round(height, 1), bold))
        return lines
    finally:
        textpage.close()


def _signature(text: str) -> tuple[str, int | None]:
    """A line with its page number taken out, and that number: "18 Overview", "Overview 19" and
    "Page 2 of 13" vary only there. Other digits stay, so footnotes keep their identity."""
    sig = _PAGE_OF.sub("page #", text.lower())
    m = _EDGE_NUMBER.search(sig)
    number = int(m.group()) if m and len(m.group()) <= 4 else None
    return _EDGE_NUMBER.sub("#", sig), number


def remove_running_lines(pages: list[list[Line]]) -> list[list[Line]]:
    """Drop running headers/footers and bare page numbers.

    A running line is one whose text, page number aside, stands in the top or bottom lines of several
    pages; when it carries a number, that number must follow the page count (a constant offset for
    most of its pages) or stay the same ("Volume 1"), which tells a running title ("18 Overview") from a footnote that cites the
    same source on several pages ("262 Written evidence from ..."). It is removed there; where it
    repeats on a quarter of the pages or more it is removed wherever it stands on a page, also from the
    start of a line it shares with other text. Lines with fewer than six letters ("159 Ibid.") never
    count.
    """
    n = len(pages)
    pages_of: dict[str, set[int]] = {}
    offsets: dict[str, Counter[int]] = {}
    numbers: dict[str, Counter[int]] = {}
    for p, lines in enumerate(pages):
        for line in lines[:_ZONE] + lines[-_ZONE:]:
            sig, number = _signature(line.text)
            pages_of.setdefault(sig, set()).add(p)
            if number is not None:
                offsets.setdefault(sig, Counter())[number - p] += 1
                numbers.setdefault(sig, Counter())[number] += 1
    threshold = 3 if n >= 4 else max(2, n)
    everywhere = max(threshold, math.ceil(n / 4))

    def repeats(sig: str) -> int:
        count = len(pages_of.get(sig, ()))
        if sig in offsets:
            follows_pages = offsets[sig].most_common(1)[0][1] * 2 >= count
            constant = numbers[sig].most_common(1)[0][1] * 2 >= count  # "Report: Volume 1"
            if not (follows_pages or constant):
                return 0  # the number does not follow the pages: footnotes, not a running title
        return count

    strong = sorted({l.text for lines in pages for l in lines
                     if sum(c.isalpha() for c in l.text) >= 6 and repeats(_signature(l.text)[0]) >= everywhere},
                    key=len, reverse=True)

    def without_running_prefix(text: str) -> str:
        """A running title that pdfium put on one line with the text beside it is cut off."""
        cut = True
        while cut:
            cut = False
            for head in strong:
                if text.startswith(head + " "):
                    text, cut = text[len(head) + 1:], True
                    break
        return text

    cleaned = []
    for lines in pages:
        keep = []
        for i, line in enumerate(lines):
            text = without_running_prefix(line.text)
            sig, _ = _signature(text)
            in_zone = i < _ZONE or i >= len(lines) - _ZONE
            count = repeats(sig) if sum(c.isalpha() for c in sig) >= 6 else 0
            if count >= everywhere or (in_zone and count >= threshold):
                continue
            if in_zone and _PAGE_NUMBER.match(sig):
                continue
            keep.append(line if text == line.text else Line(text, line.height, line.bold))
        cleaned.append(keep)
    return cleaned


def _body_height(pages: list[list[Line]]) -> float:
    weights: Counter[float] = Counter()
    for lines in pages:
        for line in lines:
            weights[line.height] += len(line.text)
    return weights.most_common(1)[0][0] if weights else 0.0


def _is_heading(line: Line, body: float) -> bool:
    text = line.text
    if not (3 <= len(text) <= 120) or not any(c.isalpha() for c in text):
        return False
    if _END_OF_SENTENCE.search(text) and not text.endswith("?") or text.endswith(","):
        return False
    if text[0] in "•–—-" or text[0].islower():
        return False
    larger = body > 0 and line.height >= body * 1.15
    return larger or (line.bold and len(text) <= 90)


def _join(prev: str, line: str) -> str:
    """Join two lines of one paragraph; a line-end hyphen before a lowercase word becomes a soft break."""
    if _LINE_END_HYPHEN.search(prev) and line[:1].islower():
        return prev[:-1] + SOFT_HYPHEN + line
    return prev + " " + line


def resolve_soft_breaks(text: str, vocabulary: set[str]) -> str:
    """Rejoin words split at a line end ("assess-ment" -> "assessment"), but keep the hyphen of a
    compound the document writes with one elsewhere ("well-developed") and never without."""
    def fix(m: re.Match) -> str:
        head, tail = m.group(1), m.group(2)
        hyphenated, joined = f"{head}-{tail}".lower(), f"{head}{tail}".lower()
        if tail and hyphenated in vocabulary and joined not in vocabulary:
            return f"{head}-{tail}"
        return head + tail

    return _SOFT_BREAK.sub(fix, text).replace(SOFT_HYPHEN, "")


def _layout(pages: list[list[Line]], builder: TextBuilder) -> None:
    body = _body_height(pages)
    heights = sorted({l.height for lines in pages for l in lines if _is_heading(l, body)}, reverse=True)
    level_of = {h: min(i + 1, 4) for i, h in enumerate(heights)}
    vocabulary = {w.lower() for lines in pages for l in lines
                  for w in re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)*", l.text.replace(SOFT_HYPHEN, " "))}
    for lines in pages:
        builder.start_page()
        lengths = sorted(len(l.text) for l in lines)
        typical = lengths[len(lengths) * 3 // 4] if lengths else 0
        para: str | None = None
        para_last_len = 0
        pending_heading: list[Line] = []

        def flush_heading() -> None:
            if pending_heading:
                builder.heading(" ".join(h.text for h in pending_heading), level_of[pending_heading[0].height])
                pending_heading.clear()

        def flush_paragraph() -> None:
            nonlocal para
            if para is not None:
                builder.paragraph(resolve_soft_breaks(para, vocabulary))
                para = None

        for line in lines:
            if _is_heading(line, body):
                flush_paragraph()
                if pending_heading and pending_heading[-1].height != line.height:
                    flush_heading()
                pending_heading.append(line)
                continue
            flush_heading()
            if (
                para is None
                or _BULLET_START.match(line.text)
                or (_END_OF_SENTENCE.search(para) and para_last_len < 0.8 * typical)
            ):
                flush_paragraph()
                para = line.text
            else:
                para = _join(para, line.text)
            para_last_len = len(line.text)
        flush_heading()
        flush_paragraph()


def _pdf_date(value: str) -> str | None:
    m = re.match(r"D:(\d{4})(\d{2})?(\d{2})?", value or "")
    if not m:
        return None
    try:
        return datetime(int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1)).date().isoformat()
    except ValueError:
        return None


def extract_pdf(data: bytes, name: str) -> Document:
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        reason = str(exc)
        if "password" in reason.lower():
            raise RejectedFile(f"{name}: the PDF is encrypted (password protected); save an unprotected copy")
        raise RejectedFile(f"{name}: not a readable PDF ({reason}); the file may be truncated or corrupt")
    try:
        n_pages = len(pdf)
        if n_pages == 0:
            raise RejectedFile(f"{name}: the PDF has no pages")
        if n_pages > MAX_PAGES:
            raise RejectedFile(f"{name}: the PDF has {n_pages} pages, more than the limit of {MAX_PAGES}")
        pages = [_page_lines(pdf[i]) for i in range(n_pages)]
        meta_raw = pdf.get_metadata_dict()
    finally:
        pdf.close()
    words = sum(len(l.text.split()) for lines in pages for l in lines)
    if words < max(5, math.ceil(n_pages * 2)):
        raise RejectedFile(
            f"{name}: the PDF has no text layer ({n_pages} pages, {words} words); it looks scanned. "
            "Run OCR on it (e.g. ocrmypdf) and add the result"
        )
    builder = TextBuilder()
    _layout(remove_running_lines(pages), builder)
    meta: dict = {}
    title = clean_inline(meta_raw.get("Title", ""))
    if title and not _PLACEHOLDER_TITLE.search(title):
        meta["title"] = title
    author = clean_inline(meta_raw.get("Author", ""))
    if author and not re.match(r"(acrobat|anonymous|unknown|admin|user)\b", author, re.I):
        meta["author"] = author
    date = _pdf_date(meta_raw.get("CreationDate", "")) or _pdf_date(meta_raw.get("ModDate", ""))
    if date:
        meta["published"] = date
    doc = builder.build(meta, "pdf")
    if "title" not in meta and doc.headings:
        early = [h for h in doc.headings if (doc.page_at(h.start) or 1) <= 2] or doc.headings
        meta["title"] = min(early, key=lambda h: h.level).title
    return doc
