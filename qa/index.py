"""Index: BM25 postings and passage metadata written as one immutable generation on disk.

Layout of an index folder::

    CURRENT                  name of the live generation, swapped atomically (temp file + os.replace)
    generations/<id>/        never modified once complete: manifest.json, *.npy arrays, terms.json,
                             sections.json, reports.json, texts.bin (every report's text, UTF-8, one
                             after the other; text_offsets.npy gives their byte ranges), layouts.json,
                             acronyms.json (learned from the reports: acronym -> terms of its long form)
    cache/<sha256>-….json    per indexed file content: its extracted text, and its passages and tokens for
                             the current settings, so an update re-reads and re-chunks only new files
    .build.lock              held by the one build allowed at a time

Arrays are ``.npy`` loaded with ``mmap_mode="r"`` (every worker shares the pages); text and metadata
are JSON. No pickle anywhere.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import text as text_mod
from .bm25 import Postings
from .errors import IndexUnavailable, NotFound

log = logging.getLogger(__name__)

FORMAT_VERSION = 5  # 2: report texts in one texts.bin; 3: acronyms.json; 4: sentences and byte offsets of passages;
# 5: report records with titles, publishers and dates read from the documents, and "inspected"
POINTER = "CURRENT"
MANIFEST = "manifest.json"
GENERATIONS = "generations"

_ARRAYS = ("offsets", "doc_ids", "impacts", "idf", "doc_len",
           "chunk_report", "chunk_seq", "chunk_start", "chunk_end", "chunk_page", "chunk_page_end", "chunk_section",
           "chunk_byte_start", "chunk_byte_end", "chunk_sentences", "sentence_start", "sentence_end", "sentence_terms",
           "sentence_term_ids")


def _write_json(path: Path, data) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, separators=(",", ":"))


def atomic_write_text(path: Path, content: str) -> None:
    """Write ``content`` to ``path`` so readers see the old or the new file, never a partial one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class GenerationData:
    """Everything a generation holds, in memory, ready to be written."""

    postings: Postings
    terms: list[str]
    chunk_arrays: dict[str, np.ndarray]
    sections: list[str]
    reports: list[dict]
    docs: dict[str, tuple[str, dict]]  # report id -> (text, layout: pages and headings), in report order
    settings: dict
    acronyms: dict[str, list[str]] = field(default_factory=dict)  # acronym term -> terms of its long form


def write_generation(root: Path, data: GenerationData) -> str:
    """Write a complete generation, then point CURRENT at it. Returns its id."""
    gen_root = root / GENERATIONS
    gen_root.mkdir(parents=True, exist_ok=True)
    # Names sort in build order (builds are serialised by the build lock).
    gen_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:4]
    tmp = gen_root / f".tmp-{gen_id}"
    try:
        _write_files(tmp, gen_id, data)
        final = gen_root / gen_id
        os.rename(tmp, final)
        _fsync_dir(gen_root)
        atomic_write_text(root / POINTER, gen_id + "\n")
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # free the space a failed write took
        raise
    return gen_id


def _write_files(tmp: Path, gen_id: str, data: GenerationData) -> None:
    tmp.mkdir(parents=True)
    p = data.postings
    arrays = {"offsets": p.offsets, "doc_ids": p.doc_ids, "impacts": p.impacts, "idf": p.idf, "doc_len": p.doc_len}
    arrays.update(data.chunk_arrays)
    for name in _ARRAYS:
        np.save(tmp / f"{name}.npy", np.ascontiguousarray(arrays[name]), allow_pickle=False)
    _write_json(tmp / "terms.json", data.terms)
    _write_json(tmp / "sections.json", data.sections)
    _write_json(tmp / "reports.json", data.reports)
    offsets = [0]
    with open(tmp / "texts.bin", "wb") as f:
        for text, _layout in data.docs.values():
            offsets.append(offsets[-1] + f.write(text.encode("utf-8")))
    np.save(tmp / "text_offsets.npy", np.asarray(offsets, dtype=np.int64), allow_pickle=False)
    _write_json(tmp / "layouts.json", [layout for _text, layout in data.docs.values()])
    _write_json(tmp / "acronyms.json", data.acronyms)
    manifest = {
        "files": file_checksums(tmp),
        "format_version": FORMAT_VERSION,
        "generation": gen_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "reports": len(data.reports),
        "chunks": int(len(data.chunk_arrays["chunk_start"])),
        "terms": len(data.terms),
        **data.settings,
    }
    _write_json(tmp / MANIFEST, manifest)
    for f in tmp.rglob("*"):
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(tmp)


def file_checksums(folder: Path) -> dict[str, str]:
    """SHA-256 of every file of a generation folder but its manifest, by name: what the manifest records,
    so that a copy (``qa index publish``) can be checked file by file."""
    out = {}
    for f in sorted(folder.iterdir()):
        if f.is_file() and f.name != MANIFEST:
            h = hashlib.sha256()
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            out[f.name] = h.hexdigest()
    return out


def read_manifest(gen_dir: Path) -> dict:
    """A generation's manifest.json (format version, settings, counts, file checksums)."""
    return json.loads((gen_dir / MANIFEST).read_text(encoding="utf-8"))


def prune_generations(root: Path, keep: int, grace: float) -> None:
    """Remove what dead builds left (unfinished generations, temp files) and old generations.

    A generation goes only when it is not among the newest ``keep`` and was superseded more than
    ``grace`` seconds ago, so a request still reading it (in any worker) can finish. Call it only
    while holding the build lock.
    """
    gen_root = root / GENERATIONS
    for stale in list(root.glob(".*.tmp")) + list((root / "cache").glob(".*.tmp")):
        stale.unlink(missing_ok=True)
    if not gen_root.is_dir():
        return
    for p in gen_root.iterdir():
        if p.name.startswith(".tmp-"):
            shutil.rmtree(p, ignore_errors=True)
    complete = {p.name: p.stat().st_mtime for p in gen_root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    for name in generations_to_prune(complete, read_pointer(root), keep, grace):
        shutil.rmtree(gen_root / name, ignore_errors=True)


def generations_to_prune(generations: dict[str, float], current: str | None, keep: int, grace: float) -> list[str]:
    """Which of ``generations`` (name -> folder mtime) may go: not among the newest ``keep``, not
    ``current``, and superseded (the next one's folder written) more than ``grace`` seconds ago. The
    one rule for an index folder here and for a replica's behind rsync (:mod:`qa.publish`)."""
    names = sorted(generations)
    now = time.time()
    return [old for old, newer in zip(names[:-keep], names[1:])
            if old != current and now - generations[newer] > grace]


def read_pointer(root: Path) -> str | None:
    try:
        name = (root / POINTER).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name or None


class Index:
    """One loaded generation: postings and passage metadata, read-only."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self._load(path)
        except (OSError, ValueError, KeyError) as exc:
            raise IndexUnavailable(
                f"the index at {path} is unreadable ({exc}); rebuild it with 'qa index build'") from exc

    def _load(self, path: Path) -> None:
        self.manifest = read_manifest(path)
        if self.manifest.get("format_version") != FORMAT_VERSION:
            raise IndexUnavailable(
                f"the index at {path} has format version {self.manifest.get('format_version')}, this program reads "
                f"version {FORMAT_VERSION}; rebuild it with 'qa index build'"
            )
        if self.manifest.get("tokenizer") != text_mod.settings():
            raise IndexUnavailable(
                f"the index at {path} was built with other tokenizer settings; rebuild it with 'qa index build'"
            )
        self.version: str = self.manifest["generation"]
        # Plain ndarray views of the memory maps: the pages stay shared between workers, and indexing one
        # passage's value skips np.memmap's Python-level __getitem__ (a few per passage on every request).
        arr = {name: np.load(path / f"{name}.npy", mmap_mode="r", allow_pickle=False).view(np.ndarray)
               for name in _ARRAYS}
        self.offsets, self.doc_ids, self.impacts = arr["offsets"], arr["doc_ids"], arr["impacts"]
        self.idf, self.doc_len = arr["idf"], arr["doc_len"]
        self.chunk_report, self.chunk_seq = arr["chunk_report"], arr["chunk_seq"]
        self.chunk_start, self.chunk_end = arr["chunk_start"], arr["chunk_end"]
        self.chunk_page, self.chunk_page_end = arr["chunk_page"], arr["chunk_page_end"]
        self.chunk_section = arr["chunk_section"]
        self._chunk_bytes = (arr["chunk_byte_start"], arr["chunk_byte_end"])
        self._sentences = tuple(arr[k] for k in ("chunk_sentences", "sentence_start", "sentence_end", "sentence_terms",
                                                 "sentence_term_ids"))
        self.terms: list[str] = json.loads((path / "terms.json").read_text("utf-8"))
        self.term_ids: dict[str, int] = {t: i for i, t in enumerate(self.terms)}
        self.sections: list[str] = json.loads((path / "sections.json").read_text("utf-8"))
        self.reports: list[dict] = json.loads((path / "reports.json").read_text("utf-8"))
        self.report_index = {r["id"]: i for i, r in enumerate(self.reports)}
        self.acronyms: dict[str, list[str]] = json.loads((path / "acronyms.json").read_text("utf-8"))
        self._text_offsets = np.load(path / "text_offsets.npy", mmap_mode="r", allow_pickle=False).view(np.ndarray)
        # A memoryview: slicing it costs a fraction of slicing the array (a passage is read per cited result).
        self._texts = (memoryview(np.memmap(path / "texts.bin", dtype=np.uint8, mode="r").view(np.ndarray))
                       if self._text_offsets[-1] else None)
        self._layouts: list[dict] | None = None
        self._text = lru_cache(maxsize=256)(self._read_text)
        self.memo: dict = {}  # what callers derive once per generation (e.g. example questions)

    @property
    def n_chunks(self) -> int:
        return len(self.chunk_start)

    def report(self, report_id: str) -> dict:
        i = self.report_index.get(report_id)
        if i is None:
            raise NotFound(f"no report with id {report_id!r} is indexed; GET /reports lists them")
        return self.reports[i]

    def _read_text(self, report_id: str) -> str:
        i = self.report_index[report_id]
        start, end = int(self._text_offsets[i]), int(self._text_offsets[i + 1])
        return str(self._texts[start:end], "utf-8") if self._texts is not None else ""

    def report_text(self, report_id: str) -> str:
        self.report(report_id)
        return self._text(report_id)

    def report_layout(self, report_id: str) -> dict:
        self.report(report_id)
        if self._layouts is None:
            self._layouts = json.loads((self.path / "layouts.json").read_text(encoding="utf-8"))
        return self._layouts[self.report_index[report_id]]

    def chunk_id(self, i: int) -> str:
        return f"{self.reports[int(self.chunk_report[i])]['id']}-{int(self.chunk_seq[i])}"

    def chunk_text(self, i: int) -> str:
        """``report_text[chunk_start:chunk_end]``, decoded from the passage's own bytes of texts.bin."""
        start, end = int(self._chunk_bytes[0][i]), int(self._chunk_bytes[1][i])
        return str(self._texts[start:end], "utf-8") if self._texts is not None else ""

    def sentences(self, i: int) -> list[tuple[int, int, list[str]]]:
        """The sentences of passage ``i``, as found at build time: their start and end in the passage's
        text, and their terms in order."""
        chunk_sentences, starts, ends, term_offsets, term_ids = self._sentences
        first, last = int(chunk_sentences[i]), int(chunk_sentences[i + 1])
        bounds = term_offsets[first:last + 1].tolist()
        ids = term_ids[bounds[0]:bounds[-1]].tolist() if bounds else []
        terms, base = self.terms, bounds[0] if bounds else 0
        return [(s, e, [terms[t] for t in ids[a - base:b - base]])
                for s, e, a, b in zip(starts[first:last].tolist(), ends[first:last].tolist(), bounds, bounds[1:])]

    def chunks_of(self, report_id: str) -> np.ndarray:
        return np.flatnonzero(np.asarray(self.chunk_report) == self.report_index[report_id])


class IndexStore:
    """The live generation of an index folder, reloaded when CURRENT moves (checked on every call).

    A caller takes one :class:`Index` per request and uses it from start to end, so each answer comes
    from one generation even while a new one is swapped in.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self._pointer = os.fspath(self.root / POINTER)  # stat'ed on every request: no Path built each time
        self._lock = threading.Lock()
        self._index: Index | None = None
        self._stamp: tuple | None = None

    def current(self) -> Index:
        try:
            st = os.stat(self._pointer)
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if self._index is not None and stamp == self._stamp:
            return self._index
        with self._lock:
            if self._index is not None and stamp == self._stamp:
                return self._index
            name = read_pointer(self.root)
            try:
                if name is None:
                    raise IndexUnavailable(
                        f"no index has been built in {self.root}; run 'qa index build --reports DIR --index {self.root}'"
                    )
                if self._index is None or self._index.version != name:
                    self._index = Index(self.root / GENERATIONS / name)
            except IndexUnavailable as exc:
                if self._index is None:
                    raise
                log.error("%s; still serving generation %s", exc.message, self._index.version)
                return self._index  # stamp not recorded: the next request tries again
            self._stamp = stamp
            return self._index
