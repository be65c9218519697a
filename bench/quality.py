"""Each retrieval improvement switched off in turn, measured on the BEIR collections and the QA set.

    python bench/quality.py [--json OUT]

Every row is the full system with one feature removed ("all" is the system as shipped), so the
difference from "all" is what that feature is worth. Features are switched off by replacing the
function that implements them for the duration of the row; nothing here changes the shipped code.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
from pathlib import Path

from qa import acronyms, answer, bm25, build, search, text
from qa.build import build_index, index_settings
from qa.evaluate import eval_beir, eval_qa_set

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"


@contextlib.contextmanager
def patched(obj, name, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def _no_compounds(t: str) -> list[str]:
    return [text._stem(w) for w in text.words(t) if w not in text.STOPWORDS]


VARIANTS = {
    "all": [],
    "no joined hyphen compounds": [(m, "tokenize", _no_compounds) for m in (text, search, answer, acronyms)],
    "no title/heading terms": [(build, "context_tokens", lambda *a: [])],
    "no acronyms": [(search, "expansions", lambda index, tokens: [])],
    "no names rule": [(answer, "prefer_named", lambda index, query, hits: (hits, bool(hits)))],
    "no duplicate folding": [(answer, "fold_duplicates", lambda index, hits, k: [(h, []) for h in hits[:k]])],
    "no history (follow-ups)": [(search, "HISTORY_WEIGHTS", (0.0, 0.0))],
    "k1 1.5 (rank-bm25 default)": [],  # handled by k1 below
}


def run(name: str, scratch: Path) -> dict:
    k1 = 1.5 if name.startswith("k1 1.5") else bm25.K1
    with contextlib.ExitStack() as stack:
        for obj, attr, value in VARIANTS[name]:
            stack.enter_context(patched(obj, attr, value))
        settings = index_settings(k1=k1)
        row = {"variant": name}
        for collection, exclude in (("scifact", False), ("arguana", True)):
            row[collection] = eval_beir(SHARED / "bench" / collection, exclude_self=exclude, settings=settings)["ndcg@10"]
        index = scratch / name.replace(" ", "-").replace("/", "-")
        build_index(SHARED / "corpus", index, k1=k1)  # a full build: tokenizer variants must not reuse caches
        qa = eval_qa_set(Path("eval/qa_set.jsonl"), index)
        row.update({k: qa[k] for k in ("hit@1", "hit@5", "mrr", "follow_up_hit@5", "found_when_answerable",
                                       "not_found_when_out_of_scope")})
        return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args()
    rows = []
    print(f"{'variant':30} {'scifact':>8} {'arguana':>8} {'hit@1':>6} {'hit@5':>6} {'mrr':>6} {'follow':>6} "
          f"{'found':>6} {'oos':>6}")
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.variants.split(","):
            row = run(name, Path(scratch))
            rows.append(row)
            print(f"{name:30} {row['scifact']:8.4f} {row['arguana']:8.4f} {row['hit@1']:6.3f} {row['hit@5']:6.3f} "
                  f"{row['mrr']:6.3f} {row['follow_up_hit@5']:6.3f} {row['found_when_answerable']:6.3f} {row['not_found_when_out_of_scope']:6.3f}",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
