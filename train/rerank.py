"""Learn the second stage's weights (qa/rerank_weights.json) on the tuning split of the QA set.

    python train/rerank.py --index DIR [--out qa/rerank_weights.json] [--c 0.1] [--features forward|all|A,B,...]
    python train/rerank.py --index DIR --ablation      # each feature group's worth, on the test split

DIR is an index of ../shared/corpus (``qa index build --reports ../shared/corpus --index DIR``).

For each answerable question of the tuning split, the engine's RERANK_CANDIDATES best passages are
candidates; those from the question's report holding a gold phrase are positives. Every
(positive, negative) pair of a question gives one difference of standardised feature rows, and an
L2-regularised logistic regression without intercept is fitted to them (each question weighs the
same, however many pairs it has). Which features take part is chosen by greedy forward selection,
from the engine's score up, on top-1 precision cross-validated with whole reports held out (FOLDS);
the test split is never read. Deterministic: no sampling, no random start.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.answer import RERANK_CANDIDATES  # noqa: E402
from qa.evaluate import SPLITS, eval_qa_set, in_split, is_hit, load_qa_set  # noqa: E402
from qa.index import IndexStore  # noqa: E402
from qa.rerank import FEATURES, WEIGHTS_FILE, Model, features  # noqa: E402
from qa.search import make_query, search  # noqa: E402

QA_SET = ROOT / "eval" / "qa_set.jsonl"

# Reports of the tuning split held out together (a report with its response) in cross-validation.
FOLDS = [{"Behaviour-Change-Report-Recomm.pdf", "Behaviour-Change-Response.pdf"},
         {"UK-Covid-19-Inquiry-Module-1-Recomm.pdf", "UK-Covid-19_Inquiry_Module_1_Response.pdf"},
         {"HMPPS-Management-of-Security-at-Visits-Policy-Framework-Closed-Estate.pdf", "HMPPS-Visits-Annex-A-ID.pdf",
          "HMPPS-Visits-Annex-H-Dresscode.pdf"},
         {"ofsted_103980__5.PDF", "monthly_knife_crime_summary_july2015.pdf"}]

# Feature groups for the ablation: each is left out in turn.
GROUPS = {
    "engine score and rank": ["bm25", "rank"],
    "share of the question's weight matched": ["coverage", "coverage_local", "topic", "topic_bm25"],
    "best sentence and two-sentence window": ["sentence", "window", "sentence_local", "window_local",
                                              "topic_sentence", "topic_window"],
    "proximity (term pairs side by side)": ["bigrams"],
    "section heading and report title": ["heading", "title"],
    "report-level evidence": ["report", "report_hits"],
    "boilerplate likelihood": ["prose", "short_lines", "digits", "boilerplate", "capitals", "function_words",
                               "opening", "length"],
    "answer-type cues": ["reply", "response_doc", "number"],
}

Group = tuple[np.ndarray, np.ndarray, str]  # feature rows, labels, the question's report file


def candidate_rows(index, items: list[dict]) -> list[Group]:
    """(feature rows, labels, report file) for each answerable question with a positive and a negative."""
    files = {r["id"]: r["file"] for r in index.reports}
    out = []
    for item in items:
        if not item.get("answerable", True):
            continue
        query = make_query(index, item["question"], item.get("history") or [])
        hits = search(index, query, RERANK_CANDIDATES)
        labels = np.array([is_hit(item, {"text": index.chunk_text(h.chunk),
                                         "citation": {"report_id": index.reports[int(index.chunk_report[h.chunk])]["id"]}},
                                  files) for h in hits], dtype=bool)
        if labels.any() and not labels.all():
            out.append((features(index, query, hits), labels, item["file"]))
    return out


def fit(groups: list[Group], c: float, use: set[str]) -> Model:
    """Pairwise logistic regression over the standardised features in ``use`` (the others weigh 0)."""
    keep = np.array([f in use for f in FEATURES], dtype=float)
    x_all = np.vstack([x for x, _, _ in groups])
    mean, scale = x_all.mean(axis=0), x_all.std(axis=0)
    scale[scale == 0] = 1.0
    diffs, sample_w = [], []
    for x, y, _ in groups:
        z = (x - mean) / scale * keep
        d = (z[y][:, None, :] - z[~y][None, :, :]).reshape(-1, z.shape[1])
        diffs.append(d)
        sample_w.append(np.full(len(d), 1.0 / len(d)))
    d, sw = np.vstack(diffs), np.concatenate(sample_w)
    w = np.zeros(d.shape[1])
    lam = 1.0 / (c * len(groups))
    for _ in range(100):  # Newton's method: the loss is convex and smooth
        p = 1.0 / (1.0 + np.exp(-(d @ w)))
        grad = -(d * (sw * (1 - p))[:, None]).sum(axis=0) / len(groups) + lam * w
        hess = (d * (sw * p * (1 - p))[:, None]).T @ d / len(groups) + lam * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return Model(np.where(keep > 0, mean, 0.0), np.where(keep > 0, scale, 1.0), w * keep)


def top_is_positive(model: Model | None, groups: list[Group]) -> float:
    """Share of questions whose top candidate is a positive (the engine's order when ``model`` is None)."""
    good = sum(bool(y[0]) if model is None else bool(y[int(np.argmax(model.score(x)))]) for x, y, _ in groups)
    return good / max(len(groups), 1)


def cross_validated(groups: list[Group], c: float, use: set[str]) -> float:
    """Top-1 precision with each fold of reports held out of the fit in turn."""
    good = n = 0
    for fold in FOLDS:
        held = [g for g in groups if g[2] in fold]
        good += top_is_positive(fit([g for g in groups if g[2] not in fold], c, use), held) * len(held)
        n += len(held)
    return good / max(n, 1)


def forward_selection(groups: list[Group], c: float) -> list[str]:
    """Features added one at a time, each the one that raises the cross-validated precision most,
    until none raises it."""
    chosen, best = ["bm25"], cross_validated(groups, c, {"bm25"})
    while True:
        scored = [(cross_validated(groups, c, set(chosen) | {f}), f) for f in FEATURES if f not in chosen]
        if not scored or max(scored)[0] <= best:
            return chosen
        best, f = max(scored)
        chosen.append(f)
        print(f"  + {f}: cross-validated {best:.3f}")


def ablation(index, tune: list[Group], c: float) -> None:
    """The model with all features, then with each group left out: cross-validated on the tuning
    split, and passage 1, passages 1-5 and the answer on the test split."""
    print("| features | cross-validated (tuning) | passage 1 (test) | passages 1-5 (test) | answer (test) |")
    print("| --- | --- | --- | --- | --- |")
    rows = [("none (the engine's order)", None)] + [("all", set(FEATURES))] + [
        (f"all but {name}", set(FEATURES) - set(group)) for name, group in GROUPS.items()]
    for label, use in rows:
        cv = top_is_positive(None, tune) if use is None else cross_validated(tune, c, use)
        test = eval_qa_set(QA_SET, index.path.parent.parent, split="test",
                           rerank=False if use is None else fit(tune, c, use))
        print(f"| {label} | {cv:.3f} | {test['hit@1']:.3f} | {test['hit@5']:.3f} | {test['answer_hit']:.3f} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", required=True, type=Path)
    ap.add_argument("--out", type=Path, default=WEIGHTS_FILE)
    ap.add_argument("--c", type=float, default=0.1, help="inverse strength of the L2 penalty")
    ap.add_argument("--features", default="forward",
                    help="'forward' (greedy selection, the default), 'all', or a comma-separated list")
    ap.add_argument("--ablation", action="store_true", help="print the feature groups' worth; write nothing")
    args = ap.parse_args(argv)
    index = IndexStore(args.index).current()
    splits = json.loads(SPLITS.read_text(encoding="utf-8"))
    tune = candidate_rows(index, [i for i in load_qa_set(QA_SET) if in_split(i, "tune", splits)])
    print(f"tuning split: {len(tune)} questions with a positive and a negative among the candidates")
    if args.ablation:
        ablation(index, tune, args.c)
        return 0
    if args.features == "forward":
        use = forward_selection(tune, args.c)
    else:
        use = list(FEATURES) if args.features == "all" else args.features.split(",")
    model = fit(tune, args.c, set(use))
    print(f"features: {', '.join(use)}; top candidate a positive: engine {top_is_positive(None, tune):.3f}, "
          f"reranked {top_is_positive(model, tune):.3f} (in sample), "
          f"{cross_validated(tune, args.c, set(use)):.3f} cross-validated")
    for name, w in sorted(zip(FEATURES, model.weights), key=lambda p: -abs(p[1])):
        if w:
            print(f"  {name:>14} {w:+.3f}")
    args.out.write_text(json.dumps(model.to_json(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
