"""Answer quality on one split of the QA set: the service with and without its second stage, beside
a plain baseline, with paired-bootstrap intervals of the differences.

    python bench/quality.py --index DIR [--split test] [--reference TREE] [--json OUT]
    python bench/quality.py --smoke
    python bench/quality.py --index DIR --cross [--depth N --blend W] [--split test]

DIR is an index of ../shared/corpus (``qa index build --reports ../shared/corpus --index DIR``).
``--smoke`` checks that the script works in seconds: it builds an index of a few reports (three of
../shared/corpus, or the bundled sample without it), asks the QA set's questions about them, and takes
this source tree as the ``--reference``.
The baseline is what a first attempt would be: each report's extracted text (the service's own, so
only passage choice differs) cut into plain 200-word windows, scored by rank-bm25's BM25Okapi over
lower-cased word tokens with Snowball stems, the question alone (no history). A passage is a hit
when it comes from the question's report and holds a gold phrase; the ``answer`` is a hit when one
of its quoted sentences does. ``--reference TREE`` adds the service as a source tree of another
version answers (e.g. a ``git worktree`` of an earlier commit, its C modules built): it builds its own
index of the same reports in a subprocess and answers the same questions there; the default service
(second stage off) is then also compared with it. ``--cross`` compares
the cross-encoder of issue 17 (train/cross_model.py, built by ``train/cross.py export``; its manifest's
settings or ``--depth`` and ``--blend``) after the lexical second stage with that stage alone; it
needs onnxruntime and tokenizers (the training environment, not the service's).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.answer import ask  # noqa: E402
from qa.evaluate import SPLITS, answer_is_hit, first_hit, in_split, load_qa_set, normalize_phrase  # noqa: E402
from qa.index import IndexStore  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from bm25_data import QA_SET, SHARED, smoke_index, smoke_reports  # noqa: E402

WINDOW = 200


def baseline(index):
    """A function question -> [(file, window text)] best first, over 200-word windows of every report."""
    from nltk.stem.snowball import SnowballStemmer
    from rank_bm25 import BM25Okapi

    stem = SnowballStemmer("english").stem
    tok = lambda t: [stem(w) for w in re.findall(r"\w+", t.lower())]  # noqa: E731
    windows = []
    for r in index.reports:
        words = index.report_text(r["id"]).split()
        for i in range(0, len(words), WINDOW):
            windows.append((r["file"], " ".join(words[i:i + WINDOW])))
    engine = BM25Okapi([tok(w) for _, w in windows])

    def answer(question: str, k: int = 5):
        scores = engine.get_scores(tok(question))
        return [windows[i] for i in np.argsort(-scores, kind="stable")[:k]]
    return answer


_REFERENCE = """
import json, sys
from pathlib import Path
from qa.answer import ask
from qa.build import build_index
from qa.index import IndexStore
reports, index_dir, items = sys.argv[1], sys.argv[2], json.load(sys.stdin)
build_index(Path(reports), Path(index_dir))
index = IndexStore(Path(index_dir)).current()
files = {r["id"]: r["file"] for r in index.reports}
json.dump({"files": files, "bodies": [ask(index, i["question"], 5, i.get("history") or []) for i in items]}, sys.stdout)
"""


def reference_rows(tree: Path, reports: Path, items) -> list[dict]:
    """``rows`` of the service as the source tree ``tree`` has it, run in a subprocess."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-c", _REFERENCE, str(reports), tmp], input=json.dumps(items),
                             capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONPATH": str(tree.resolve())}, cwd=tree)
    data = json.loads(out.stdout)
    return [_row(item, body, data["files"]) for item, body in zip(items, data["bodies"])]


def _row(item: dict, body: dict, files: dict[str, str]) -> dict:
    return {"id": item["id"], "answerable": item.get("answerable", True), "rank": first_hit(item, body, files),
            "found": body["found"], "answer": body["found"] and answer_is_hit(item, body, files)}


def rows(index, items, rerank: bool | None, then=None) -> list[dict]:
    """Per question: rank of the first hit (None), answer hit, found. ``then``: a further reordering
    after the second stage (the cross-encoder), or None."""
    files = {r["id"]: r["file"] for r in index.reports}
    return [_row(item, ask(index, item["question"], 5, item.get("history") or [], rerank=rerank, then=then),
                 files) for item in items]


def baseline_rows(index, items) -> list[dict]:
    find = baseline(index)
    out = []
    for item in items:
        ranked = find(item["question"])
        gold = [normalize_phrase(g) for g in item.get("gold", [])]
        rank = next((i + 1 for i, (f, w) in enumerate(ranked)
                     if Path(f).name == item.get("file") and any(g in normalize_phrase(w) for g in gold)), None)
        out.append({"id": item["id"], "answerable": item.get("answerable", True), "rank": rank, "found": None,
                    "answer": None})
    return out


def measures(rs: list[dict]) -> dict[str, np.ndarray]:
    """0/1 per answerable question for each measure (and per out-of-scope one for ``refused``)."""
    a = [r for r in rs if r["answerable"]]
    o = [r for r in rs if not r["answerable"]]
    m = {"passage 1": [r["rank"] == 1 for r in a], "passages 1-5": [r["rank"] is not None for r in a],
         "MRR@5": [1 / r["rank"] if r["rank"] else 0.0 for r in a]}
    if a and a[0]["found"] is not None:
        m["answer"] = [bool(r["answer"]) for r in a]
        m["found (answerable)"] = [bool(r["found"]) for r in a]
        m["refused (out of scope)"] = [not r["found"] for r in o]
    return {k: np.asarray(v, dtype=float) for k, v in m.items()}


def bootstrap(a: np.ndarray, b: np.ndarray, rounds: int = 10_000, seed: int = 7) -> tuple[float, float]:
    """95% paired-bootstrap interval of mean(b) - mean(a)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(rounds, len(a)))
    diffs = (b[idx] - a[idx]).mean(axis=1)
    return float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path)
    ap.add_argument("--split", default="test", choices=("tune", "test", "all"))
    ap.add_argument("--reference", type=Path, help="a source tree of another version of the service to compare")
    ap.add_argument("--reports", type=Path, default=SHARED / "corpus",
                    help="the reports DIR was built from (for --reference)")
    ap.add_argument("--qa-set", type=Path, default=QA_SET)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--smoke", action="store_true", help="a few reports and their questions, in seconds")
    ap.add_argument("--cross", action="store_true", help="the cross-encoder against the lexical second stage")
    ap.add_argument("--depth", type=int, help="with --cross: passages it re-scores (default: as shipped)")
    ap.add_argument("--blend", type=float, help="with --cross: weight of the second stage's rank (default: as shipped)")
    args = ap.parse_args(argv)
    if args.index is None and not args.smoke:
        ap.error("--index is required (or --smoke)")
    with tempfile.TemporaryDirectory() as tmp:
        if args.smoke:
            args.index, args.qa_set = smoke_index(Path(tmp))
            args.reports, args.reference = smoke_reports(), args.reference or ROOT
        return compare(args)


def compare(args: argparse.Namespace) -> int:
    """Print (and with ``--json`` write) every system's measures and the second stage's differences."""
    index = IndexStore(args.index).current()
    splits = json.loads(SPLITS.read_text(encoding="utf-8"))
    items = [i for i in load_qa_set(args.qa_set) if in_split(i, None if args.split == "all" else args.split, splits)]
    if args.cross:
        sys.path.insert(0, str(ROOT / "train"))
        from cross_model import Reader, shipped_reader
        reader = shipped_reader()
        reader = Reader(reader.encoder, args.depth or reader.depth,
                        reader.blend if args.blend is None else args.blend)
        on = f"cross-encoder (depth {reader.depth}, blend {reader.blend:g})"
        systems = {"lexical: second stage on": measures(rows(index, items, True)),
                   on: measures(rows(index, items, True, reader))}
    else:
        on = "service, second stage on"
        systems = {"baseline: 200-word windows": measures(baseline_rows(index, items))}
        if args.reference:
            systems[f"service at {args.reference}"] = measures(reference_rows(args.reference, args.reports, items))
        systems["service, second stage off"] = measures(rows(index, items, False))
        systems[on] = measures(rows(index, items, True))
    n_in = sum(i.get("answerable", True) for i in items)
    print(f"split {args.split}: {n_in} answerable and {len(items) - n_in} out-of-scope questions "
          f"({sum(bool(i.get('history')) for i in items)} follow-ups)\n")
    pairs = [(on, k) for k in systems if k != on]  # (b, a): b - a is shown
    if args.reference and not args.cross:  # the default service against the reference, too
        pairs.append(("service, second stage off", f"service at {args.reference}"))
    label = lambda k: "on" if k == on else "off" if k.endswith("off") else k.split(":")[0]  # noqa: E731
    print("| measure | " + " | ".join(systems) + " | "
          + " | ".join(f"{label(b)} - {label(a)} (95% CI)" for b, a in pairs) + " |")
    print("| --- |" + " --- |" * (len(systems) + len(pairs)))
    result = {"split": args.split, "questions": len(items), "answerable": n_in, "systems": {}}
    for m in systems[on]:
        cells = [f"{s[m].mean():.3f}" if m in s else "" for s in systems.values()]
        for b, a in pairs:
            if m in systems[a]:
                lo, hi = bootstrap(systems[a][m], systems[b][m])
                cells.append(f"{systems[b][m].mean() - systems[a][m].mean():+.3f} ({lo:+.3f}..{hi:+.3f})")
            else:
                cells.append("")
        print(f"| {m} | " + " | ".join(cells) + " |")
    for name, s in systems.items():
        result["systems"][name] = {m: float(v.mean()) for m, v in s.items()}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
