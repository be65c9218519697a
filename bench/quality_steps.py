"""The answer-quality round of December 2026, change by change, on one split of the QA set.

    python bench/quality_steps.py --index DIR --reference TREE [--split test]
    python bench/quality_steps.py --smoke

DIR: an index of ../shared/corpus built by this version; TREE: a source tree of f37b95c (the service
before the round, e.g. ``git worktree add /tmp/ref f37b95c`` with its C modules built). Each row
adds one change: the earlier evidence rule and answer extraction are kept here, verbatim, and put in
place of today's functions for the rows before them. Pinned to this round: it breaks, loudly, when
those functions change shape, and is then history (docs/quality.md keeps its output). ``--smoke`` runs
every row in seconds on a few reports (as ``bench/quality.py --smoke``), with this source tree standing
in for f37b95c.
"""
import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bm25_data import QA_SET, ROOT, SHARED, smoke_index, smoke_reports  # noqa: E402
import quality as Q  # noqa: E402

import qa.answer as A  # noqa: E402
from qa.evaluate import SPLITS, in_split, load_qa_set  # noqa: E402
from qa.index import IndexStore  # noqa: E402
from qa.search import passage_sentences, posting  # noqa: E402


def old_matched(index, query, chunk):
    """f37b95c's evidence: the share of the question's own idf the passage holds."""
    total = matched = 0.0
    for t, idf in query.idf.items():
        total += idf
        matched += idf if posting(index, t, chunk) is not None else 0.0
    return matched / total if total > 0 else 0.0

def old_extract(index, query, passages, chunks, max_sentences=3):
    """f37b95c's answer: passages 1-3, every question term counted, led by passage 1."""
    wanted = set(query.tokens)
    sentences = 0
    found = []
    for p, chunk in zip(passages[:3], chunks):
        text = p["text"]
        spans = passage_sentences(index, chunk)
        quotable = []
        for i, (s, e, terms) in enumerate(spans):
            if len(text[s:e].split()) < 6 and i + 1 < len(spans) and "\n" not in text[e:spans[i + 1][0]]:
                e, terms = spans[i + 1][1], terms | spans[i + 1][2]
            piece = text[s:e]
            st, en = s + len(piece) - len(piece.lstrip()), e - (len(piece) - len(piece.rstrip()))
            quotable.append((st, en, terms, len(piece.split())))
        sentences += len(quotable)
        for s, e, terms, n in quotable:
            if not wanted.isdisjoint(terms):
                found.append((p["rank"], text, s, e, wanted & terms, n))
    holding = dict.fromkeys(wanted, 0)
    for f in found:
        for t in f[4]:
            holding[t] += 1
    weight = {t: math.log(1 + sentences / n) for t, n in holding.items() if n}
    best = {}
    for rank, text, s, e, terms, n in found:
        score = sum(weight[t] for t in sorted(terms)) * min(1.0, n / 12)
        if score > best.get(rank, (0.0, ""))[0]:
            best[rank] = (score, text[s:e])
    lead_rank = 1 if 1 in best else min(best, default=None)
    if lead_rank is None:
        s, e, _ = passage_sentences(index, chunks[0])[0]
        return [(passages[0]["text"][s:e], passages[0]["rank"])]
    lead = best[lead_rank][0]
    chosen = [r for r in sorted(best) if r == lead_rank or best[r][0] >= 0.75 * lead][:max_sentences]
    return [(best[r][1], r) for r in chosen]

NEW = (A.matched_weight, A.MIN_EVIDENCE, A.extract_answer, A._lead_first)


def setup(ix, evidence, answer, lead):
    """Today's evidence rule, answer extraction and lead sentence, or f37b95c's, in qa.answer."""
    A.matched_weight, A.MIN_EVIDENCE = (NEW[0], NEW[1]) if evidence else (old_matched, 0.4)
    A.extract_answer = NEW[2] if answer else old_extract
    A._lead_first = NEW[3] if lead else (lambda passages, quoted: (passages, quoted))
    ix.memo.clear()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path)
    ap.add_argument("--reference", type=Path)
    ap.add_argument("--reports", type=Path, default=SHARED / "corpus")
    ap.add_argument("--split", default="test", choices=("tune", "test"))
    ap.add_argument("--smoke", action="store_true", help="a few reports and their questions, this tree as f37b95c")
    args = ap.parse_args()
    if not args.smoke and (args.index is None or args.reference is None):
        ap.error("--index and --reference are required (or --smoke)")
    qa_set = QA_SET
    with tempfile.TemporaryDirectory() as tmp:
        if args.smoke:
            (args.index, qa_set), args.reports, args.reference = smoke_index(Path(tmp)), smoke_reports(), ROOT
            print(f"smoke: {args.reference} stands in for f37b95c")
        steps(IndexStore(args.index).current(), args, qa_set)


def steps(ix, args: argparse.Namespace, qa_set: Path) -> None:
    """Print the table of the round's rows and the intervals of today's default against the earlier one."""
    split = args.split
    splits = json.loads(SPLITS.read_text(encoding="utf-8"))
    items = [i for i in load_qa_set(qa_set) if in_split(i, split, splits)]
    systems = {}
    systems["baseline: 200-word windows"] = Q.measures(Q.baseline_rows(ix, items))
    systems["before (f37b95c)"] = Q.measures(Q.reference_rows(args.reference, args.reports, items))
    for label, flags in (("+ evidence with the conversation, acronyms once, threshold 0.42", (1, 0, 0)),
                         ("+ answer from passages 1-5, names counted once, no title or contact lines", (1, 1, 0)),
                         ("+ the best quoted sentence first, with its passage (the default now)", (1, 1, 1))):
        setup(ix, *flags)
        systems[label] = Q.measures(Q.rows(ix, items, False))
    setup(ix, 1, 1, 1)
    systems["+ second stage on (QA_RERANKER=lexical)"] = Q.measures(Q.rows(ix, items, True))
    names = list(systems["+ second stage on (QA_RERANKER=lexical)"])
    print(f"split {split}: {sum(i['answerable'] for i in items)} answerable, {sum(not i['answerable'] for i in items)} out of scope\n")
    print("| system | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for label, m in systems.items():
        print(f"| {label} | " + " | ".join(f"{m[k].mean():.3f}" if k in m else "" for k in names) + " |")
    before = systems["before (f37b95c)"]
    now = systems["+ the best quoted sentence first, with its passage (the default now)"]
    print()
    for k in names:
        if k in before:
            lo, hi = Q.bootstrap(before[k], now[k])
            print(f"default now - before, {k}: {now[k].mean() - before[k].mean():+.3f} (95% CI {lo:+.3f}..{hi:+.3f})")
    base = systems["baseline: 200-word windows"]
    for k in ("passage 1", "passages 1-5", "MRR@5"):
        lo, hi = Q.bootstrap(base[k], now[k])
        print(f"default now - baseline, {k}: {now[k].mean() - base[k].mean():+.3f} (95% CI {lo:+.3f}..{hi:+.3f})")


if __name__ == "__main__":
    main()
