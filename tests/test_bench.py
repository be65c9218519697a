"""Benchmarks that cannot rot: every script under bench/ runs with ``--smoke`` (tiny inputs, seconds) in
a subprocess of its own, exits 0 and prints its figures. Nothing here judges a timing. wrk's scripts
follow tests/test_soak.py: required in CI, skipped with a reason elsewhere when wrk is missing."""
import os
import re
import subprocess
import sys

import pytest

from .conftest import ROOT

BENCH = ROOT / "bench"

# script -> a line of figures its output must hold
SCRIPTS = {
    "ask_latency.py": r"wall_ms_median\s+\d+\.\d\d",
    "ask_snapshot.py": r"(\d+) of \1 responses byte-identical",
    "build_jobs.py": r"--jobs 2 median \d+\.\d\d s: \d+\.\d\d times faster .*same index: yes",
    "chunk_sizes.py": r"(?m)^\s*200\s+1\s+\d+\s+\d\.\d{3}\s+\d\.\d{3}",
    "engines.py": r"ours vs rank-bm25, every passage of \d+ questions: max \|score diff\|",
    "ocr.py": r"\d+ pages in \d+\.\d s = \d+\.\d\d s per page",
    "http_load.py": r"POST /ask warm-up\s+\d+\s+\d+\.\d\d",
    "profile_ask.py": r"POST /ask \d+ us CPU = search \d+ us",
    "profile_ours.py": r"k=50: p50 \d+\.\d{3} ms",
    "quality.py": r"\| MRR@5 \| \d\.\d{3} \|",
    "quality_steps.py": r"\| \+ second stage on \(QA_RERANKER=lexical\) \| \d\.\d{3} \|",
    "soak.py": r"\d+ requests, \d+ requests/s, p50 \d+\.\d\d ms",
    "tune_bm25.py": r"(?m)^\s*2\.0\s+0\.75(\s+\d\.\d{4}){3}(\s+\d\.\d{3}){3}$",
    "update_vs_build.py": r"build_over_update\s+\d",
}
NEEDS_WRK = {"http_load.py", "soak.py"}


def test_every_script_has_a_smoke_run():
    """A new script under bench/ (anything with a ``__main__`` block) must be added to SCRIPTS."""
    scripts = {p.name for p in BENCH.glob("*.py") if re.search(r"^if __name__ == .__main__.:", p.read_text(), re.MULTILINE)}
    assert scripts == set(SCRIPTS)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_smoke(script, tmp_path, request):
    if script in NEEDS_WRK:
        request.getfixturevalue("wrk")
    if script == "ocr.py":
        request.getfixturevalue("tesseract")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "TMPDIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(BENCH / script), "--smoke"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    print(proc.stdout[-3000:])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(SCRIPTS[script], proc.stdout), proc.stdout[-3000:]
