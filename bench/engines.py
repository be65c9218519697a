"""Our BM25 engine against rank-bm25, rank-bm25-rs, bm25s (numba) and tantivy, in one run.

    python bench/engines.py [--sizes 10000,100000,1000000] [--queries 200] [--seed 1]
                            [--real ../shared/corpus | --real none] [--json OUT] [--quick]
                            [--engines ours,rank-bm25,rank-bm25-rs,bm25s,tantivy] [--workdir DIR [--reuse-index]]
                            [--timeout S] [--smoke]

For every corpus (a seeded synthetic one per size, and the real shared corpus) and every engine, each
in its own subprocess: build seconds and the build's peak RSS (VmHWM, that process's own high-water
mark; the input token lists it starts from are reported apart), on-disk size; then a fresh process:
import and cold load of the saved index (page cache warm: the files were just written), the first
query (for bm25s it includes numba's JIT compilation), 5 warm-up queries, then p50/p99 latency over
the timed questions. Top-10 agreement with the reference (rank-bm25, or rank-bm25-rs above
--rank-bm25-max passages, where rank-bm25 is too slow): "set", questions whose top-10 is the same set;
"rank", questions whose ranking is the same where scores are not tied (each engine's i-th passage has
the reference score of the reference's i-th); "overlap", the mean share of the reference's top-10
found. Ours is also compared with the reference score of every passage for every question (max
|difference|, and on how many questions all scores are bit-identical).

bm25s and tantivy compute other BM25 formulas (Lucene's idf, float32, tantivy's quantised lengths):
their agreement below 1 is expected and reported as measured. Engines whose library is not installed
are skipped, and the run says which.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import import_module, metadata
from importlib.util import find_spec
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bm25_adapters import (ADAPTERS, ORDER, Adapter, okapi_params, ours_dense, ours_load,  # noqa: E402
                           peak_rss_mb, rank_bm25_rs_build, rss_mb, top_k_dense)
from bm25_data import (SynthParams, corpus_stats, load_passages, load_queries, real_corpus,  # noqa: E402
                       save_corpus, smoke_reports, synthetic_corpus)

ROOT = Path(__file__).resolve().parent.parent
K = 10
PEERS = ("numpy", "scipy", "rank-bm25", "rank-bm25-rs", "bm25s", "numba", "tantivy", "psutil")


# ---- measurements inside a child process ------------------------------------------------------------

def disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def time_queries(adapter: Adapter, handle, queries: list[list[str]], dense: bool) -> tuple[list[float], list, list]:
    """Latency in ms of each question, its top-10, and (for a reference) every passage's scores."""
    latencies, tops, vectors = [], [], []
    for q in queries:
        t0 = time.perf_counter_ns()
        if dense:
            scores = adapter.full_scores(handle, q)
            ids, vals = top_k_dense(scores, K)
        else:
            ids, vals = adapter.search(handle, q, K)
        latencies.append((time.perf_counter_ns() - t0) / 1e6)
        tops.append((np.asarray(ids).tolist(), np.asarray(vals, dtype=np.float64).tolist()))
        if dense:
            vectors.append(scores)
    return latencies, tops, vectors


def run_queries(adapter: Adapter, handle, folder: Path, dense: bool) -> tuple[dict, list]:
    """First query, warm-ups, then the timed questions."""
    warmup, timed = load_queries(folder)
    t0 = time.perf_counter()
    adapter.search(handle, warmup[0], K)
    first_ms = (time.perf_counter() - t0) * 1000
    for q in warmup[1:]:
        adapter.search(handle, q, K)
    lat, tops, vectors = time_queries(adapter, handle, timed, dense)
    result = {"first_query_ms": first_ms, "queries": len(timed), "p50_ms": float(np.percentile(lat, 50)),
              "p99_ms": float(np.percentile(lat, 99)), "mean_ms": float(np.mean(lat)),
              "top_ids": [t[0] for t in tops], "top_scores": [t[1] for t in tops]}
    return result, vectors


def verify(folder: Path, engine: str, vectors: list[np.ndarray], check_rs: bool) -> dict:
    """The reference's checks: its score of every other engine's top-10, ours against every passage's
    score, and (rank-bm25) rank-bm25-rs against rank-bm25 on every passage."""
    _, timed = load_queries(folder)
    out: dict = {"ref_scores_of": {}}
    for f in sorted((folder / "results").glob("*.result.json")):
        other = json.loads(f.read_text())
        if other.get("engine") != engine and "top_ids" in other:
            out["ref_scores_of"][other["engine"]] = [v[np.asarray(ids, dtype=np.int64)].tolist()
                                                     for v, ids in zip(vectors, other["top_ids"])]
    if (folder / "idx-ours").is_dir():
        ours = ours_load(folder / "idx-ours")
        diffs = [np.abs(ours_dense(ours, q) - v) for q, v in zip(timed, vectors)]
        out["ours_max_abs_diff"] = float(max(d.max() for d in diffs))
        out["ours_identical_questions"] = sum(int(not d.any()) for d in diffs)
    if check_rs:
        rs = rank_bm25_rs_build(load_passages(folder), folder, {})
        diffs = [np.abs(np.asarray(rs.get_scores(q)) - v) for q, v in zip(timed, vectors)]
        out["rs_max_abs_diff"] = float(max(d.max() for d in diffs))
        out["rs_identical_questions"] = sum(int(not d.any()) for d in diffs)
    out["questions_checked"] = len(vectors)
    return out


def child_build(adapter: Adapter, folder: Path, reference: bool, check_rs: bool) -> dict:
    passages = load_passages(folder)
    gc.collect()
    result = {"input_rss_mb": rss_mb(), "okapi_params": okapi_params()}
    out = folder / f"idx-{adapter.name}"
    shutil.rmtree(out, ignore_errors=True)
    timings: dict = {}
    t0 = time.perf_counter()
    handle = adapter.build(passages, out, timings)
    result.update(build_s=time.perf_counter() - t0, phases=timings, peak_rss_mb=peak_rss_mb())
    if adapter.load is not None:
        result["disk_mb"] = disk_mb(out)
        return result
    del passages
    gc.collect()
    queried, vectors = run_queries(adapter, handle, folder, dense=reference)
    result.update(queried, serve_rss_mb=rss_mb())
    if reference:
        result["reference"] = verify(folder, adapter.name, vectors, check_rs)
    return result


def child_query(adapter: Adapter, folder: Path) -> dict:
    t0 = time.perf_counter()
    for module in adapter.modules:
        import_module(module)
    t1 = time.perf_counter()
    handle = adapter.load(folder / f"idx-{adapter.name}")
    t2 = time.perf_counter()
    result = {"import_s": t1 - t0, "load_s": t2 - t1, "load_rss_mb": rss_mb()}
    queried, _ = run_queries(adapter, handle, folder, dense=False)
    result.update(queried, serve_rss_mb=rss_mb(), serve_peak_rss_mb=peak_rss_mb())
    return result


def child_main(args: argparse.Namespace) -> None:
    adapter = ADAPTERS[args.engine]
    if args.child == "build":
        result = child_build(adapter, args.corpus, args.reference, args.check_rs)
    else:
        result = child_query(adapter, args.corpus)
    args.out.write_text(json.dumps(result))


# ---- the parent: corpora, subprocesses, agreement, table ---------------------------------------------

def spawn(phase: str, engine: str, folder: Path, timeout: float, reference: bool = False,
          check_rs: bool = False) -> dict:
    """Run one child phase in a fresh interpreter; its result, or {"error": ...}."""
    out = folder / "results" / f"{engine}.{phase}.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", phase, "--engine", engine,
           "--corpus", str(folder), "--out", str(out)]
    cmd += ["--reference"] if reference else []
    cmd += ["--check-rs"] if check_rs else []
    log = folder / "results" / f"{engine}.{phase}.log"
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        try:
            proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout, cwd=ROOT)
        except subprocess.TimeoutExpired:
            return {"error": f"{phase} timed out after {timeout:.0f} s"}
    if proc.returncode != 0 or not out.exists():
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        return {"error": f"{phase} failed (exit {proc.returncode}): {' | '.join(tail)}"}
    result = json.loads(out.read_text())
    result[f"{phase}_process_s"] = time.perf_counter() - t0
    return result


def prepare(name: str, make, workdir: Path) -> Path:
    """The corpus folder, generated once (reused when the workdir already holds the same one)."""
    folder = workdir / name
    (folder / "results").mkdir(parents=True, exist_ok=True)
    if not (folder / "queries.json").exists():
        t0 = time.perf_counter()
        save_corpus(make(), folder)
        print(f"  [{name}] corpus made in {time.perf_counter() - t0:.1f} s", flush=True)
    return folder


def reference_of(n: int, engines: list[str], rank_max: int) -> str | None:
    if "rank-bm25" in engines and n <= rank_max:
        return "rank-bm25"
    return "rank-bm25-rs" if "rank-bm25-rs" in engines else None


def run_engine(engine: str, folder: Path, ref: str | None, engines: list[str], timeout: float,
               reuse_index: bool = False) -> dict:
    """Build (or, with ``reuse_index``, take the index and build figures an earlier run left), then query."""
    adapter = ADAPTERS[engine]
    result = {"engine": engine, "formula": adapter.formula}
    built = folder / "results" / f"{engine}.build.json"
    if reuse_index and adapter.load is not None and (folder / f"idx-{engine}").is_dir() and built.exists():
        result.update(json.loads(built.read_text()), build_reused=True)
    else:
        result.update(spawn("build", engine, folder, timeout, reference=engine == ref,
                            check_rs=engine == ref == "rank-bm25" and "rank-bm25-rs" in engines))
    if adapter.load is not None and "error" not in result:
        result.update(spawn("query", engine, folder, timeout))
    (folder / "results" / f"{engine}.result.json").write_text(json.dumps(result))
    return result


def agreement(results: dict[str, dict], ref: str) -> None:
    """Adds top10_set, top10_rank (fractions of questions) and top10_overlap to every engine, from the
    reference's own top-10 and its scores of every engine's top-10."""
    r = results.get(ref, {})
    ref_scores_of = r.get("reference", {}).get("ref_scores_of", {})
    for name, res in results.items():
        if "top_ids" not in res or "top_ids" not in r:
            continue
        mine = ref_scores_of.get(name, r["top_scores"] if name == ref else None)
        sets = [set(a) == set(b) for a, b in zip(res["top_ids"], r["top_ids"])]
        res["top10_set"] = float(np.mean(sets))
        res["top10_overlap"] = float(np.mean([len(set(a) & set(b)) / max(len(b), 1)
                                              for a, b in zip(res["top_ids"], r["top_ids"])]))
        if mine is not None:
            ranks = [len(a) == len(b) and np.allclose(a, b, rtol=1e-9, atol=1e-12)
                     for a, b in zip(mine, r["top_scores"])]
            res["top10_rank"] = float(np.mean(ranks))


def run_corpus(name: str, folder: Path, args: argparse.Namespace, engines: list[str]) -> dict:
    n = int(np.load(folder / "lengths.npy", mmap_mode="r").shape[0])
    ref = reference_of(n, engines, args.rank_bm25_max)
    results: dict[str, dict] = {}
    for engine in [e for e in ORDER if e in engines]:
        if engine == "rank-bm25" and n > args.rank_bm25_max:
            results[engine] = {"engine": engine, "skipped": f"too slow at {n:,} passages (> --rank-bm25-max "
                                                            f"{args.rank_bm25_max:,}); rank-bm25-rs is the reference"}
            continue
        t0 = time.perf_counter()
        results[engine] = run_engine(engine, folder, ref, engines, args.timeout, args.reuse_index)
        state = results[engine].get("error", "ok")
        print(f"  [{name}] {engine}: {state} ({time.perf_counter() - t0:.0f} s)", flush=True)
    if ref in results:
        agreement(results, ref)
    params = {json.dumps(r["okapi_params"], sort_keys=True) for r in results.values() if "okapi_params" in r}
    return {"corpus": name, "stats": corpus_stats(folder), "meta": json.loads((folder / "meta.json").read_text()),
            "reference": ref, "okapi_params": [json.loads(p) for p in sorted(params)], "engines": results}


# ---- report ------------------------------------------------------------------------------------------

def fmt(v, spec: str = ".2f") -> str:
    return "n/a" if v is None else format(v, spec)


def ratio(a, b) -> str:
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def print_corpus(c: dict) -> None:
    s = c["stats"]
    print(f"\n== {c['corpus']}: {s['passages']:,} passages, {s['tokens']:,} tokens, {s['terms_used']:,} terms, "
          f"{s['tokens_per_passage_mean']} tokens/passage, reference {c['reference']}, BM25 {c['okapi_params']}")
    if len(c["okapi_params"]) > 1:
        print("WARNING: qa.bm25's k1/b/epsilon changed during this corpus's run: its comparisons are invalid")
    head = ("engine", "build s", "peak RSS MB", "input MB", "disk MB", "load s", "1st q ms", "p50 ms", "p99 ms",
            "top10 set", "top10 rank", "overlap")
    rows = []
    for name, r in c["engines"].items():
        if "skipped" in r or "error" in r:
            rows.append((name, r.get("skipped") or r.get("error")))
            continue
        rows.append((name, fmt(r.get("build_s")), fmt(r.get("peak_rss_mb"), ".0f"), fmt(r.get("input_rss_mb"), ".0f"),
                     fmt(r.get("disk_mb"), ".1f"), fmt(r.get("load_s"), ".3f"), fmt(r.get("first_query_ms")),
                     fmt(r.get("p50_ms"), ".3f"), fmt(r.get("p99_ms"), ".3f"), fmt(r.get("top10_set"), ".3f"),
                     fmt(r.get("top10_rank"), ".3f"), fmt(r.get("top10_overlap"), ".3f")))
    print_table(head, rows)
    ours = c["engines"].get("ours", {})
    head = ("engine", "p50 / ours", "p99 / ours", "build / ours", "peak RSS / ours", "disk / ours", "load / ours")
    rows = [(name, ratio(r.get("p50_ms"), ours.get("p50_ms")), ratio(r.get("p99_ms"), ours.get("p99_ms")),
             ratio(r.get("build_s"), ours.get("build_s")), ratio(r.get("peak_rss_mb"), ours.get("peak_rss_mb")),
             ratio(r.get("disk_mb"), ours.get("disk_mb")), ratio(r.get("load_s"), ours.get("load_s")))
            for name, r in c["engines"].items() if name != "ours" and "p50_ms" in r]
    if rows and "p50_ms" in ours:
        print_table(head, rows)
    print_notes(c)


def print_notes(c: dict) -> None:
    ref = c["engines"].get(c["reference"] or "", {}).get("reference", {})
    ours = c["engines"].get("ours", {})
    if "ours_max_abs_diff" in ref:
        print(f"ours vs {c['reference']}, every passage of {ref['questions_checked']} questions: max |score diff| "
              f"{ref['ours_max_abs_diff']:.3g}, bit-identical on {ref['ours_identical_questions']} questions")
    if "rs_max_abs_diff" in ref:
        print(f"rank-bm25-rs vs rank-bm25, every passage: max |score diff| {ref['rs_max_abs_diff']:.3g}, "
              f"bit-identical on {ref['rs_identical_questions']}/{ref['questions_checked']} questions")
    if "phases" in ours:
        print("ours build phases: " + ", ".join(f"{k} {v:.0f} MB" if k.endswith("_mb") else f"{k} {v:.2f} s"
                                                for k, v in ours["phases"].items())
              + f"; cold process: import {fmt(ours.get('import_s'), '.3f')} s, serving RSS "
              f"{fmt(ours.get('serve_rss_mb'), '.0f')} MB")
    reused = [name for name, r in c["engines"].items() if r.get("build_reused")]
    if reused:
        print(f"index reused from an earlier run (build figures are that run's): {', '.join(reused)}")
    for name in ("bm25s", "bm25s-robertson"):
        r = c["engines"].get(name, {})
        if "first_query_ms" in r:
            print(f"{name}: first query in a fresh process {r['first_query_ms'] / 1000:.2f} s (numba JIT compile), "
                  f"import {r['import_s']:.2f} s")


def print_table(head: tuple, rows: list[tuple]) -> None:
    widths = [max(len(str(x[i])) for x in [head] + [r for r in rows if len(r) == len(head)]) for i in range(len(head))]
    print("  ".join(h.rjust(w) for h, w in zip(head, widths)))
    for r in rows:
        if len(r) != len(head):
            print(f"{r[0].rjust(widths[0])}  {r[1]}")
        else:
            print("  ".join(str(x).rjust(w) for x, w in zip(r, widths)))


# ---- main --------------------------------------------------------------------------------------------

def machine() -> dict:
    versions = {}
    for p in PEERS:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = None
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpus": os.cpu_count(), "memory_gib": round(mem, 1), "loadavg_start": os.getloadavg(),
            "python": platform.python_version(), "platform": platform.platform(), "versions": versions,
            "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS",
                                                   "NUMBA_NUM_THREADS")}}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000", help="synthetic corpus sizes (passages)")
    ap.add_argument("--queries", type=int, default=200, help="timed questions per corpus (plus 5 warm-up)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--real", default=str(ROOT.parent / "shared" / "corpus"),
                    help="reports folder for the real corpus, or 'none'")
    ap.add_argument("--qa-set", type=Path, default=ROOT / "eval" / "qa_set.jsonl")
    ap.add_argument("--engines", default="ours,rank-bm25,rank-bm25-rs,bm25s,tantivy",
                    help="bm25s means both bm25s (default method) and bm25s-robertson")
    ap.add_argument("--rank-bm25-max", type=int, default=100_000, help="largest corpus rank-bm25 runs on")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per engine subprocess")
    ap.add_argument("--quick", action="store_true", help="10k passages only, no real corpus")
    ap.add_argument("--workdir", type=Path, help="keep corpora and indexes here (default: a temp dir, removed)")
    ap.add_argument("--reuse-index", action="store_true",
                    help="with --workdir: engines with an on-disk index already built there are only queried "
                         "(their build figures are the earlier run's)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--smoke", action="store_true",
                    help="tiny run to check the script works: 1,000 synthetic passages, 20 questions, and a few "
                         "real reports as the real corpus")
    ap.add_argument("--child", choices=("build", "query"), help=argparse.SUPPRESS)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--check-rs", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.smoke:
        args.sizes, args.queries, args.real, args.quick = "1000", 20, str(smoke_reports()), False
    return args


def engine_list(spec: str) -> list[str]:
    names = []
    for e in spec.split(","):
        e = e.strip()
        names += ["bm25s", "bm25s-robertson"] if e == "bm25s" else ["bm25s"] if e == "bm25s-lucene" else [e]
    unknown = [e for e in names if e not in ADAPTERS]
    if unknown:
        raise SystemExit(f"unknown engine(s) {unknown}; known: {', '.join(ADAPTERS)}")
    return names


def installed(engine: str) -> bool:
    """Are the modules the engine's adapter imports there?"""
    return all(find_spec(m) is not None for m in ADAPTERS[engine].modules)


def corpora(args: argparse.Namespace, workdir: Path) -> list[tuple[str, object]]:
    sizes = [10_000] if args.quick else [int(s) for s in args.sizes.split(",") if s.strip()]
    out: list[tuple[str, object]] = []
    for n in sizes:
        params = SynthParams(n_passages=n, n_queries=args.queries, seed=args.seed)
        out.append((f"synthetic-{n}", lambda p=params: synthetic_corpus(p)))
    if not args.quick and args.real.lower() != "none":
        reports = Path(args.real).resolve()
        out.append(("real", lambda: real_corpus(reports, workdir / "real-build", args.qa_set, args.queries,
                                                args.seed)))
    return out


def main() -> None:
    args = parse_args()
    if args.child:
        return child_main(args)
    asked = engine_list(args.engines)
    engines = [e for e in asked if installed(e)]
    skipped = [e for e in asked if e not in engines]
    if skipped:
        print(f"skipped, not installed (pip install -e '.[bench]'): {', '.join(skipped)}", flush=True)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-engines-"))
    t0 = time.perf_counter()
    report = {"machine": machine(), "args": {k: str(v) for k, v in vars(args).items() if not k.startswith("child")},
              "skipped_not_installed": skipped, "corpora": []}
    try:
        for name, make in corpora(args, workdir):
            print(f"[{name}]", flush=True)
            folder = prepare(name, make, workdir)
            report["corpora"].append(run_corpus(name, folder, args, engines))
            if not args.workdir:
                for idx in folder.glob("idx-*"):
                    shutil.rmtree(idx, ignore_errors=True)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    report["total_s"] = time.perf_counter() - t0
    report["machine"]["loadavg_end"] = os.getloadavg()
    for c in report["corpora"]:
        print_corpus(c)
    print(f"\ntotal {report['total_s'] / 60:.1f} min; machine: {report['machine']['cpus']} cpus, "
          f"{report['machine']['memory_gib']} GiB; load average at start {report['machine']['loadavg_start'][0]:.1f}, "
          f"at end {report['machine']['loadavg_end'][0]:.1f}; page cache warm for cold loads")
    if args.json:
        for c in report["corpora"]:
            for r in c["engines"].values():
                for key in ("top_ids", "top_scores"):
                    r.pop(key, None)
                r.get("reference", {}).pop("ref_scores_of", None)
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
