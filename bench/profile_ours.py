"""Where our query time goes, on an index that ``bench/engines.py --workdir DIR`` left behind: latency
at k 10 and 50 (median of --repeat runs per question, so other processes' bursts drop out), the
Python wrapper's share, the first-use scan of each term's largest impact, and latency against the
postings a question touches, with the slowest questions' terms.

    python bench/profile_ours.py DIR/synthetic-1000000 [--repeat 5] [--slowest 5]
    python bench/profile_ours.py --smoke   # on 1,000 synthetic passages it builds itself

For a profile inside the C loop: ``perf record -g python bench/profile_ours.py DIR/...`` then
``perf annotate top_k``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bm25_adapters import ours_build, ours_load  # noqa: E402
from bm25_data import SynthParams, load_passages, load_queries, save_corpus, synthetic_corpus  # noqa: E402

from qa import _query, bm25  # noqa: E402


def timed_ms(fn, repeat: int) -> float:
    """Median wall time of ``fn()`` over ``repeat`` runs, in ms."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - t0) / 1e6)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path, nargs="?", help="a corpus folder of bench/engines.py --workdir, with idx-ours/")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--slowest", type=int, default=5)
    ap.add_argument("--smoke", action="store_true", help="on 1,000 synthetic passages built here, one run each")
    args = ap.parse_args()
    if args.corpus is None and not args.smoke:
        ap.error("a corpus folder is required (or --smoke)")
    with tempfile.TemporaryDirectory() as tmp:
        if args.smoke:
            args.corpus, args.repeat = Path(tmp), 1
            save_corpus(synthetic_corpus(SynthParams(n_passages=1000, n_queries=20)), args.corpus)
            ours_build(load_passages(args.corpus), args.corpus / "idx-ours", {})
        profile(args)


def profile(args: argparse.Namespace) -> None:
    """Print where the query time goes on ``args.corpus``'s index."""
    index = ours_load(args.corpus / "idx-ours")
    a = index.arrays
    offsets, doc_ids, impacts = a["offsets"], a["doc_ids"], a["impacts"]
    _, questions = load_queries(args.corpus)
    terms = [[index.term_ids[t] for t in q if t in index.term_ids] for q in questions]
    n_docs = len(a["doc_len"])

    cold = [timed_ms(lambda q=q: _query.term_bounds(offsets, impacts, q), 1) for q in terms]
    bounds = index.bounds
    for q in terms:
        bm25.top_k(offsets, doc_ids, impacts, q, 10, bounds=bounds)
    touched = np.array([sum(int(offsets[t + 1] - offsets[t]) for t in q) for q in terms])
    print(f"{len(terms)} questions over {n_docs:,} passages; postings touched p50 {int(np.median(touched)):,}, "
          f"max {touched.max():,} ({touched.max() / n_docs:.2f} x passages)")
    print(f"first use of a question's terms (term_bounds scan, cached afterwards): p50 {np.median(cold):.3f} ms, "
          f"max {max(cold):.2f} ms")
    for k in (10, 50):
        lat = np.array([timed_ms(lambda q=q: bm25.top_k(offsets, doc_ids, impacts, q, k, bounds=bounds), args.repeat)
                        for q in terms])
        inner = np.array([timed_ms(lambda q=q: _query.top_k(offsets, doc_ids, impacts, q, None,
                                                            [bounds[t] for t in q], k), args.repeat) for q in terms])
        print(f"k={k}: p50 {np.percentile(lat, 50):.3f} ms, p90 {np.percentile(lat, 90):.3f}, "
              f"p99 {np.percentile(lat, 99):.3f}, max {lat.max():.3f}; the C call alone p50 "
              f"{np.percentile(inner, 50):.3f} ms (the wrapper adds {np.median(lat - inner) * 1000:.0f} us)")
        slope = np.polyfit(touched, lat, 1)[0]
        print(f"  latency ~ {slope * 1e6:.2f} ms per million postings touched (least squares), correlation "
              f"{np.corrcoef(touched, lat)[0, 1]:.2f}")
        for i in np.argsort(-lat)[:args.slowest]:
            described = ", ".join(f"{int(offsets[t + 1] - offsets[t]):,} postings, max {bounds[t][0]:.2f}"
                                  for t in terms[i])
            print(f"  {lat[i]:.2f} ms: {described}")


if __name__ == "__main__":
    main()
