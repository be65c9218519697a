"""Chunk: a report's text becomes sentence-aligned passages inside section boundaries.

Sentences come from nltk's Punkt with an abbreviation list written here, so nothing is downloaded.
A passage is a run of whole sentences of about ``size`` words; the next one starts ``overlap``
sentences back. Passages never cross a heading: each belongs to the section it sits in. Every passage
is a character range of the report's text, so its ``text`` is always ``report_text[start:end]``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

from .ingest import Document

CHUNKER_VERSION = 2  # bump when passages change for the same text and settings (invalidates caches); 2: sentences
CHUNK_SIZE = 200  # words; chosen on the QA set (README, "Choosing the passage size")
CHUNK_OVERLAP = 0  # sentences repeated when a paragraph is split; measured, README
MAX_SENTENCE_WORDS = 200

ABBREVIATIONS = frozenset(
    """
    dr mr mrs ms prof rev hon sr jr st mt no nos vol vols p pp para paras fig figs ch chap sec sect art
    e.g i.e etc cf vs viz al approx est dept govt univ inc ltd co corp assn ed eds ibid op cit
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun
    u.k u.s a.m p.m hmip hmps hmpps no.s ref refs
    """.split()
)


def _sentence_tokenizer() -> PunktSentenceTokenizer:
    params = PunktParameters()
    params.abbrev_types = set(ABBREVIATIONS)
    return PunktSentenceTokenizer(params)


_punkt = _sentence_tokenizer()
_WORDS = re.compile(r"\S+")


@dataclass
class Chunk:
    """One passage: a character range of its report's text, with its page range, section and the
    character ranges of its sentences (in the report's text, in order)."""

    start: int
    end: int
    page: int | None
    page_end: int | None
    section: str | None
    sentences: list[tuple[int, int]] = field(default_factory=list)


def sentence_spans(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """Character ranges of the sentences of one block of text (no download needed)."""
    spans = []
    for s, e in _punkt.span_tokenize(text):
        words = list(_WORDS.finditer(text, s, e))
        if len(words) <= MAX_SENTENCE_WORDS:
            spans.append((offset + s, offset + e))
            continue
        for i in range(0, len(words), MAX_SENTENCE_WORDS):
            piece = words[i : i + MAX_SENTENCE_WORDS]
            spans.append((offset + piece[0].start(), offset + piece[-1].end()))
    return spans


def _sections(doc: Document) -> list[tuple[int, int, str | None]]:
    """(start, end, heading) for each section; consecutive headings with no text between them merge."""
    bounds: list[tuple[int, str | None]] = [(0, None)]
    for h in doc.headings:
        prev_start, _ = bounds[-1]
        body = doc.text[prev_start:h.start]
        last_heading_end = next((x.end for x in reversed(doc.headings) if prev_start <= x.start < h.start), None)
        if last_heading_end is not None and not doc.text[last_heading_end:h.start].strip():
            continue  # the previous heading has no body yet: this one joins its section
        if prev_start == 0 and not body.strip():
            bounds[-1] = (h.start, h.title)
        else:
            bounds.append((h.start, h.title))
    ends = [b[0] for b in bounds[1:]] + [len(doc.text)]
    return [(s, e, title) for (s, title), e in zip(bounds, ends) if doc.text[s:e].strip()]


def sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence ranges of ``text[start:end]``, block (line) by block: no sentence spans two blocks."""
    end = len(text) if end is None else end
    units = []
    pos = start
    while pos < end:
        nl = text.find("\n", pos, end)
        line_end = end if nl == -1 else nl
        if text[pos:line_end].strip():
            units.extend(sentence_spans(text[pos:line_end], pos))
        pos = line_end + 1
    return units


def _word_count(text: str, span: tuple[int, int]) -> int:
    return len(text[span[0]:span[1]].split())


def chunk_document(doc: Document, size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP) -> list[Chunk]:
    """Passages of ``doc`` in reading order.

    Whole paragraphs are packed into a passage while they fit in about ``size`` words; a passage
    ends inside a paragraph only when that paragraph alone is longer, and then the next passage
    repeats its last ``overlap`` sentences.
    """
    text = doc.text
    chunks: list[Chunk] = []
    for sec_start, sec_end, title in _sections(doc):
        units = sentences(text, sec_start, sec_end)
        words = [_word_count(text, u) for u in units]
        new_block = [k == 0 or "\n" in text[units[k - 1][1]:units[k][0]] for k in range(len(units))]
        block_words = words[:]  # words from unit k to the end of its paragraph
        for k in range(len(units) - 2, -1, -1):
            if not new_block[k + 1]:
                block_words[k] += block_words[k + 1]
        i = 0
        while i < len(units):
            j, total = i, 0
            while j < len(units) and (total < size or j == i):
                if j > i and new_block[j] and total + block_words[j] > size and total >= size // 2:
                    break
                total += words[j]
                j += 1
            # A short tail joins this passage rather than standing alone.
            if j < len(units) and sum(words[j:]) < size // 4:
                j = len(units)
            start, end = units[i][0], units[j - 1][1]
            chunks.append(Chunk(start, end, doc.page_at(start), doc.page_at(end - 1), title, units[i:j]))
            if j >= len(units):
                break
            i = j if new_block[j] else max(j - overlap, i + 1)
    return chunks
