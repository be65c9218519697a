"""Answer: validate a question, search, and shape the reply with checkable citations.

The body returned here is exactly what ``POST /ask`` sends and what ``qa ask --json`` prints.
"""
from __future__ import annotations

import math
import re
import time
from datetime import date

from .errors import BadRequest, NotFound
from .index import Index
from .search import (DERIVED_REMEMBERED, Filters, Hit, Query, fold_duplicates, make_query, matched_weight,
                     memoised, passage_sentences, prefer_named, search)

MAX_QUESTION_CHARS = 1000
MAX_TOP_K = 50
DEFAULT_TOP_K = 5
MAX_HISTORY = 20
MIN_EVIDENCE = 0.4  # share of the question's idf mass the best passage must contain
CANDIDATES = 50  # passages considered before the names of the question reorder them
FEW_CANDIDATES = 3  # passages beyond top_k scored first for a question that names nothing
NOT_FOUND = ("Nothing in the indexed reports answers this question. Try other words, name the "
             "organisation or topic you mean, or check GET /reports for what is indexed.")


def validate(question, top_k=DEFAULT_TOP_K, history=None) -> tuple[str, int, list[str]]:
    """Check the three inputs of /ask and return them cleaned; a BadRequest says what is wrong."""
    if not isinstance(question, str):
        raise BadRequest("'question' is required and must be a string", code="invalid_question")
    question = question.strip()
    if not question:
        raise BadRequest("'question' is empty: type a question", code="invalid_question")
    if len(question) > MAX_QUESTION_CHARS:
        raise BadRequest(
            f"'question' is {len(question)} characters long; the limit is {MAX_QUESTION_CHARS}",
            code="question_too_long",
        )
    if top_k is None:
        top_k = DEFAULT_TOP_K
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise BadRequest(f"'top_k' must be a whole number from 1 to {MAX_TOP_K}", code="invalid_top_k")
    if history is None:
        history = []
    if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
        raise BadRequest("'history' must be a list of the earlier questions (strings)", code="invalid_history")
    if len(history) > MAX_HISTORY:
        history = history[-MAX_HISTORY:]
    if any(len(h) > MAX_QUESTION_CHARS for h in history):
        raise BadRequest(f"each 'history' entry must be at most {MAX_QUESTION_CHARS} characters", code="invalid_history")
    return question, top_k, [h.strip() for h in history if h.strip()]


def validate_filters(report_ids=None, published_from=None, published_to=None) -> Filters:
    """Check the optional filters of /ask: report ids (a string or a list) and an ISO date range."""
    if isinstance(report_ids, str):
        report_ids = [report_ids]
    if report_ids is not None and (not isinstance(report_ids, list) or not all(isinstance(r, str) for r in report_ids)
                                   or len(report_ids) > 100):
        raise BadRequest("'report_ids' must be a list of at most 100 report ids (GET /reports lists them)",
                         code="invalid_filter")
    for name, value in (("published_from", published_from), ("published_to", published_to)):
        if value is None:
            continue
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", value):
            raise BadRequest(f"'{name}' must be a date: YYYY, YYYY-MM or YYYY-MM-DD", code="invalid_filter")
        try:
            date.fromisoformat((value + "-01-01")[:10])
        except ValueError:
            raise BadRequest(f"'{name}' is not a real date: {value}", code="invalid_filter") from None
    return Filters(report_ids or None, published_from, published_to)


def _passage(index: Index, rank: int, chunk: int, score: float, copies: list[Hit] = ()) -> dict:
    cid, citation = passage_citation(index, chunk)
    return {
        "rank": rank,
        "score": round(score, 6),
        "chunk_id": cid,
        "text": index.chunk_text(chunk),
        "citation": dict(citation),
        # Near-copies of this passage in other places (folded so that each result says something new).
        "also_in": [_also(index, h.chunk) for h in copies],
    }


def passage_citation(index: Index, chunk: int) -> tuple[str, dict]:
    """A passage's id and citation: the same for every question, so remembered per generation."""
    return memoised(index, "citations", _passage_citation, DERIVED_REMEMBERED)(chunk)


def _passage_citation(index: Index, chunk: int) -> tuple[str, dict]:
    report = index.reports[int(index.chunk_report[chunk])]
    section = int(index.chunk_section[chunk])
    cid = index.chunk_id(chunk)
    return cid, {
        "report_id": report["id"],
        "title": report["title"],
        "publisher": report["publisher"],
        "published": report["published"],
        "source": report["source"],
        "page": int(index.chunk_page[chunk]) or None,
        "page_end": int(index.chunk_page_end[chunk]) or None,
        "section": None if section < 0 else index.sections[section],
        "char_start": int(index.chunk_start[chunk]),
        "char_end": int(index.chunk_end[chunk]),
        "url": f"/reports/{report['id']}#{cid}",
    }


def _also(index: Index, chunk: int) -> dict:
    cid, citation = passage_citation(index, chunk)
    return {"report_id": citation["report_id"], "title": citation["title"], "chunk_id": cid,
            "page": citation["page"], "url": citation["url"]}


def extract_answer(index: Index, query: Query, passages: list[dict], chunks: list[int], max_sentences: int = 3) -> str:
    """1-3 sentences of the top passages that answer best, quoted verbatim, each with its [n].

    Within the retrieved passages the question's topic words (a report's name) occur everywhere; the
    words that pick out the answer occur in few sentences. So a sentence scores, for each question term
    it holds, log(1 + sentences / sentences holding the term); shorter than a dozen words, it is scaled
    down. A lead-in shorter than six words is quoted together with the sentence after it. The answer leads with the best
    sentence of passage [1], the best-ranked evidence, and adds the best sentence of [2] and [3] where
    they score at least three quarters as well.
    """
    wanted = set(query.tokens)
    sentences = 0
    found = []  # (rank, passage text, start, end, its question terms, words) of the sentences holding any
    for p, chunk in zip(passages[:3], chunks):
        quotable = quotable_sentences(index, chunk)
        sentences += len(quotable)
        for s, e, terms, n_words in quotable:
            if not wanted.isdisjoint(terms):  # a sentence without a question term scores 0: never chosen
                found.append((p["rank"], p["text"], s, e, wanted & terms, n_words))
    holding = dict.fromkeys(wanted, 0)
    for f in found:
        for t in f[4]:
            holding[t] += 1
    weight = {t: math.log(1 + sentences / n) for t, n in holding.items() if n}
    best: dict[int, tuple[float, str]] = {}
    for rank, text, s, e, terms, n_words in found:
        score = sum(weight[t] for t in sorted(terms)) * min(1.0, n_words / 12)  # sorted: the same sum in every process
        if score > best.get(rank, (0.0, ""))[0]:
            best[rank] = (score, text[s:e])
    lead_rank = 1 if 1 in best else min(best, default=None)
    if lead_rank is None:  # no sentence holds a question term: quote the top passage's first sentence
        s, e, _ = passage_sentences(index, chunks[0])[0]
        return f"{passages[0]['text'][s:e]} [{passages[0]['rank']}]"
    lead = best[lead_rank][0]
    chosen = [r for r in sorted(best) if r == lead_rank or best[r][0] >= 0.75 * lead][:max_sentences]
    return " ".join(f"{best[r][1]} [{r}]" for r in chosen)


Quotable = tuple[int, int, frozenset, int]  # start and end in the passage's text (stripped), terms, words


def quotable_sentences(index: Index, chunk: int) -> tuple[Quotable, ...]:
    """Each sentence of a passage that an answer may quote, remembered per generation: it is the same
    for every question, so only the scoring is done per question. Offsets rather than strings, to keep
    the memory per passage small."""
    return memoised(index, "quotable", _quotable_sentences, DERIVED_REMEMBERED)(chunk)


def _quotable_sentences(index: Index, chunk: int) -> tuple[Quotable, ...]:
    text = index.chunk_text(chunk)
    spans = passage_sentences(index, chunk)
    out = []
    for i, (s, e, terms) in enumerate(spans):
        # A lead-in ("• Reducing reoffending.") is quoted with the sentence that follows it.
        if len(text[s:e].split()) < 6 and i + 1 < len(spans) and "\n" not in text[e:spans[i + 1][0]]:
            e, terms = spans[i + 1][1], terms | spans[i + 1][2]
        piece = text[s:e]
        start, end = s + len(piece) - len(piece.lstrip()), e - (len(piece) - len(piece.rstrip()))
        out.append((start, end, terms, len(piece.split())))
    return tuple(out)


def best_passages(index: Index, query: Query, top_k: int, filters: Filters | None = None,
                  ) -> tuple[list[tuple[Hit, list[Hit]]], bool]:
    """The ``top_k`` passages an answer cites, each with its near-copies folded in, and whether the best
    is from a report that names what the question names.

    The CANDIDATES best passages are looked at when the question names something (the names reorder
    them). Without names, the fold reads hits in rank order and stops at the first new passage past
    ``top_k``, so the FEW_CANDIDATES best give the same result whenever the fold stops inside them
    (or there are no more): scoring the few is cheaper than scoring many. Otherwise it reads the
    CANDIDATES best, as with names."""
    many = max(top_k, CANDIDATES)
    few = top_k + FEW_CANDIDATES
    if not query.names and few < many:
        hits = search(index, query, few, filters)
        folded = fold_duplicates(index, hits, top_k)
        if len(hits) < few or len(folded) + sum(len(copies) for _, copies in folded) < len(hits):
            return folded, bool(hits)
    hits, named = prefer_named(index, query, search(index, query, many, filters))
    return fold_duplicates(index, hits, top_k), named


def ask(index: Index, question, top_k=DEFAULT_TOP_K, history=None, filters: Filters | None = None) -> dict:
    """The full /ask response body for one question."""
    t0 = time.perf_counter()
    question, top_k, history = validate(question, top_k, history)
    if filters and filters.report_ids:
        for rid in filters.report_ids:
            try:
                index.report(rid)
            except NotFound:
                raise BadRequest(f"no report with id {rid!r} is indexed; GET /reports lists them",
                                 code="invalid_filter") from None
    query = make_query(index, question, history)
    folded, named = best_passages(index, query, top_k, filters)
    passages = [_passage(index, i + 1, h.chunk, h.score, copies) for i, (h, copies) in enumerate(folded)]
    found = named and bool(folded) and matched_weight(index, query, folded[0][0].chunk) >= MIN_EVIDENCE
    return {
        "question": question,
        "found": found,
        "answer": extract_answer(index, query, passages, [h.chunk for h, _ in folded]) if found else NOT_FOUND,
        "passages": passages,
        "index_version": index.version,
        "took_ms": round((time.perf_counter() - t0) * 1000, 3),
    }
