"""The second stage (qa.rerank): its features, its shipped weights, the switch, and the recipe that
rebuilds the weights."""
import json
import subprocess
import sys

import numpy as np
import pytest

from qa.answer import best_passages
from qa.app import create_app
from qa.build import build_index
from qa.index import IndexStore
from qa.rerank import FEATURES, WEIGHTS_FILE, Model, features, rerank, shipped_model
from qa.search import make_query, search

from .conftest import ROOT

FILLER = ("Inspectors found that staff described their caseloads and the training they had received. " * 4).strip()


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rerank-reports")
    (folder / "eastshire.md").write_text(
        "# Inspection of Eastshire probation services\n\n"
        "## Contents\n\nVictims 4 Unpaid work 5 Victim contact 6 Unpaid work placements 7 Victims 8\n\n"
        "## Victims\n\n"
        "Victim contact work was timely and sensitive in nearly every case that inspectors examined.\n\n"
        f"{FILLER}\n\n"
        "## Unpaid work\n\n"
        "Unpaid work placements were well organised. Victims were rarely told about them.\n\n"
        f"{FILLER}\n")
    (folder / "eastshire-response.md").write_text(
        "# Government response to the Eastshire inspection\n\n"
        "## Recommendation 1\n\nVictim contact work should be offered to every victim.\n\n"
        "## Response\n\nThe government accepts this recommendation and will fund victim contact work.\n")
    index_dir = tmp_path_factory.mktemp("rerank-index")
    build_index(folder, index_dir)
    return IndexStore(index_dir).current()


def test_the_shipped_weights_load_and_round_trip_through_json():
    model = shipped_model()
    data = json.loads(WEIGHTS_FILE.read_text(encoding="utf-8"))
    assert set(data) <= set(FEATURES) and data
    assert Model.from_json(model.to_json()).to_json() == data
    assert np.count_nonzero(model.weights) == len(data)
    with pytest.raises(ValueError, match="does not compute"):
        Model.from_json({"no_such_feature": {"mean": 0, "scale": 1, "weight": 1}})


def test_features_measure_what_they_say(index):
    query = make_query(index, "victim contact work")
    hits = search(index, query, 10)
    rows = features(index, query, hits)
    assert rows.shape == (len(hits), len(FEATURES))
    col = {name: rows[:, k] for k, name in enumerate(FEATURES)}
    assert col["bm25"].max() == 1.0 and np.all(np.diff(col["bm25"]) <= 0)  # the engine's order, best = 1
    texts = [index.chunk_text(h.chunk) for h in hits]
    for i, text in enumerate(texts):
        if text.startswith("Victims\nVictim contact work was timely"):  # all three terms in one sentence
            assert col["sentence"][i] == pytest.approx(1.0) and col["coverage"][i] == pytest.approx(1.0)
        if text.startswith("Unpaid work\nUnpaid work placements"):  # "victims" and "work", never "contact"
            assert 0 < col["sentence"][i] < col["window"][i] < 1.0 and col["coverage"][i] < 1.0
        if "Contents" in text:  # a contents list: no function word, numbers everywhere
            assert col["function_words"][i] < 0.1 and col["digits"][i] > 0.2
    reply = make_query(index, "did the government accept the recommendation on victim contact work?")
    reply_rows = features(index, reply, search(index, reply, 10))
    response = [index.reports[int(index.chunk_report[h.chunk])]["id"] == "eastshire-response"
                for h in search(index, reply, 10)]
    assert list(reply_rows[:, FEATURES.index("response_doc")] > 0) == response


def test_rerank_orders_candidates_by_the_model_and_keeps_the_engine_s_order_on_ties(index):
    query = make_query(index, "victims unpaid work")
    hits = search(index, query, 10)
    rows = features(index, query, hits)
    only = {"function_words": {"mean": 0.0, "scale": 1.0, "weight": 1.0}}  # prose first, lists last
    reordered = rerank(index, query, hits, Model.from_json(only))
    key = {h.chunk: (-rows[i, FEATURES.index("function_words")], i) for i, h in enumerate(hits)}
    assert [h.chunk for h in reordered] == [h.chunk for h in sorted(hits, key=lambda h: key[h.chunk])]
    assert index.chunk_text(hits[0].chunk).startswith("Inspection of Eastshire")  # the contents list, first by BM25
    assert index.chunk_text(reordered[-1].chunk).startswith("Inspection of Eastshire")  # ... and last by the model
    folded, _ = best_passages(index, query, 3, None, Model.from_json(only))
    assert folded[0][0].chunk == reordered[0].chunk


def test_the_switch_is_read_at_start_and_shown_by_health(sample_index_dir, monkeypatch):
    monkeypatch.setenv("QA_RERANKER", "lexical")
    client = create_app(sample_index_dir, {"TESTING": True}).test_client()
    assert client.get("/health").get_json()["reranker"] == "lexical"
    assert client.post("/ask", json={"question": "how is London CRC doing on public protection?"}).status_code == 200
    monkeypatch.setenv("QA_RERANKER", "neural")
    with pytest.raises(ValueError, match="QA_RERANKER='neural' is not a reranker"):
        create_app(sample_index_dir, {"TESTING": True})
    monkeypatch.delenv("QA_RERANKER")
    assert create_app(sample_index_dir, {"TESTING": True}).test_client().get("/health").get_json()["reranker"] == "off"


@pytest.mark.shared
def test_the_recipe_rebuilds_the_shipped_weights(corpus_index_dir, tmp_path):
    """train/rerank.py on ../shared/corpus writes the weights that ship, to the last digit that matters."""
    out = tmp_path / "weights.json"
    run = subprocess.run([sys.executable, str(ROOT / "train" / "rerank.py"), "--index", str(corpus_index_dir),
                          "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr
    built, shipped = json.loads(out.read_text()), json.loads(WEIGHTS_FILE.read_text())
    assert set(built) == set(shipped)
    for name in shipped:
        for k in ("mean", "scale", "weight"):
            assert built[name][k] == pytest.approx(shipped[name][k], rel=1e-9, abs=1e-12), (name, k)


def test_a_further_reordering_sees_the_second_stage_s_order_and_its_order_is_cited(index):
    """``ask(..., then=f)``: f gets the second stage's candidates (with the question's history) and the
    passages cited follow its order; the cross-encoder of train/cross_model.py is measured through it."""
    from qa.answer import ask
    seen = {}

    def backwards(idx, query, history, hits):
        seen["hits"], seen["history"] = list(hits), history
        return hits[::-1]

    plain = ask(index, "victim contact work", 5, ["how is Eastshire doing?"], rerank=True)
    turned = ask(index, "victim contact work", 5, ["how is Eastshire doing?"], rerank=True, then=backwards)
    assert seen["history"] == ["how is Eastshire doing?"]
    assert [h.chunk for h in seen["hits"]] == [h.chunk for h in rerank(
        index, make_query(index, "victim contact work", ["how is Eastshire doing?"]),
        search(index, make_query(index, "victim contact work", ["how is Eastshire doing?"]), 50), shipped_model())]
    assert len(seen["hits"]) >= 2
    assert turned["passages"] != plain["passages"]
    query = make_query(index, "victim contact work")
    folded, _ = best_passages(index, query, 5, None, shipped_model(), backwards)
    assert folded[0][0].chunk == seen["hits"][-1].chunk  # the further order is the one cited
