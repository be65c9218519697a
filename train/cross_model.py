"""The cross-encoder of issue 17, measured and not shipped: a MiniLM cross-encoder re-scores the second
stage's best passages (docs/quality.md: on the test split it did not beat the lexical second stage).
Kept, with train/cross.py, so the measurement can be rebuilt; the service does not import it, and its
dependencies (onnxruntime, tokenizers) are the training environment's, not the service's.

BM25 and the lexical second stage (:mod:`qa.rerank`) see terms; paraphrase ("protecting children"
against "child safeguarding work") escapes them. A cross-encoder reads the question and a passage
together and scores how well one answers the other. Ours is all-MiniLM-L6-v2 fine-tuned on CPU with a
relevance head over the mean of the pair's tokens plus the cosine of the question's and the passage's
mean tokens (``train/cross.py`` rebuilds it from its recipe and seed; the graph is in the ONNX file). At run time it
needs no torch: the model exported to ONNX with int8 weights (``cross-model/model.onnx``, SHA-256 checked at
load) run by onnxruntime (it measured about three times faster here than a numpy forward pass), and the
model's own WordPiece tokenizer (``cross-model/tokenizer.json``, read by ``tokenizers``).

Each passage is shown to the model as its report's title, its section heading and the piece of its
text around the sentence window the lexical stage scores best, cut to ``MAX_TOKENS`` with the question.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from qa.errors import QAError
from qa.index import Index
from qa.search import Hit, Query, passage_sentences

HERE = Path(__file__).resolve().parent / "cross-model"  # built by ``train/cross.py export`` (git-ignored)
MODEL_FILE = HERE / "model.onnx"
TOKENIZER_FILE = HERE / "tokenizer.json"
MANIFEST_FILE = HERE / "manifest.json"  # SHA-256 of both files, and the settings chosen on tune (committed)

MAX_TOKENS = 128  # question and passage together, in WordPiece tokens
WINDOW_WORDS = 80  # words of passage text around its best sentence window
LAYERS, HEADS, HIDDEN = 6, 12, 384  # all-MiniLM-L6-v2's shape (train/cross.py builds it)


class ModelUnavailable(QAError):
    """The cross-encoder's files are missing or not the ones shipped (hash mismatch)."""


def model_question(question: str, history: Sequence[str] = ()) -> str:
    """What the model reads as the question: a follow-up carries the question before it."""
    return f"{history[-1]} {question}" if history else question


def best_window(spans: Sequence[tuple[int, int, frozenset]], weights: dict[str, float]) -> int:
    """Index of the first sentence of the two neighbouring sentences holding most of the question's weight."""
    if len(spans) < 2:
        return 0
    shares = [sum(w for t, w in weights.items() if t in spans[k][2] or t in spans[k + 1][2])
              for k in range(len(spans) - 1)]
    return max(range(len(shares)), key=lambda k: (shares[k], -k))


def window_text(text: str, spans: Sequence[tuple[int, int, frozenset]], weights: dict[str, float],
                words: int = WINDOW_WORDS) -> str:
    """The passage's text around its best window: from the sentence before it, sentences added on either
    side until about ``words`` words (the whole passage when it is shorter)."""
    if not spans:
        return " ".join(text.split()[:words])
    first = max(best_window(spans, weights) - 1, 0)
    last = first
    count = len(text[spans[first][0]:spans[first][1]].split())
    while count < words and (last + 1 < len(spans) or first > 0):
        if last + 1 < len(spans):
            last += 1
            count += len(text[spans[last][0]:spans[last][1]].split())
        else:
            first -= 1
            count += len(text[spans[first][0]:spans[first][1]].split())
    return " ".join(text[spans[first][0]:spans[last][1]].split())


def passage_text(index: Index, query: Query, chunk: int) -> str:
    """What the model reads of a passage: report title, section heading, then its best window's text."""
    report = index.reports[int(index.chunk_report[chunk])]
    section = int(index.chunk_section[chunk])
    heading = index.sections[section] if section >= 0 else ""
    body = window_text(index.chunk_text(chunk), passage_sentences(index, chunk), query.weighted)
    return framed(report.get("title") or "", heading, body)


def framed(title: str, heading: str, body: str) -> str:
    """Title, heading (unless it only repeats the title) and body, as the model reads a passage."""
    return " | ".join(x for x in (title, "" if heading == title else heading, body) if x)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class CrossEncoder:
    """The fine-tuned MiniLM cross-encoder: ``score(question, passages)`` -> one relevance logit each."""

    session: object  # an onnxruntime InferenceSession
    tokenizer: object
    settings: dict

    @classmethod
    def load(cls, model: Path = MODEL_FILE, tokenizer: Path = TOKENIZER_FILE,
             manifest: Path = MANIFEST_FILE, threads: int = 1) -> "CrossEncoder":
        """Load the shipped files after checking their SHA-256 against the manifest. One thread per
        session: gunicorn's workers and threads already share the cores."""
        try:
            import onnxruntime
            from tokenizers import Tokenizer
            meta = json.loads(manifest.read_text(encoding="utf-8"))
            for path in (model, tokenizer):
                digest = _sha256(path)
                if digest != meta["sha256"][path.name]:
                    raise ModelUnavailable(f"{path} has SHA-256 {digest}, not the shipped "
                                           f"{meta['sha256'][path.name]}: rebuild it with train/cross.py")
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = threads
            session = onnxruntime.InferenceSession(model.read_bytes(), options, providers=["CPUExecutionProvider"])
            tok = Tokenizer.from_file(str(tokenizer))
        except (OSError, KeyError, ValueError, ImportError, RuntimeError) as exc:
            raise ModelUnavailable(f"the cross-encoder cannot be loaded: {exc}") from exc
        tok.no_padding()
        tok.enable_truncation(MAX_TOKENS, strategy="longest_first")
        return cls(session, tok, meta.get("settings", {}))

    def encode(self, question: str, passages: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Token ids, token types and attention mask of each (question, passage) pair, padded to the longest."""
        encs = self.tokenizer.encode_batch([(question, p) for p in passages])
        n = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), n), np.int64)
        types = np.zeros((len(encs), n), np.int64)
        mask = np.zeros((len(encs), n), np.float32)
        for i, e in enumerate(encs):
            ids[i, :len(e.ids)], types[i, :len(e.ids)], mask[i, :len(e.ids)] = e.ids, e.type_ids, 1.0
        return ids, types, mask

    def score(self, question: str, passages: Sequence[str]) -> np.ndarray:
        """One relevance logit per passage (higher: more likely to answer the question)."""
        if not passages:
            return np.zeros(0, np.float32)
        ids, types, mask = self.encode(question, passages)
        return self.session.run(None, {"ids": ids, "types": types, "mask": mask})[0]


@dataclass(frozen=True, eq=False)
class Reader:
    """The cross-encoder with how it is used: it re-scores the ``depth`` best passages of the second
    stage, adding ``blend`` / (1 + a passage's rank there) to its standardised logit (both chosen on the
    tuning split)."""

    encoder: CrossEncoder
    depth: int
    blend: float

    def __call__(self, index: Index, query: Query, history: list[str], hits: list[Hit]) -> list[Hit]:
        """As ``qa.answer.ask(..., then=reader)`` calls it: the hits reordered by :func:`rerank`."""
        return rerank(index, query, model_question(query.question, history), hits, self)


@lru_cache(maxsize=1)
def shipped_reader() -> Reader:
    """The cross-encoder built into ``cross-model/`` with its chosen settings, loaded once per process."""
    encoder = CrossEncoder.load()
    return Reader(encoder, int(encoder.settings.get("depth", 10)), float(encoder.settings.get("blend", 0.0)))


def rerank(index: Index, query: Query, question: str, hits: list[Hit], reader: Reader) -> list[Hit]:
    """The ``reader.depth`` best of ``hits`` (already in the second stage's order) reordered by the model's
    logits, standardised over them, plus ``reader.blend`` / (1 + their rank so far); the rest follow
    unchanged. ``question`` is what the model reads (:func:`model_question`)."""
    head = hits[:reader.depth]
    if len(head) < 2:
        return hits
    logits = np.asarray(reader.encoder.score(question, [passage_text(index, query, h.chunk) for h in head]))
    z = (logits - logits.mean()) / (logits.std() or 1.0)
    combined = z + reader.blend / (1.0 + np.arange(len(head)))
    order = sorted(range(len(head)), key=lambda i: (-combined[i], i))
    return [head[i] for i in order] + hits[reader.depth:]
