"""One adapter per BM25 engine: build from token lists (and write to disk), load, answer a question.

Every engine gets the same pre-tokenized passages (lists of str) and questions (lists of str) and
returns its 10 best (passage ids, scores) with a positive score, best first. Peers (rank-bm25,
rank-bm25-rs, bm25s, tantivy) are imported only here, only in the benchmark's subprocesses.

``ours`` is the service's engine: ``qa.bm25.index_passages`` (the build ``qa/build.py`` calls) and
``top_k`` imported, not copied; the arrays are written like ``qa/index.py`` writes them
(``np.save(..., allow_pickle=False)``, fsync, ``terms.json``) and loaded like it loads them
(``np.load(mmap_mode="r")`` and a term -> id dict from ``terms.json``); each term's largest impact is
cached per loaded index, as ``qa/search.py`` caches it in ``index.memo``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

Passages = list[list[str]]
TopK = tuple[np.ndarray, np.ndarray]


@dataclass
class Adapter:
    """How the benchmark drives one engine."""

    name: str
    formula: str  # which BM25 it computes
    modules: tuple[str, ...]  # what a fresh process imports before loading (timed apart from the load)
    build: Callable[[Passages, Path, dict], Any]  # (passages, out dir, phase timings to fill) -> handle
    load: Callable[[Path], Any] | None  # None: no on-disk format, queries run on the built handle
    search: Callable[[Any, list[str], int], TopK]
    full_scores: Callable[[Any, list[str]], np.ndarray] | None = None  # every passage's score (references)


def top_k_dense(scores: np.ndarray, k: int) -> TopK:
    """The k best positive scores of a dense score vector, ties broken by passage id (as ours does)."""
    ids = np.flatnonzero(scores > 0)
    vals = scores[ids]
    if len(vals) > k:
        kth = np.partition(vals, len(vals) - k)[len(vals) - k]
        keep = vals >= kth
        ids, vals = ids[keep], vals[keep]
    order = np.lexsort((ids, -vals))[:k]
    return ids[order], vals[order]


class _Phase:
    """Context manager adding the elapsed seconds of a block to ``timings[name]``."""

    def __init__(self, timings: dict, name: str):
        self.timings, self.name = timings, name

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc) -> None:
        self.timings[self.name] = self.timings.get(self.name, 0.0) + time.perf_counter() - self.t0


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    """This process's own peak RSS: VmHWM, which (unlike ru_maxrss) does not carry the parent's RSS at
    fork over an exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise OSError("no VmHWM in /proc/self/status")


# ---- ours -------------------------------------------------------------------------------------------

def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def ours_build(passages: Passages, out: Path, timings: dict) -> None:
    """``qa.bm25.index_passages``, the function ``qa/build.py`` builds with (its steps' seconds recorded),
    then the .npy files and terms.json."""
    from qa import bm25

    with _Phase(timings, "index_passages"):
        terms, postings = bm25.index_passages(passages, timings=timings)
    timings["peak_rss_by_index_passages_mb"] = peak_rss_mb()
    with _Phase(timings, "save"):
        out.mkdir(parents=True, exist_ok=True)
        for f in dataclasses.fields(postings):
            path = out / f"{f.name}.npy"
            np.save(path, np.ascontiguousarray(getattr(postings, f.name)), allow_pickle=False)
            _fsync_file(path)
        (out / "terms.json").write_text(json.dumps(terms, ensure_ascii=False, separators=(",", ":")), "utf-8")
        _fsync_file(out / "terms.json")


@dataclass
class OursIndex:
    arrays: dict[str, np.ndarray]
    term_ids: dict[str, int]
    bounds: dict[int, tuple[float, float]] = dataclasses.field(default_factory=dict)  # qa.bm25.top_k's cache


def ours_load(out: Path) -> OursIndex:
    """Memory-mapped arrays and the term dictionary, as qa/index.py loads a generation."""
    arrays = {p.stem: np.load(p, mmap_mode="r", allow_pickle=False) for p in sorted(out.glob("*.npy"))}
    terms = json.loads((out / "terms.json").read_text("utf-8"))
    return OursIndex(arrays, {t: i for i, t in enumerate(terms)})


def ours_search(index: OursIndex, tokens: list[str], k: int) -> TopK:
    """qa.bm25.top_k, question terms looked up as qa/search.py does."""
    from qa import bm25

    terms = [index.term_ids[t] for t in tokens if t in index.term_ids]
    a = index.arrays
    return bm25.top_k(a["offsets"], a["doc_ids"], a["impacts"], terms, k, bounds=index.bounds)


def ours_dense(index: OursIndex, tokens: list[str]) -> np.ndarray:
    """Our scores as a dense vector (k = every passage; 0 where none is returned), for exactness checks."""
    n_docs = len(index.arrays["doc_len"])
    ids, scores = ours_search(index, tokens, n_docs)
    dense = np.zeros(n_docs, dtype=np.float64)
    dense[ids] = scores
    return dense


# ---- rank-bm25 and rank-bm25-rs (in memory only) ---------------------------------------------------

def okapi_params() -> dict[str, float]:
    """The k1, b and epsilon our engine uses now: the references are built with the same ones, so
    "rank-bm25's exact scores" are compared for the parameters the service runs with."""
    from qa import bm25

    return {"k1": bm25.K1, "b": bm25.B, "epsilon": bm25.EPSILON}


def rank_bm25_build(passages: Passages, out: Path, timings: dict) -> Any:
    from rank_bm25 import BM25Okapi

    with _Phase(timings, "index"):
        return BM25Okapi(passages, **okapi_params())


def rank_bm25_rs_build(passages: Passages, out: Path, timings: dict) -> Any:
    from rank_bm25_rs import BM25Okapi

    with _Phase(timings, "index"):
        return BM25Okapi(passages, **okapi_params())


def dense_search(model: Any, tokens: list[str], k: int) -> TopK:
    return top_k_dense(model.get_scores(tokens), k)


def dense_scores(model: Any, tokens: list[str]) -> np.ndarray:
    return np.asarray(model.get_scores(tokens), dtype=np.float64)


# ---- bm25s with numba -------------------------------------------------------------------------------

def bm25s_build_with(method: str, our_k1_b: bool) -> Callable[[Passages, Path, dict], None]:
    """bm25s with ``method``; its own default k1 and b, or (``our_k1_b``) those of our engine."""
    def build(passages: Passages, out: Path, timings: dict) -> None:
        import bm25s

        params = {k: v for k, v in okapi_params().items() if k in ("k1", "b")} if our_k1_b else {}
        with _Phase(timings, "index"):
            retriever = bm25s.BM25(method=method, backend="numba", **params)
            retriever.index(passages, show_progress=False)
        with _Phase(timings, "save"):
            retriever.save(out, show_progress=False)
    return build


def bm25s_load(out: Path) -> Any:
    import bm25s

    return bm25s.BM25.load(out, show_progress=False)  # its default: arrays read into memory (mmap=False)


def bm25s_search(retriever: Any, tokens: list[str], k: int) -> TopK:
    docs, scores = retriever.retrieve([tokens], k=k, show_progress=False, n_threads=0)
    docs, scores = docs[0], scores[0].astype(np.float64)
    keep = scores > 0
    return docs[keep], scores[keep]


# ---- tantivy ----------------------------------------------------------------------------------------

def tantivy_build(passages: Passages, out: Path, timings: dict) -> None:
    """Whitespace tokenizer over the space-joined tokens (so it indexes exactly our tokens), term
    frequencies without positions, a fast u64 field with the passage id; default writer settings."""
    import tantivy

    with _Phase(timings, "index"):
        builder = tantivy.SchemaBuilder()
        builder.add_unsigned_field("id", stored=False, indexed=False, fast=True)
        builder.add_text_field("body", stored=False, tokenizer_name="whitespace", index_option="freq")
        out.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(builder.build(), path=str(out))
        writer = index.writer()
        for i, tokens in enumerate(passages):
            doc = tantivy.Document()
            doc.add_unsigned("id", i)
            doc.add_text("body", " ".join(tokens))
            writer.add_document(doc)
    with _Phase(timings, "save"):  # commit: segments flushed and fsynced, merges finished
        writer.commit()
        writer.wait_merging_threads()


@dataclass
class TantivyIndex:
    index: Any
    searcher: Any
    schema: Any


def tantivy_load(out: Path) -> TantivyIndex:
    import tantivy

    index = tantivy.Index.open(str(out))
    index.reload()
    return TantivyIndex(index, index.searcher(), index.schema)


def tantivy_search(t: TantivyIndex, tokens: list[str], k: int) -> TopK:
    import tantivy

    should = tantivy.Occur.Should
    query = tantivy.Query.boolean_query(
        [(should, tantivy.Query.term_query(t.schema, "body", tok, index_option="freq")) for tok in tokens])
    hits = t.searcher.search(query, k, count=False).hits
    ids = t.searcher.fast_field_values("id", [addr for _, addr in hits])
    return np.asarray(ids, dtype=np.int64), np.asarray([s for s, _ in hits], dtype=np.float64)


ADAPTERS: dict[str, Adapter] = {a.name: a for a in (
    Adapter("ours", "BM25Okapi as rank-bm25 (qa.bm25's k1, b, epsilon), float64", ("qa.bm25",), ours_build,
            ours_load, ours_search),
    Adapter("bm25s", "bm25s defaults: method='lucene' (Lucene idf), k1 1.5, b 0.75, float32, numba", ("bm25s",),
            bm25s_build_with("lucene", our_k1_b=False), bm25s_load, bm25s_search),
    Adapter("bm25s-robertson", "bm25s method='robertson' with qa.bm25's k1 and b (rank-bm25's idf but clipped "
            "at 0 instead of the epsilon floor; tf part without the constant (k1+1)), float32, numba", ("bm25s",),
            bm25s_build_with("robertson", our_k1_b=True), bm25s_load, bm25s_search),
    Adapter("tantivy", "tantivy (Lucene BM25, k1 1.2, b 0.75, lengths quantised to 1 byte), float32",
            ("tantivy",), tantivy_build, tantivy_load, tantivy_search),
    Adapter("rank-bm25-rs", "BM25Okapi as rank-bm25 with qa.bm25's k1, b, epsilon, float64 (Rust)",
            ("rank_bm25_rs",), rank_bm25_rs_build, None, dense_search, dense_scores),
    Adapter("rank-bm25", "BM25Okapi (the reference) with qa.bm25's k1, b, epsilon, float64", ("rank_bm25",),
            rank_bm25_build, None, dense_search, dense_scores),
)}
ORDER = tuple(ADAPTERS)  # the order engines run in: the reference runs after the engines it checks
