"""OCR of PDFs that have no text layer (scans): each page rendered by pdfium, read by Tesseract.

Pages are rendered at :data:`DPI` in grey and piped to the ``tesseract`` program (Debian's
tesseract-ocr, with tesseract-ocr-eng) as PGM; its hOCR output gives every line with its type size, so each
line keeps the height of its type and the PDF reader lays the page out exactly as it does a text
layer (running headers dropped, headings from larger type, page numbers kept: one OCR'd page is one
page of the report). Measured against ocrmypdf in ``bench/ocr.py``.
"""
from __future__ import annotations

import re
import shutil
import subprocess

import lxml.html

from ..errors import RejectedFile
from .document import Line, clean_inline, extend_budget

DPI = 300
PAGE_SECONDS = 120.0  # Tesseract gets this long per page; the file's reading budget grows by as much
MIN_CONFIDENCE = 30.0  # words Tesseract is less sure of are noise (speckles, rules, stamps)
ENGINE = "tesseract"
_LINE_CLASSES = ("ocr_line", "ocr_header", "ocr_caption", "ocr_textfloat")
_SIZE = re.compile(r"\bx_size ([\d.]+)")
_CONFIDENCE = re.compile(r"\bx_wconf (\d+)")


def available() -> bool:
    """Whether the ``tesseract`` program is installed."""
    return shutil.which(ENGINE) is not None


def _pgm(page) -> bytes:
    bitmap = page.render(scale=DPI / 72, grayscale=True)
    pixels = bitmap.to_numpy()
    height, width = pixels.shape[:2]
    return b"P5\n%d %d\n255\n" % (width, height) + pixels.reshape(height, width).tobytes()


def _lines(hocr: bytes) -> list[Line]:
    """Lines from Tesseract's hOCR, each with its ``x_size`` (the line's type size as Tesseract
    measures it: steady across a title's lines whatever letters they hold, unlike word boxes)."""
    root = lxml.html.fromstring(hocr)
    lines = []
    for line in root.xpath("//span[" + " or ".join(f"contains(@class,'{c}')" for c in _LINE_CLASSES) + "]"):
        size = _SIZE.search(line.get("title", ""))
        words = [w.text_content() for w in line.xpath(".//span[contains(@class,'ocrx_word')]")
                 if _confidence(w.get("title", "")) >= MIN_CONFIDENCE]
        text = clean_inline(" ".join(words))
        if text:
            lines.append(Line(text, round(float(size.group(1)) * 72 / DPI, 1) if size else 0.0, False))
    return lines


def _confidence(title: str) -> float:
    found = _CONFIDENCE.search(title)
    return float(found.group(1)) if found else 100.0


def ocr_page(page, name: str, number: int) -> list[Line]:
    """The lines of one pdfium page, read by Tesseract, as the PDF reader's lines (type size in points;
    boldness is not known)."""
    engine = shutil.which(ENGINE)
    if engine is None:
        raise RejectedFile(f"{name}: OCR needs the tesseract program, which is not installed "
                           "(apt-get install tesseract-ocr tesseract-ocr-eng)")
    extend_budget(PAGE_SECONDS)
    env = {"OMP_THREAD_LIMIT": "1"}  # one thread per page: the build's processes share the cores
    try:
        done = subprocess.run([engine, "stdin", "stdout", "-l", "eng", "--dpi", str(DPI), "hocr"], input=_pgm(page),
                              capture_output=True, timeout=PAGE_SECONDS, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise RejectedFile(f"{name}: OCR of page {number} took longer than {PAGE_SECONDS:g} s") from None
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        raise RejectedFile(f"{name}: OCR of page {number} failed ({reason[0]})")
    return _lines(done.stdout)
