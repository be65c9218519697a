"""Evaluate: how good the retrieval is, on our own QA set or on a BEIR-layout test collection.

QA set (``.jsonl``): one question a line, ``{"id", "question", "history", "answerable", "file", "gold"}``.
A passage is a hit when it comes from ``file`` and contains one of the ``gold`` phrases (compared after
NFKC, lowercasing, straight quotes and collapsed whitespace). Reports Hit@1/3/5, MRR, how often
``found`` is right (true for answerable questions, false for the others), and ``words_to_answer``:
how many words a reader goes through, passage by passage, until the first hit (all five passages
when there is none). Longer passages raise Hit@k by holding more text; this is the price of that.

BEIR (folder with ``corpus.jsonl``, ``queries.jsonl``, ``qrels/test.tsv``): each record (title + text)
is one passage, scored with the service's tokenizer and BM25; reports nDCG@10, Recall@100 and MRR@10.
"""
from __future__ import annotations

import csv
import json
import math
import re
import tempfile
import unicodedata
from pathlib import Path

from .answer import ask
from .build import Indexed, assemble, index_settings, passage_tokens
from .chunking import Chunk
from .errors import BadRequest
from .index import Index, IndexStore, write_generation
from .ingest import TextBuilder
from .search import make_query, search

_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"'})


def normalize_phrase(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()).strip()


def load_qa_set(path: Path) -> list[dict]:
    items = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except ValueError as exc:
                    raise BadRequest(f"{path}, line {n}: not valid JSON ({exc})") from exc
    return items


def is_hit(item: dict, passage: dict, report_files: dict[str, str]) -> bool:
    wanted_file = item.get("file")
    file = report_files.get(passage["citation"]["report_id"], "")
    if wanted_file and Path(file).name != wanted_file:
        return False
    text = normalize_phrase(passage["text"])
    return any(normalize_phrase(g) in text for g in item.get("gold", []))


SPLITS = Path(__file__).resolve().parent.parent / "eval" / "splits.json"
_MARKED = re.compile(r"(.+?) \[(\d+)\](?: |$)", re.DOTALL)


def in_split(item: dict, split: str | None, splits: dict) -> bool:
    """Is ``item`` in ``split`` (all items when None)? An item goes with its report's split; an
    out-of-scope one with the split of the report it is a near miss for."""
    if split is None:
        return True
    if split not in splits or split == "about":
        raise BadRequest(f"no split {split!r}: the splits are {', '.join(k for k in splits if k != 'about')}")
    return Path(item.get("file") or item.get("near") or "").name in splits[split]


def first_hit(item: dict, body: dict, report_files: dict[str, str]) -> int | None:
    """The rank of the first passage of an /ask body that holds a gold phrase of ``item`` (None: none does)."""
    return next((p["rank"] for p in body["passages"] if is_hit(item, p, report_files)), None)


def answer_is_hit(item: dict, body: dict, report_files: dict[str, str]) -> bool:
    """Does the quoted answer hold a gold phrase, in a sentence marked with a passage of the right report?"""
    for sentence, n in _MARKED.findall(body["answer"]):
        k = int(n) - 1
        if 0 <= k < len(body["passages"]) and is_hit(item, {**body["passages"][k], "text": sentence}, report_files):
            return True
    return False


def eval_qa_set(path: Path, index_dir: Path, top_k: int = 5, split: str | None = None,
                rerank=False, splits_file: Path = SPLITS) -> dict:
    """Hit@k, MRR, answer hits and abstention on a QA set, on one split of it (``eval/splits.json``) or all."""
    index = IndexStore(index_dir).current()
    files = {r["id"]: r["file"] for r in index.reports}
    splits = json.loads(Path(splits_file).read_text(encoding="utf-8")) if split else {}
    items = [item for item in load_qa_set(path) if in_split(item, split, splits)]
    hits = {1: 0, 3: 0, 5: 0}
    follow_ups = follow_up_hits = 0
    rr = 0.0
    answerable = found_right_in = found_right_out = out_of_scope = words_read = answered = 0
    misses = []
    for item in items:
        body = ask(index, item["question"], max(top_k, 5), item.get("history") or [], rerank=rerank)
        if not item.get("answerable", True):
            out_of_scope += 1
            found_right_out += not body["found"]
            continue
        answerable += 1
        found_right_in += body["found"]
        answered += body["found"] and answer_is_hit(item, body, files)
        rank = first_hit(item, body, files)
        shown = body["passages"][:5] if rank is None else body["passages"][:rank]
        words_read += sum(len(p["text"].split()) for p in shown)
        if item.get("history"):
            follow_ups += 1
            follow_up_hits += rank is not None and rank <= 5
        if rank is None:
            misses.append(item["id"])
        else:
            rr += 1 / rank
            for k in hits:
                hits[k] += rank <= k
    n = max(answerable, 1)
    return {
        "questions": len(items),
        "answerable": answerable,
        "hit@1": hits[1] / n,
        "hit@3": hits[3] / n,
        "hit@5": hits[5] / n,
        "mrr": rr / n,
        "answer_hit": answered / n,
        "words_to_answer": words_read / n,
        "follow_up_hit@5": follow_up_hits / max(follow_ups, 1),
        "found_when_answerable": found_right_in / n,
        "not_found_when_out_of_scope": found_right_out / max(out_of_scope, 1),
        "out_of_scope": out_of_scope,
        "missed": misses,
    }


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def beir_index(folder: Path, workdir: Path, settings: dict | None = None) -> Index:
    """Each BEIR record (title + text) as one report of one passage, indexed exactly as the service
    indexes reports (same tokenizer, same scoring), in a generation under ``workdir``."""
    items = []
    for d in _read_jsonl(folder / "corpus.jsonl"):
        title, body = (d.get("title") or "").strip(), (d.get("text") or "").strip()
        builder = TextBuilder()
        builder.heading(title)
        builder.paragraph(body)
        doc = builder.build({"title": title}, "text")
        chunk = Chunk(0, len(doc.text), None, None, doc.headings[0].title if doc.headings else None)
        record = {"id": str(d["_id"]), "file": str(d["_id"]), "title": title, "source": str(d["_id"])}
        items.append(Indexed(record, doc, [chunk], passage_tokens(doc, [chunk]), [[]]))
    write_generation(workdir, assemble(items, settings or index_settings()))
    return IndexStore(workdir).current()


def eval_beir(folder: Path, exclude_self: bool = False, settings: dict | None = None) -> dict:
    """nDCG@10, Recall@100 and MRR@10 of the service's own search on a BEIR-layout collection."""
    queries = {str(q["_id"]): q["text"] for q in _read_jsonl(folder / "queries.jsonl")}
    qrels: dict[str, dict[str, int]] = {}
    with open(folder / "qrels" / "test.tsv", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels.setdefault(str(row["query-id"]), {})[str(row["corpus-id"])] = int(row["score"])
    with tempfile.TemporaryDirectory() as workdir:
        index = beir_index(folder, Path(workdir), settings)
        doc_of = [r["id"] for r in index.reports]
        ndcg = recall = mrr = 0.0
        n = 0
        for qid, rels in qrels.items():
            if qid not in queries:
                continue
            n += 1
            hits = search(index, make_query(index, queries[qid]), 101)
            ranked = [doc_of[int(index.chunk_report[h.chunk])] for h in hits]
            if exclude_self:
                ranked = [d for d in ranked if d != qid]
            ranked = ranked[:100]
            gains = [rels.get(d, 0) for d in ranked[:10]]
            dcg = sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(gains))
            ideal = sorted(rels.values(), reverse=True)[:10]
            idcg = sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
            ndcg += dcg / idcg if idcg else 0.0
            relevant = {d for d, g in rels.items() if g > 0}
            recall += len(relevant & set(ranked)) / len(relevant) if relevant else 0.0
            mrr += next((1 / (i + 1) for i, d in enumerate(ranked[:10]) if rels.get(d, 0) > 0), 0.0)
        settings = index.manifest["bm25"]
    n = max(n, 1)
    return {"ndcg@10": ndcg / n, "recall@100": recall / n, "mrr@10": mrr / n, "queries": n,
            "documents": len(doc_of), "k1": settings["k1"], "b": settings["b"]}


def run_eval(dataset: Path, index_dir: Path, top_k: int = 5, exclude_self: bool = False,
             split: str | None = None, rerank: bool = False) -> dict:
    """``qa eval``: a ``.jsonl`` QA set against the index, or a BEIR folder on its own."""
    if dataset.is_dir():
        if not (dataset / "corpus.jsonl").exists() or not (dataset / "qrels" / "test.tsv").exists():
            raise BadRequest(f"{dataset} is not a BEIR-layout folder (corpus.jsonl, queries.jsonl, qrels/test.tsv)")
        return eval_beir(dataset, exclude_self=exclude_self)
    if dataset.suffix == ".jsonl" and dataset.exists():
        return eval_qa_set(dataset, index_dir, top_k, split, rerank)
    raise BadRequest(f"{dataset} is neither a BEIR folder nor a .jsonl QA set")
