"""Where a POST /ask's CPU goes outside the server: the Flask app called as WSGI, in one process.

    python bench/profile_ask.py --index DIR [--questions eval/qa_set.jsonl | FILE.json] [--rounds 5] [--profile]
    python bench/profile_ask.py --smoke    # a few reports and their questions, one round, with --profile

Each question is asked once with the per-passage caches cold (the first touch: its p50 and p99 are
printed, each request timed on its own), then ``--rounds`` times warm; the CPU time
(process time, so other load on the machine inflates it less than wall time) per request is split
into ``search`` (the BM25 engine: scoring and top-k) and the rest (query parsing, names, folding,
sentences, citations, JSON, Flask). ``GET /health`` through the same app is the framework's floor.
``--profile`` adds a cProfile of everything but ``search`` (whose results are replayed).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ask_snapshot import load_questions  # noqa: E402
from bm25_data import QA_SET, smoke_index  # noqa: E402

import qa.answer  # noqa: E402
from qa.app import create_app  # noqa: E402


def environ(method: str, path: str, body: bytes = b"") -> dict:
    return {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "5000", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "wsgi.multithread": True,
            "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0), "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1:5000", "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path)
    ap.add_argument("--questions", type=Path, default=QA_SET)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="a few reports and their questions, one round, --profile")
    args = ap.parse_args()
    if args.index is None and not args.smoke:
        ap.error("--index is required (or --smoke)")
    with tempfile.TemporaryDirectory() as tmp:
        if args.smoke:
            (args.index, args.questions), args.rounds, args.profile = smoke_index(Path(tmp)), 1, True
        profile_ask(args)


def profile_ask(args: argparse.Namespace) -> None:
    """Time (and with ``args.profile``, profile) every question through the WSGI app."""
    app = create_app(args.index)
    bodies = [json.dumps({"question": q, "history": h}).encode() for q, h in load_questions(args.questions)]

    def call(env: dict) -> None:
        b"".join(app(env, lambda status, headers, exc_info=None: None))

    in_search = [0.0]
    real_search = qa.answer.search

    def timed_search(*a, **k):
        t0 = time.process_time()
        try:
            return real_search(*a, **k)
        finally:
            in_search[0] += time.process_time() - t0

    qa.answer.search = timed_search
    first = []
    for body in bodies:
        t0 = time.process_time()
        call(environ("POST", "/ask", body))
        first.append((time.process_time() - t0) * 1e6)
    first.sort()
    print(f"first touch: POST /ask p50 {first[len(first) // 2]:.0f} us, p99 {first[int(len(first) * 0.99)]:.0f} us CPU "
          f"({len(first)} questions, each asked once with cold per-passage caches)")
    totals, searches = [], []
    for _ in range(args.rounds):
        in_search[0] = 0.0
        t0 = time.process_time()
        for body in bodies:
            call(environ("POST", "/ask", body))
        totals.append((time.process_time() - t0) / len(bodies) * 1e6)
        searches.append(in_search[0] / len(bodies) * 1e6)
    health = []
    for _ in range(args.rounds):
        t0 = time.process_time()
        for _ in range(1000):
            call(environ("GET", "/health"))
        health.append((time.process_time() - t0) / 1000 * 1e6)
    total, search = statistics.median(totals), statistics.median(searches)
    print(f"POST /ask {total:.0f} us CPU = search {search:.0f} us + the rest {total - search:.0f} us; "
          f"GET /health {statistics.median(health):.0f} us (medians of {args.rounds} rounds of {len(bodies)} questions)")
    if args.profile:
        replay: dict = {}

        def replayed_search(index, query, k, filters=None):
            key = (tuple(query.terms), tuple(query.weights or ()), k, repr(filters))
            if key not in replay:
                replay[key] = real_search(index, query, k, filters)
            return replay[key]

        qa.answer.search = replayed_search
        for body in bodies:
            call(environ("POST", "/ask", body))
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.rounds):
            for body in bodies:
                call(environ("POST", "/ask", body))
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
    qa.answer.search = real_search


if __name__ == "__main__":
    main()
