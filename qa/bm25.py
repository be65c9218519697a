"""BM25Okapi exactly as rank-bm25 defines it, compiled into term-major postings.

rank-bm25 scores a document for query ``q`` as
``sum over q_i of idf(q_i) * tf*(k1+1) / (tf + k1*(1 - b + b*dl/avgdl))``, with
``idf = ln(N - n + 0.5) - ln(n + 0.5)`` and negative idfs replaced by ``epsilon * mean(idf)``.
We precompute each (term, passage) contribution once, with the same float64 arithmetic, so a
query only touches the postings of its own terms. Plain functions: numpy in, numpy out.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


def compile_postings(term_ids: np.ndarray, doc_of_token: np.ndarray, n_terms: int, n_docs: int,
                     k1: float = K1, b: float = B, epsilon: float = EPSILON) -> Postings:
    """Postings from the flat token stream (term id and passage of every token), fully vectorised."""
    doc_len = np.bincount(doc_of_token, minlength=n_docs).astype(np.int32)
    keys = term_ids.astype(np.int64) * n_docs + doc_of_token.astype(np.int64)
    pairs, tf = np.unique(keys, return_counts=True)
    terms = pairs // n_docs
    docs = (pairs % n_docs).astype(np.int32)
    df = np.bincount(terms, minlength=n_terms)
    offsets = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(df, out=offsets[1:])
    idf = idf_okapi(df.astype(np.float64), n_docs, epsilon)
    avgdl = float(doc_len.sum()) / n_docs
    q_freq = tf.astype(np.float64)
    impacts = idf[terms] * (q_freq * (k1 + 1) / (q_freq + k1 * (1 - b + b * doc_len[docs] / avgdl)))
    return Postings(offsets, docs, impacts, idf, doc_len)


def score(offsets: np.ndarray, doc_ids: np.ndarray, impacts: np.ndarray, query_terms: list[int],
          weights: list[float] | None = None, n_docs: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(candidate passages, their scores) for a query given as term ids, repeats counting again.

    Contributions are added term by term in query order, as rank-bm25 does, so the sums are the same.
    With ``n_docs`` and many postings, a dense accumulator over all passages replaces the sort of the
    touched ones (4x faster at 100k passages: bench/README.md).
    """
    if not query_terms:
        return np.empty(0, np.int32), np.empty(0, np.float64)
    slices = [(offsets[t], offsets[t + 1]) for t in query_terms]
    docs = np.concatenate([doc_ids[s:e] for s, e in slices])
    if weights is None:
        contrib = np.concatenate([impacts[s:e] for s, e in slices])
    else:
        contrib = np.concatenate([impacts[s:e] * w for (s, e), w in zip(slices, weights)])
    if n_docs is not None and len(docs) * 8 >= n_docs:
        dense = np.bincount(docs, weights=contrib, minlength=n_docs)
        candidates = np.flatnonzero(dense)
        return candidates, dense[candidates]
    candidates, inverse = np.unique(docs, return_inverse=True)
    return candidates, np.bincount(inverse, weights=contrib, minlength=len(candidates))


def top_k(candidates: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best (passage, score) pairs with a positive score, best first; ties by passage order."""
    keep = scores > 0
    candidates, scores = candidates[keep], scores[keep]
    if len(scores) > k:
        kth = -np.partition(-scores, k - 1)[k - 1]
        tied_or_better = scores >= kth  # every passage tied with the k-th, so ties are cut by passage order
        candidates, scores = candidates[tied_or_better], scores[tied_or_better]
    order = np.lexsort((candidates, -scores))[:k]
    return candidates[order], scores[order]
