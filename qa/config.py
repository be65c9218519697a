"""Defaults, and the environment variables that override them."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SAMPLE_REPORTS = PACKAGE_DIR / "sample" / "reports"


def index_dir() -> Path:
    """``QA_INDEX_DIR``, else ``index/`` in the working directory."""
    return Path(os.environ.get("QA_INDEX_DIR") or "index")


def reports_dir() -> Path:
    """``QA_REPORTS_DIR``, else the bundled sample reports."""
    return Path(os.environ.get("QA_REPORTS_DIR") or SAMPLE_REPORTS)


def own_reports_dir(folder: Path, how: str) -> Path:
    """``folder`` when it may be written to: never the bundled sample, which ships with the package.
    ``how`` says how to name another ("start the server with --reports DIR")."""
    from .errors import Conflict

    folder = Path(folder)
    if folder.resolve() == SAMPLE_REPORTS.resolve():
        raise Conflict(f"new reports need a reports folder of your own: {how} or QA_REPORTS_DIR "
                       "(the bundled sample is read-only)")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def web_dir() -> Path:
    """The chat page's static files: inside the installed package, or ``web/`` of a source checkout."""
    installed = PACKAGE_DIR / "web"
    return installed if installed.is_dir() else PACKAGE_DIR.parent / "web"


def ocr() -> bool:
    """``QA_OCR``: ``1`` (or ``true``, ``yes``, ``on``) reads PDFs without a text layer by OCR in every
    build and update, as ``qa index build --ocr`` does. Off by default: OCR takes seconds a page."""
    return (os.environ.get("QA_OCR") or "").strip().lower() in ("1", "true", "yes", "on")


RERANKERS = ("off", "lexical")


def reranker() -> str:
    """``QA_RERANKER``: ``off`` (the default: the engine's order) or ``lexical`` (the second stage of
    :mod:`qa.rerank` reorders the engine's best candidates). Off by default because on the test split
    of the QA set it did not measurably beat the engine's order (docs/quality.md)."""
    value = (os.environ.get("QA_RERANKER") or "off").strip().lower()
    if value not in RERANKERS:
        raise ValueError(f"QA_RERANKER={value!r} is not a reranker: use one of {', '.join(RERANKERS)}")
    return value
