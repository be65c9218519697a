"""Where our query time goes: cProfile of ``qa.bm25.score`` + ``qa.bm25.top_k`` over the benchmark's
questions, on an index that ``bench/engines.py --workdir DIR`` left behind, and latency against the
number of postings a question touches.

    python bench/profile_ours.py DIR/synthetic-1000000 [--top 12]
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bm25_adapters import ours_load, ours_search  # noqa: E402
from bm25_data import load_queries  # noqa: E402


def postings_touched(index, tokens: list[str]) -> int:
    offsets = index.arrays["offsets"]
    return sum(int(offsets[index.term_ids[t] + 1] - offsets[index.term_ids[t]]) for t in tokens if t in index.term_ids)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path, help="a corpus folder of bench/engines.py --workdir, with idx-ours/")
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args()
    index = ours_load(args.corpus / "idx-ours")
    warmup, timed = load_queries(args.corpus)
    for q in warmup:
        ours_search(index, q, 10)
    lat = []
    for q in timed:
        t0 = time.perf_counter()
        ours_search(index, q, 10)
        lat.append((time.perf_counter() - t0) * 1000)
    touched = np.array([postings_touched(index, q) for q in timed])
    n_docs = len(index.arrays["doc_len"])
    print(f"{len(timed)} questions over {n_docs:,} passages: p50 {np.percentile(lat, 50):.2f} ms, "
          f"p99 {np.percentile(lat, 99):.2f} ms; postings touched p50 {int(np.median(touched)):,}, "
          f"max {touched.max():,} ({touched.max() / n_docs:.2f} x passages)")
    slope = np.polyfit(touched, lat, 1)[0]
    print(f"latency ~ {slope * 1e6:.1f} ms per million postings touched (least squares), "
          f"correlation {np.corrcoef(touched, lat)[0, 1]:.2f}")
    profiler = cProfile.Profile()
    profiler.enable()
    for q in timed:
        ours_search(index, q, 10)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
