"""Load and soak: gunicorn with 2 workers on 127.0.0.1, wrk for a fixed time, worker memory checked.

    python bench/soak.py --duration 60            # the full run (README figures)
    python bench/soak.py --duration 15 --json     # what tests/test_soak.py runs in CI
    python bench/soak.py --smoke                  # 1 s of warm-up, 2 s of load; memory reported, not judged

Builds an index of the bundled sample (or uses --index), starts ``gunicorn -c python:qa.gunicorn_config -w 2``
(the service's own settings, rate limit off), warms it up with wrk, reads the workers' resident memory
(VmRSS from /proc, summed over the worker processes), runs wrk for --duration seconds over a mix of
GET and POST /ask questions, follow-ups and /health, and reads the memory again. Prints requests/s,
latency p50/p99, errors (socket errors and non-2xx responses) and RSS after warm-up and at the end.
Exit 1 when there were errors or the RSS grew by more than --max-growth (10 %). Only 127.0.0.1 is
targeted; wrk stops by itself after the duration.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LUA = r"""
local gets = {
  "/ask?q=how+is+London+CRC+doing+on+public+protection",
  "/ask?q=reducing+reoffending&top_k=10",
  "/ask?q=what+did+inspectors+find+on+unpaid+work&top_k=3",
  "/ask?q=and+on+reducing+reoffending%3F&history=how+is+London+CRC+doing+on+public+protection",
  "/ask?q=recipe+for+a+victoria+sponge",
  "/health",
}
local posts = {
  '{"question": "how is London CRC doing on public protection?", "top_k": 5}',
  '{"question": "and on reducing reoffending?", "history": ["how is London CRC doing on public protection?"]}',
  '{"question": "quality of supervision in London", "top_k": 50}',
}
local n = 0
request = function()
  n = n + 1
  if n % 3 == 0 then
    return wrk.format("POST", "/ask", {["Content-Type"] = "application/json"}, posts[(n / 3) % #posts + 1])
  end
  return wrk.format("GET", gets[n % #gets + 1])
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn_command(port: int, pidfile: Path, workers: int = 2) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "-c", "python:qa.gunicorn_config", "-w", str(workers), "-b", f"127.0.0.1:{port}",
            "--pid", str(pidfile), "qa.app:create_app()"]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (gunicorn's workers under its master)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def workers_rss_mb(master: int) -> tuple[float, list[int]]:
    """Summed VmRSS of the master's worker processes, in MB, and their pids."""
    pids = children(master)
    return sum(rss_kb(p) for p in pids) / 1024, pids


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


def parse_wrk(output: str) -> dict:
    out: dict = {"requests": 0, "rps": 0.0, "p50_ms": None, "p99_ms": None, "socket_errors": 0, "non_2xx": 0}
    if m := re.search(r"(\d+) requests in ([\d.]+)(\w+)", output):
        out["requests"] = int(m.group(1))
    if m := re.search(r"Requests/sec:\s+([\d.]+)", output):
        out["rps"] = float(m.group(1))
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        if m := re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+\w+)", output, re.M):
            out[key] = _ms(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        out["socket_errors"] = sum(int(g) for g in m.groups())
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        out["non_2xx"] = int(m.group(1))
    out["errors"] = out["socket_errors"] + out["non_2xx"]
    return out


def run_wrk(base: str, seconds: int, threads: int = 2, connections: int = 16) -> dict:
    """wrk against ``base`` (127.0.0.1 only) for ``seconds``; its parsed summary plus its raw output."""
    assert base.startswith(("http://127.0.0.1:", "http://localhost:")), "load tests target this machine only"
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(LUA)
        script = f.name
    try:
        proc = subprocess.run([wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
                               "--latency", "-s", script, base], capture_output=True, text=True,
                              timeout=seconds + 60)
    finally:
        os.unlink(script)
    result = parse_wrk(proc.stdout)
    result["output"] = proc.stdout + proc.stderr
    return result


def soak(base: str, master: int, duration: int, warmup: int, threads: int = 2, connections: int = 16) -> dict:
    """Warm up, read the workers' RSS, load for ``duration`` s, read it again."""
    warm = run_wrk(base, warmup, threads, connections)
    time.sleep(1)
    rss_warm, pids_warm = workers_rss_mb(master)
    load = run_wrk(base, duration, threads, connections)
    time.sleep(1)
    rss_end, pids_end = workers_rss_mb(master)
    return {"duration_s": duration, "warmup_s": warmup, "threads": threads, "connections": connections,
            "workers": len(pids_end), "same_workers": pids_warm == pids_end,
            "warmup_errors": warm["errors"], "requests": load["requests"], "rps": load["rps"],
            "p50_ms": load["p50_ms"], "p99_ms": load["p99_ms"], "socket_errors": load["socket_errors"],
            "non_2xx": load["non_2xx"], "errors": load["errors"], "rss_after_warmup_mb": round(rss_warm, 1),
            "rss_end_mb": round(rss_end, 1), "rss_growth_pct": round((rss_end - rss_warm) / rss_warm * 100, 2),
            "wrk_output": load["output"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=60, help="seconds of load after the warm-up (default 60)")
    parser.add_argument("--warmup", type=int, default=10, help="seconds of warm-up load (default 10)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--index", type=Path, help="an existing index (default: build one of the bundled sample)")
    parser.add_argument("--max-growth", type=float, default=10.0, help="allowed RSS growth in %% (default 10)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--smoke", action="store_true",
                        help="1 s of warm-up and 2 s of load, to check the script works: too short to judge memory")
    args = parser.parse_args(argv)
    if args.smoke:
        args.duration, args.warmup, args.max_growth = 2, 1, float("inf")

    sys.path.insert(0, str(ROOT))
    work = Path(tempfile.mkdtemp(prefix="qa-soak-"))
    index = args.index
    if index is None:
        from qa.build import build_index
        from qa.config import SAMPLE_REPORTS

        index = work / "index"
        build_index(SAMPLE_REPORTS, index)
    port, pidfile, log = free_port(), work / "gunicorn.pid", work / "gunicorn.log"
    env = {**os.environ, "QA_INDEX_DIR": str(index), "QA_RATE_LIMIT": "0", "PYTHONPATH": str(ROOT)}
    with open(log, "w") as out:
        server = subprocess.Popen(gunicorn_command(port, pidfile, args.workers), env=env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if urllib.request.urlopen(base + "/health", timeout=2).status == 200 and pidfile.exists():
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                print(log.read_text(), file=sys.stderr)
                return 2
            time.sleep(0.2)
        result = soak(base, int(pidfile.read_text()), args.duration, args.warmup, args.threads, args.connections)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    ok = result["errors"] == 0 and result["rss_growth_pct"] <= args.max_growth
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "wrk_output"}))
    else:
        print(result["wrk_output"])
        print(f"{args.workers} workers, wrk -t{args.threads} -c{args.connections} -d{args.duration}s after "
              f"{args.warmup} s of warm-up on 127.0.0.1:")
        print(f"  {result['requests']} requests, {result['rps']:.0f} requests/s, p50 {result['p50_ms']:.2f} ms, "
              f"p99 {result['p99_ms']:.2f} ms")
        print(f"  errors: {result['errors']} ({result['socket_errors']} socket, {result['non_2xx']} non-2xx)")
        print(f"  workers' RSS: {result['rss_after_warmup_mb']:.1f} MB after warm-up, {result['rss_end_mb']:.1f} MB "
              f"at the end ({result['rss_growth_pct']:+.2f} %)")
        print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
