"""Search: a question (and the earlier questions of its conversation) -> the best passages."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import bm25
from .index import Index
from .text import tokenize

HISTORY_WEIGHTS = (0.5, 0.25)  # the previous question, then the one before it


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


def make_query(index: Index, question: str, history: list[str] | None = None) -> Query:
    """Terms of the question (weight 1) plus those of recent history (lower weights) not already asked."""
    tokens = tokenize(question)
    terms = [index.term_ids[t] for t in tokens if t in index.term_ids]
    unseen = float(np.log(index.n_chunks + 0.5) - np.log(0.5))
    idf = {t: (max(float(index.idf[index.term_ids[t]]), 0.0) if t in index.term_ids else unseen) for t in tokens}
    if not history:
        return Query(tokens, terms, None, idf)
    weights = [1.0] * len(terms)
    asked = set(tokens)
    for earlier, w in zip(reversed(history), HISTORY_WEIGHTS):
        for t in dict.fromkeys(tokenize(earlier)):
            if t not in asked and t in index.term_ids:
                asked.add(t)
                terms.append(index.term_ids[t])
                weights.append(w)
    return Query(tokens, terms, weights, idf)


def search(index: Index, query: Query, top_k: int) -> list[Hit]:
    """The ``top_k`` best passages for ``query``, best first (BM25Okapi scores)."""
    candidates, scores = bm25.score(index.offsets, index.doc_ids, index.impacts, query.terms, query.weights)
    best, best_scores = bm25.top_k(candidates, scores, top_k)
    return [Hit(int(c), float(s)) for c, s in zip(best, best_scores)]


def matched_weight(index: Index, query: Query, chunk: int) -> float:
    """Share of the question's idf mass that passage ``chunk`` contains (0..1): evidence strength."""
    total = matched = 0.0
    for t, idf in query.idf.items():
        tid = index.term_ids.get(t)
        total += idf
        if tid is not None:
            s, e = int(index.offsets[tid]), int(index.offsets[tid + 1])
            postings = index.doc_ids[s:e]
            pos = np.searchsorted(postings, chunk)
            if pos < len(postings) and postings[pos] == chunk:
                matched += idf
    return matched / total if total > 0 else 0.0
