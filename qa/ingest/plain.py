"""Plain-text reports: paragraphs are separated by blank lines or start with a bullet; a short first
paragraph without a closing full stop is the title and opens the only section, and otherwise the
first line names the report."""
from __future__ import annotations

import re

from .about import COVER_CHARS, describe, first_words
from .document import Document, TextBuilder, clean_inline

_BULLET = re.compile(r"^\s*([•\-–*▪●]|\d{1,3}[.)])\s")


def _paragraphs(text: str) -> list[str]:
    paras: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if not line.strip() or _BULLET.match(line):
            if current:
                paras.append(" ".join(current))
            current = [line] if line.strip() else []
        else:
            current.append(line)
    if current:
        paras.append(" ".join(current))
    return [p for p in (clean_inline(p) for p in paras) if p]


def extract_text(text: str, name: str) -> Document:
    builder = TextBuilder()
    paras = _paragraphs(text)
    if paras and len(paras[0]) <= 200 and not paras[0].endswith((".", "!", "?", ":")) and len(paras) > 1:
        builder.heading(paras[0], 1)
        title = paras[0]
        paras = paras[1:]
    else:
        title = next((clean_inline(line) for line in text.splitlines() if clean_inline(line)), None)
    for p in paras:
        builder.paragraph(p)
    doc = builder.build({}, "text")
    doc.meta = describe(doc.text[:COVER_CHARS], {}, title and first_words(title))
    return doc
