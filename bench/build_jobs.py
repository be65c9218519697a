"""`qa index build --jobs N` against `--jobs 1` from a cold cache, in the same run, and the same index.

    python bench/build_jobs.py --reports ../shared/corpus [--jobs 2] [--rounds 3] [--json OUT]
    python bench/build_jobs.py --smoke    # the bundled sample, one round: that it runs, not a figure

Each round builds the reports into two fresh index folders (no extraction cache), once with
`--jobs 1` and once with `--jobs N`, in alternating order so that a busy neighbour on a shared machine
weighs on both alike. It prints every time, each round's ratio and the ratio of the median times, and
checks that every build's manifest (the SHA-256 of each file of the generation, the settings and the
counts) equals the first `--jobs 1` build's: the same index, byte for byte, but for its name and date.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.config import SAMPLE_REPORTS  # noqa: E402
from qa.index import GENERATIONS, read_manifest, read_pointer  # noqa: E402


def build(reports: Path, index: Path, jobs: int) -> tuple[float, dict]:
    """Seconds of one `qa index build` in a fresh process, and its generation's manifest without its name and date."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "qa", "index", "build", "--reports", str(reports), "--index", str(index),
                    "--jobs", str(jobs)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    manifest = read_manifest(index / GENERATIONS / read_pointer(index))
    for key in ("generation", "created"):
        manifest.pop(key)
    return seconds, manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reports", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--smoke", action="store_true", help="the bundled sample, one round")
    args = ap.parse_args()
    if args.smoke:
        args.reports, args.rounds = SAMPLE_REPORTS, 1
    times: dict[int, list[float]] = {1: [], args.jobs: []}
    reference, identical = None, True
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as scratch:
        for r in range(args.rounds):
            order = (1, args.jobs) if r % 2 == 0 else (args.jobs, 1)
            for jobs in order:
                seconds, manifest = build(args.reports, Path(scratch) / f"round{r}-jobs{jobs}", jobs)
                reference = reference or manifest
                identical &= manifest == reference
                times[jobs].append(seconds)
                print(f"round {r + 1}  --jobs {jobs}  {seconds:6.2f} s", flush=True)
    ratios = [a / b for a, b in zip(times[1], times[args.jobs])]
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "reports": str(args.reports), "cpus": os.cpu_count(), "jobs": args.jobs, "rounds": args.rounds,
        "seconds": {str(k): [round(x, 2) for x in v] for k, v in times.items()},
        "round_ratios": [round(x, 2) for x in ratios],
        "median_ratio": round(statistics.median(times[1]) / statistics.median(times[args.jobs]), 2),
        "identical_index": identical, "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
    }
    print(f"--jobs 1 median {statistics.median(times[1]):.2f} s, --jobs {args.jobs} median "
          f"{statistics.median(times[args.jobs]):.2f} s: {result['median_ratio']:.2f} times faster "
          f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)}); same index: {'yes' if identical else 'NO'}; "
          f"load average {load_before[0]:.1f} before, {result['loadavg_after'][0]:.1f} after")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    sys.exit(0 if identical else 1)


if __name__ == "__main__":
    main()
