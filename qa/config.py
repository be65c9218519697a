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


def web_dir() -> Path:
    """The chat page's static files: inside the installed package, or ``web/`` of a source checkout."""
    installed = PACKAGE_DIR / "web"
    return installed if installed.is_dir() else PACKAGE_DIR.parent / "web"
