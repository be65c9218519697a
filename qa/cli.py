"""The ``qa`` command: a thin shell over the same functions the web app uses.

Errors are printed as one line and turned into exit codes here, in one place.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import replace
from pathlib import Path

from . import config
from .errors import QAError


def _index_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", type=Path, default=None, help="index folder (default: $QA_INDEX_DIR or index/)")


def _index(args) -> Path:
    return args.index or args.settings.index_dir


def _reports(args) -> Path:
    return args.reports or args.settings.reports_dir


def _reports_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reports", type=Path, default=None,
                   help="folder of report files, searched recursively (default: $QA_REPORTS_DIR or the bundled sample)")


def _fetch_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--delay", type=float, help="seconds between two requests to one site (default 2; "
                   "robots.txt Crawl-delay if longer)")
    p.add_argument("--retries", type=int, help="retries after a 5xx answer or a timeout (default 3)")
    p.add_argument("--timeout", type=float, help="seconds to wait for an answer (default 30)")


def progress_bar():
    """A tqdm bar on a terminal (after half a second), nothing elsewhere: (callback, close)."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(desc="indexing", unit="file", delay=0.5)

    def update(done: int, total: int, name: str) -> None:
        bar.total = total
        bar.n = done
        bar.set_postfix_str(name[-40:], refresh=False)
        bar.refresh()

    return update, bar.close


def run_build(reports: Path, index: Path, incremental: bool, settings: config.Settings, out=None,
              jobs: int = 1) -> None:
    """Build or update the index with a progress bar, and print what the build did."""
    from .build import build_index

    update, close = progress_bar()
    try:
        result = build_index(reports, index, incremental=incremental, on_progress=update, settings=settings,
                             jobs=jobs)
    finally:
        close()
    print("\n".join(result.lines()), file=out or sys.stdout)


def cmd_index(args) -> int:
    run_build(_reports(args), _index(args), args.index_command == "update",
              replace(args.settings, ocr=True) if args.ocr else args.settings, jobs=args.jobs)
    return 0


def cmd_publish(args) -> int:
    from .errors import PublishError
    from .publish import publish

    index, failed = _index(args), 0
    for dest in args.to:
        try:
            done = publish(index, dest, args.settings)
        except QAError as exc:
            if len(args.to) == 1:
                raise
            print(f"not published to {dest}: {exc.message}", file=sys.stderr)
            failed += 1
            continue
        print(done.line())
    if failed:
        raise PublishError(f"{failed} of {len(args.to)} destination(s) were not published to (listed above)")
    return 0


def cmd_watch(args) -> int:
    import logging

    from .watch import watch, watch_feed

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    reports, index = _reports(args), _index(args)
    if args.feed:
        watch_feed(args.feed, reports, index, every=parse_duration(args.every), manners=_manners(args),
                   settings=args.settings)
    else:
        watch(reports, index, settle=args.settle, settings=args.settings)
    return 0


def parse_duration(text: str) -> float:
    """``--every``: "90s", "15m", "1h", "1d" or plain seconds."""
    from .errors import BadRequest
    from .ratelimit import DURATION_UNITS

    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", text.lower())
    if not m or (m.group(2) and m.group(2) not in DURATION_UNITS) or float(m.group(1)) <= 0:
        raise BadRequest(f"--every {text!r} is not a duration: write it like 90s, 15m, 1h or 1d", code="invalid_every")
    return float(m.group(1)) * DURATION_UNITS.get(m.group(2) or "s", 1)


def _manners(args):
    from .fetch import Politeness

    given = {"delay": args.delay, "retries": args.retries, "timeout": args.timeout}
    return Politeness(**{k: v for k, v in given.items() if v is not None},
                      max_bytes=args.settings.limits.max_file_bytes)


def cmd_fetch(args) -> int:
    from .fetch import fetch_feed, parse_since

    result = fetch_feed(args.feed, _reports(args), since=parse_since(args.since), max_items=args.max,
                        manners=_manners(args))
    print("\n".join(result.lines()))
    return 0


def cmd_ask(args) -> int:
    from .answer import ask
    from .index import IndexStore

    body = ask(IndexStore(_index(args)).current(), args.question, args.top_k,
               rerank=args.settings.reranker == "lexical")
    if args.json:
        print(json.dumps(body, ensure_ascii=False))
        return 0
    print(body["answer"])
    for p in body["passages"]:
        c = p["citation"]
        where = ", ".join(x for x in (c["published"], f"p. {c['page']}" if c["page"] else None, c["section"]) if x)
        print(f"\n[{p['rank']}] {c['title']} ({where})  score {p['score']:.2f}\n    {c['url']}")
        print("    " + p["text"].replace("\n", "\n    "))
    return 0


def cmd_eval(args) -> int:
    from .evaluate import run_eval

    result = run_eval(Path(args.dataset), index_dir=_index(args), top_k=args.top_k, exclude_self=args.exclude_self,
                      split=args.split, rerank=args.settings.reranker == "lexical")
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key:>16}  {value:.4f}" if isinstance(value, float) else f"{key:>16}  {value}")
    return 0


def cmd_serve(args) -> int:
    """Build (or update) the index first when none exists or a reports folder was named, then serve."""
    from .index import read_pointer
    from .serve import serve

    index = _index(args)
    if args.reports is not None or read_pointer(index) is None:
        run_build(_reports(args), index, True, args.settings, out=sys.stderr)
    serve(index, args.settings, reports_dir=args.reports, host=args.host, port=args.port, workers=args.workers)
    return 0


def cmd_config(args) -> int:
    rows = config.describe(args.settings)
    if args.json:
        print(json.dumps([{k: row[k] for k in ("name", "env", "type", "default", "value", "help")} for row in rows],
                         ensure_ascii=False, indent=2))
        return 0
    for row in rows:
        value = "(unset)" if row["value"] is None else row["value"]
        print(f"{row['env']:<22} {str(value):<28} {row['source']:<12} {row['help']}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qa", description="Question answering over inspection reports, with citations.")
    sub = p.add_subparsers(dest="command", required=True)

    index = sub.add_parser("index", help="build or update the index")
    isub = index.add_subparsers(dest="index_command", required=True)
    for name, text in (("build", "full rebuild from every report file"),
                       ("update", "re-read only new or changed files, drop removed ones")):
        b = isub.add_parser(name, help=text)
        _reports_arg(b)
        _index_arg(b)
        b.add_argument("--ocr", action="store_true",
                       help="read PDFs without a text layer (scans) by OCR with Tesseract (default: $QA_OCR)")
        b.add_argument("--jobs", type=int, default=1,
                       help="processes that read the report files (default 1); the index is the same for any number")
        b.set_defaults(func=cmd_index)

    pub = isub.add_parser("publish", help="copy the live generation to a replica's index folder, verify it, "
                                            "then move the replica's CURRENT")
    _index_arg(pub)
    pub.add_argument("--to", action="append", required=True, metavar="DEST",
                     help="a replica's index folder: a path, host:/path (ssh) or rsync://host/module; repeat for "
                          "several replicas (each is done even when another fails)")
    pub.set_defaults(func=cmd_publish)

    w = sub.add_parser("watch", help="update the index whenever report files arrive, change or go")
    _reports_arg(w)
    _index_arg(w)
    w.add_argument("--settle", type=float, default=2.0,
                   help="seconds of quiet after a burst of changes before updating (default 2)")
    w.add_argument("--feed", help="instead of watching the folder, fetch this RSS/Atom feed on a schedule "
                   "and update the index when something new arrived")
    w.add_argument("--every", default="1h", help="with --feed: how often to fetch (90s, 15m, 1h, 1d; default 1h)")
    _fetch_args(w)
    w.set_defaults(func=cmd_watch)

    f = sub.add_parser("fetch", help="store the reports a feed's new items link to, with .meta.json sidecars")
    f.add_argument("--feed", required=True, help="address of the RSS or Atom feed")
    _reports_arg(f)
    f.add_argument("--since", help="only items published on or after this date (YYYY-MM-DD)")
    f.add_argument("--max", type=int, default=None, help="read at most N new items")
    _fetch_args(f)
    f.set_defaults(func=cmd_fetch)

    a = sub.add_parser("ask", help="answer one question")
    a.add_argument("question")
    _index_arg(a)
    a.add_argument("--top-k", type=int, default=5)
    a.add_argument("--json", action="store_true", help="print exactly the JSON body of POST /ask")
    a.set_defaults(func=cmd_ask)

    e = sub.add_parser("eval", help="retrieval quality on a QA set (.jsonl) or a BEIR-layout folder")
    e.add_argument("dataset")
    _index_arg(e)
    e.add_argument("--top-k", type=int, default=5)
    e.add_argument("--exclude-self", action="store_true",
                   help="BEIR: never rank a query's own document (ArguAna)")
    e.add_argument("--split", choices=("tune", "test"),
                   help="QA set: only the questions of this split of eval/splits.json (whole reports per split)")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_eval)

    s = sub.add_parser("serve", help="run the web service (chat page and API)")
    _index_arg(s)
    _reports_arg(s)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=5000)
    s.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    s.set_defaults(func=cmd_serve)

    c = sub.add_parser("config", help="every setting (QA_* environment variable): its value and where it came from")
    c.add_argument("--json", action="store_true", help="a JSON list of {name, env, type, default, value, help}")
    c.set_defaults(func=cmd_config)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.settings = config.load()
        return args.func(args)
    except QAError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
