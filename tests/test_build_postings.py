"""The index build's postings are exactly what a straightforward implementation gives.

``reference_postings`` is the build as it was before it moved to C (a dict lookup and an int64 key per
token, ``np.unique``, the impacts as one numpy expression): the C build must give the same arrays
bit for bit, and both must agree with rank-bm25's own document frequencies, lengths, idf and scores.
"""
import json
import math

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from qa import _postings, bm25

from .test_bm25 import indexed_tokens

FIELDS = ("offsets", "doc_ids", "impacts", "idf", "doc_len")


def reference_postings(passages: list[list[str]], k1: float = bm25.K1, b: float = bm25.B,
                       epsilon: float = bm25.EPSILON) -> tuple[list[str], bm25.Postings]:
    """Vocabulary in first-seen order and postings, computed the plain numpy way."""
    vocab: dict[str, int] = {}
    terms = np.asarray([vocab.setdefault(t, len(vocab)) for p in passages for t in p], dtype=np.int64)
    docs = np.repeat(np.arange(len(passages), dtype=np.int64), [len(p) for p in passages])
    n_terms, n_docs = len(vocab), len(passages)
    doc_len = np.bincount(docs, minlength=n_docs).astype(np.int32)
    pairs, tf = np.unique(terms * n_docs + docs, return_counts=True)
    pair_terms, pair_docs = pairs // n_docs, (pairs % n_docs).astype(np.int32)
    df = np.bincount(pair_terms, minlength=n_terms)
    offsets = np.concatenate(([0], np.cumsum(df))).astype(np.int64)
    idf = bm25.idf_okapi(df.astype(np.float64), n_docs, epsilon)
    avgdl = float(doc_len.sum()) / n_docs
    q_freq = tf.astype(np.float64)
    impacts = idf[pair_terms] * (q_freq * (k1 + 1) / (q_freq + k1 * (1 - b + b * doc_len[pair_docs] / avgdl)))
    return list(vocab), bm25.Postings(offsets, pair_docs, impacts, idf, doc_len)


def assert_same_postings(got: bm25.Postings, expected: bm25.Postings) -> None:
    for name in FIELDS:
        a, e = np.asarray(getattr(got, name)), np.asarray(getattr(expected, name))
        assert a.dtype == e.dtype and a.shape == e.shape, name
        assert a.tobytes() == e.tobytes(), name  # bit for bit, -0.0 and NaN included


def zipf_corpus(seed: int, n_docs: int, vocab_size: int, shared: bool = True) -> list[list[str]]:
    """Seeded Zipf passages (a few terms in most passages), with an empty passage, a passage of one
    repeated token and unicode tokens. ``shared=False`` makes every token its own str object."""
    rng = np.random.default_rng(seed)
    p = (np.arange(1, vocab_size + 1) + 1.0) ** -1.2
    names = np.asarray([f"w{i}" for i in range(vocab_size)], dtype=object)
    passages = [names[rng.choice(vocab_size, int(rng.integers(0, 120)), p=p / p.sum())].tolist()
                for _ in range(n_docs)]
    passages[n_docs // 3] = []
    passages[n_docs // 2] = ["w7"] * 500
    passages[-1] = ["café", "naïve", "日本語", "🙂", "w0", "Straße", "strasse", "café"]
    passages.append([])
    return passages if shared else json.loads(json.dumps(passages))


CORPORA = [(1, 300, 50), (2, 2000, 3000), (3, 500, 20_000)]


@pytest.mark.parametrize("seed,n_docs,vocab_size", CORPORA)
@pytest.mark.parametrize("shared", [True, False])
def test_postings_equal_the_reference_bit_for_bit(seed, n_docs, vocab_size, shared):
    passages = zipf_corpus(seed, n_docs, vocab_size, shared)
    terms, postings = bm25.index_passages(passages)
    ref_terms, reference = reference_postings(passages)
    assert terms == ref_terms
    assert_same_postings(postings, reference)
    assert postings.doc_ids.dtype == np.int32 and postings.impacts.dtype == np.float64


@pytest.mark.parametrize("k1,b,epsilon", [(1.2, 0.6, 0.3), (1.5, 0.0, 0.25), (0.0, 1.0, 0.5), (2.0, 0.75, 0.25)])
def test_postings_equal_the_reference_for_other_parameters(k1, b, epsilon):
    passages = zipf_corpus(4, 800, 400)
    terms, postings = bm25.index_passages(passages, k1, b, epsilon)
    assert_same_postings(postings, reference_postings(passages, k1, b, epsilon)[1])


@pytest.mark.parametrize("seed,n_docs,vocab_size", CORPORA)
def test_postings_agree_with_rank_bm25(seed, n_docs, vocab_size):
    passages = zipf_corpus(seed, n_docs, vocab_size)
    terms, p = bm25.index_passages(passages)
    ref = BM25Okapi(passages, k1=bm25.K1, b=bm25.B, epsilon=bm25.EPSILON)
    assert p.doc_len.tolist() == ref.doc_len
    floored = 0
    for t, term in enumerate(terms):
        docs = p.doc_ids[p.offsets[t]:p.offsets[t + 1]]
        assert docs.tolist() == [d for d, freqs in enumerate(ref.doc_freqs) if term in freqs]
        assert math.isclose(p.idf[t], ref.idf[term], rel_tol=0, abs_tol=1e-12)
        floored += ref.idf[term] == ref.epsilon * ref.average_idf
    assert floored > 0  # terms in more than half of the passages, their idf floored
    rng = np.random.default_rng(seed)
    for _ in range(20):
        query = [terms[i] for i in rng.integers(0, len(terms), int(rng.integers(1, 6)))] + ["absent"]
        summed = np.zeros(len(passages))
        for t in map(terms.index, query[:-1]):
            summed[p.doc_ids[p.offsets[t]:p.offsets[t + 1]]] += p.impacts[p.offsets[t]:p.offsets[t + 1]]
        assert np.max(np.abs(summed - ref.get_scores(query))) <= 1e-9


def test_term_ids_are_numbered_in_first_seen_order():
    passages = [["b", "a", "b"], [], ["c", "a"], ["d"]]
    terms, p = bm25.index_passages(passages)
    assert terms == ["b", "a", "c", "d"]
    assert p.offsets.tolist() == [0, 1, 3, 4, 5]
    assert p.doc_ids.tolist() == [0, 0, 2, 2, 3]
    assert p.doc_len.tolist() == [3, 0, 2, 1]


def test_a_generator_of_token_lists_builds_the_same_postings():
    passages = zipf_corpus(5, 400, 300)
    terms, postings = bm25.index_passages(passages)
    gen_terms, from_generator = bm25.index_passages(list(p) for p in passages)
    assert gen_terms == terms
    assert_same_postings(from_generator, postings)


def test_no_passages_or_only_empty_ones():
    terms, p = bm25.index_passages([])
    assert terms == [] and p.offsets.tolist() == [0] and len(p.doc_ids) == len(p.doc_len) == 0
    terms, p = bm25.index_passages([[], []])
    assert terms == [] and p.offsets.tolist() == [0] and p.doc_len.tolist() == [0, 0]


@pytest.mark.parametrize("passages,error", [
    ([["a", 1]], TypeError),
    ([["a"], "ab"], TypeError),
    ([["a"], 3], TypeError),
])
def test_tokens_must_be_str_in_sequences(passages, error):
    with pytest.raises(error):
        bm25.index_passages(passages)


def _postings_of_index(index) -> bm25.Postings:
    return bm25.Postings(*(np.asarray(getattr(index, name)) for name in FIELDS))


def _check_index_against_reference(index):
    passages = [indexed_tokens(index, i) for i in range(index.n_chunks)]
    params = index.manifest["bm25"]
    terms, reference = reference_postings(passages, params["k1"], params["b"], params["epsilon"])
    assert json.loads((index.path / "terms.json").read_text("utf-8")) == terms
    assert_same_postings(_postings_of_index(index), reference)


def test_built_sample_index_holds_the_reference_postings(sample_index):
    _check_index_against_reference(sample_index)


@pytest.mark.shared
def test_built_shared_corpus_index_holds_the_reference_postings(corpus_index):
    _check_index_against_reference(corpus_index)


@pytest.mark.parametrize("block_pairs", [1, 7, 1000])
def test_postings_made_in_small_blocks_are_the_same(block_pairs):
    passages = zipf_corpus(7, 600, 2000)
    terms, expected = bm25.index_passages(passages)
    p = bm25.Postings(expected.offsets, np.empty_like(expected.doc_ids), np.empty_like(expected.impacts),
                      expected.idf, expected.doc_len)
    ids = np.asarray([i for passage in passages for i in map(terms.index, passage)], dtype=np.int32)
    starts = np.concatenate(([0], np.cumsum([len(x) for x in passages]))).astype(np.int64)
    avgdl = float(p.doc_len.sum()) / len(passages)
    _postings.fill(ids, starts, p.idf, p.offsets, p.doc_ids, p.impacts, bm25.K1, bm25.B, avgdl, block_pairs)
    assert_same_postings(p, expected)


def test_fill_refuses_offsets_that_do_not_match():
    ids, starts = np.array([0, 1, 1], np.int32), np.array([0, 2, 3], np.int64)
    idf, doc_ids, impacts = np.ones(2), np.empty(3, np.int32), np.empty(3)
    with pytest.raises(ValueError, match="offsets do not match"):
        _postings.fill(ids, starts, idf, np.array([0, 2, 3], np.int64), doc_ids, impacts, 1.2, 0.75, 1.5)
    with pytest.raises(ValueError, match="outside"):
        _postings.fill(np.array([0, 2, 1], np.int32), starts, idf, np.array([0, 1, 3], np.int64), doc_ids, impacts,
                       1.2, 0.75, 1.5)
    with pytest.raises(TypeError, match="int32"):
        _postings.fill(ids.astype(np.int64), starts, idf, np.array([0, 1, 3], np.int64), doc_ids, impacts, 1.2,
                       0.75, 1.5)
