"""Search: a question (and the earlier questions of its conversation) -> the best passages."""
from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache, partial

import numpy as np

from . import bm25
from .index import Index
from .text import name_phrases, name_terms, normalize, tokenize

HISTORY_WEIGHTS = (0.5, 0.25)  # the previous question, then the one before it
ACRONYM_WEIGHT = 0.5  # an acronym for its long form written out, or each long-form term for the acronym


@dataclass
class Hit:
    chunk: int
    score: float


@dataclass
class Query:
    """Index terms of a question with their weights; ``tokens`` are the question's own terms."""

    tokens: list[str]
    terms: list[int]
    weights: list[float] | None
    idf: dict[str, float]  # the question's own terms: how much each one tells passages apart
    names: list[str] = field(default_factory=list)  # terms of the names the question mentions
    phrases: list[str] = field(default_factory=list)  # its names of two words or more, as written
    weighted: dict[str, float] = field(default_factory=dict)  # every term looked for -> idf x its weight
    boost: dict[str, float] = field(default_factory=dict)  # every term looked for -> its weight (1 if asked)
    question: str = ""
    expanded: frozenset = frozenset()  # terms added for an acronym or a long form (they say the same again)
    same_as: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)  # term -> term sets saying the same

    def said_otherwise(self, term: str, has: Callable[[str], bool]) -> bool:
        """Does a text that ``has`` these terms say ``term`` in other words: all the words an acronym
        stands for, or the acronym of words written out?"""
        return any(all(has(x) for x in alt) for alt in self.same_as.get(term, ()))


def expansions(index: Index, tokens: list[str]) -> tuple[list[tuple[str, float]], dict[str, list[tuple[str, ...]]]]:
    """What the corpus's own acronyms add to a question: (term, weight) pairs (the long form's terms
    for an acronym, the acronym for a long form written out in full), and for each question term the
    sets of terms that say the same (for "crc": the terms of "community rehabilitation company")."""
    asked = set(tokens)
    if "long_forms" not in index.memo:  # first term of a long form -> (acronym, long form)
        by_first: dict[str, list[tuple[str, list[str]]]] = {}
        for acronym, long_form in index.acronyms.items():
            by_first.setdefault(long_form[0], []).append((acronym, long_form))
        index.memo["long_forms"] = by_first
    extra = []
    same_as: dict[str, list[tuple[str, ...]]] = {}
    for t in dict.fromkeys(tokens):
        if t in index.acronyms:
            extra += [(term, ACRONYM_WEIGHT) for term in index.acronyms[t]]
            same_as.setdefault(t, []).append(tuple(index.acronyms[t]))
        for acronym, long_form in index.memo["long_forms"].get(t, ()):
            if set(long_form) <= asked:
                extra.append((acronym, ACRONYM_WEIGHT))
                for term in long_form:
                    same_as.setdefault(term, []).append((acronym,))
    return extra, same_as


def memoised(index: Index, name: str, fn: Callable, maxsize: int) -> Callable:
    """``fn(index, key)`` remembered per generation in an LRU of ``maxsize`` entries (``index.memo[name]``)."""
    cached = index.memo.get(name)
    if cached is None:
        cached = index.memo[name] = lru_cache(maxsize=maxsize)(partial(fn, index))
    return cached


def make_query(index: Index, question: str, history: list[str] | None = None) -> Query:
    """Terms of the question (weight 1) plus those of recent history (lower weights) not already asked."""
    tokens = tokenize(question)
    terms = [index.term_ids[t] for t in tokens if t in index.term_ids]
    unseen = float(np.log(index.n_chunks + 0.5) - np.log(0.5))
    idf = {t: (max(float(index.idf[index.term_ids[t]]), 0.0) if t in index.term_ids else unseen) for t in tokens}
    names, phrases = name_terms(question), name_phrases(question)
    extra, same_as = expansions(index, tokens)
    weighted, boost = dict(idf), dict.fromkeys(idf, 1.0)
    if not history and not extra:
        return Query(tokens, terms, None, idf, names, phrases, weighted, boost, question)
    weights = [1.0] * len(terms)
    asked = set(tokens)
    added = [(t, w) for t, w in extra]
    for earlier, w in zip(reversed(history or []), HISTORY_WEIGHTS):
        added += [(t, w) for t in dict.fromkeys(tokenize(earlier))]
    for t, w in added:
        if t not in asked and t in index.term_ids:
            asked.add(t)
            terms.append(index.term_ids[t])
            weights.append(w)
            weighted[t], boost[t] = w * max(float(index.idf[index.term_ids[t]]), 0.0), w
    return Query(tokens, terms, weights, idf, names, phrases, weighted, boost, question,
                 frozenset(t for t, _ in extra), same_as)


@dataclass
class Filters:
    """Which reports may answer: by id, and by publication date (ISO strings compare as dates)."""

    report_ids: list[str] | None = None
    published_from: str | None = None
    published_to: str | None = None

    def __bool__(self) -> bool:
        return bool(self.report_ids or self.published_from or self.published_to)

    def allowed_reports(self, index: Index) -> np.ndarray:
        """A boolean per report of ``index``: may it answer?"""
        allowed = np.ones(len(index.reports), dtype=bool)
        if self.report_ids:
            allowed[:] = False
            for rid in self.report_ids:
                if rid in index.report_index:
                    allowed[index.report_index[rid]] = True
        for i, r in enumerate(index.reports):
            published = r.get("published") or ""
            if self.published_from and not (published and published >= self.published_from):
                allowed[i] = False
            if self.published_to and not (published and published[: len(self.published_to)] <= self.published_to):
                allowed[i] = False
        return allowed


def search(index: Index, query: Query, top_k: int, filters: Filters | None = None) -> list[Hit]:
    """The ``top_k`` best passages for ``query``, best first (BM25Okapi scores), from allowed reports only."""
    allowed = filters.allowed_reports(index) if filters else None
    best, scores = bm25.top_k(index.offsets, index.doc_ids, index.impacts, query.terms, top_k, query.weights,
                              bounds=index.memo.setdefault("term_bounds", {}),
                              chunk_report=None if allowed is None else index.chunk_report, allowed_reports=allowed)
    return [Hit(c, s) for c, s in zip(best.tolist(), scores.tolist())]


def reports_with(index: Index, term: str) -> np.ndarray:
    """A boolean per report: does it hold ``term``?"""
    has = np.zeros(len(index.reports), dtype=bool)
    tid = index.term_ids.get(term)
    if tid is not None:
        has[np.asarray(index.chunk_report)[index.doc_ids[index.offsets[tid]:index.offsets[tid + 1]]]] = True
    return has


def _phrase_pattern(phrase: str) -> re.Pattern:
    """A name as a pattern: any case, a possessive or plural "s", any spacing; an acronym ("CRC") also
    matches words with its initials ("Community Rehabilitation Company")."""
    words = []
    for w in phrase.split():
        word = re.escape(re.sub(r"['’]s$", "", normalize(w))) + r"(?:['’]s|s)?"
        if w.isupper() and len(w) > 1 and w.isalpha():
            word = "(?:" + word + "|" + r"[\s\-]+".join(re.escape(c) + r"\w*" for c in w.lower()) + ")"
        words.append(word)
    return re.compile(r"\b" + r"[\s\-–,.]+".join(words) + r"\b")


PHRASES_REMEMBERED = 10_000  # (report, name) answers remembered per generation


def report_says(index: Index, report: int, phrase: str) -> bool:
    """Does report ``report`` contain ``phrase`` as written (any case, a possessive or plural "s"
    allowed, words apart by spaces, a hyphen or a line break)? Remembered per generation."""
    return memoised(index, "phrases", _report_says, PHRASES_REMEMBERED)(report, phrase)


def _report_says(index: Index, report: int, phrase: str) -> bool:
    record = index.reports[report]
    text = normalize(f"{record.get('title') or ''}\n{index.report_text(record['id'])}")
    return _phrase_pattern(phrase).search(text) is not None


def _reports_naming_one(index: Index, name: str) -> np.ndarray:
    has = reports_with(index, name)
    if name in index.acronyms:
        long_form = np.ones(len(index.reports), dtype=bool)
        for term in index.acronyms[name]:
            long_form &= reports_with(index, term)
        has |= long_form
    has.flags.writeable = False  # shared by every later question naming it
    return has


NAMES_REMEMBERED = 4096  # names whose reports are remembered per generation: one bool per report each


def reports_naming(index: Index, names: list[str], phrases: list[str], among: set[int]) -> np.ndarray:
    """A boolean per report: does it name every one of ``names`` (an acronym or its long form), and
    every name of ``phrases`` word for word? Phrases are looked for only in the reports ``among``
    (the others are False when there are phrases): each first look reads a whole report's text.

    Which reports name a term is remembered per generation: it reads every posting of the term, and
    the same names (a report's place, an organisation) come back question after question."""
    naming = memoised(index, "reports_naming", _reports_naming_one, NAMES_REMEMBERED)
    ok = np.ones(len(index.reports), dtype=bool)
    for t in names:
        ok &= naming(t)
    for r in np.flatnonzero(ok) if phrases else ():
        ok[r] = int(r) in among and all(report_says(index, int(r), p) for p in phrases)
    return ok


def prefer_named(index: Index, query: Query, hits: list[Hit]) -> tuple[list[Hit], bool]:
    """Hits from reports that name everything the question names first (stable otherwise), and
    whether the best hit is such a one. Names of several words are looked for in the hits' reports only."""
    if not query.names or not hits:
        return hits, bool(hits)
    report_of = [int(index.chunk_report[h.chunk]) for h in hits]
    ok = reports_naming(index, query.names, query.phrases, among=set(report_of))
    named = [h for h, r in zip(hits, report_of) if ok[r]]
    return named + [h for h, r in zip(hits, report_of) if not ok[r]], bool(named)


DUPLICATE_OVERLAP = 0.8  # a passage whose terms are this share of another's says the same thing


Sentence = tuple[int, int, frozenset]  # start and end in the passage's text, and its terms


# Passages whose sentences are remembered per generation (about 8 KB each: spans and their terms), and
# whose terms, quotable sentences and citations are (about 4, 1.5 and 1 KB each); measured with tracemalloc.
PASSAGES_REMEMBERED = 50_000
DERIVED_REMEMBERED = 20_000


def passage_sentences(index: Index, chunk: int) -> tuple[Sentence, ...]:
    """The sentences of a passage with their terms, as the build found them (no sentence splitter or
    stemmer runs here), remembered per generation: popular passages come back again and again."""
    return memoised(index, "sentences", _passage_sentences, PASSAGES_REMEMBERED)(chunk)


def _passage_sentences(index: Index, chunk: int) -> tuple[Sentence, ...]:
    return tuple((s, e, frozenset(terms)) for s, e, terms in index.sentences(chunk))


def passage_terms(index: Index, chunk: int) -> frozenset:
    """Every term of a passage's sentences (what near-copies are told by), remembered per generation."""
    return memoised(index, "passage_terms", _passage_terms, DERIVED_REMEMBERED)(chunk)


def _passage_terms(index: Index, chunk: int) -> frozenset:
    return frozenset().union(*(t for _, _, t in passage_sentences(index, chunk)))


def fold_duplicates(index: Index, hits: list[Hit], top_k: int) -> list[tuple[Hit, list[Hit]]]:
    """The first ``top_k`` hits that are not near-copies of a better one, each with the copies folded
    into it (a government response quoting an inquiry's recommendation word for word)."""
    kept: list[tuple[Hit, list[Hit], frozenset]] = []
    for h in hits:
        terms = passage_terms(index, h.chunk)
        for _, copies, other in kept:
            smaller = min(len(terms), len(other))
            if smaller >= 8 and len(terms & other) / smaller >= DUPLICATE_OVERLAP:
                copies.append(h)
                break
        else:
            if len(kept) == top_k:
                break
            kept.append((h, [], terms))
    return [(h, copies) for h, copies, _ in kept]


def _doc_ids_view(index: Index) -> memoryview:
    if "doc_ids_view" not in index.memo:  # bisect over a memoryview: no array slice per term
        index.memo["doc_ids_view"] = memoryview(index.doc_ids).cast("B").cast("i")
    return index.memo["doc_ids_view"]


def posting(index: Index, term: str, chunk: int) -> int | None:
    """Where (term, passage ``chunk``) is in the postings, or None when the passage lacks the term."""
    tid = index.term_ids.get(term)
    if tid is None:
        return None
    doc_ids = _doc_ids_view(index)
    e = int(index.offsets[tid + 1])
    pos = bisect_left(doc_ids, chunk, int(index.offsets[tid]), e)
    return pos if pos < e and doc_ids[pos] == chunk else None


def impact(index: Index, term: str, chunk: int) -> float:
    """The BM25 score ``term`` adds to passage ``chunk`` (0 when the passage lacks it)."""
    pos = posting(index, term, chunk)
    return 0.0 if pos is None else float(index.impacts[pos])


def matched_weight(index: Index, query: Query, chunk: int) -> float:
    """Share of the question's weight that passage ``chunk`` contains (0..1): evidence strength. Each
    term weighs its idf times its weight in the query, so a follow-up ("did the government accept
    that?") is judged with the terms of the question it follows, at their lower weights. An acronym
    counts once: held when the passage has it or all the words it stands for (and the other way round)."""
    total = matched = 0.0
    in_passage = lambda t: posting(index, t, chunk) is not None  # noqa: E731
    for t, w in query.weighted.items():
        if t in query.expanded and t not in query.idf:
            continue
        total += w
        if in_passage(t) or query.said_otherwise(t, in_passage):
            matched += w
    return matched / total if total > 0 else 0.0
