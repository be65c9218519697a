"""Measure passage size and overlap on the QA set: Hit@1/3/5, MRR and words read to the first hit.

    python bench/chunk_sizes.py --reports ../shared/corpus --qa-set eval/qa_set.jsonl [--split tune] [--json OUT]
    python bench/chunk_sizes.py --smoke    # a few reports and their questions, 2 sizes x 2 overlaps

Extraction is cached in a scratch index folder, so each setting only re-chunks and re-indexes.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bm25_data import QA_SET, SHARED, smoke_qa_set, smoke_reports

from qa.build import build_index
from qa.evaluate import eval_qa_set


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reports", type=Path, default=SHARED / "corpus")
    ap.add_argument("--qa-set", type=Path, default=QA_SET)
    ap.add_argument("--sizes", default="40,60,80,100,120,160,200,300")
    ap.add_argument("--overlaps", default="0,1,2")
    ap.add_argument("--split", choices=("tune", "test"), help="one split of the QA set (eval/splits.json)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--smoke", action="store_true", help="a few reports and their questions, 2 sizes x 2 overlaps")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        index = Path(scratch) / "index"
        if args.smoke:
            args.reports, args.sizes, args.overlaps = smoke_reports(), "100,200", "0,1"
            args.qa_set = smoke_qa_set(args.reports, Path(scratch) / "qa_set.jsonl")
        print(f"{'size':>5} {'overlap':>7} {'chunks':>7} {'hit@1':>6} {'hit@3':>6} {'hit@5':>6} {'mrr':>6} "
              f"{'answer':>6} {'found':>6} {'refuse':>6} {'words':>6}")
        for size in map(int, args.sizes.split(",")):
            for overlap in map(int, args.overlaps.split(",")):
                built = build_index(args.reports, index, incremental=True, chunk_size=size, overlap=overlap)
                r = eval_qa_set(args.qa_set, index, split=args.split)
                row = {"size": size, "overlap": overlap, "chunks": built.chunks,
                       **{k: r[k] for k in ("hit@1", "hit@3", "hit@5", "mrr", "answer_hit", "found_when_answerable",
                                            "not_found_when_out_of_scope", "words_to_answer")}}
                rows.append(row)
                print(f"{size:>5} {overlap:>7} {built.chunks:>7} {r['hit@1']:6.3f} {r['hit@3']:6.3f} "
                      f"{r['hit@5']:6.3f} {r['mrr']:6.3f} {r['answer_hit']:6.3f} {r['found_when_answerable']:6.3f} "
                      f"{r['not_found_when_out_of_scope']:6.3f} {r['words_to_answer']:6.0f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
