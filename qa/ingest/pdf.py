"""PDF reports, page by page, with pypdfium2 (fastest of the libraries measured here, and it reads
ligature glyphs as letters).

Per page we read the text lines with the height and weight of their glyphs, drop the running headers,
footers and page numbers that repeat across pages, mark heading-like lines (larger or bold, short,
no closing full stop) and join the rest into paragraphs, rejoining words hyphenated across lines.
The title is the cover's own (its display type, else a "Policy name:" field), the metadata title only
where it reads as one; publisher and dates come from the cover too (:mod:`.about`).
"""
from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from datetime import datetime

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from ..errors import RejectedFile
from .about import (
    COVER_CHARS,
    cover_date,
    describe,
    ends_mid_phrase,
    first_words,
    is_generic,
    names_a_body,
    publisher_named,
    reads_as_title,
)
from .document import SOFT_HYPHEN, Document, Line, TextBuilder, check_budget, clean_inline, current_limits

MAX_PAGES = 5000
MAX_PAGE_POINTS = 14_400  # 200 inches: the largest page the PDF specification allows (in default units)
_STREAM_START = re.compile(rb"stream(?:\r\n|\n|\r)")
_ZONE = 3  # lines at the top and bottom of a page where running headers/footers live
_PAGE_OF = re.compile(r"\bpage\s+\d+(\s*(of|/)\s*\d+)?|(?<=\s)\d{1,4}/\d{1,4}$")
_EDGE_NUMBER = re.compile(r"^\d+\b|\b\d+$")
_PAGE_NUMBER = re.compile(r"^(page\s*)?[#ivxlc]+(\s*(of|/)\s*#)?$", re.I)
_BULLET_START = re.compile(r"^([•\-–—▪◦●■]|\(?\d{1,3}[.)]\s|\(?[a-z][.)]\s|\(?[ivx]+[.)]\s)")
_END_OF_SENTENCE = re.compile(r"[.!?:;\"”’)]$")
_LINE_END_HYPHEN = re.compile(r"(?<=[^\W\d_])-$")
_SOFT_BREAK = re.compile(r"([^\W\d_]+)\u00ad\s*([^\W\d_]*)")
_NUMBERED_HEADING = re.compile(r"^((chapter|section|part)\s+)?\d+(\.\d+)*[.:)]?\s", re.I)
_REFERENCE = re.compile(r"^(HC|HL|CP|Cm|Cmnd|Cmd|SG|SE)(\s*Paper)?\s*\d", re.I)  # command and House paper numbers
_PERIODIC = re.compile(r"\b(daily|weekly|monthly|quarterly|annual|yearly)\b", re.I)
_TITLE_FIELD = re.compile(r"^(?:policy name|document title|report title|title)\s*:\s*(.{6,})$", re.I)
_INTRODUCES_ITSELF = re.compile(r"^(?:below|this|here) is\s+", re.I)
_DISPLAY_SIZE = 1.4  # cover lines this many times the body text's height are display type


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


def _runs(lines: list[Line]) -> list[Line]:
    """Consecutive lines of one size and weight joined into one: a title set over several lines. A
    line that is only a date stands alone."""
    groups: list[list[Line]] = []
    for line in lines:
        prev = groups[-1][-1] if groups else None
        if (prev is not None and prev.bold == line.bold and abs(prev.height - line.height) <= 0.03 * max(prev.height, 1)
                and not cover_date(line.text) and not cover_date(prev.text)):
            groups[-1].append(line)
        else:
            groups.append([line])
    return [Line(" ".join(l.text for l in g), g[0].height, g[0].bold) for g in groups]


def _is_display(run: Line, body: float) -> bool:
    """Cover display type that may name the report: large, words not a sentence, not a number, a
    date, a paper reference ("HC 1119"), a bullet or a numbered heading."""
    text = run.text
    return (body > 0 and run.height >= _DISPLAY_SIZE * body and sum(c.isalpha() for c in text) >= 3
            and len(text.split()) <= 30 and not text.endswith(".") and not cover_date(text)
            and not _REFERENCE.match(text) and not _BULLET_START.match(text) and not _NUMBERED_HEADING.match(text))


def _tidy(title: str) -> str:
    """One title line: clean spacing, and a dash written against the word before it spaced out."""
    return re.sub(r"(\w)- (\w)", r"\1 - \2", clean_inline(title))


def _cover_title(lines: list[Line], body: float, cover: str) -> str | None:
    """The report's name as its cover sets it: the largest display run that is not a generic label,
    completed where it says too little. A bare body name ("UK Covid-19 Inquiry") takes the next run as
    its subtitle; a short name, or one set below a larger label ("The Report"), is prefixed with the
    body the cover names; a periodic summary takes the period printed on the cover."""
    display = [r for r in _runs(lines) if _is_display(r, body)]
    names = [r for r in display if not is_generic(r.text)]
    if not names:
        return None
    main = max(names, key=lambda r: r.height)
    title = main.text
    if names_a_body(title):
        rest = [r for r in names if r is not main]
        if rest:
            sub = max(rest, key=lambda r: r.height).text
            title = f"{title}{' – ' if ':' in sub else ': '}{sub}"
    elif max(display, key=lambda r: r.height) is not main or len(title.split()) <= 2:
        owner = next((r.text for r in names if r is not main and names_a_body(r.text)), None) or publisher_named(cover)
        if owner and owner.lower() not in title.lower():
            title = f"{owner}: {title}"
    if _PERIODIC.search(title):
        period = next((l.text for l in lines if cover_date(l.text)), None)
        if period and period not in title:
            title = f"{title} - {period}"
    return _tidy(title)


def _opening_line(lines: list[Line]) -> str | None:
    """The first line with words, joined with the next while it stops mid-phrase, less an opening
    "Below is" ("Below is Annex A, part of ..." names the document as "Annex A, part of ...")."""
    texts = [l.text for l in lines if sum(c.isalpha() for c in l.text) >= 3]
    if not texts:
        return None
    text = texts[0]
    for nxt in texts[1:4]:
        if not ends_mid_phrase(text) or len(text) > 160:
            break
        text = f"{text} {nxt}"
    return first_words(_tidy(_INTRODUCES_ITSELF.sub("", text))) or None


def document_title(pages: list[list[Line]], meta_title: str, cover: str) -> str | None:
    """The title a reader knows the report by, from its own pages first.

    In order: the cover's display type (the first page with text), a labelled field on it
    ("Policy name: ..."), the metadata title where it reads as one, the cover's opening line.
    """
    first = next((lines for lines in pages if lines), [])
    if not first:
        return meta_title if reads_as_title(meta_title) else None
    title = _cover_title(first, _body_height(pages), cover)
    if title:
        return title
    field = next((m.group(1) for l in first[:40] if (m := _TITLE_FIELD.match(l.text))), None)
    if field:
        return _tidy(field)
    if reads_as_title(meta_title):
        return meta_title
    return _opening_line(first)


def _cover_text(pages: list[list[Line]]) -> str:
    """The first two pages with text, one run a line: what the report says about itself."""
    return "\n".join(r.text for lines in [p for p in pages if p][:2] for r in _runs(lines))[:COVER_CHARS]


def _pdf_date(value: str) -> str | None:
    m = re.match(r"D:(\d{4})(\d{2})?(\d{2})?", value or "")
    if not m:
        return None
    try:
        return datetime(int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1)).date().isoformat()
    except ValueError:
        return None


def _looks_zlib(data: bytes) -> bool:
    return len(data) >= 2 and data[0] & 0x0F == 8 and ((data[0] << 8) | data[1]) % 31 == 0


class _TooBig(Exception):
    pass


def _inflated_size(data: bytes, start: int, limit: int, max_layers: int = 4) -> int:
    """How many bytes the zlib stream at ``data[start:]`` inflates to, counting no further than
    ``limit``: streamed through in pieces of at most 1 MB, so memory stays bounded whatever it holds.

    A stream compressed twice or more (``/Filter [/FlateDecode /FlateDecode]``: the first layer shows
    only a small part of the size) is followed through its layers; every layer's output counts.
    """
    layers = [zlib.decompressobj()]
    alive, started = [True], [False]
    total = 0

    def feed(level: int, chunk: bytes) -> None:
        nonlocal total
        inflater = layers[level]
        while chunk and alive[level]:
            try:
                out = inflater.decompress(chunk, 1 << 20)
            except zlib.error:  # not (all) zlib after all: pdfium judges it
                alive[level] = False
                return
            total += len(out)
            if total > limit:
                raise _TooBig
            check_budget()  # per MB at most: the time per file stays bounded (QA_EXTRACT_SECONDS)
            if out:
                if not started[level]:
                    started[level] = True
                    if level + 1 == len(layers) < max_layers and _looks_zlib(out):
                        layers.append(zlib.decompressobj())
                        alive.append(True)
                        started.append(False)
                if level + 1 < len(layers) and alive[level + 1]:
                    feed(level + 1, out)
            if inflater.eof:
                alive[level] = False
                return
            chunk = inflater.unconsumed_tail

    try:
        for pos in range(start, len(data), 1 << 16):
            if not alive[0]:
                break
            feed(0, data[pos:pos + (1 << 16)])
    except _TooBig:
        return limit + 1
    return total


_DIMENSION = re.compile(rb"/(Width|Height)\s+(\d{1,9})\b")
MAX_IMAGE_BYTES = 2**30  # an image may inflate to Width x Height x 8 bytes, and never past 1 GB


def _image_allowance(head: bytes) -> int | None:
    """What an honest image of the declared size inflates to at most (16-bit CMYK), or None."""
    dims = {k: int(v) for k, v in _DIMENSION.findall(head)}
    if b"Width" not in dims or b"Height" not in dims:
        return None
    return min(dims[b"Width"] * dims[b"Height"] * 8 + 2**20, MAX_IMAGE_BYTES)


def check_streams(data: bytes, name: str, limit: int | None = None) -> int:
    """Refuse a decompression bomb before pdfium inflates it.

    Every Flate (zlib) stream is inflated in a streaming way and its size counted: pdfium inflates
    content streams, fonts and object streams whole in memory while reading text. Real reports inflate
    to a few times their size (at most 25 MB in the shared corpus); over ``QA_MAX_INFLATED_MB``
    (256 MB) in all, the file is rejected. Images are not counted (pdfium does not decode them to
    extract text), but only when they inflate to no more than their declared Width x Height allow: a
    bomb dressed as an image counts like any stream. Returns the bytes counted.
    """
    if limit is None:
        limit = current_limits().max_inflated_bytes
    total = 0
    for m in _STREAM_START.finditer(data):
        s = m.end()
        if not _looks_zlib(data[s:s + 2]):
            continue  # no zlib header: not Flate (or encrypted)
        head = data[max(0, s - 4096):s]
        head = head[head.rfind(b" obj"):]  # the stream's own dictionary
        if b"/Image" in head:
            allowance = _image_allowance(head)
            if allowance is not None and _inflated_size(data, s, allowance) <= allowance:
                continue
        total += _inflated_size(data, s, limit - total)
        if total > limit:
            raise RejectedFile(f"{name}: the PDF's compressed streams inflate to more than {limit // 2**20} MB "
                               "(a decompression bomb, or far more content than a report holds)")
    return total


def _check_page_size(page, number: int, name: str) -> None:
    """A page larger than the PDF maximum makes pdfium size its text grid by the area (hundreds of MB)."""
    width, height = page.get_size()
    if width > MAX_PAGE_POINTS or height > MAX_PAGE_POINTS:
        raise RejectedFile(f"{name}: page {number} is {width:.0f} x {height:.0f} points, outside the PDF limit of "
                           f"{MAX_PAGE_POINTS} points (200 inches) a side")


def _ocr_pages(pdf, name: str) -> list[list[Line]]:
    """Every page read by OCR (:mod:`.ocr`), as lines the layout below reads like a text layer's."""
    from .ocr import ocr_page

    pages, chars = [], 0
    for i in range(len(pdf)):
        pages.append(ocr_page(pdf[i], name, i + 1))
        chars += sum(len(line.text) + 1 for line in pages[-1])
        check_budget(chars)
    return pages


def _words(pages: list[list[Line]]) -> int:
    return sum(len(l.text.split()) for lines in pages for l in lines)


def extract_pdf(data: bytes, name: str, ocr: bool = False) -> Document:
    """One PDF's text, page by page; with ``ocr``, a PDF without a text layer is read by OCR instead
    of being rejected."""
    check_streams(data, name)
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
        pages, chars = [], 0
        for i in range(n_pages):
            page = pdf[i]
            _check_page_size(page, i + 1, name)
            pages.append(_page_lines(page))
            chars += sum(len(line.text) + 1 for line in pages[-1])
            check_budget(chars)  # time and text per file are bounded (QA_EXTRACT_SECONDS, QA_MAX_CHARS)
        meta_raw = pdf.get_metadata_dict()
        scanned = _words(pages) < max(5, math.ceil(n_pages * 2))
        if scanned and ocr:
            pages = _ocr_pages(pdf, name)
    finally:
        pdf.close()
    if scanned and not ocr:
        raise RejectedFile(
            f"{name}: the PDF has no text layer ({n_pages} pages, {_words(pages)} words); it looks scanned. "
            "Index it with OCR: qa index build --ocr (or QA_OCR=1)"
        )
    if scanned and _words(pages) < max(5, n_pages):
        raise RejectedFile(f"{name}: OCR found no readable text ({n_pages} pages, {_words(pages)} words)")
    builder = TextBuilder()
    _layout(remove_running_lines(pages), builder)
    meta: dict = {}
    date = _pdf_date(meta_raw.get("CreationDate", "")) or _pdf_date(meta_raw.get("ModDate", ""))
    if date:
        meta["published"] = date
    cover = _cover_text(pages)
    title = document_title(pages, clean_inline(meta_raw.get("Title", "")), cover)
    last = next((lines for lines in reversed(pages) if lines), [])
    doc = builder.build(describe(cover, meta, title, " ".join(l.text for l in last[:200])), "pdf")
    if scanned:
        doc.meta["ocr"] = "tesseract"
    if "title" not in doc.meta and doc.headings:
        early = [h for h in doc.headings if (doc.page_at(h.start) or 1) <= 2] or doc.headings
        doc.meta["title"] = min(early, key=lambda h: h.level).title
    return doc
