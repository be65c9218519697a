"""k1 and b of BM25 measured on the BEIR collections and on the QA set, in one run.

    python bench/tune_bm25.py [--k1 0.9,1.2,1.5,2.0] [--b 0.4,0.6,0.75,0.9] [--json OUT]
    python bench/tune_bm25.py --smoke      # 2 settings; a tiny synthetic collection in place of each BEIR
                                           # one, a few reports and their questions for the QA set
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bm25_data import QA_SET, SHARED, smoke_beir, smoke_qa_set, smoke_reports

from qa.build import build_index, index_settings
from qa.evaluate import eval_beir, eval_qa_set

COLLECTIONS = (("scifact", False), ("arguana", True), ("cranfield", False))  # (name, exclude the query's own id)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--k1", default="0.9,1.2,1.5,2.0")
    ap.add_argument("--b", default="0.4,0.6,0.75,0.9")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--smoke", action="store_true", help="2 settings on tiny collections, in seconds")
    args = ap.parse_args()
    rows = []
    print(f"{'k1':>4} {'b':>5} {'scifact':>8} {'arguana':>8} {'cranfield':>9} {'qa hit@1':>8} {'qa hit@5':>8} {'qa mrr':>7}")
    with tempfile.TemporaryDirectory() as scratch, tempfile.TemporaryDirectory() as inputs:
        folders = {name: SHARED / "bench" / name for name, _ in COLLECTIONS}
        reports, qa_set = SHARED / "corpus", QA_SET
        if args.smoke:
            args.k1, args.b = "1.2,2.0", "0.75"
            folders = dict.fromkeys(folders, smoke_beir(Path(inputs) / "beir"))
            reports = smoke_reports()
            qa_set = smoke_qa_set(reports, Path(inputs) / "qa_set.jsonl")
        for k1 in map(float, args.k1.split(",")):
            for b in map(float, args.b.split(",")):
                settings = index_settings(k1=k1, b=b)
                row = {"k1": k1, "b": b}
                for name, exclude in COLLECTIONS:
                    row[name] = eval_beir(folders[name], exclude_self=exclude, settings=settings)["ndcg@10"]
                build_index(reports, Path(scratch), incremental=True, k1=k1, b=b)
                qa = eval_qa_set(qa_set, Path(scratch))
                row.update({"qa_hit@1": qa["hit@1"], "qa_hit@5": qa["hit@5"], "qa_mrr": qa["mrr"]})
                rows.append(row)
                print(f"{k1:>4} {b:>5} {row['scifact']:8.4f} {row['arguana']:8.4f} {row['cranfield']:9.4f} "
                      f"{row['qa_hit@1']:8.3f} {row['qa_hit@5']:8.3f} {row['qa_mrr']:7.3f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
