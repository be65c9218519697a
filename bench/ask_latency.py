"""Median and p95 latency of /ask over real HTTP against `qa serve` (gunicorn), and the server's own
`took_ms`, for every question of the QA set (repeated ``--rounds`` times).

    python bench/ask_latency.py --index /tmp/corpus-index [--rounds 5] [--json OUT]
    python bench/ask_latency.py --smoke    # a few reports and their questions, one round
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from bm25_data import QA_SET, smoke_index


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--index", type=Path)
    ap.add_argument("--qa-set", type=Path, default=QA_SET)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--smoke", action="store_true", help="a few reports and their questions, one round")
    args = ap.parse_args()
    if args.index is None and not args.smoke:
        ap.error("--index is required (or --smoke)")
    with tempfile.TemporaryDirectory() as tmp:
        if args.smoke:
            (args.index, args.qa_set), args.rounds = smoke_index(Path(tmp)), 1
        measure(args)


def measure(args: argparse.Namespace) -> None:
    """Start `qa serve` on a free port, ask every question ``args.rounds`` times, print the figures."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "qa", "serve", "--index", str(args.index), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                requests.get(base + "/health", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        items = [json.loads(line) for line in args.qa_set.read_text().splitlines() if line.strip()]
        session = requests.Session()
        for item in items:  # warm-up: every worker loads the index
            session.post(base + "/ask", json={"question": item["question"]})
        wall, server = [], []
        for _ in range(args.rounds):
            for item in items:
                t0 = time.perf_counter()
                r = session.post(base + "/ask", json={"question": item["question"], "history": item["history"]})
                wall.append((time.perf_counter() - t0) * 1000)
                server.append(r.json()["took_ms"])
        q = lambda xs, p: sorted(xs)[int(p * (len(xs) - 1))]
        result = {"requests": len(wall), "wall_ms_median": statistics.median(wall), "wall_ms_p95": q(wall, 0.95),
                  "server_ms_median": statistics.median(server), "server_ms_p95": q(server, 0.95)}
        for k, v in result.items():
            print(f"{k:>18}  {v:.2f}" if isinstance(v, float) else f"{k:>18}  {v}")
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()


if __name__ == "__main__":
    main()
