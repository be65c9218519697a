"""BM25Okapi exactly as rank-bm25 defines it, compiled into term-major postings.

rank-bm25 scores a document for query ``q`` as
``sum over q_i of idf(q_i) * tf*(k1+1) / (tf + k1*(1 - b + b*dl/avgdl))``, with
``idf = ln(N - n + 0.5) - ln(n + 0.5)`` and negative idfs replaced by ``epsilon * mean(idf)``.
We precompute each (term, passage) contribution once, with the same float64 arithmetic, so a
query only touches the postings of its own terms. Plain functions: numpy in, numpy out.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from . import _postings, _query

K1 = 2.0  # rank-bm25 defaults to 1.5; 2.0 measured better on every collection (README)
B = 0.75
EPSILON = 0.25


@dataclass
class Postings:
    """Compressed term-major postings: term t's passages are ``doc_ids[offsets[t]:offsets[t+1]]``."""

    offsets: np.ndarray  # int64, n_terms + 1
    doc_ids: np.ndarray  # int32
    impacts: np.ndarray  # float64, the BM25 contribution of the term to the passage
    idf: np.ndarray  # float64, n_terms
    doc_len: np.ndarray  # int32, n_docs


def idf_okapi(df: np.ndarray, n_docs: int, epsilon: float = EPSILON) -> np.ndarray:
    """rank-bm25's BM25Okapi idf, floor for negative values included."""
    idf = np.log(n_docs - df + 0.5) - np.log(df + 0.5)
    # Summed one after the other in vocabulary order, as rank-bm25 does (a pairwise sum differs in the
    # last bits).
    average = float(np.cumsum(idf)[-1]) / len(idf) if len(idf) else 0.0
    return np.where(idf < 0, epsilon * average, idf)


def index_passages(passages: Iterable[Sequence[str]], k1: float = K1, b: float = B, epsilon: float = EPSILON,
                   timings: dict[str, float] | None = None) -> tuple[list[str], Postings]:
    """The vocabulary (term ids in first-seen order) and the postings of passages given as token lists.

    The one way an index is built (``qa.build.assemble`` and the benchmark): token strings become int32
    ids in C without a per-token Python loop, and the token lists are only read. ``timings``, if given,
    receives the seconds of each step.
    """
    t0 = time.perf_counter()
    terms, ids, starts = _postings.term_ids(passages)
    if timings is not None:
        timings["term_ids"] = time.perf_counter() - t0
    postings = _compile(np.frombuffer(ids, np.int32), np.frombuffer(starts, np.int64), len(terms), k1, b, epsilon,
                        timings)
    return terms, postings


def _compile(ids: np.ndarray, starts: np.ndarray, n_terms: int, k1: float, b: float, epsilon: float,
             timings: dict[str, float] | None = None) -> Postings:
    """Postings of a passage-major int32 token stream (passage d is ``ids[starts[d]:starts[d+1]]``).

    Two passes in C, with no array per token or per pair besides the output: document frequencies give
    each term its slice of the output, then each passage's term frequencies are counted and written into
    their terms' slices (passages ascending), the impact computed in float64 in the order of the numpy
    expression ``idf[t] * (tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc_len / avgdl)))``, so it is the same
    to the last bit.
    """
    t0 = time.perf_counter()
    n_docs = len(starts) - 1
    doc_len = np.diff(starts).astype(np.int32)
    df = np.empty(n_terms, dtype=np.int64)
    _postings.doc_freqs(ids, starts, df)
    offsets = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(df, out=offsets[1:])
    idf = idf_okapi(df.astype(np.float64), n_docs, epsilon)
    avgdl = float(doc_len.sum()) / n_docs if n_docs else 1.0
    t1 = time.perf_counter()
    doc_ids = np.empty(offsets[-1], dtype=np.int32)
    impacts = np.empty(offsets[-1], dtype=np.float64)
    _postings.fill(ids, starts, idf, offsets, doc_ids, impacts, k1, b, avgdl)
    if timings is not None:
        timings["doc_freqs"] = t1 - t0
        timings["fill"] = time.perf_counter() - t1
    return Postings(offsets, doc_ids, impacts, idf, doc_len)


def top_k(offsets: np.ndarray, doc_ids: np.ndarray, impacts: np.ndarray, terms: list[int], k: int,
          weights: list[float] | None = None, *, bounds: dict[int, tuple[float, float]] | None = None,
          chunk_report: np.ndarray | None = None, allowed_reports: np.ndarray | None = None
          ) -> tuple[np.ndarray, np.ndarray]:
    """The k best (passages, scores) for a query given as term ids: positive scores only, best first, ties
    by lower passage id. Repeated terms count again; ``weights`` multiply each term's impacts.

    Each score is the sum of its terms' contributions added in query order, as rank-bm25 adds them, so
    the same impacts give the same sum to the last bit (``qa/_query.c`` skips, with MaxScore pruning,
    only passages that cannot reach the k best). ``bounds`` caches each term's largest impact across
    calls: pass the same dict for one loaded index. With ``chunk_report`` (report of each passage) and
    ``allowed_reports`` (one bool per report), only passages of allowed reports are ranked.
    """
    bounds = {} if bounds is None else bounds
    missing = [t for t in dict.fromkeys(terms) if t not in bounds]
    if missing:
        bounds.update(zip(missing, _query.term_bounds(offsets, impacts, missing)))
    ids, scores = _query.top_k(offsets, doc_ids, impacts, terms, weights, [bounds[t] for t in terms], k,
                               chunk_report, allowed_reports)
    return np.frombuffer(ids, dtype=np.int32), np.frombuffer(scores, dtype=np.float64)
