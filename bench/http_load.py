"""HTTP load on the production server: `qa serve` (gunicorn with qa/serve.py's settings, 2 workers) over a
~100k-passage index, wrk on 127.0.0.1 against POST /ask (distinct questions rotating) and, in the same run,
GET /health as the ceiling.

    python bench/http_load.py [--index DIR] [--duration 20] [--warmup 30] [--connections 32] [--threads 2]
                              [--questions 1000] [--files 1000] [--paragraphs 108] [--seed 1] [--workdir DIR]
                              [--json OUT] [--smoke]

Without --index (or when DIR holds no index yet) it writes synthetic reports as .txt files (--files of
--paragraphs paragraphs each: words from the same Zipf-Mandelbrot law as bench/engines.py, passage
lengths drawn from our real passages' distribution, stopwords mixed in as in real prose, sentences of
8-25 words) and indexes them with `qa index build` (timed). Later runs reuse it with --index DIR.
The questions (--questions, all distinct) are drawn from the reports' first paragraphs beside the index.
The warm-up is a run of its own, reported too: it fills the per-passage caches (sentences and their
terms) that the measured run then finds. The server's access and error logs go to server.log in the
work folder; the server always stops at the end (its process group is killed).
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
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bm25_data import ROOT, STOPWORDS, word, write_reports  # noqa: E402

WRK_LUA = r"""
local bodies = {%s}
local i = 0
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 97)
end
function init(args)
  i = tonumber(wrk.thread:get("offset") or 0) or 0
end
function request()
  i = i %% #bodies + 1
  return wrk.format("POST", "/ask", {["Content-Type"] = "application/json"}, bodies[i])
end
"""
WRK_DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"mean_ms":%.3f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, latency.mean / 1000))
end
"""


# ---- the questions ----------------------------------------------------------------------------------

def first_paragraph_words(folder: Path) -> list[list[str]]:
    """The distinct content words of each report's first paragraph, to draw questions from."""
    out = []
    for path in sorted(folder.glob("report-*.txt")):
        with open(path, encoding="utf-8") as f:
            head = f.read(20_000).split("\n\n")
        words = sorted(set(re.findall(r"[a-z]+", head[1].lower())) - set(STOPWORDS)) if len(head) > 1 else []
        if len(words) >= 3:
            out.append(words)
    return out


def questions(samples: list[list[str]], n: int, seed: int) -> list[str]:
    """``n`` distinct questions of 3-6 words: about half from one paragraph's words, the rest common words."""
    rng = np.random.default_rng(seed + 1)
    common = [word(i) for i in range(200)]
    out: dict[str, None] = {}
    while len(out) < n:
        own = samples[int(rng.integers(len(samples)))]
        size = int(rng.integers(3, 7))
        picked = list(rng.choice(own, (size + 1) // 2, replace=False)) + list(rng.choice(common, size // 2))
        rng.shuffle(picked)
        out["What about " + " ".join(picked) + "?"] = None
    return list(out)


def build_index(workdir: Path, args: argparse.Namespace) -> tuple[Path, dict]:
    """Write the reports and run `qa index build`; the index folder and what it took."""
    reports, index = workdir / "reports", workdir / "index"
    t0 = time.perf_counter()
    write_reports(reports, args.files, args.paragraphs, args.seed)
    t1 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "qa", "index", "build", "--reports", str(reports), "--index", str(index)],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    t2 = time.perf_counter()
    mb = sum(f.stat().st_size for f in reports.rglob("*") if f.is_file()) / 2**20
    return index, {"reports_written_s": t1 - t0, "index_build_s": t2 - t1, "reports_mb": mb}


# ---- server and load ---------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index: Path, port: int, log: Path) -> subprocess.Popen:
    """The production server, as `qa serve` runs it (gunicorn with qa/serve.py's settings, access log on)."""
    cmd = [sys.executable, "-m", "qa", "serve", "--index", str(index), "--port", str(port), "--workers", "2"]
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(base: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(base + "/health", timeout=2) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:  # it answers, but cannot serve (e.g. an index of another version)
            raise SystemExit(f"/health answered {exc.code}: {exc.read().decode(errors='replace')[:500]}") from None
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer /health in time")


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's own process group, SIGKILL if it lingers."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def ask_once(base: str, question: str) -> dict:
    req = urllib.request.Request(base + "/ask", data=json.dumps({"question": question}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def server_cpu_s(proc: subprocess.Popen) -> float:
    """CPU seconds used so far by the gunicorn master and its workers."""
    import psutil

    parent = psutil.Process(proc.pid)
    total = 0.0
    for p in [parent] + parent.children(recursive=True):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def run_wrk(url: str, script: Path, args: argparse.Namespace, duration: float, proc: subprocess.Popen) -> dict:
    """One wrk run; its summary from the Lua done() hook plus the server CPU it cost."""
    cpu0 = server_cpu_s(proc)
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration:g}s", "--timeout", "10s",
           "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    cpu = server_cpu_s(proc) - cpu0
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    res = json.loads(line[len("WRKJSON "):])
    res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
    res["non_2xx"] = res.pop("status")
    res["socket_errors"] = sum(res.pop(k) for k in ("connect", "read", "write", "timeout"))
    res["server_cpu_ms_per_request"] = 1000 * cpu / max(res["requests"], 1)
    return res


def write_scripts(workdir: Path, qs: list[str]) -> tuple[Path, Path]:
    bodies = ",\n".join(json.dumps(json.dumps({"question": q}, ensure_ascii=False), ensure_ascii=False) for q in qs)
    ask, health = workdir / "ask.lua", workdir / "health.lua"
    ask.write_text(WRK_LUA % bodies + WRK_DONE)
    health.write_text(WRK_DONE)
    return ask, health


def print_results(res: dict) -> None:
    head = ("endpoint", "requests/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "requests", "non-2xx", "socket err",
            "server CPU ms/req")
    runs = (("POST /ask", res["ask"]), ("GET /health", res["health"]), ("POST /ask warm-up", res["warmup"]))
    rows = [(name, f"{r['rps']:.0f}", f"{r['p50_ms']:.2f}", f"{r['p90_ms']:.2f}", f"{r['p99_ms']:.2f}",
             f"{r['max_ms']:.1f}", str(r["requests"]), str(r["non_2xx"]), str(r["socket_errors"]),
             f"{r['server_cpu_ms_per_request']:.2f}") for name, r in runs]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    print("  ".join(h.rjust(w) for h, w in zip(head, widths)))
    for r in rows:
        print("  ".join(x.rjust(w) for x, w in zip(r, widths)))
    print(f"/ask throughput = {res['ask']['rps'] / res['health']['rps']:.1%} of /health's; "
          f"index: {res['index']['chunks']:,} passages in {res['index']['reports']:,} reports")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, help="index folder to serve (built here first if it holds none)")
    ap.add_argument("--duration", type=float, default=20, help="seconds of load per endpoint")
    ap.add_argument("--warmup", type=float, default=30, help="seconds of load on /ask before measuring")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--paragraphs", type=int, default=108, help="paragraphs per report file (108: ~100k passages)")
    ap.add_argument("--questions", type=int, default=1000, help="distinct questions the /ask load rotates over")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path, help="where a new index and the wrk scripts go (default: temp)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--smoke", action="store_true",
                    help="tiny run (3 reports of 10 paragraphs, 20 questions, 1 s per wrk run) to check the script works")
    args = ap.parse_args()
    if args.smoke:
        args.files, args.paragraphs, args.questions, args.duration, args.warmup, args.connections = 3, 10, 20, 1, 1, 4
    if not 1 <= args.connections <= 256 or not 1 <= args.duration <= 600:
        ap.error("--connections must be 1-256 and --duration 1-600 s")
    return args


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-http-"))
    workdir.mkdir(parents=True, exist_ok=True)
    result: dict = {"args": {k: str(v) for k, v in vars(args).items()}, "cpus": os.cpu_count()}
    index = args.index or workdir / "index"
    if not (index / "CURRENT").exists():
        print(f"building a synthetic index in {index.parent} ...", flush=True)
        index, result["build"] = build_index(index.parent, args)
        print(f"  {result['build']}", flush=True)
    qs = questions(first_paragraph_words(index.parent / "reports"), args.questions, args.seed)
    result["questions"] = {"count": len(qs), "distinct": len(set(qs)), "first": qs[:3]}
    ask_script, health_script = write_scripts(workdir, qs)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = workdir / "server.log"
    proc = start_server(index, port, log)
    try:
        result["index"] = wait_ready(base, proc, log)
        sample = ask_once(base, qs[0])
        result["sample"] = {"question": qs[0], "passages": len(sample["passages"]), "found": sample["found"],
                            "took_ms": sample.get("took_ms")}
        result["loadavg_before"] = os.getloadavg()
        result["warmup"] = run_wrk(base + "/ask", ask_script, args, args.warmup, proc)
        result["ask"] = run_wrk(base + "/ask", ask_script, args, args.duration, proc)
        result["health"] = run_wrk(base + "/health", health_script, args, args.duration, proc)
        result["loadavg_after"] = os.getloadavg()
    finally:
        stop_server(proc)
    print_results(result)
    print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s on 127.0.0.1 (closed loop: latency "
          f"includes queueing at this concurrency); {len(qs):,} distinct questions; load average (1 min) "
          f"{result['loadavg_before'][0]:.1f} before, {result['loadavg_after'][0]:.1f} after")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
