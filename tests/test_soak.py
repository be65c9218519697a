"""Load and soak in CI: gunicorn with 2 workers (the service's own settings) under wrk on 127.0.0.1
for QA_SOAK_SECONDS (default 15) after a warm-up: no error (socket errors, non-2xx), and the workers'
resident memory at the end within 10 % of its value after the warm-up. No timing assertion: the
figures are printed. The full 60 s run is ``python bench/soak.py --duration 60`` (README)."""
import importlib.util
import os
import time

from qa.build import build_index
from qa.config import SAMPLE_REPORTS

from .conftest import ROOT, server_process

SECONDS = int(os.environ.get("QA_SOAK_SECONDS", "15"))
WARMUP = 5


def load_bench():
    spec = importlib.util.spec_from_file_location("qa_bench_soak", ROOT / "bench" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_soak_under_wrk_has_no_errors_and_flat_memory(wrk, tmp_path):
    bench = load_bench()
    index, pidfile, log = tmp_path / "index", tmp_path / "gunicorn.pid", tmp_path / "gunicorn.log"
    build_index(SAMPLE_REPORTS, index)
    gunicorn = bench.gunicorn_command(0, pidfile)
    gunicorn[gunicorn.index("127.0.0.1:0")] = "127.0.0.1:{port}"
    command = ["sh", "-c", 'exec "$@" >>"$QA_SOAK_LOG" 2>&1', "sh", *gunicorn]
    env = {"QA_INDEX_DIR": str(index), "QA_RATE_LIMIT": "0", "QA_SOAK_LOG": str(log)}
    with server_process(command, env) as base:
        deadline = time.monotonic() + 30
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        result = bench.soak(base, int(pidfile.read_text()), SECONDS, WARMUP)
    print(f"\nsoak: 2 workers, wrk -t2 -c16 -d{SECONDS}s after {WARMUP} s of warm-up: {result['requests']} requests, "
          f"{result['rps']:.0f} requests/s, p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, "
          f"errors {result['errors']} ({result['socket_errors']} socket, {result['non_2xx']} non-2xx); "
          f"workers' RSS {result['rss_after_warmup_mb']} MB after warm-up, {result['rss_end_mb']} MB at the end "
          f"({result['rss_growth_pct']:+.2f} %)")
    assert result["workers"] == 2 and result["same_workers"], "a worker died or was replaced during the run"
    assert result["requests"] > 0, result["wrk_output"]
    assert result["errors"] == 0 and result["warmup_errors"] == 0, result["wrk_output"] + log.read_text()[-3000:]
    assert abs(result["rss_growth_pct"]) <= 10, result


def test_wrk_output_is_parsed(tmp_path):
    bench = load_bench()
    out = bench.parse_wrk("""Running 5s test @ http://127.0.0.1:1
  Latency Distribution
     50%  812.00us
     99%    1.20s
  3000 requests in 5.00s, 1.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:    600.10
""")
    assert out == {"requests": 3000, "rps": 600.1, "p50_ms": 0.812, "p99_ms": 1200.0, "socket_errors": 3,
                   "non_2xx": 4, "errors": 7}
