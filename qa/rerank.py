"""Rerank: the second stage, which reorders the engine's best candidates by what BM25 cannot see.

BM25 scores a passage by its terms, wherever they stand in it. A passage that answers holds the
question's terms close together, in one sentence, inside a report about the question's subject, and
reads as prose rather than a title page, a contents list or an address block. Each candidate gets
a few such features (``FEATURES``), all computed from the passage's sentences and the index, and
their weighted sum orders the candidates. The weights are learned on the tuning split of the QA set
by pairwise logistic regression (``train/rerank.py``) and ship as JSON beside this module.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .index import Index
from .search import (DERIVED_REMEMBERED, Hit, Query, impact, memoised, passage_sentences, passage_terms,
                     reports_with)
from .text import STOPWORDS, tokenize

WEIGHTS_FILE = Path(__file__).with_name("rerank_weights.json")

FEATURES = (
    "bm25",          # the engine's score over the best candidate's
    "rank",          # 1 / (1 + the engine's rank)
    "coverage",      # share of the question's weight the passage holds anywhere
    "sentence",      # share held by its best sentence
    "window",        # share held by its best two neighbouring sentences
    "coverage_local",  # the same three with each term weighted by how few candidates hold it
    "sentence_local",
    "window_local",
    "topic",         # the same three over the question's topic: its terms less its names and its report's title
    "topic_sentence",
    "topic_window",
    "topic_bm25",    # the engine's score from the topic's terms alone, over the best candidate's
    "bigrams",       # share of the question's neighbouring term pairs the passage holds side by side
    "heading",       # share held by its section heading
    "title",         # share held by its report's title
    "report",        # share held anywhere in its report
    "report_hits",   # how many of the candidates come from its report
    "prose",         # share of its words in sentences of eight words or more
    "short_lines",   # share of its lines under six words
    "digits",        # share of its words that are numbers
    "boilerplate",   # words of title pages, contents, addresses, member lists, footnotes
    "capitals",      # share of its words that start with a capital (names, titles, addresses)
    "function_words",  # share of its words that are function words (prose has many, lists few)
    "opening",       # it is one of its report's first two passages
    "length",        # log of its words
    "reply",         # the question asks for a reply (accept, respond) and the passage gives one
    "response_doc",  # the question asks for a reply and the report is a response
    "number",        # the question asks how many / how much and its best sentence has a number
)

_BOILERPLATE = re.compile(
    r"\b(?:contents|telephone|tel|e-?mail|www|http|isbn|copyright|printed|ordered by|members?|chair(?:man)?|"
    r"signed|annex|appendix|footnote|ibid|hc \d+|hl paper|crown|licen[cs]ed|gov\.uk|reference|ref|"
    r"foreword|glossary|acknowledg\w*|address|postcode|published by|dear)\b")
_NUMBER = re.compile(r"\d")


def _asks_reply(query: Query) -> bool:
    """Does the question ask for a reply: whether a recommendation was accepted, how the government responded?"""
    return not _REPLY_QUESTION.isdisjoint(query.tokens)


def _asks_count(query: Query) -> bool:
    """Does the question ask for a number: how many, how much, what share?"""
    return bool(_COUNT_QUESTION.search(query.question))


_REPLY_QUESTION = frozenset(tokenize("accept accepted agree agreed reject rejected respond response reply replied "
                                     "government's answer commit committed"))
_REPLY_WORDS = frozenset(tokenize("accept accepts accepted agree agrees reject rejects welcome welcomes "
                                  "response respond committed commit will"))
_COUNT_QUESTION = re.compile(r"\b(?:how (?:many|much|long|often|old)|what (?:share|proportion|percentage|number|"
                             r"amount|figure|cost)|number of|percentage|per ?cent|cost)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Model:
    """A linear model over standardised features: ``sum(weights * (x - mean) / scale)``, one entry per
    name of ``FEATURES`` (a feature the model does not use has weight 0)."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray

    def score(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.weights

    def to_json(self) -> dict:
        """The features with a weight, each with its mean, scale and weight (JSON: never pickle)."""
        return {name: {"mean": float(m), "scale": float(s), "weight": float(w)}
                for name, m, s, w in zip(FEATURES, self.mean, self.scale, self.weights) if w}

    @classmethod
    def from_json(cls, data: dict) -> "Model":
        unknown = set(data) - set(FEATURES)
        if unknown:
            raise ValueError(f"the reranker's weights name features this program does not compute: {sorted(unknown)}")
        mean, scale, weights = np.zeros(len(FEATURES)), np.ones(len(FEATURES)), np.zeros(len(FEATURES))
        for k, name in enumerate(FEATURES):
            if name in data:
                mean[k], scale[k], weights[k] = (float(data[name][x]) for x in ("mean", "scale", "weight"))
        return cls(mean, scale, weights)


@lru_cache(maxsize=1)
def shipped_model() -> Model:
    """The weights shipped beside this module."""
    return Model.from_json(json.loads(WEIGHTS_FILE.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Static:
    """What a passage's features need that is the same for every question."""

    prose: float
    short_lines: float
    digits: float
    boilerplate: float
    capitals: float
    function_words: float
    opening: float
    length: float
    reply_words: frozenset
    heading_terms: frozenset
    title_terms: frozenset
    bigrams: frozenset  # (term, next term) pairs of its sentences


def static_features(index: Index, chunk: int) -> Static:
    """A passage's question-independent features, remembered per generation."""
    return memoised(index, "rerank_static", _static_features, DERIVED_REMEMBERED)(chunk)


def _static_features(index: Index, chunk: int) -> Static:
    text = index.chunk_text(chunk)
    words = text.split()
    n = max(len(words), 1)
    lines = [line for line in text.split("\n") if line.strip()]
    spans = passage_sentences(index, chunk)
    prose = sum(len(text[s:e].split()) for s, e, _ in spans if len(text[s:e].split()) >= 8)
    section = int(index.chunk_section[chunk])
    return Static(
        prose=prose / n,
        short_lines=sum(len(line.split()) < 6 for line in lines) / max(len(lines), 1),
        digits=sum(bool(_NUMBER.search(w)) for w in words) / n,
        boilerplate=min(len(_BOILERPLATE.findall(text.lower())) / n * 10, 1.0),
        capitals=sum(w[:1].isupper() for w in words) / n,
        function_words=sum(w.lower().strip(".,;:()“”\"'‘’") in STOPWORDS for w in words) / n,
        opening=float(int(index.chunk_seq[chunk]) < 2),
        length=math.log1p(len(words)),
        reply_words=passage_terms(index, chunk) & _REPLY_WORDS,
        heading_terms=frozenset(tokenize(index.sections[section])) if section >= 0 else frozenset(),
        title_terms=title_terms(index, int(index.chunk_report[chunk])),
        bigrams=frozenset(pair for _, _, terms in index.sentences(chunk) for pair in pairs(terms)),
    )


def pairs(tokens: list[str]) -> list[tuple[str, str]]:
    """Neighbouring terms, in order (stopwords already gone: "protection of the public" -> (protect, public))."""
    return list(zip(tokens, tokens[1:]))


def title_terms(index: Index, report: int) -> frozenset:
    """Terms of a report's title and file name, remembered per generation."""
    return memoised(index, "title_terms", _title_terms, 4096)(report)


def _title_terms(index: Index, report: int) -> frozenset:
    record = index.reports[report]
    stem = Path(record["file"]).stem.replace("_", " ").replace("-", " ")
    return frozenset(tokenize(f"{record.get('title') or ''} {stem}"))


def _report_has(index: Index, term: str) -> np.ndarray:
    """A boolean per report: does it hold ``term``? Remembered per generation."""
    return memoised(index, "report_has", reports_with, 4096)(term)


def _share(weights: dict[str, float], terms: frozenset, total: float) -> float:
    return sum(w for t, w in weights.items() if t in terms) / total


def features(index: Index, query: Query, hits: list[Hit]) -> np.ndarray:
    """One row of ``FEATURES`` per hit, in the hits' order."""
    weights = query.weighted
    total = sum(weights.values()) or 1.0
    ordered = sorted(weights)  # a fixed order: the same sums in every process
    weights = {t: weights[t] for t in ordered}
    report_share = np.zeros(len(index.reports))
    for t, w in weights.items():
        report_share += w * _report_has(index, t)
    report_share /= total
    names = set(query.names)
    reply, count = _asks_reply(query), _asks_count(query)
    asked_pairs = set(pairs(query.tokens))
    asked_pairs |= {(b, a) for a, b in asked_pairs}  # "public protection" and "protecting the public"
    reports = [int(index.chunk_report[h.chunk]) for h in hits]
    per_report: dict[int, int] = {}
    for r in reports:
        per_report[r] = per_report.get(r, 0) + 1
    top = max((h.score for h in hits), default=1.0) or 1.0
    spans_of = [passage_sentences(index, h.chunk) for h in hits]
    terms_of = [passage_terms(index, h.chunk) for h in hits]
    held = {t: sum(t in terms for terms in terms_of) for t in weights}
    local = {t: w * math.log(1 + len(hits) / held[t]) for t, w in weights.items() if held[t]}
    local_total = sum(local.values()) or 1.0
    rows = np.zeros((len(hits), len(FEATURES)))
    topic_scores = []
    for h, r in zip(hits, reports):
        title = static_features(index, h.chunk).title_terms
        topic_scores.append(sum(impact(index, t, h.chunk) * query.boost[t]
                                for t in ordered if t not in title and t not in names))
    top_topic = max(topic_scores, default=0.0) or 1.0
    for i, (h, r) in enumerate(zip(hits, reports)):
        st = static_features(index, h.chunk)
        spans, all_terms = spans_of[i], terms_of[i]
        shares = [_share(weights, t, total) for _, _, t in spans]
        best = max(range(len(shares)), key=shares.__getitem__, default=None)
        window = max((_share(weights, spans[k][2] | spans[k + 1][2], total) for k in range(len(spans) - 1)),
                    default=shares[0] if shares else 0.0)
        local_shares = [_share(local, t, local_total) for _, _, t in spans]
        local_window = max((_share(local, spans[k][2] | spans[k + 1][2], local_total) for k in range(len(spans) - 1)),
                          default=local_shares[0] if local_shares else 0.0)
        topic = {t: w for t, w in weights.items() if t not in st.title_terms and t not in names}
        topic_total = sum(topic.values())
        best_has_number = False
        if best is not None and count:
            s, e, _ = spans[best]
            best_has_number = bool(_NUMBER.search(index.chunk_text(h.chunk)[s:e]))
        rows[i] = (
            h.score / top, 1.0 / (1 + i), _share(weights, all_terms, total),
            shares[best] if best is not None else 0.0, window,
            _share(local, all_terms, local_total), max(local_shares, default=0.0), local_window,
            *((_share(topic, all_terms, topic_total), max(_share(topic, t, topic_total) for _, _, t in spans),
               max((_share(topic, spans[k][2] | spans[k + 1][2], topic_total) for k in range(len(spans) - 1)),
                   default=_share(topic, spans[0][2], topic_total)))
              if topic_total and spans else (0.0, 0.0, 0.0)),
            topic_scores[i] / top_topic,
            len(asked_pairs & st.bigrams) / len(asked_pairs) if asked_pairs else 0.0,
            _share(weights, st.heading_terms, total), _share(weights, st.title_terms, total),
            report_share[r], math.log1p(per_report[r]),
            st.prose, st.short_lines, st.digits, st.boilerplate, st.capitals, st.function_words, st.opening, st.length,
            float(reply and bool(st.reply_words)),
            float(reply and "respons" in st.title_terms),
            float(best_has_number),
        )
    return rows


def rerank(index: Index, query: Query, hits: list[Hit], model: Model) -> list[Hit]:
    """``hits`` reordered by the model's score, best first (ties keep the engine's order)."""
    if len(hits) < 2:
        return hits
    scores = model.score(features(index, query, hits))
    order = sorted(range(len(hits)), key=lambda i: (-scores[i], i))
    return [hits[i] for i in order]
