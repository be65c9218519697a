"""Seconds of OCR per page: the service's way (pdfium page images piped to Tesseract, qa.ingest.ocr)
and, when it is installed, ocrmypdf (which also runs Tesseract) on the same scanned PDF.

    python bench/ocr.py --pdf ../shared/corpus/other/PostOfficeHorizon-IT-Inquiry-Response.pdf
    python bench/ocr.py --pdf FILE --ocrmypdf /tmp/ocrvenv/bin/ocrmypdf   # the peer, from its own venv
    python bench/ocr.py --smoke   # one page the script draws (Pillow), the service's way only

Prints one line per way: pages, total seconds, seconds per page (wall clock; the machine is shared, so
run it more than once), CPU seconds per page (Tesseract's included: steadier on a busy machine) and
words read.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pypdfium2 as pdfium  # noqa: E402

from qa.ingest import ocr  # noqa: E402


def _cpu() -> float:
    """CPU seconds of this process and its finished children (Tesseract runs as a child)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def ours(pdf_path: Path) -> tuple[int, float, float, int]:
    pdf = pdfium.PdfDocument(pdf_path)
    try:
        t0, c0 = time.perf_counter(), _cpu()
        words = sum(len(l.text.split()) for i in range(len(pdf)) for l in ocr.ocr_page(pdf[i], pdf_path.name, i + 1))
        return len(pdf), time.perf_counter() - t0, _cpu() - c0, words
    finally:
        pdf.close()


def peer(pdf_path: Path, program: str) -> tuple[int, float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.pdf"
        t0, c0 = time.perf_counter(), _cpu()
        subprocess.run([program, "--output-type", "pdf", "--jobs", "1", "-l", "eng", "--optimize", "0",
                        str(pdf_path), str(out)], check=True, capture_output=True)
        seconds, cpu = time.perf_counter() - t0, _cpu() - c0
        pdf = pdfium.PdfDocument(out)
        try:
            words = sum(len(pdf[i].get_textpage().get_text_range().split()) for i in range(len(pdf)))
            return len(pdf), seconds, cpu, words
        finally:
            pdf.close()


def drawn_scan(folder: Path) -> Path:
    """A one-page PDF of an image of text (no text layer), drawn with Pillow."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", (1240, 1754), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=32)
    for i, line in enumerate(["Inspection of a probation service", "Inspectors found the work with women",
                              "on probation was good."]):
        draw.text((110, 150 + 60 * i), line, fill=0, font=font)
    path = folder / "scan.pdf"
    img.save(path, "PDF", resolution=150)
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pdf", type=Path)
    p.add_argument("--ocrmypdf", default=shutil.which("ocrmypdf"), help="the ocrmypdf program (default: on PATH)")
    p.add_argument("--smoke", action="store_true", help="one drawn page, the service's way only (seconds)")
    args = p.parse_args()
    if args.smoke:
        args.pdf, args.ocrmypdf = drawn_scan(Path(tempfile.mkdtemp())), None
    elif args.pdf is None:
        p.error("--pdf is required (or --smoke)")
    rows = [("pdfium pages -> tesseract (qa.ingest.ocr)", ours(args.pdf))]
    if args.ocrmypdf:
        rows.append(("ocrmypdf --jobs 1", peer(args.pdf, args.ocrmypdf)))
    else:
        print("ocrmypdf is not installed: only the service's way is measured", flush=True)
    for name, (pages, seconds, cpu, words) in rows:
        print(f"{name}: {pages} pages in {seconds:.1f} s = {seconds / pages:.2f} s per page "
              f"({cpu / pages:.2f} s of CPU per page), {words} words", flush=True)


if __name__ == "__main__":
    main()
