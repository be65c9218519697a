"""The shape every ingested report takes, and the one builder that lays its text out.

A report's cleaned text is the single source of truth for citations: passages, pages and sections
are all character ranges into it. Blocks (paragraphs and headings) are separated by one newline;
whitespace inside a block is collapsed to single spaces.
"""
from __future__ import annotations

import re
import time
import unicodedata
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from ..errors import RejectedFile

EXTRACTOR_VERSION = 2  # 2: titles, publishers and dates read from the document (qa.ingest.about)

_SPACES = re.compile(r"\s+")
# Private-use glyphs (Wingdings/Symbol bullets) and the stray control characters PDF text carries.
_PRIVATE_USE = re.compile(r"[\ue000-\uf8ff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffe\uffff]")


@dataclass
class Heading:
    start: int
    end: int
    title: str
    level: int = 1


@dataclass
class Document:
    """Clean text of one report, with its page map, headings and what the file says about itself."""

    text: str
    pages: list[tuple[int, int]] = field(default_factory=list)
    headings: list[Heading] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    kind: str = "text"

    def page_at(self, pos: int) -> int | None:
        """1-based page holding character ``pos`` (None for sources without pages)."""
        if not self.pages:
            return None
        lo, hi = 0, len(self.pages) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.pages[mid][0] <= pos:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1

    def to_json(self) -> dict:
        return {
            "text": self.text,
            "pages": [list(p) for p in self.pages],
            "headings": [[h.start, h.end, h.title, h.level] for h in self.headings],
            "meta": self.meta,
            "kind": self.kind,
        }

    @classmethod
    def from_json(cls, data: dict) -> "Document":
        return cls(
            text=data["text"],
            pages=[tuple(p) for p in data["pages"]],
            headings=[Heading(*h) for h in data["headings"]],
            meta=data.get("meta", {}),
            kind=data.get("kind", "text"),
        )


SOFT_HYPHEN = "\u00ad"

@dataclass(frozen=True)
class Limits:
    """What reading one file may cost; over any limit the file is rejected with the reason
    (``qa.config.Settings.limits`` fills them from ``QA_MAX_FILE_MB`` and its kin)."""

    max_file_bytes: int = 100 * 2**20
    max_inflated_bytes: int = 256 * 2**20  # compressed PDF streams may inflate to this much in all
    seconds: float = 120.0
    max_chars: int = 25_000_000


class Budget:
    """One file's reading against its :class:`Limits` of time and text. The readers check it as they go
    (per PDF page, per block of text)."""

    def __init__(self, name: str, limits: Limits):
        self.name = name
        self.limits = limits
        self.deadline = time.monotonic() + limits.seconds

    def check(self, chars: int = 0) -> None:
        if chars > self.limits.max_chars:
            raise RejectedFile(f"{self.name}: the file holds more than {self.limits.max_chars:,} characters of text "
                               "(QA_MAX_CHARS); split it into smaller reports")
        if time.monotonic() > self.deadline:
            raise RejectedFile(f"{self.name}: reading it took longer than {self.limits.seconds:g} s "
                               "(QA_EXTRACT_SECONDS); the file is too large or too complex")


_BUDGET: ContextVar[Budget | None] = ContextVar("qa_extract_budget", default=None)


@contextmanager
def reading(name: str, limits: Limits):
    """Run one file's extraction under a :class:`Budget` (per thread: a context variable)."""
    token = _BUDGET.set(Budget(name, limits))
    try:
        yield _BUDGET.get()
    finally:
        _BUDGET.reset(token)


def current_limits() -> Limits:
    """The limits of the file being read (the defaults outside :func:`reading`)."""
    budget = _BUDGET.get()
    return budget.limits if budget is not None else Limits()


def check_budget(chars: int = 0) -> None:
    """Raise RejectedFile when the file being read is over its time or text budget (no-op outside
    :func:`reading`)."""
    budget = _BUDGET.get()
    if budget is not None:
        budget.check(chars)


def clean_inline(text: str, keep_soft_hyphens: bool = False) -> str:
    """NFKC, bullets for private-use glyphs, no control characters, single spaces.

    PDF line-end hyphens arrive as U+FFFE or U+0002; with ``keep_soft_hyphens`` they become U+00AD
    for the PDF reader to resolve (rejoin the word, or keep a real compound's hyphen).
    """
    text = unicodedata.normalize("NFKC", text)
    if keep_soft_hyphens:
        text = text.replace("\ufffe", SOFT_HYPHEN).replace("\x02", SOFT_HYPHEN)
    else:
        text = text.replace(SOFT_HYPHEN, "")
    text = _PRIVATE_USE.sub("•", text)
    text = _CONTROL.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


class TextBuilder:
    """Appends headings and paragraphs page by page and records where each one landed."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._len = 0
        self.pages: list[tuple[int, int]] = []
        self.headings: list[Heading] = []
        self._page_start: int | None = None

    def _append(self, block: str) -> tuple[int, int]:
        if self._len:
            self._parts.append("\n")
            self._len += 1
        start = self._len
        self._parts.append(block)
        self._len += len(block)
        check_budget(self._len)
        return start, self._len

    def start_page(self) -> None:
        self.end_page()
        self._page_start = self._len + (1 if self._len else 0)

    def end_page(self) -> None:
        if self._page_start is not None:
            self.pages.append((min(self._page_start, self._len), self._len))
            self._page_start = None

    def paragraph(self, text: str) -> None:
        text = clean_inline(text)
        if text:
            self._append(text)

    def heading(self, text: str, level: int = 1) -> None:
        text = clean_inline(text)
        if text:
            start, end = self._append(text)
            self.headings.append(Heading(start, end, text, level))

    def build(self, meta: dict, kind: str) -> Document:
        self.end_page()
        return Document("".join(self._parts), self.pages, self.headings, meta, kind)
