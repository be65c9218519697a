"""Scores and top-k are rank-bm25's BM25Okapi: every passage of real indexes, seeded Zipf corpora and
hypothesis-made ones, with repeated terms, weights, ties at the k-th place and report filters."""
import json
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rank_bm25 import BM25Okapi

from qa import _query, bm25
from qa.build import context_tokens
from qa.search import Filters, make_query, search
from qa.text import tokenize

from .conftest import ROOT


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


def _all_scores(offsets, doc_ids, impacts, terms, n_docs, weights=None):
    """Every passage's score from the engine (k = every passage), 0 where it returns none."""
    ids, scores = bm25.top_k(offsets, doc_ids, impacts, terms, n_docs, weights)
    out = np.zeros(n_docs)
    out[ids] = scores
    return out


def _check_exact(index):
    corpus = [indexed_tokens(index, i) for i in range(index.n_chunks)]
    params = index.manifest["bm25"]
    reference = BM25Okapi(corpus, k1=params["k1"], b=params["b"], epsilon=params["epsilon"])
    assert np.allclose(np.asarray(index.idf), [reference.idf.get(t, 0.0) for t in index.term_ids], atol=1e-9, rtol=0)
    for question in _questions():
        tokens = tokenize(question)
        terms = [index.term_ids[t] for t in tokens if t in index.term_ids]
        expected = reference.get_scores(tokens)
        got = _all_scores(index.offsets, index.doc_ids, index.impacts, terms, index.n_chunks)
        assert np.max(np.abs(got - np.maximum(expected, 0))) <= 1e-9, question
        for k in (1, 10, 50):
            ids, scores = bm25.top_k(index.offsets, index.doc_ids, index.impacts, terms, k)
            assert ids.tolist() == _reference_top_k(expected, k).tolist(), (question, k)


def test_scores_equal_rank_bm25_on_the_sample(sample_index):
    _check_exact(sample_index)


@pytest.mark.shared
def test_scores_equal_rank_bm25_on_the_whole_shared_corpus(corpus_index):
    _check_exact(corpus_index)


def test_idf_floor_and_zero_idf_follow_rank_bm25():
    docs = [["a", "b"], ["a", "c"], ["a", "b"], ["d"]]
    terms, post = bm25.index_passages(docs, k1=1.2, b=0.6, epsilon=0.3)
    vocab = {t: i for i, t in enumerate(terms)}
    ref = BM25Okapi(docs, k1=1.2, b=0.6, epsilon=0.3)
    assert post.idf[vocab["b"]] == 0.0  # in exactly half of the documents
    assert math.log(4 - 3 + 0.5) - math.log(3 + 0.5) < 0  # "a" is in 3 of 4: its raw idf is negative...
    assert post.idf[vocab["a"]] == pytest.approx(ref.idf["a"], abs=1e-12) and ref.idf["a"] > 0  # ...and floored
    for q in (["a"], ["b", "c"], ["a", "a", "d"]):
        got = _all_scores(post.offsets, post.doc_ids, post.impacts, [vocab[t] for t in q], 4)
        assert np.allclose(got, ref.get_scores(q), atol=1e-12, rtol=0)


# ---- the engine against rank-bm25 on made-up corpora ---------------------------------------------------

def _postings(docs: list[list[str]]) -> tuple[bm25.Postings, dict[str, int]]:
    """Postings of token lists, as the build makes them."""
    terms, postings = bm25.index_passages(docs)
    return postings, {t: i for i, t in enumerate(terms)}


def _reference_scores(ref: BM25Okapi, query: list[str], weights: list[float] | None) -> np.ndarray:
    """rank-bm25's scores; with weights, its per-term scores times the weight, added in query order as
    get_scores adds them (each term's get_scores is 0.0 + that term's contribution)."""
    if weights is None:
        return ref.get_scores(query)
    total = np.zeros(ref.corpus_size)
    for t, w in zip(query, weights):
        total += ref.get_scores([t]) * w
    return total


def _reference_top_k(scores: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """The k best passages with a positive score, best first, ties by lower id."""
    ok = scores > 0 if allowed is None else (scores > 0) & allowed
    ids = np.flatnonzero(ok)
    return ids[np.lexsort((ids, -scores[ids]))][:k]


def _zipf_corpus(seed: int, n_docs: int, vocab: int = 400, duplicates: int = 0) -> list[list[str]]:
    """Seeded Zipf passages: "w0" is in about 70% of them (its idf is floored), lengths 1-60, and
    ``duplicates`` copies of earlier passages (exact ties)."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, vocab + 1) ** 1.1
    p /= p.sum()
    docs = []
    for _ in range(n_docs):
        words = [f"w{i}" for i in rng.choice(vocab, int(rng.integers(1, 60)), p=p)]
        docs.append(words + ["w0"] * int(rng.random() < 0.7))
    for _ in range(duplicates):
        docs.insert(int(rng.integers(len(docs) + 1)), list(docs[int(rng.integers(len(docs)))]))
    return docs


WINDOWS = (1, 5, 64, 4096)  # passages summed at a time: small ones exercise pruning across many windows


def _assert_engine_matches(post, vocab, ref, query, k, weights=None, allowed_docs=None, chunk_report=None,
                           allowed_reports=None, bounds=None, windows=WINDOWS):
    terms = [vocab[t] for t in query if t in vocab]
    term_weights = None if weights is None else [w for t, w in zip(query, weights) if t in vocab]
    expected = _reference_scores(ref, query, weights)
    best = _reference_top_k(expected, k, allowed_docs)
    bounds = {} if bounds is None else bounds
    ids, scores = bm25.top_k(post.offsets, post.doc_ids, post.impacts, terms, k, term_weights, bounds=bounds,
                             chunk_report=chunk_report, allowed_reports=allowed_reports)
    assert ids.tolist() == best.tolist()
    for window in windows:  # the engine's own entry point: the wrapper always sums 4096 passages at a time
        ids, scores = (np.frombuffer(a, dtype=dt) for a, dt in zip(
            _query.top_k(post.offsets, post.doc_ids, post.impacts, terms, term_weights, [bounds[t] for t in terms],
                         k, chunk_report, allowed_reports, window), (np.int32, np.float64)))
        assert ids.tolist() == best.tolist(), window
        assert np.all(np.abs(scores - expected[best]) <= 1e-9)
        assert np.all(scores > 0) and np.all(np.diff(scores) <= 0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_top_k_equals_rank_bm25_on_zipf_corpora(seed):
    docs = _zipf_corpus(seed, 3000, duplicates=300)
    post, vocab = _postings(docs)
    ref = BM25Okapi(docs, k1=bm25.K1, b=bm25.B, epsilon=bm25.EPSILON)
    assert ref.idf["w0"] > 0 and sum("w0" in d for d in docs) > len(docs) / 2  # the epsilon floor is exercised
    rng = np.random.default_rng(seed)
    bounds: dict = {}
    for _ in range(60):
        query = [f"w{i}" for i in rng.zipf(1.3, int(rng.integers(1, 7))) - 1]
        for k in (1, 10, 50, len(docs)):
            _assert_engine_matches(post, vocab, ref, query, k, bounds=bounds)


def test_ties_at_the_kth_place_take_the_lowest_ids():
    fillers = [[f"x{i}"] for i in range(200)]  # so that "a" and "b" have positive idfs
    docs = [["a", "b"]] * 30 + [["a"]] * 30 + [["b", "c"]] + fillers + [["a", "b"]] * 30
    post, vocab = _postings(docs)
    ref = BM25Okapi(docs, k1=bm25.K1, b=bm25.B, epsilon=bm25.EPSILON)
    for k in (1, 5, 29, 30, 31, 45, 60, 61, 62, 200):
        _assert_engine_matches(post, vocab, ref, ["a", "b"], k)
    ids, scores = bm25.top_k(post.offsets, post.doc_ids, post.impacts, [vocab["a"], vocab["b"]], 40)
    pairs = [i for i in ids.tolist() if docs[i] == ["a", "b"]]
    assert pairs == ids.tolist() == list(range(30)) + list(range(261, 271))  # 60 tie: the lowest ids are kept


def test_a_tie_is_cut_by_id_whatever_query_term_finds_the_lower_id_first():
    """Equal scores from different terms: one-word passages, every word in 5 of them, in shuffled order."""
    rng = np.random.default_rng(3)
    words = [w for w in "abcd" for _ in range(5)]
    for _ in range(10):
        docs = [[w] for w in rng.permutation(words)] + [[f"x{i}"] for i in range(40)]
        post, vocab = _postings(docs)
        ref = BM25Okapi(docs, k1=bm25.K1, b=bm25.B, epsilon=bm25.EPSILON)
        query = list(rng.permutation(list("abcd")))[:int(rng.integers(2, 5))]
        for k in range(1, 22):
            _assert_engine_matches(post, vocab, ref, query, k)


def test_k_beyond_the_matches_empty_unknown_and_repeated_terms():
    docs = _zipf_corpus(7, 500)
    post, vocab = _postings(docs)
    ref = BM25Okapi(docs, k1=bm25.K1, b=bm25.B, epsilon=bm25.EPSILON)
    rare = min(vocab, key=lambda t: sum(t in d for d in docs))
    _assert_engine_matches(post, vocab, ref, [rare], 1000)  # fewer matches than k: all of them
    _assert_engine_matches(post, vocab, ref, ["w1", "w1", "w1", "w5"], 20)  # repeats count again
    _assert_engine_matches(post, vocab, ref, ["nope", "w3"], 20)
    assert [len(a) for a in bm25.top_k(post.offsets, post.doc_ids, post.impacts, [], 10)] == [0, 0]
    assert [len(a) for a in bm25.top_k(post.offsets, post.doc_ids, post.impacts, [vocab["w1"]], 0)] == [0, 0]


def test_weights_multiply_each_terms_impacts_and_negative_ones_are_refused():
    docs = _zipf_corpus(11, 800)
    post, vocab = _postings(docs)
    ref = BM25Okapi(docs, k1=bm25.K1, b=bm25.B, epsilon=bm25.EPSILON)
    _assert_engine_matches(post, vocab, ref, ["w2", "w9", "w0", "w40"], 30, [1.0, 0.5, 0.25, 2.0])
    _assert_engine_matches(post, vocab, ref, ["w2", "w9"], 30, [1.0, 0.0])  # weight 0: the term adds nothing
    with pytest.raises(ValueError):
        bm25.top_k(post.offsets, post.doc_ids, post.impacts, [vocab["w2"]], 10, [-1.0])


def test_report_filter_ranks_allowed_passages_only():
    docs = _zipf_corpus(5, 2000, duplicates=100)
    post, vocab = _postings(docs)
    ref = BM25Okapi(docs, k1=bm25.K1, b=bm25.B, epsilon=bm25.EPSILON)
    chunk_report = (np.arange(len(docs)) // 37).astype(np.int32)
    for allowed_reports in (np.arange(chunk_report[-1] + 1) % 5 == 0, np.eye(1, chunk_report[-1] + 1, 3, dtype=bool)[0],
                            np.zeros(chunk_report[-1] + 1, dtype=bool)):
        for query, k in ((["w1", "w7", "w0"], 10), (["w30"], 50), (["w0", "w2"], 3)):
            _assert_engine_matches(post, vocab, ref, query, k, chunk_report=chunk_report,
                                   allowed_reports=allowed_reports, allowed_docs=allowed_reports[chunk_report])


def test_bad_arguments_are_errors_not_crashes():
    post, vocab = _postings([["a", "b"], ["b"], ["c"], ["d"]])
    with pytest.raises(IndexError):
        bm25.top_k(post.offsets, post.doc_ids, post.impacts, [len(vocab)], 10)
    with pytest.raises(TypeError):
        bm25.top_k(post.offsets, post.doc_ids.astype(np.int64), post.impacts, [0], 10)
    with pytest.raises(ValueError):  # passage 0's report is not in allowed_reports
        bm25.top_k(post.offsets, post.doc_ids, post.impacts, [vocab["a"]], 10,
                   chunk_report=np.array([5, 0, 0, 0], np.int32), allowed_reports=np.ones(2, dtype=bool))


def test_threads_share_one_bounds_cache_and_get_the_same_answers():
    docs = _zipf_corpus(13, 5000)
    post, vocab = _postings(docs)
    rng = np.random.default_rng(13)
    queries = [[vocab[f"w{i}"] for i in rng.zipf(1.3, 4) - 1 if f"w{i}" in vocab] for _ in range(200)]
    alone = [bm25.top_k(post.offsets, post.doc_ids, post.impacts, q, 20) for q in queries]
    bounds: dict = {}
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda q: bm25.top_k(post.offsets, post.doc_ids, post.impacts, q, 20, bounds=bounds),
                                 queries * 3))
    for (ids, scores), (ids2, scores2) in zip(alone * 3, together):
        assert ids.tolist() == ids2.tolist() and scores.tolist() == scores2.tolist()


words = st.sampled_from(["a", "b", "c", "d", "e", "f", "g"])


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(st.lists(words, min_size=1, max_size=12), min_size=1, max_size=40),
       copies=st.lists(st.integers(0, 39), max_size=10),
       query=st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "zz"]), min_size=1, max_size=8),
       weights=st.none() | st.lists(st.sampled_from([1.0, 0.5, 0.25, 0.0, 3.0]), min_size=8, max_size=8),
       k=st.integers(1, 45), report_of=st.integers(1, 6), allowed_seed=st.integers(0, 2**16))
def test_property_top_k_equals_rank_bm25(docs, copies, query, weights, k, report_of, allowed_seed):
    docs = docs + [list(docs[c % len(docs)]) for c in copies]  # duplicates tie
    post, vocab = _postings(docs)
    ref = BM25Okapi(docs, k1=bm25.K1, b=bm25.B, epsilon=bm25.EPSILON)
    weights = None if weights is None else weights[:len(query)]
    _assert_engine_matches(post, vocab, ref, query, k, weights)
    chunk_report = (np.arange(len(docs)) // report_of).astype(np.int32)
    allowed_reports = np.random.default_rng(allowed_seed).random(chunk_report[-1] + 1) < 0.5
    _assert_engine_matches(post, vocab, ref, query, k, weights, allowed_reports[chunk_report], chunk_report,
                           allowed_reports)


def test_search_filters_inside_the_engine_as_a_filter_after_ranking_would(sample_index):
    question = "how is London CRC doing on public protection?"
    query = make_query(sample_index, question, ["what about unpaid work?"])
    everything = search(sample_index, query, sample_index.n_chunks)
    report = sample_index.reports[int(sample_index.chunk_report[everything[0].chunk])]["id"]
    kept = [h for h in everything if sample_index.reports[int(sample_index.chunk_report[h.chunk])]["id"] == report]
    assert search(sample_index, query, 5, Filters(report_ids=[report])) == kept[:5]
    assert search(sample_index, query, 5, Filters(report_ids=["no-such-report"])) == []
    assert search(sample_index, query, 5) == everything[:5]
