"""Benchmark inputs: corpora for the BM25 engines (a seeded synthetic one and our real shared corpus),
synthetic report files (bench/http_load.py), and the tiny inputs of every script's ``--smoke`` run.

The two corpora are reduced to the same thing, pre-tokenized passages (token lists) plus questions (token lists),
stored once per corpus in a folder so that every engine's subprocess reads identical input:

    tokens.npy   int32, the term id of every token, passage after passage
    lengths.npy  int32, tokens per passage
    vocab.json   term id -> token string
    queries.json list of token lists; the first WARMUP are warm-up questions
    meta.json    how the corpus was made (generator parameters or source)

Synthetic passages: Zipf-Mandelbrot vocabulary (p(rank) ~ (rank + offset) ** -exponent, 200k types,
exponent 1.1, offset 20: the commonest term is then ~0.8% of all tokens, as in our real passages after
stopwords, 0.9%) and passage lengths drawn from the measured length distribution of our real passages
(REAL_TOKEN_QUANTILES: tokens per passage of an index built over ../shared/corpus, mean 97).

``--smoke`` inputs work without ../shared: a few of its reports when it is there, else the bundled sample,
with the questions of the QA set about those reports.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("QA_SHARED_DIR") or ROOT.parent / "shared")
QA_SET = ROOT / "eval" / "qa_set.jsonl"
WARMUP = 5

# Tokens per passage (after stopwords, stemmed), at the 0th, 5th, ..., 100th percentile, measured on an
# index of ../shared/corpus built with 200-word passages (3208 passages, 2026-11-26).
REAL_TOKEN_QUANTILES = (2, 19, 42, 59, 68, 75, 81, 86, 91, 96, 101, 105, 108, 113, 117, 121, 126, 132, 140,
                        157, 342)


@dataclass
class SynthParams:
    """Parameters of the synthetic corpus (all recorded in meta.json)."""

    n_passages: int
    n_queries: int = 200
    seed: int = 1
    vocab_size: int = 200_000
    zipf_exponent: float = 1.1
    zipf_offset: float = 20.0


@dataclass
class Corpus:
    """Pre-tokenized passages as a flat term-id stream, with the vocabulary and the questions."""

    tokens: np.ndarray  # int32 term ids
    lengths: np.ndarray  # int32 tokens per passage
    vocab: list[str]
    queries: list[list[str]]
    meta: dict

    @property
    def n_passages(self) -> int:
        return len(self.lengths)


def zipf_probabilities(params: SynthParams) -> np.ndarray:
    """Probability of each term id (id 0 is the commonest)."""
    ranks = np.arange(1, params.vocab_size + 1, dtype=np.float64)
    p = (ranks + params.zipf_offset) ** -params.zipf_exponent
    return p / p.sum()


def sample_lengths(rng: np.random.Generator, n: int) -> np.ndarray:
    """Passage lengths from the real distribution (piecewise-linear inverse CDF of its quantiles)."""
    grid = np.linspace(0.0, 1.0, len(REAL_TOKEN_QUANTILES))
    lengths = np.interp(rng.random(n), grid, np.asarray(REAL_TOKEN_QUANTILES, dtype=np.float64))
    return np.maximum(np.rint(lengths), 1).astype(np.int32)


def sample_terms(rng: np.random.Generator, cdf: np.ndarray, n: int, chunk: int = 20_000_000) -> np.ndarray:
    """``n`` term ids drawn from the distribution whose cumulative sum is ``cdf`` (in chunks, low memory)."""
    out = np.empty(n, dtype=np.int32)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        out[start:stop] = np.searchsorted(cdf, rng.random(stop - start), side="right")
    np.minimum(out, len(cdf) - 1, out=out)
    return out


def term_name(i: int) -> str:
    """The token string of synthetic term id ``i``."""
    return f"w{i}"


def draw_questions(rng: np.random.Generator, tokens: np.ndarray, lengths: np.ndarray, cdf: np.ndarray,
                   n: int) -> list[list[int]]:
    """``n`` questions of 3-6 term ids that hit: about half the terms come from one random passage's own
    distinct terms (mostly mid-frequency and rare ones), the rest from the Zipf law (mostly common)."""
    starts = np.concatenate(([0], np.cumsum(lengths, dtype=np.int64)))
    questions = []
    while len(questions) < n:
        d = int(rng.integers(len(lengths)))
        own = np.unique(tokens[starts[d]:starts[d + 1]])
        size = int(rng.integers(3, 7))
        n_own = min(len(own), math.ceil(size / 2))
        if n_own == 0:
            continue
        terms = list(rng.choice(own, n_own, replace=False)) + list(sample_terms(rng, cdf, size - n_own))
        rng.shuffle(terms)
        questions.append([int(t) for t in terms])
    return questions


def synthetic_corpus(params: SynthParams) -> Corpus:
    """The seeded synthetic corpus and its questions (WARMUP extra questions first)."""
    rng = np.random.default_rng(params.seed)
    cdf = np.cumsum(zipf_probabilities(params))
    lengths = sample_lengths(rng, params.n_passages)
    tokens = sample_terms(rng, cdf, int(lengths.sum()))
    questions = draw_questions(rng, tokens, lengths, cdf, params.n_queries + WARMUP)
    vocab = [term_name(i) for i in range(params.vocab_size)]
    meta = {"kind": "synthetic", **params.__dict__, "length_quantiles": list(REAL_TOKEN_QUANTILES)}
    return Corpus(tokens, lengths, vocab, [[vocab[t] for t in q] for q in questions], meta)


def real_corpus(reports: Path, workdir: Path, qa_set: Path, n_queries: int, seed: int) -> Corpus:
    """Passages of ``reports`` built into an index with ``qa.build.build_index`` and tokenized with
    ``qa.text.tokenize``; questions: the QA set's (those with an indexed term), then random ones drawn
    like the synthetic ones up to ``n_queries`` (+ WARMUP)."""
    from qa.build import build_index
    from qa.index import IndexStore
    from qa.text import tokenize

    result = build_index(reports, workdir / "qa-index")
    index = IndexStore(workdir / "qa-index").current()
    vocab: dict[str, int] = {}
    ids, lengths = [], []
    for i in range(index.n_chunks):
        toks = tokenize(index.chunk_text(i))
        ids.extend(vocab.setdefault(t, len(vocab)) for t in toks)
        lengths.append(len(toks))
    tokens, lengths_arr = np.asarray(ids, dtype=np.int32), np.asarray(lengths, dtype=np.int32)
    names = list(vocab)
    asked = [json.loads(line)["question"] for line in qa_set.read_text("utf-8").splitlines() if line.strip()]
    questions = [q for q in map(tokenize, asked) if any(t in vocab for t in q)]
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(np.bincount(tokens, minlength=len(names)) / len(tokens))
    extra = max(0, n_queries + WARMUP - len(questions))
    questions += [[names[t] for t in q] for q in draw_questions(rng, tokens, lengths_arr, cdf, extra)]
    meta = {"kind": "real", "reports": str(reports), "reports_indexed": result.reports,
            "qa_set_questions": len(questions) - extra, "random_questions": extra, "seed": seed}
    return Corpus(tokens, lengths_arr, names, questions, meta)


def save_corpus(corpus: Corpus, folder: Path) -> None:
    """Write the corpus files the engine subprocesses read."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "tokens.npy", corpus.tokens, allow_pickle=False)
    np.save(folder / "lengths.npy", corpus.lengths, allow_pickle=False)
    (folder / "vocab.json").write_text(json.dumps(corpus.vocab), "utf-8")
    (folder / "queries.json").write_text(json.dumps(corpus.queries), "utf-8")
    (folder / "meta.json").write_text(json.dumps(corpus.meta, indent=1), "utf-8")


def load_passages(folder: Path, chunk: int = 20_000) -> list[list[str]]:
    """The passages as lists of token strings: the input every engine gets (shared str objects).

    Converted in slices so the conversion itself does not raise the process's peak memory much above
    the final lists."""
    tokens = np.load(folder / "tokens.npy", mmap_mode="r")
    lengths = np.load(folder / "lengths.npy")
    names = np.asarray(json.loads((folder / "vocab.json").read_text("utf-8")), dtype=object)
    starts = np.concatenate(([0], np.cumsum(lengths, dtype=np.int64)))
    passages: list[list[str]] = []
    for first in range(0, len(lengths), chunk):
        last = min(len(lengths), first + chunk)
        words = names[np.asarray(tokens[starts[first]:starts[last]])]
        cut = (starts[first:last + 1] - starts[first]).tolist()
        passages.extend(words[a:b].tolist() for a, b in zip(cut[:-1], cut[1:]))
    return passages


def load_queries(folder: Path) -> tuple[list[list[str]], list[list[str]]]:
    """(warm-up questions, timed questions)."""
    queries = json.loads((folder / "queries.json").read_text("utf-8"))
    return queries[:WARMUP], queries[WARMUP:]


def corpus_stats(folder: Path) -> dict:
    """Passages, tokens, distinct terms, length percentiles and the commonest term's share of tokens."""
    tokens = np.load(folder / "tokens.npy", mmap_mode="r")
    lengths = np.load(folder / "lengths.npy")
    counts = np.bincount(np.asarray(tokens))
    used = counts[counts > 0]
    return {"passages": int(len(lengths)), "tokens": int(lengths.sum()), "terms_used": int(len(used)),
            "tokens_per_passage_mean": round(float(lengths.mean()), 1),
            "tokens_per_passage_p5_p50_p95": [int(x) for x in np.percentile(lengths, [5, 50, 95])],
            "top_term_share": round(float(used.max() / used.sum()), 4)}


# ---- synthetic report files -------------------------------------------------------------------------

STOPWORDS = ("the", "of", "and", "to", "in", "was", "for", "that", "with", "were", "by", "on", "as", "this")
STOPWORD_RATE = 0.64  # stopwords per content word: our real passages have 159 words for 97 index terms
SYLLABLES = [c + v for c in "bdfgkmnprtvz" for v in "aiou"]


def word(i: int) -> str:
    """A pronounceable pseudo-word for term id ``i`` (two or more syllables, never a stopword)."""
    out = []
    i += len(SYLLABLES)  # at least two syllables
    while i:
        i, r = divmod(i, len(SYLLABLES))
        out.append(SYLLABLES[r])
    return "".join(out)


def paragraph(rng: np.random.Generator, terms: np.ndarray) -> str:
    """Sentences of 8-25 words: the content words in order, stopwords mixed in."""
    words: list[str] = []
    for t in terms:
        if rng.random() < STOPWORD_RATE:
            words.append(STOPWORDS[int(rng.integers(len(STOPWORDS)))])
        words.append(word(int(t)))
    sentences, k = [], 0
    while k < len(words):
        n = int(rng.integers(8, 26))
        s = words[k:k + n]
        sentences.append(s[0].capitalize() + (" " + " ".join(s[1:]) if len(s) > 1 else "") + ".")
        k += n
    return " ".join(sentences)


def write_reports(folder: Path, files: int, paragraphs: int, seed: int) -> None:
    """``files`` synthetic .txt reports of ``paragraphs`` paragraphs (Zipf-Mandelbrot words, real lengths)."""
    params = SynthParams(n_passages=files * paragraphs, seed=seed)
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(zipf_probabilities(params))
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        lengths = sample_lengths(rng, paragraphs)
        terms = sample_terms(rng, cdf, int(lengths.sum()))
        cuts = np.cumsum(lengths)[:-1]
        paras = [paragraph(rng, t) for t in np.split(terms, cuts)]
        (folder / f"report-{f:05d}.txt").write_text(f"Synthetic inspection report {f}\n\n" + "\n\n".join(paras) + "\n")


# ---- tiny inputs for --smoke ---------------------------------------------------------------------------

def smoke_reports() -> Path:
    """A few real reports the QA set asks about: ../shared/corpus/reports (3) when present, else the
    bundled sample (1)."""
    from qa.config import SAMPLE_REPORTS

    few = SHARED / "corpus" / "reports"
    return few if few.is_dir() else SAMPLE_REPORTS


def smoke_qa_set(reports: Path, out: Path) -> Path:
    """The QA set's questions about (or out of scope near) the reports in ``reports``, written to ``out``."""
    names = {p.name for p in reports.rglob("*") if p.is_file()}
    items = [json.loads(line) for line in QA_SET.read_text("utf-8").splitlines() if line.strip()]
    out.write_text("".join(json.dumps(i) + "\n" for i in items if (i.get("file") or i.get("near")) in names), "utf-8")
    return out


def smoke_index(workdir: Path) -> tuple[Path, Path]:
    """(index folder, QA set) of ``smoke_reports()``, built under ``workdir``."""
    from qa.build import build_index

    reports = smoke_reports()
    build_index(reports, workdir / "index")
    return workdir / "index", smoke_qa_set(reports, workdir / "qa_set.jsonl")


def smoke_beir(folder: Path, docs: int = 300, queries: int = 20, seed: int = 1) -> Path:
    """A tiny BEIR-layout collection of pseudo-word passages; each question is 4 terms of one passage,
    the passage its one relevant document."""
    corpus = synthetic_corpus(SynthParams(n_passages=docs, n_queries=0, seed=seed, vocab_size=5_000))
    starts = np.concatenate(([0], np.cumsum(corpus.lengths)))
    texts = [" ".join(word(int(t)) for t in corpus.tokens[a:b]) for a, b in pairwise(starts)]
    rng = np.random.default_rng(seed)
    asked = [int(d) for d in rng.choice(docs, queries, replace=False)]
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "title": "", "text": t}) + "\n"
                                                 for i, t in enumerate(texts)), "utf-8")
    words = [sorted(set(texts[d].split())) for d in asked]
    (folder / "queries.jsonl").write_text("".join(
        json.dumps({"_id": f"q{d}", "text": " ".join(rng.choice(w, min(4, len(w)), replace=False))}) + "\n"
        for d, w in zip(asked, words)), "utf-8")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n"
                                               + "".join(f"q{d}\td{d}\t1\n" for d in asked), "utf-8")
    return folder
