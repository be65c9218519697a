"""Record the exact /ask bodies for a set of questions, or compare them with an earlier record.

    python bench/ask_snapshot.py record OUT.jsonl --index DIR [--questions eval/qa_set.jsonl | FILE.json]
    python bench/ask_snapshot.py diff OLD.jsonl NEW.jsonl
    python bench/ask_snapshot.py --smoke   # records a few reports' questions twice and diffs the records

Used to check that a change to the request path keeps every answer byte for byte: each question is sent
through the Flask test client as POST /ask (default top_k, with its history), POST /ask with top_k 20,
and GET /ask?q=...; the record keeps the status, every header (Content-Length only checked against the
body: it follows took_ms's digits) and the body's bytes with only the ``took_ms`` value masked (it is a
timing). Records are made with PYTHONHASHSEED=0 (the script restarts itself so): where two sentences of
an answer score the same, which one is quoted depends on the order of a set of strings, so two
processes with other hash seeds can differ on such a question (one of the QA set's does).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

from bm25_data import QA_SET, smoke_index

TOOK = re.compile(rb'"took_ms":\s*[0-9.eE+-]+')


def load_questions(path: Path) -> list[tuple[str, list[str]]]:
    """(question, history) pairs from a QA-set .jsonl or a JSON list of question strings."""
    if path.suffix == ".jsonl":
        items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [(i["question"], i.get("history") or []) for i in items]
    return [(q, []) for q in json.loads(path.read_text(encoding="utf-8"))]


def record(out: Path, index: Path, questions: Path) -> int:
    """Write one line per request: which request, status, Content-Type and the masked body."""
    from qa.app import create_app

    client = create_app(index).test_client()
    n = 0
    with open(out, "w", encoding="utf-8") as f:
        for question, history in load_questions(questions):
            requests = [
                ("POST", {"question": question, "history": history}),
                ("POST20", {"question": question, "history": history, "top_k": 20}),
                ("GET", None),
            ]
            for kind, body in requests:
                if body is None:
                    r = client.get("/ask", query_string={"q": question})
                else:
                    r = client.post("/ask", json=body)
                data = r.get_data()
                headers = [(k, v) for k, v in r.headers.items() if k != "Content-Length"]
                if r.headers.get("Content-Length") != str(len(data)):
                    headers.append(("Content-Length", "does not match the body"))
                masked = TOOK.sub(b'"took_ms":0', data)
                f.write(json.dumps({"kind": kind, "question": question, "status": r.status_code,
                                    "headers": headers, "body": masked.decode("utf-8")}, ensure_ascii=False) + "\n")
                n += 1
    return n


def diff(old: Path, new: Path) -> int:
    """Number of requests whose record differs (0: byte-identical)."""
    a = old.read_text(encoding="utf-8").splitlines()
    b = new.read_text(encoding="utf-8").splitlines()
    if len(a) != len(b):
        print(f"{old} has {len(a)} records, {new} has {len(b)}")
        return max(len(a), len(b))
    bad = [(x, y) for x, y in zip(a, b) if x != y]
    for x, _ in bad[:5]:
        rec = json.loads(x)
        print(f"differs: {rec['kind']} {rec['question']!r}")
    print(f"{len(a) - len(bad)} of {len(a)} responses byte-identical")
    return len(bad)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="record a few reports' questions twice, diff the records")
    sub = ap.add_subparsers(dest="cmd")
    rec = sub.add_parser("record")
    rec.add_argument("out", type=Path)
    rec.add_argument("--index", type=Path, required=True)
    rec.add_argument("--questions", type=Path, default=QA_SET)
    dif = sub.add_parser("diff")
    dif.add_argument("old", type=Path)
    dif.add_argument("new", type=Path)
    args = ap.parse_args()
    if args.cmd is None and not args.smoke:
        ap.error("record, diff or --smoke")
    if args.cmd != "diff" and os.environ.get("PYTHONHASHSEED") != "0":
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})
    if args.smoke:
        with tempfile.TemporaryDirectory() as tmp:
            index, questions = smoke_index(Path(tmp))
            old, new = Path(tmp) / "old.jsonl", Path(tmp) / "new.jsonl"
            print(f"recorded {record(old, index, questions)} and {record(new, index, questions)} responses")
            sys.exit(1 if diff(old, new) else 0)
    if args.cmd == "record":
        print(f"recorded {record(args.out, args.index, args.questions)} responses in {args.out}")
    else:
        sys.exit(1 if diff(args.old, args.new) else 0)


if __name__ == "__main__":
    main()
