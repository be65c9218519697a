"""Time of `qa index update` after one new report against a full `qa index build`, same run.

    python bench/update_vs_build.py --reports ../shared/corpus [--json OUT]
    python bench/update_vs_build.py --smoke    # the bundled sample, a small synthetic report arrives

The reports are copied to a scratch folder without one PDF; after a full build, that PDF is added
and the update is timed; then a full rebuild of the same folder is timed for the ratio.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bm25_data import SHARED, write_reports

from qa.config import SAMPLE_REPORTS


def timed(*args: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "qa", *args], capture_output=True, text=True, check=True)
    return time.perf_counter() - t0, r.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reports", type=Path, default=SHARED / "corpus")
    ap.add_argument("--new", default="reports/ofsted_139305__5.PDF", help="the report that arrives (relative path)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--smoke", action="store_true", help="the bundled sample, a small synthetic report arrives")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        if args.smoke:
            args.reports, args.new = Path(scratch) / "given", "report-00000.txt"
            write_reports(args.reports, files=1, paragraphs=20, seed=1)
            for f in SAMPLE_REPORTS.iterdir():
                shutil.copyfile(f, args.reports / f.name)
        reports, index = Path(scratch) / "reports", Path(scratch) / "index"
        shutil.copytree(args.reports, reports)
        new = reports / args.new
        held = Path(scratch) / new.name
        shutil.move(new, held)
        timed("index", "build", "--reports", str(reports), "--index", str(index))
        shutil.move(held, new)
        update_s, out = timed("index", "update", "--reports", str(reports), "--index", str(index))
        extracted = next(line for line in out.splitlines() if line.startswith("extracted:"))
        build_s, _ = timed("index", "build", "--reports", str(reports), "--index", str(index))
    result = {"update_seconds": round(update_s, 2), "build_seconds": round(build_s, 2),
              "build_over_update": round(build_s / update_s, 1), "update_read": extracted}
    for k, v in result.items():
        print(f"{k:>18}  {v}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
