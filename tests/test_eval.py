"""The QA set and `qa eval`: the yardstick for every later quality change."""
import json
import subprocess
import sys

import pytest

from qa.evaluate import SPLITS, answer_is_hit, eval_beir, eval_qa_set, in_split, is_hit, load_qa_set, normalize_phrase
from qa.errors import BadRequest

from .conftest import BENCH, CORPUS, ROOT, need_shared

QA_SET = ROOT / "eval" / "qa_set.jsonl"


def test_qa_set_is_well_formed_and_covers_follow_ups_and_out_of_scope():
    items = load_qa_set(QA_SET)
    assert len(items) >= 300
    assert len({i["id"] for i in items}) == len(items)
    for i in items:
        assert set(i) == {"id", "question", "history", "answerable", "file", "gold"} | ({"near"} if not i["answerable"] else set())
        assert isinstance(i["history"], list)
        assert bool(i["gold"]) == i["answerable"] == bool(i["file"])
    assert sum(1 for i in items if i["history"]) >= 40
    assert sum(1 for i in items if not i["answerable"]) >= 60


def test_the_splits_hold_whole_reports_and_every_question_belongs_to_one():
    splits = json.loads(SPLITS.read_text(encoding="utf-8"))
    tune, test = set(splits["tune"]), set(splits["test"])
    assert tune and test and not tune & test
    items = load_qa_set(QA_SET)
    for i in items:
        assert in_split(i, "tune", splits) != in_split(i, "test", splits), i["id"]
    for name in ("tune", "test"):
        part = [i for i in items if in_split(i, name, splits)]
        assert sum(i["answerable"] for i in part) >= 100 and sum(not i["answerable"] for i in part) >= 25
    with pytest.raises(BadRequest, match="no split"):
        in_split(items[0], "dev", splits)


@pytest.mark.shared
def test_the_splits_name_every_readable_report_of_the_corpus(corpus_index):
    splits = json.loads(SPLITS.read_text(encoding="utf-8"))
    assert {r["file"].split("/")[-1] for r in corpus_index.reports} == set(splits["tune"]) | set(splits["test"])
    assert CORPUS.exists()


def test_an_answer_is_a_hit_only_in_a_sentence_marked_with_a_passage_of_the_right_report():
    item = {"file": "a.pdf", "gold": ["the ban is three months"]}
    passages = [{"rank": 1, "text": "x", "citation": {"report_id": "b"}},
                {"rank": 2, "text": "y", "citation": {"report_id": "a"}}]
    files = {"a": "a.pdf", "b": "b.pdf"}
    assert answer_is_hit(item, {"answer": "Visitors are told. [1] The ban is three months. [2]", "passages": passages}, files)
    assert not answer_is_hit(item, {"answer": "The ban is three months. [1]", "passages": passages}, files)
    assert not answer_is_hit(item, {"answer": "Visitors are told. [2]", "passages": passages}, files)


@pytest.mark.shared
def test_every_gold_phrase_is_in_its_document(corpus_index):
    files = {r["file"].split("/")[-1]: r["id"] for r in corpus_index.reports}
    for item in load_qa_set(QA_SET):
        if item["answerable"]:
            text = normalize_phrase(corpus_index.report_text(files[item["file"]]))
            assert any(normalize_phrase(g) in text for g in item["gold"]), item["id"]


def test_a_hit_needs_the_right_file_and_a_gold_phrase():
    item = {"file": "a.pdf", "gold": ["Quality of work was “variable”"]}
    passage = {"text": "the quality  of work was \"variable\" overall", "citation": {"report_id": "a"}}
    assert is_hit(item, passage, {"a": "sub/a.pdf"})
    assert not is_hit(item, passage, {"a": "sub/b.pdf"})
    assert not is_hit({**item, "gold": ["not there"]}, passage, {"a": "sub/a.pdf"})


@pytest.mark.shared
def test_qa_set_scores_stay_above_their_floor(corpus_index_dir):
    """On the test split, which nothing was tuned on. Floors a little below the figures measured when
    they were written (docs/quality.md, the 353-question set: hit@1 0.403, hit@5 0.745, answer 0.470,
    found 0.953 and refused 0.490 with the default settings): a fall is a regression."""
    r = eval_qa_set(QA_SET, corpus_index_dir, split="test")
    splits = json.loads(SPLITS.read_text(encoding="utf-8"))
    assert r["questions"] == sum(in_split(i, "test", splits) for i in load_qa_set(QA_SET))
    assert r["hit@1"] >= 0.38 and r["hit@5"] >= 0.70 and r["answer_hit"] >= 0.44
    assert r["found_when_answerable"] >= 0.92 and r["not_found_when_out_of_scope"] >= 0.47


def test_qa_eval_command_on_the_qa_set_prints_json(corpus_index_dir):
    need_shared()
    out = subprocess.run([sys.executable, "-m", "qa", "eval", str(QA_SET), "--index", str(corpus_index_dir), "--json"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert 0 < body["hit@1"] <= body["hit@3"] <= body["hit@5"] <= 1


def test_beir_eval_on_scifact_matches_published_bm25():
    folder = need_shared(BENCH / "scifact")
    out = subprocess.run([sys.executable, "-m", "qa", "eval", str(folder), "--json"], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["queries"] == 300
    # The target, above every published row (rank-bm25 with k1 1.5, b 0.75: 0.685); measured 0.7002.
    # The evaluation is deterministic (exact scores, ties by id), so this holds run after run.
    assert body["ndcg@10"] >= 0.700
    assert 0 < body["mrr@10"] <= 1 and 0 < body["recall@100"] <= 1


def test_beir_eval_on_arguana_excludes_each_query_s_own_argument():
    folder = need_shared(BENCH / "arguana")
    out = subprocess.run([sys.executable, "-m", "qa", "eval", str(folder), "--exclude-self", "--json"],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["ndcg@10"] >= 0.50  # measured 0.5008; published rank-bm25 0.495


def test_beir_eval_on_a_tiny_collection(tmp_path):
    (tmp_path / "qrels").mkdir()
    docs = [{"_id": "d1", "title": "Probation", "text": "unpaid work placements"},
            {"_id": "d2", "title": "Prisons", "text": "visits and security"},
            {"_id": "d3", "title": "Courts", "text": "sentencing guidelines"}]
    (tmp_path / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs))
    (tmp_path / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "security of prison visits"}))
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t1\n")
    r = eval_beir(tmp_path)
    assert r == {**r, "ndcg@10": 1.0, "mrr@10": 1.0, "recall@100": 1.0, "queries": 1}
