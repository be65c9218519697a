"""Scores are rank-bm25's BM25Okapi scores, to 1e-9, for every passage and many questions."""
import json
import math

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from qa import bm25
from qa.build import context_tokens
from qa.text import tokenize

from .conftest import ROOT


def _dense(index, terms):
    cand, scores = bm25.score(index.offsets, index.doc_ids, index.impacts, terms)
    out = np.zeros(index.n_chunks)
    out[cand] = scores
    return out


def _questions():
    qa_set = ROOT / "eval" / "qa_set.jsonl"
    items = [json.loads(line) for line in qa_set.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [i["question"] for i in items] + [
        "public protection public protection",  # a repeated term counts twice, as in rank-bm25
        "the of and",  # only stopwords
        "zzzz unknownword",
        "CRC",
    ]


def indexed_tokens(index, i):
    """The terms the build indexed for passage i: its text and its context (title, heading)."""
    text = index.chunk_text(i)
    section = index.sections[int(index.chunk_section[i])] if int(index.chunk_section[i]) >= 0 else None
    title = index.reports[int(index.chunk_report[i])]["title"]
    return tokenize(text) + context_tokens(title, section, bool(section) and text.startswith(section))


def _check_exact(index):
    corpus = [indexed_tokens(index, i) for i in range(index.n_chunks)]
    params = index.manifest["bm25"]
    reference = BM25Okapi(corpus, k1=params["k1"], b=params["b"], epsilon=params["epsilon"])
    assert np.allclose(np.asarray(index.idf), [reference.idf.get(t, 0.0) for t in index.term_ids], atol=1e-9, rtol=0)
    for question in _questions():
        tokens = tokenize(question)
        terms = [index.term_ids[t] for t in tokens if t in index.term_ids]
        expected = reference.get_scores(tokens)
        got = _dense(index, terms)
        assert np.max(np.abs(got - expected)) <= 1e-9, question


def test_scores_equal_rank_bm25_on_the_sample(sample_index):
    _check_exact(sample_index)


@pytest.mark.shared
def test_scores_equal_rank_bm25_on_the_whole_shared_corpus(corpus_index):
    _check_exact(corpus_index)


def test_idf_floor_and_zero_idf_follow_rank_bm25():
    docs = [["a", "b"], ["a", "c"], ["a", "b"], ["d"]]
    vocab = {t: i for i, t in enumerate(["a", "b", "c", "d"])}
    terms = np.array([vocab[t] for d in docs for t in d])
    owners = np.array([i for i, d in enumerate(docs) for _ in d])
    post = bm25.compile_postings(terms, owners, 4, 4, k1=1.2, b=0.6, epsilon=0.3)
    ref = BM25Okapi(docs, k1=1.2, b=0.6, epsilon=0.3)
    assert post.idf[vocab["b"]] == 0.0  # in exactly half of the documents
    assert math.log(4 - 3 + 0.5) - math.log(3 + 0.5) < 0  # "a" is in 3 of 4: its raw idf is negative...
    assert post.idf[vocab["a"]] == pytest.approx(ref.idf["a"], abs=1e-12) and ref.idf["a"] > 0  # ...and floored
    for q in (["a"], ["b", "c"], ["a", "a", "d"]):
        cand, scores = bm25.score(post.offsets, post.doc_ids, post.impacts, [vocab[t] for t in q])
        dense = np.zeros(4)
        dense[cand] = scores
        assert np.allclose(dense, ref.get_scores(q), atol=1e-12, rtol=0)


def test_top_k_orders_by_score_then_passage_and_drops_zero_scores():
    cand = np.array([4, 1, 7, 3, 9])
    scores = np.array([1.0, 2.0, 2.0, 0.0, 0.5])
    best, s = bm25.top_k(cand, scores, 3)
    assert best.tolist() == [1, 7, 4] and s.tolist() == [2.0, 2.0, 1.0]
    assert bm25.top_k(cand, scores, 10)[0].tolist() == [1, 7, 4, 9]
