"""Build: report files -> documents -> passages -> tokens -> one new index generation.

``build_index`` is the one pipeline behind ``qa index build`` and ``qa index update``: a file that
cannot be read is listed with its reason and skipped; nothing touches the live generation until the
new one is complete, and a failed build leaves it as it was.
"""
from __future__ import annotations

import errno
import hashlib
import fcntl
import json
import logging
import multiprocessing
import re
import time
from functools import lru_cache
from dataclasses import dataclass, field
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Callable, Iterator
from pathlib import Path

import numpy as np

from . import acronyms, bm25, text as text_mod
from .chunking import CHUNK_OVERLAP, CHUNK_SIZE, CHUNKER_VERSION, Chunk, chunk_document
from .config import Settings
from .errors import BadRequest, BuildError, RejectedFile
from .index import GENERATIONS, GenerationData, atomic_write_text, prune_generations, read_pointer, write_generation
from .ingest import EXTRACTOR_VERSION, Document, Limits, ReportFile, extract, find_reports, read_sidecar, sha256_bytes

log = logging.getLogger(__name__)


@dataclass
class Rejected:
    file: str
    reason: str


@dataclass
class BuildResult:
    generation: str
    reports: int
    chunks: int
    rejected: list[Rejected] = field(default_factory=list)
    extracted: list[str] = field(default_factory=list)  # files read afresh
    reused: list[str] = field(default_factory=list)  # files taken from the extraction cache
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (file, the file it duplicates)
    removed: list[str] = field(default_factory=list)  # files indexed before whose reports are gone
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """What the build did, a line each, the summary last: what ``qa index``, ``qa serve`` and
        ``qa watch`` print."""
        out = [f"rejected: {r.reason}" for r in self.rejected]
        out += [f"duplicate: {dup} has the same content as {original}; indexed once" for dup, original in self.duplicates]
        if self.removed:
            out.append(f"removed: {len(self.removed)} report(s) whose files are gone: {', '.join(self.removed)}")
        if self.extracted:
            out.append(f"extracted: {len(self.extracted)} file(s): {', '.join(self.extracted)}")
        if self.reused:
            out.append(f"reused from cache: {len(self.reused)} file(s)")
        out.append(f"indexed {self.reports} report(s), {self.chunks} passages, {len(self.rejected)} rejected, "
                   f"in {self.seconds:.1f} s -> generation {self.generation}")
        return out

    def to_json(self) -> dict:
        """The same as JSON (an admin rebuild job's ``result``)."""
        return {"generation": self.generation, "reports": self.reports, "chunks": self.chunks,
                "extracted": self.extracted, "removed": self.removed,
                "rejected": [{"file": r.file, "reason": r.reason} for r in self.rejected],
                "duplicates": [{"file": d, "same_as": o} for d, o in self.duplicates],
                "seconds": round(self.seconds, 3)}


class BuildLock:
    """One build at a time per index folder (an flock, so a killed build's lock dies with it)."""

    def __init__(self, index_dir: Path):
        self.index_dir = Path(index_dir)
        self._fh = None

    def acquire(self, wait: bool = False) -> "BuildLock":
        """Take the lock; with ``wait``, queue behind a running build instead of failing."""
        self.index_dir.mkdir(parents=True, exist_ok=True)
        fh = open(self.index_dir / ".build.lock", "w")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise BuildError(f"another build is already running on {self.index_dir}; wait for it to finish",
                             code="build_running") from None
        self._fh = fh
        return self

    @property
    def held(self) -> bool:
        return self._fh is not None

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def describe_os_error(exc: OSError) -> str:
    """What went wrong writing files, in words a person can act on."""
    hint = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
            errno.EFBIG: "a file would exceed the file size limit", errno.EACCES: "permission denied",
            errno.EPERM: "permission denied", errno.EROFS: "the file system is read-only"}.get(exc.errno or 0)
    if hint is None and exc.errno is None and "requested and" in str(exc):  # numpy's short write
        hint = f"the disk is full or a file size limit was reached ({exc})"
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{hint or exc.strerror or exc}{where}"


def previous_files(index_dir: Path) -> set[str]:
    """Report files of the live generation (empty when there is none or it cannot be read)."""
    name = read_pointer(index_dir)
    try:
        return {r["file"] for r in json.loads((index_dir / GENERATIONS / str(name) / "reports.json").read_text("utf-8"))}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def slug(name: str) -> str:
    """A report id from its file name."""
    return text_slug(Path(name).stem)


def text_slug(text: str, limit: int = 80) -> str:
    """Lowercase ASCII letters and digits joined by hyphens: safe in an id, a URL or a file name."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit] or "report"


def _read_cache(cache_file: Path, use_cache: bool) -> dict | None:
    """A cache entry, or None when there is none, it is not wanted, or it is damaged (then recomputed)."""
    if use_cache and cache_file.exists():
        try:
            return json.loads(cache_file.read_text(encoding="utf-8"))
        except ValueError:
            return None
    return None


def _write_cache(cache_file: Path, data: dict, what: str) -> None:
    """Store a cache entry; the cache only saves time, so a failure is logged and the build goes on."""
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cache_file, json.dumps(data, ensure_ascii=False))
    except OSError as exc:
        log.warning("could not cache %s: %s", what, exc)


def _cached_extract(rf: ReportFile, data: bytes, digest: str, cache_dir: Path, use_cache: bool,
                    limits: Limits, ocr: bool) -> tuple[Document, bool]:
    """A file's document, from the cache when the same content was read before. An OCR reading is
    cached like any other, but only used when OCR is on: without it the scan is rejected as ever."""
    cache_file = cache_dir / f"{digest}-v{EXTRACTOR_VERSION}.json"
    cached = _read_cache(cache_file, use_cache)
    if cached is not None and (ocr or "ocr" not in cached.get("meta", {})):
        try:
            return Document.from_json(cached), True
        except (KeyError, TypeError):
            pass
    doc = extract(data, rf.name, limits, ocr=ocr)
    _write_cache(cache_file, doc.to_json(), f"the extraction of {rf.name}")
    return doc, False


def _passages_key(digest: str, chunk_size: int, overlap: int) -> str:
    settings = json.dumps([EXTRACTOR_VERSION, CHUNKER_VERSION, chunk_size, overlap, text_mod.settings()])
    return f"{digest}-p{hashlib.sha256(settings.encode()).hexdigest()[:12]}"


def _cached_passages(doc: Document, digest: str, cache_dir: Path, chunk_size: int, overlap: int,
                     use_cache: bool) -> tuple[list[Chunk], list[list[str]], list[list[list[str]]]]:
    """A document's passages, their tokens and their sentences' tokens, from the cache when the same
    content was chunked and tokenized with the same settings before (an update then only re-reads
    what changed)."""
    cache_file = cache_dir / f"{_passages_key(digest, chunk_size, overlap)}.json"
    cached = _read_cache(cache_file, use_cache)
    if cached is not None:
        try:
            chunks = [Chunk(*c[:5], [tuple(s) for s in c[5]]) for c in cached["chunks"]]
            return chunks, cached["tokens"], cached["sentence_tokens"]
        except (KeyError, TypeError, IndexError):
            pass
    chunks = chunk_document(doc, chunk_size, overlap)
    tokens = passage_tokens(doc, chunks)
    per_sentence = sentence_tokens(doc, chunks)
    _write_cache(cache_file, {"chunks": [[c.start, c.end, c.page, c.page_end, c.section, c.sentences] for c in chunks],
                              "tokens": tokens, "sentence_tokens": per_sentence}, f"the passages of {digest[:12]}")
    return chunks, tokens, per_sentence


def _prune_cache(cache_dir: Path, keep: set[str]) -> None:
    """Drop cache entries of file contents no longer in the index (the cache holds what is indexed)."""
    if cache_dir.is_dir():
        for f in cache_dir.glob("*.json"):
            if f.name.split("-", 1)[0] not in keep:
                f.unlink(missing_ok=True)


def _record(rid: str, rf: ReportFile, digest: str, doc: Document, sidecar: dict) -> dict:
    meta = {**doc.meta, **sidecar}
    return {
        "id": rid,
        "file": rf.name,
        "sha256": digest,
        "title": meta.get("title") or Path(rf.name).stem,
        "publisher": meta.get("publisher"),
        "published": meta.get("published"),
        "inspected": meta.get("inspected"),
        "source": meta.get("source") or rf.name,
        "licence": meta.get("licence"),
        "kind": meta.get("kind") or doc.kind,
        "format": doc.kind,
        "pages": len(doc.pages) or None,
        "chars": len(doc.text),
    }


Progress = Callable[[int, int, str], None]  # (files done, files in all, the file being read)


def build_index(reports_dir: Path, index_dir: Path, *, incremental: bool = False, on_progress: Progress | None = None,
                lock: BuildLock | None = None, settings: Settings | None = None, chunk_size: int = CHUNK_SIZE,
                overlap: int = CHUNK_OVERLAP, k1: float = bm25.K1, b: float = bm25.B,
                jobs: int = 1) -> BuildResult:
    """Index every report file under ``reports_dir`` into a new generation in ``index_dir``.

    ``incremental`` takes files whose content was extracted before from the cache. ``lock`` is a
    :class:`BuildLock` the caller already holds (a background job); otherwise one is taken here.
    ``settings`` gives the limits per file, whether scanned PDFs are read by OCR (``QA_OCR``) and how
    many old generations stay (default: the defaults).
    ``jobs`` processes read the files (extraction, chunking, tokens); the index is the same for any.
    """
    reports_dir, index_dir = Path(reports_dir), Path(index_dir)
    if not reports_dir.is_dir():
        raise BuildError(f"the reports folder {reports_dir} does not exist or is not a folder")
    if jobs < 1:
        raise BadRequest(f"--jobs must be 1 or more, not {jobs}")
    own_lock = None if lock is not None else BuildLock(index_dir).acquire()
    try:
        return _build(reports_dir, index_dir, incremental, on_progress, index_settings(chunk_size, overlap, k1, b),
                      settings or Settings(), jobs)
    finally:
        if own_lock is not None:
            own_lock.release()


@dataclass
class Indexed:
    """One report ready for the index: its record, its document, its passages and their tokens."""

    record: dict
    doc: Document
    chunks: list[Chunk]
    tokens: list[list[str]]
    sentence_tokens: list[list[list[str]]]  # per passage, per sentence: its terms in order


def passage_tokens(doc: Document, chunks: list[Chunk]) -> list[list[str]]:
    """Index terms of each passage."""
    return [text_mod.tokenize(doc.text[c.start:c.end]) for c in chunks]


def sentence_tokens(doc: Document, chunks: list[Chunk]) -> list[list[list[str]]]:
    """Terms of each sentence of each passage, in order: stored in the index, so that answering reads
    no sentence splitter and no stemmer."""
    return [[text_mod.tokenize(doc.text[s:e]) for s, e in c.sentences] for c in chunks]


def context_tokens(title: str, section: str | None, passage_opens_with_section: bool) -> list[str]:
    """Terms a passage gets from its context: its report's title, and its section heading unless
    the passage itself opens with it. Names and topics stated once per report then find every passage."""
    extra = text_mod.tokenize(title)
    if section and not passage_opens_with_section:
        extra += text_mod.tokenize(section)
    return extra


def indexed_terms(items: list[Indexed]) -> Iterator[list[str]]:
    """Each passage's index terms, passage after passage: its own tokens, then its context's."""
    for item in items:
        context = lru_cache(maxsize=None)(context_tokens)
        title = item.record.get("title") or ""
        for c, tokens in zip(item.chunks, item.tokens, strict=True):
            yield tokens + context(title, c.section, bool(c.section) and item.doc.text.startswith(c.section, c.start))


def assemble(items: list[Indexed], settings: dict) -> GenerationData:
    """Vocabulary, BM25 postings and per-passage arrays over all the reports: a generation's content."""
    chunk_cols: dict[str, list] = {k: [] for k in ("report", "seq", "start", "end", "page", "page_end", "section")}
    sections: dict[str, int] = {}
    for r_idx, item in enumerate(items):
        item.record["chunks"] = len(item.chunks)
        for seq, c in enumerate(item.chunks):
            chunk_cols["report"].append(r_idx)
            chunk_cols["seq"].append(seq)
            chunk_cols["start"].append(c.start)
            chunk_cols["end"].append(c.end)
            chunk_cols["page"].append(c.page or 0)
            chunk_cols["page_end"].append(c.page_end or 0)
            chunk_cols["section"].append(-1 if c.section is None else sections.setdefault(c.section, len(sections)))
    params = settings["bm25"]
    terms, postings = bm25.index_passages(indexed_terms(items), params["k1"], params["b"], params["epsilon"])
    dtypes = {"report": np.int32, "seq": np.int32, "start": np.int64, "end": np.int64,
              "page": np.int32, "page_end": np.int32, "section": np.int32}
    chunk_arrays = {f"chunk_{k}": np.asarray(v, dtype=dtypes[k]) for k, v in chunk_cols.items()}
    chunk_arrays.update(sentence_arrays(items, {t: i for i, t in enumerate(terms)}))
    chunk_arrays.update(chunk_bytes(items))
    docs = {i.record["id"]: (i.doc.text, {"pages": [list(p) for p in i.doc.pages],
                                          "headings": [[h.start, h.end, h.title, h.level] for h in i.doc.headings]})
            for i in items}
    learned = acronyms.learn([i.doc.text for i in items])
    return GenerationData(postings, terms, chunk_arrays, list(sections), [i.record for i in items], docs,
                          settings, learned)


def sentence_arrays(items: list[Indexed], term_ids: dict[str, int]) -> dict[str, np.ndarray]:
    """Every passage's sentences, flat: ``chunk_sentences`` (where each passage's sentences start, one
    more than passages), ``sentence_start`` / ``sentence_end`` (characters from the passage's start),
    ``sentence_terms`` (where each sentence's terms start) and ``sentence_term_ids`` (its terms in order)."""
    chunk_sentences, starts, ends, term_offsets, ids = [0], [], [], [0], []
    for item in items:
        for c, sentences in zip(item.chunks, item.sentence_tokens, strict=True):
            for (s, e), tokens in zip(c.sentences, sentences, strict=True):
                starts.append(s - c.start)
                ends.append(e - c.start)
                ids.extend(term_ids[t] for t in tokens if t in term_ids)
                term_offsets.append(len(ids))
            chunk_sentences.append(len(starts))
    return {"chunk_sentences": np.asarray(chunk_sentences, dtype=np.int64),
            "sentence_start": np.asarray(starts, dtype=np.int32), "sentence_end": np.asarray(ends, dtype=np.int32),
            "sentence_terms": np.asarray(term_offsets, dtype=np.int64),
            "sentence_term_ids": np.asarray(ids, dtype=np.int32)}


def chunk_bytes(items: list[Indexed]) -> dict[str, np.ndarray]:
    """Where each passage lies in texts.bin (every report's UTF-8 text, one after the other): byte
    offsets, so that reading a passage decodes that passage only."""
    starts, ends, base = [], [], 0
    for item in items:
        text = item.doc.text
        offsets = sorted({x for c in item.chunks for x in (c.start, c.end)})
        byte_at, done_chars, done_bytes = {}, 0, 0
        for x in offsets:
            done_bytes += len(text[done_chars:x].encode("utf-8"))
            byte_at[x], done_chars = done_bytes, x
        starts += [base + byte_at[c.start] for c in item.chunks]
        ends += [base + byte_at[c.end] for c in item.chunks]
        base += len(text.encode("utf-8"))
    return {"chunk_byte_start": np.asarray(starts, dtype=np.int64), "chunk_byte_end": np.asarray(ends, dtype=np.int64)}


def index_settings(chunk_size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP, k1: float = bm25.K1,
                   b: float = bm25.B) -> dict:
    """What a generation records about how it was made (the manifest)."""
    return {
        "tokenizer": text_mod.settings(),
        "bm25": {"k1": k1, "b": b, "epsilon": bm25.EPSILON},
        "chunking": {"size": chunk_size, "overlap": overlap, "version": CHUNKER_VERSION},
        "extractor_version": EXTRACTOR_VERSION,
    }


@dataclass
class FileToRead:
    """A report file to read: the build's pre-pass found it readable and not a duplicate."""

    file: ReportFile
    digest: str
    size: int


@dataclass
class FileRead:
    """What reading one report file gave: its document and passages, or the reason it was rejected."""

    file: ReportFile
    digest: str
    sidecar: dict = field(default_factory=dict)
    doc: Document | None = None
    reused: bool = False
    chunks: list[Chunk] = field(default_factory=list)
    tokens: list[list[str]] = field(default_factory=list)
    sentence_tokens: list[list[list[str]]] = field(default_factory=list)
    rejected: str | None = None


def read_report(todo: FileToRead, cache_dir: Path, use_cache: bool, chunk_size: int, overlap: int,
                limits: Limits, ocr: bool) -> FileRead:
    """Extract, chunk and tokenize one file (through the cache): the per-file, CPU-bound part of a
    build, run in the build's process or in one of ``--jobs`` worker processes. Never raises for a bad
    file: the reason comes back in ``rejected``."""
    rf = todo.file
    out = FileRead(rf, todo.digest)
    try:
        data = rf.path.read_bytes()
        if sha256_bytes(data) != todo.digest:
            out.rejected = f"{rf.name}: the file changed while the index was being built; build again"
            return out
        out.sidecar = read_sidecar(rf.path)
        out.doc, out.reused = _cached_extract(rf, data, todo.digest, cache_dir, use_cache, limits, ocr)
    except RejectedFile as exc:
        out.rejected = exc.message
        return out
    except OSError as exc:
        out.rejected = f"{rf.name}: cannot be read ({exc.strerror or exc})"
        return out
    except Exception as exc:  # a file no reader expected must not stop the build
        log.exception("unexpected failure reading %s", rf.name)
        out.rejected = f"{rf.name}: could not be read ({type(exc).__name__}: {exc})"
        return out
    out.chunks, out.tokens, out.sentence_tokens = _cached_passages(out.doc, todo.digest, cache_dir, chunk_size,
                                                                   overlap, use_cache)
    return out


def read_reports(todo: list[FileToRead], jobs: int, on_done: Callable[[FileRead], None], **kwargs) -> list[FileRead]:
    """:func:`read_report` over every file, in ``jobs`` processes when more than one; results in the
    order of ``todo`` whatever order they finish in, so the index does not depend on ``jobs``.

    Workers take the largest files first, so one long PDF does not finish alone at the end."""
    if jobs <= 1 or len(todo) <= 1:
        done = []
        for t in todo:
            done.append(read_report(t, **kwargs))
            on_done(done[-1])
        return done
    largest_first = sorted(range(len(todo)), key=lambda i: -todo[i].size)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = {i: pool.submit(read_report, todo[i], **kwargs) for i in largest_first}
        for future in as_completed(futures.values()):
            on_done(future.result())
        return [futures[i].result() for i in range(len(todo))]


def _build(reports_dir: Path, index_dir: Path, incremental: bool, on_progress: Progress | None,
           params: dict, settings: Settings, jobs: int) -> BuildResult:
    chunk_size, overlap = params["chunking"]["size"], params["chunking"]["overlap"]
    t0 = time.perf_counter()
    prune_generations(index_dir, settings.keep_generations, settings.generation_grace)
    previous = previous_files(index_dir)
    files = find_reports(reports_dir)
    result = BuildResult(generation="", reports=0, chunks=0)
    hashed: list[tuple[ReportFile, str | None, int]] = []  # digest None: the file cannot be read
    todo: dict[str, FileToRead] = {}  # the first file of each content, read in ``jobs`` processes
    for rf in files:
        try:
            data = rf.path.read_bytes()
        except OSError as exc:
            result.rejected.append(Rejected(rf.name, f"{rf.name}: cannot be read ({exc.strerror or exc})"))
            hashed.append((rf, None, 0))
            continue
        digest = sha256_bytes(data)
        hashed.append((rf, digest, len(data)))
        todo.setdefault(digest, FileToRead(rf, digest, len(data)))
    done = [0]

    def on_done(read: FileRead) -> None:
        if on_progress:
            on_progress(done[0], len(files), read.file.name)
        done[0] += 1

    read_kwargs = {"cache_dir": index_dir / "cache", "use_cache": incremental, "chunk_size": chunk_size,
                   "overlap": overlap, "limits": settings.limits, "ocr": settings.ocr}
    first_reads = {r.file.name: r for r in read_reports(list(todo.values()), jobs, on_done, **read_kwargs)}
    items: list[Indexed] = []
    ids: set[str] = set()
    indexed_sha: dict[str, str] = {}
    for rf, digest, size in hashed:
        if digest is None:
            continue
        if digest in indexed_sha:
            result.duplicates.append((rf.name, indexed_sha[digest]))
            continue
        # A later copy of a rejected file's content is read on its own (its sidecar may differ).
        read = first_reads.get(rf.name) or read_report(FileToRead(rf, digest, size), **read_kwargs)
        if read.rejected is not None:
            result.rejected.append(Rejected(rf.name, read.rejected))
            continue
        indexed_sha[digest] = rf.name
        (result.reused if read.reused else result.extracted).append(rf.name)
        rid = slug(rf.name)
        if rid in ids:
            rid = f"{rid}-{digest[:8]}"
        ids.add(rid)
        items.append(Indexed(_record(rid, rf, digest, read.doc, read.sidecar), read.doc, read.chunks,
                             read.tokens, read.sentence_tokens))
    if not items:
        reasons = "".join(f"\n  rejected: {r.reason}" for r in result.rejected)
        raise BuildError(
            f"no report could be indexed from {reports_dir} ({len(files)} file(s)){reasons}\n"
            "the previous index is untouched"
        )
    data = assemble(items, params)
    try:
        gen = write_generation(index_dir, data)
    except OSError as exc:
        raise BuildError(f"could not write the index in {index_dir}: {describe_os_error(exc)}; "
                         "the previous index is untouched") from exc
    if on_progress:
        on_progress(len(files), len(files), "")
    prune_generations(index_dir, settings.keep_generations, settings.generation_grace)
    _prune_cache(index_dir / "cache", {i.record["sha256"] for i in items})
    result.removed = sorted(previous - {i.record["file"] for i in items} - {d for d, _ in result.duplicates})
    result.generation, result.reports, result.chunks = gen, len(items), len(data.chunk_arrays["chunk_start"])
    result.seconds = time.perf_counter() - t0
    return result


__all__ = ["build_index", "assemble", "index_settings", "Indexed", "BuildLock", "BuildResult", "Rejected"]
