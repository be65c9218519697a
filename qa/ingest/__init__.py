"""Ingest: a report file becomes a :class:`Document` (clean text, page map, headings, metadata).

Formats: PDF, HTML, Markdown and plain text, each in its own module. Metadata comes from an optional
sidecar ``<name>.meta.json`` (title, publisher, published, inspected, source, licence) and otherwise from
what the document says about itself (:mod:`.about`). A file that cannot be read raises
:class:`~qa.errors.RejectedFile` with a reason a person understands.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import RejectedFile
from .document import EXTRACTOR_VERSION, Document, Heading, Limits, TextBuilder, check_budget, clean_inline, reading
from .html import extract_html, extract_markdown
from .pdf import extract_pdf
from .plain import extract_text

__all__ = [
    "Document", "Heading", "TextBuilder", "clean_inline", "EXTRACTOR_VERSION", "SUFFIXES", "ReportFile",
    "find_reports", "extract", "check_size", "read_sidecar", "Limits",
]

SUFFIXES = {".pdf": "pdf", ".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown", ".txt": "text"}
SIDECAR = ".meta.json"
SIDECAR_FIELDS = ("title", "publisher", "published", "inspected", "source", "licence", "kind")


@dataclass(frozen=True)
class ReportFile:
    """A report file found under the reports folder, named relative to it."""

    path: Path
    name: str

    @property
    def sidecar(self) -> Path:
        return sidecar_path(self.path)


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.stem + SIDECAR)


def find_reports(root: Path) -> list[ReportFile]:
    """Every file under ``root`` (recursive, sorted) except hidden files and metadata sidecars."""
    root = Path(root)
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or path.name.endswith(SIDECAR):
            continue
        found.append(ReportFile(path, rel.as_posix()))
    return found


def read_sidecar(path: Path) -> dict:
    """Fields of ``<name>.meta.json`` beside ``path``; a malformed sidecar is a rejection, not a guess."""
    side = sidecar_path(path)
    if not side.exists():
        return {}
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise RejectedFile(f"{side.name}: the metadata sidecar is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise RejectedFile(f"{side.name}: the metadata sidecar must be a JSON object")
    return {k: clean_inline(str(data[k])) for k in SIDECAR_FIELDS if data.get(k) not in (None, "")}


def _decode(data: bytes, name: str) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 with its byte-order mark (Windows "Unicode" text)
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise RejectedFile(f"{name}: the file starts like UTF-16 text but is not valid UTF-16") from None
    if b"\x00" in data[:8192]:
        raise RejectedFile(f"{name}: the file looks binary, not text")
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RejectedFile(f"{name}: the text encoding could not be read")  # unreachable: latin-1 decodes all


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def extract(data: bytes, name: str, limits: Limits = Limits()) -> Document:
    """Read one report's bytes; ``name`` (its file name) picks the format and names it in errors.

    Size, time and text per file are bounded by ``limits``, and PDFs are checked against
    decompression bombs, page-tree bombs and absurd page sizes first.
    """
    with reading(name, limits):
        return _extract(data, name, limits)


def check_size(size: int, name: str, limits: Limits) -> None:
    """Reject a file over the size limit (``QA_MAX_FILE_MB``)."""
    if size > limits.max_file_bytes:
        raise RejectedFile(f"{name}: {size / 2**20:.0f} MB is over the {limits.max_file_bytes // 2**20} MB limit "
                           "(QA_MAX_FILE_MB)")


def _extract(data: bytes, name: str, limits: Limits) -> Document:
    kind = SUFFIXES.get(Path(name).suffix.lower())
    if kind is None:
        raise RejectedFile(
            f"{name}: unsupported file type {Path(name).suffix or '(none)'!r}; "
            f"supported: {', '.join(sorted(SUFFIXES))}"
        )
    if not data.strip():
        raise RejectedFile(f"{name}: the file is empty")
    check_size(len(data), name, limits)
    if kind == "pdf":
        doc = extract_pdf(data, name)
    elif kind == "html":
        doc = extract_html(data, name)
    elif kind == "markdown":
        text = _decode(data, name)
        check_budget(len(text))
        doc = extract_markdown(text, name)
    else:
        text = _decode(data, name)
        check_budget(len(text))
        doc = extract_text(text, name)
    if len(doc.text.split()) < 3:
        raise RejectedFile(f"{name}: no readable text was found in the file")
    return doc
