"""The client side of deploy/cluster-test: a load of /ask requests through the load balancer, and
waits on health endpoints. Standard library only; no request is retried here (nginx does that).

    cluster_client.py wait URL... [--timeout S]                 until every URL's /health answers 200
    cluster_client.py version URL... --expect V [--timeout S]   until every URL's /health names V; prints seconds
    cluster_client.py load URL --status FILE --stop FILE [--threads N] [--max-requests N] [--max-seconds S]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import threading
import time
from urllib.parse import quote, urlsplit

QUESTIONS = [
    "how is London CRC doing on public protection?",
    "what did inspectors find about rehabilitative work?",
    "was the quality of public protection work acceptable?",
    "how many offenders does London CRC supervise?",
    "what should the CRC improve?",
    "what did the chief inspector say?",
    "is unpaid work well organised?",
    "what about reducing reoffending?",
]


def get_json(url: str, timeout: float = 5.0) -> tuple[int, dict]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/")
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def health(base: str) -> dict | None:
    try:
        status, body = get_json(base.rstrip("/") + "/health")
    except (OSError, ValueError, http.client.HTTPException):
        return None
    return body if status == 200 else None


def wait(urls: list[str], timeout: float, expect: str | None = None) -> float:
    """Seconds until every URL's /health answers (naming ``expect`` when given); exit 1 on time-out."""
    t0 = time.monotonic()
    pending = list(urls)
    while pending:
        pending = [u for u in pending if not ((h := health(u)) and (expect is None or h.get("index_version") == expect))]
        if not pending:
            break
        if time.monotonic() - t0 > timeout:
            print(f"not ready after {timeout:g} s: {' '.join(pending)}", file=sys.stderr)
            sys.exit(1)
        time.sleep(0.1)
    return time.monotonic() - t0


class Load:
    """Threads that each keep one connection to the balancer and alternate POST and GET /ask."""

    def __init__(self, base: str, status_file: str, stop_file: str, max_requests: int, max_seconds: float):
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port or 80
        self.status_file, self.stop_file = status_file, stop_file
        self.max_requests, self.deadline = max_requests, time.monotonic() + max_seconds
        self.lock = threading.Lock()
        self.requests = self.failed = 0
        self.versions: dict[str, int] = {}  # in the order first seen
        self.errors: list[str] = []

    def done(self) -> bool:
        return (os.path.exists(self.stop_file) or self.requests >= self.max_requests
                or time.monotonic() > self.deadline)

    def one(self, conn: http.client.HTTPConnection, n: int) -> str:
        """One /ask; the index_version it names (raises on anything but a 200 JSON answer)."""
        q = QUESTIONS[n % len(QUESTIONS)]
        if n % 2:
            conn.request("POST", "/ask", body=json.dumps({"question": q, "top_k": 3}),
                         headers={"Content-Type": "application/json"})
        else:
            conn.request("GET", f"/ask?q={quote(q)}&top_k=3")
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"status {resp.status}: {body[:200]!r}")
        return json.loads(body)["index_version"]

    def worker(self, k: int) -> None:
        conn, n = None, k
        while not self.done():
            conn = conn or http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                version, error = self.one(conn, n), None
            except (OSError, ValueError, KeyError, RuntimeError, http.client.HTTPException) as exc:
                version, error = None, f"{type(exc).__name__}: {exc}"
                conn.close()
                conn = None
            n += 1
            with self.lock:
                self.requests += 1
                if error:
                    self.failed += 1
                    self.errors.append(error)
                else:
                    self.versions[version] = self.versions.get(version, 0) + 1

    def summary(self) -> dict:
        with self.lock:
            return {"requests": self.requests, "failed": self.failed, "versions": dict(self.versions),
                    "errors": self.errors[:10]}

    def write_status(self) -> None:
        tmp = self.status_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.summary(), f)
        os.replace(tmp, self.status_file)

    def run(self, threads: int) -> dict:
        pool = [threading.Thread(target=self.worker, args=(k,), daemon=True) for k in range(threads)]
        for t in pool:
            t.start()
        while any(t.is_alive() for t in pool):
            self.write_status()
            time.sleep(0.1)
        self.write_status()
        return self.summary()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("wait")
    w.add_argument("urls", nargs="+")
    w.add_argument("--timeout", type=float, default=120)
    v = sub.add_parser("version")
    v.add_argument("urls", nargs="+")
    v.add_argument("--expect", required=True)
    v.add_argument("--timeout", type=float, default=30)
    ld = sub.add_parser("load")
    ld.add_argument("url")
    ld.add_argument("--status", required=True)
    ld.add_argument("--stop", required=True)
    ld.add_argument("--threads", type=int, default=6)
    ld.add_argument("--max-requests", type=int, default=50_000)
    ld.add_argument("--max-seconds", type=float, default=150)
    args = ap.parse_args()
    if args.cmd == "wait":
        wait(args.urls, args.timeout)
    elif args.cmd == "version":
        print(f"{wait(args.urls, args.timeout, args.expect):.2f}")
    else:
        print(json.dumps(Load(args.url, args.status, args.stop, args.max_requests, args.max_seconds).run(args.threads)))


if __name__ == "__main__":
    main()
