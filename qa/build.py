"""Build: report files -> documents -> passages -> tokens -> one new index generation.

``build_index`` is the one pipeline behind ``qa index build`` and ``qa index update``: a file that
cannot be read is listed with its reason and skipped; nothing touches the live generation until the
new one is complete, and a failed build leaves it as it was.
"""
from __future__ import annotations

import fcntl
import json
import logging
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import bm25, text as text_mod
from .chunking import CHUNK_OVERLAP, CHUNK_SIZE, chunk_document
from .errors import BuildError, QAError, RejectedFile
from .index import GenerationData, atomic_write_text, prune_generations, write_generation
from .ingest import EXTRACTOR_VERSION, Document, ReportFile, extract, find_reports, read_sidecar, sha256_bytes

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
    seconds: float = 0.0


@contextmanager
def build_lock(index_dir: Path):
    """One build at a time per index folder; a dead build's lock dies with its process."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".build.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildError(f"another build is already running on {index_dir}; wait for it to finish") from None
        yield


def slug(name: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", Path(name).stem.lower()).strip("-")
    return s[:80] or "report"


def _cached_extract(rf: ReportFile, data: bytes, digest: str, cache_dir: Path, use_cache: bool) -> tuple[Document, bool]:
    cache_file = cache_dir / f"{digest}-v{EXTRACTOR_VERSION}.json"
    if use_cache and cache_file.exists():
        try:
            return Document.from_json(json.loads(cache_file.read_text(encoding="utf-8"))), True
        except (ValueError, KeyError, TypeError):
            pass  # a damaged cache entry is simply re-extracted
    doc = extract(data, rf.name)
    cache_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cache_file, json.dumps(doc.to_json(), ensure_ascii=False))
    return doc, False


def _record(rid: str, rf: ReportFile, digest: str, doc: Document, sidecar: dict) -> dict:
    meta = {**doc.meta, **sidecar}
    return {
        "id": rid,
        "file": rf.name,
        "sha256": digest,
        "title": meta.get("title") or Path(rf.name).stem,
        "publisher": meta.get("publisher") or meta.get("author"),
        "published": meta.get("published"),
        "source": meta.get("source") or rf.name,
        "licence": meta.get("licence"),
        "kind": meta.get("kind") or doc.kind,
        "format": doc.kind,
        "pages": len(doc.pages) or None,
        "chars": len(doc.text),
    }


def build_index(reports_dir: Path, index_dir: Path, *, incremental: bool = False, progress: bool = False,
                chunk_size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP) -> BuildResult:
    """Index every report file under ``reports_dir`` into a new generation in ``index_dir``."""
    t0 = time.perf_counter()
    reports_dir, index_dir = Path(reports_dir), Path(index_dir)
    if not reports_dir.is_dir():
        raise BuildError(f"the reports folder {reports_dir} does not exist or is not a folder")
    with build_lock(index_dir):
        prune_generations(index_dir)
        files = find_reports(reports_dir)
        result = BuildResult(generation="", reports=0, chunks=0)
        records: list[dict] = []
        docs: dict[str, tuple[str, dict]] = {}
        chunk_cols: dict[str, list] = {k: [] for k in ("report", "seq", "start", "end", "page", "page_end", "section")}
        sections: dict[str, int] = {}
        seen_sha: dict[str, str] = {}
        token_terms: list[np.ndarray] = []
        token_docs: list[np.ndarray] = []
        vocab: dict[str, int] = {}
        n_chunks = 0
        iterator = files
        if progress:
            from tqdm import tqdm

            iterator = tqdm(files, desc="indexing", unit="file", delay=0.5)
        for rf in iterator:
            try:
                data = rf.path.read_bytes()
            except OSError as exc:
                result.rejected.append(Rejected(rf.name, f"{rf.name}: cannot be read ({exc.strerror or exc})"))
                continue
            digest = sha256_bytes(data)
            if digest in seen_sha:
                result.duplicates.append((rf.name, seen_sha[digest]))
                continue
            try:
                sidecar = read_sidecar(rf.path)
                doc, reused = _cached_extract(rf, data, digest, index_dir / "cache", incremental)
            except RejectedFile as exc:
                result.rejected.append(Rejected(rf.name, exc.message))
                continue
            except Exception as exc:  # a file no reader expected must not stop the build
                log.exception("unexpected failure reading %s", rf.name)
                result.rejected.append(Rejected(rf.name, f"{rf.name}: could not be read ({type(exc).__name__}: {exc})"))
                continue
            seen_sha[digest] = rf.name
            (result.reused if reused else result.extracted).append(rf.name)
            rid = slug(rf.name)
            if rid in docs:
                rid = f"{rid}-{digest[:8]}"
            r_idx = len(records)
            chunks = chunk_document(doc, chunk_size, overlap)
            record = _record(rid, rf, digest, doc, sidecar)
            record["chunks"] = len(chunks)
            records.append(record)
            docs[rid] = (doc.text, {"pages": [list(p) for p in doc.pages],
                                    "headings": [[h.start, h.end, h.title, h.level] for h in doc.headings]})
            for seq, c in enumerate(chunks):
                ids = [vocab.setdefault(t, len(vocab)) for t in text_mod.tokenize(doc.text[c.start:c.end])]
                token_terms.append(np.asarray(ids, dtype=np.int64))
                token_docs.append(np.full(len(ids), n_chunks, dtype=np.int64))
                n_chunks += 1
                chunk_cols["report"].append(r_idx)
                chunk_cols["seq"].append(seq)
                chunk_cols["start"].append(c.start)
                chunk_cols["end"].append(c.end)
                chunk_cols["page"].append(c.page or 0)
                chunk_cols["page_end"].append(c.page_end or 0)
                chunk_cols["section"].append(-1 if c.section is None else sections.setdefault(c.section, len(sections)))
        if not records:
            reasons = "".join(f"\n  rejected: {r.reason}" for r in result.rejected)
            raise BuildError(
                f"no report could be indexed from {reports_dir} ({len(files)} file(s)){reasons}\n"
                "the previous index is untouched"
            )
        postings = bm25.compile_postings(np.concatenate(token_terms), np.concatenate(token_docs), len(vocab), n_chunks)
        dtypes = {"report": np.int32, "seq": np.int32, "start": np.int64, "end": np.int64,
                  "page": np.int32, "page_end": np.int32, "section": np.int32}
        chunk_arrays = {f"chunk_{k}": np.asarray(v, dtype=dtypes[k]) for k, v in chunk_cols.items()}
        settings = {
            "tokenizer": text_mod.settings(),
            "bm25": {"k1": bm25.K1, "b": bm25.B, "epsilon": bm25.EPSILON},
            "chunking": {"size": chunk_size, "overlap": overlap},
            "extractor_version": EXTRACTOR_VERSION,
        }
        try:
            gen = write_generation(index_dir, GenerationData(postings, list(vocab), chunk_arrays, list(sections),
                                                             records, docs, settings))
        except OSError as exc:
            raise BuildError(
                f"could not write the index in {index_dir}: {exc.strerror or exc}"
                f"{' (disk full)' if getattr(exc, 'errno', None) == 28 else ''}; the previous index is untouched"
            ) from exc
        prune_generations(index_dir)
        result.generation, result.reports, result.chunks = gen, len(records), n_chunks
        result.seconds = time.perf_counter() - t0
        return result


__all__ = ["build_index", "BuildResult", "Rejected", "QAError"]
