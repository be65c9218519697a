"""Answer: validate a question, search, and shape the reply with checkable citations.

The body returned here is exactly what ``POST /ask`` sends and what ``qa ask --json`` prints.
"""
from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from datetime import date

from .errors import BadRequest, NotFound
from .index import Index
from .search import (DERIVED_REMEMBERED, Filters, Hit, Query, fold_duplicates, make_query, matched_weight,
                     memoised, passage_sentences, prefer_named, search)
from .rerank import Model, shipped_model, title_terms
from .rerank import rerank as reorder

MAX_QUESTION_CHARS = 1000
MAX_TOP_K = 50
DEFAULT_TOP_K = 5
MAX_HISTORY = 20
MAX_REPORT_IDS = 100
DATE_PATTERN = r"^\d{4}(-\d{2}(-\d{2})?)?$"  # YYYY, YYYY-MM or YYYY-MM-DD (the OpenAPI schema says the same)
MIN_EVIDENCE = 0.42  # share of the question's weight the best passage must contain (tuning split)
# A follow-up's own words are few and general ("did the government go along with that?") and the
# earlier questions' terms count at half weight or less, so the share it can find is lower (tuning split).
MIN_EVIDENCE_FOLLOW_UP = 0.30
CANDIDATES = 50  # passages considered before the names of the question reorder them
RERANK_CANDIDATES = 50  # the engine's best passages the second stage reorders
FEW_CANDIDATES = 3  # passages beyond top_k scored first for a question that names nothing
Reorder = Callable[[Index, Query, list, list], list]  # (index, query, history, hits) -> hits reordered
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
                                   or len(report_ids) > MAX_REPORT_IDS):
        raise BadRequest(f"'report_ids' must be a list of at most {MAX_REPORT_IDS} report ids (GET /reports lists them)",
                         code="invalid_filter")
    for name, value in (("published_from", published_from), ("published_to", published_to)):
        if value is None:
            continue
        if not isinstance(value, str) or not re.fullmatch(DATE_PATTERN, value):
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


ANSWER_PASSAGES = 5  # passages whose sentences an answer may quote
NAME_SHARE = 0.5  # what a sentence's strongest name or title term counts: it picks the report, not the answer


def extract_answer(index: Index, query: Query, passages: list[dict], chunks: list[int], max_sentences: int = 3,
                   ) -> list[tuple[str, int]]:
    """1-3 sentences of the top passages that answer best, quoted verbatim, each with the rank of the
    passage it comes from, the best first.

    Candidates are the sentences of passages 1-5 holding a term of the question (an acronym the
    reports define holds the words it stands for, and the other way round); the report's own
    title line and a line with a web or e-mail address never are. Within the retrieved passages the
    question's topic words occur everywhere; the words that pick out the answer occur in few sentences.
    So a sentence scores, for each question term it holds, log(1 + sentences / sentences holding the
    term); the names of the question and its report's title words (they pick the report, not the
    answer) count once, the strongest of them at NAME_SHARE. Shorter than a dozen words, a sentence
    is scaled down. A lead-in (shorter than six words, or ending with a colon) is quoted together with
    the sentence after it. The best sentence of the first passage that has one is quoted, with the
    best of the passages after it that score at least three quarters as well; the highest scoring of
    those comes first, and when it holds more than names, sentences holding only names are left out.
    That first one is quoted with the sentence after it in its passage (when that may be quoted): the
    answer often follows the sentence that matches the question ("we undertook two case studies." ->
    "The first looked at ..."); on the tuning split the quoted answer held a gold phrase for 0.378 of
    the questions against 0.336 for the sentence alone (docs/quality.md). When the best sentences of
    two passages score the same, the one whose short label ("• Protecting the public.") holds more of
    the question's terms leads: a label is the heading of what follows it.
    """
    wanted = set(query.tokens)
    named = set(query.names)
    sentences = 0
    # (rank, passage text, start, end, its question terms, words, end with the next sentence, question
    # terms in its label)
    found = []
    for p, chunk in zip(passages[:ANSWER_PASSAGES], chunks):
        named |= title_terms(index, int(index.chunk_report[chunk]))
        quotable = quotable_sentences(index, chunk)
        sentences += len(quotable)
        for i, (s, e, terms, n_words, may_quote, label) in enumerate(quotable):
            held = wanted & terms
            if query.same_as:  # "NPS" in the sentence holds "National Probation Service" of the question
                held |= {t for t in wanted - held if query.said_otherwise(t, terms.__contains__)}
            if may_quote and held:
                quote_next = i + 1 < len(quotable) and quotable[i + 1][4] and quotable[i + 1][0] >= e
                after = quotable[i + 1][1] if quote_next else e
                found.append((p["rank"], p["text"], s, e, held, n_words, after, len(wanted & label)))
    holding = dict.fromkeys(wanted, 0)
    for f in found:
        for t in f[4]:
            holding[t] += 1
    weight = {t: math.log(1 + sentences / n) for t, n in holding.items() if n}
    # rank -> (score, holds more than names, passage text, start, end, end with the next sentence, question
    # terms in its label)
    best: dict[int, tuple[float, bool, str, int, int, int, int]] = {}
    for rank, text, s, e, terms, n_words, after, labelled in found:
        # sorted: the same sum in every process
        topic = sum(weight[t] for t in sorted(terms) if t not in named)
        about = max((weight[t] for t in terms if t in named), default=0.0)
        score = (topic + NAME_SHARE * about) * min(1.0, n_words / 12)
        if score > best.get(rank, (0.0,))[0]:
            best[rank] = (score, topic > 0, text, s, e, after, labelled)
    if not best:  # no sentence holds a question term: quote the top passage's first sentence
        s, e, _ = passage_sentences(index, chunks[0])[0]
        return [(passages[0]["text"][s:e], passages[0]["rank"])]
    first = min(best)
    chosen = [r for r in sorted(best) if r == first or best[r][0] >= 0.75 * best[first][0]][:max_sentences]
    top = max(chosen, key=lambda r: (best[r][0], best[r][6], -r))
    if best[top][1]:  # a sentence that only repeats the question's names adds nothing to one that answers
        chosen = [r for r in chosen if best[r][1]]
    quotes = []  # verbatim, as every quote; the lead with the sentence after it
    for r in [top] + [r for r in chosen if r != top]:
        _, _, text, s, e, after, _ = best[r]
        quotes.append((text[s:after if r == top else e], r))
    return quotes


def _never_quoted(index: Index, chunk: int, sentence: str) -> bool:
    """Is ``sentence`` a line an answer never quotes: its report's own title, a line with a web or
    e-mail address (a contact block, a reference), or a line of a contents list (dot leaders)?"""
    if ("www." in sentence or "http" in sentence or "@" in sentence) and _CONTACT.search(sentence):
        return True  # (the look-behind is slow: the plain test first, as every sentence passes here)
    if _LEADERS.search(sentence):
        return True
    return sentence.strip() == (index.reports[int(index.chunk_report[chunk])].get("title") or "").strip()


_CONTACT = re.compile(r"(?<!\S)(?:www\.|https?:)|\S@\S")
_LEADERS = re.compile(r"\.\s?\.\s?\.\s?\.\s?\.|……")  # "Introduction ........ 5" (unrolled: a repeated group is slow)


# start and end in the passage's text (stripped), terms, words, whether an answer may quote it, and
# the terms of its label (a short lead-in quoted with it: "• Protecting the public."; empty otherwise)
Quotable = tuple[int, int, frozenset, int, bool, frozenset]


def quotable_sentences(index: Index, chunk: int) -> tuple[Quotable, ...]:
    """Each sentence of a passage as an answer would quote it, remembered per generation: it is the same
    for every question, so only the scoring is done per question. Offsets rather than strings, to keep
    the memory per passage small."""
    return memoised(index, "quotable", _quotable_sentences, DERIVED_REMEMBERED)(chunk)


def _quotable_sentences(index: Index, chunk: int) -> tuple[Quotable, ...]:
    text = index.chunk_text(chunk)
    spans = passage_sentences(index, chunk)
    out = []
    for i, (s, e, terms) in enumerate(spans):
        # A lead-in ("• Reducing reoffending.", "The report concluded:") is quoted with the sentence after it;
        # a short one is a label, the heading of that sentence.
        colon = text[s:e].rstrip().endswith(":")
        label = frozenset()
        if i + 1 < len(spans) and (colon or len(text[s:e].split()) < 6 and "\n" not in text[e:spans[i + 1][0]]):
            if not colon:
                label = terms
            e, terms = spans[i + 1][1], terms | spans[i + 1][2]
        piece = text[s:e]
        start, end = s + len(piece) - len(piece.lstrip()), e - (len(piece) - len(piece.rstrip()))
        out.append((start, end, terms, len(piece.split()), not _never_quoted(index, chunk, piece), label))
    return tuple(out)


def best_passages(index: Index, query: Query, top_k: int, filters: Filters | None = None,
                  model: Model | None = None, then: Reorder | None = None,
                  history: list[str] | None = None) -> tuple[list[tuple[Hit, list[Hit]]], bool]:
    """The ``top_k`` passages an answer cites, each with its near-copies folded in, and whether the best
    is from a report that names what the question names.

    With a second-stage ``model``, the engine's RERANK_CANDIDATES best are reordered by it
    (:mod:`qa.rerank`), then by ``then`` if given (a further reordering, called with the index, the
    query, the ``history`` and the hits: bench/quality.py --cross passes the cross-encoder of
    train/cross_model.py), then by the names of the question, then folded.

    Without it, the CANDIDATES best are looked at when the question names something (the names reorder
    them). Without names, the fold reads hits in rank order and stops at the first new passage past
    ``top_k``, so the FEW_CANDIDATES best give the same result whenever the fold stops inside them
    (or there are no more): scoring the few is cheaper than scoring many. Otherwise it reads the
    CANDIDATES best, as with names."""
    if model is not None:
        hits = reorder(index, query, search(index, query, max(top_k, RERANK_CANDIDATES), filters), model)
        if then is not None:
            hits = then(index, query, history or [], hits)
        hits, named = prefer_named(index, query, hits)
        return fold_duplicates(index, hits, top_k), named
    many = max(top_k, CANDIDATES)
    few = top_k + FEW_CANDIDATES
    if not query.names and few < many:
        hits = search(index, query, few, filters)
        folded = fold_duplicates(index, hits, top_k)
        if len(hits) < few or len(folded) + sum(len(copies) for _, copies in folded) < len(hits):
            return folded, bool(hits)
    hits, named = prefer_named(index, query, search(index, query, many, filters))
    return fold_duplicates(index, hits, top_k), named


def _lead_first(passages: list[dict], quoted: list[tuple[str, int]]) -> tuple[list[dict], list[tuple[str, int]]]:
    """Passages renumbered so that the one the answer leads with becomes [1] (the others keep their
    order), and the answer's sentences with them."""
    order = [quoted[0][1]] + [p["rank"] for p in passages if p["rank"] != quoted[0][1]]
    new_rank = {old: i + 1 for i, old in enumerate(order)}
    by_rank = {p["rank"]: p for p in passages}
    return ([{**by_rank[old], "rank": new_rank[old]} for old in order],
            [(sentence, new_rank[rank]) for sentence, rank in quoted])


def ask(index: Index, question, top_k=DEFAULT_TOP_K, history=None, filters: Filters | None = None,
        rerank: bool | Model = False, then: Reorder | None = None) -> dict:
    """The full /ask response body for one question. ``rerank``: True for the shipped second stage,
    False for none (the engine's order), or a :class:`qa.rerank.Model` to use. ``then``: a further
    reordering after the second stage, when there is one (measurement only: see :func:`best_passages`)."""
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
    model = shipped_model() if rerank is True else rerank or None
    folded, named = best_passages(index, query, top_k, filters, model, then, history)
    passages = [_passage(index, i + 1, h.chunk, h.score, copies) for i, (h, copies) in enumerate(folded)]
    need = MIN_EVIDENCE_FOLLOW_UP if history else MIN_EVIDENCE
    found = named and bool(folded) and matched_weight(index, query, folded[0][0].chunk) >= need
    answer = NOT_FOUND
    if found:
        quoted = extract_answer(index, query, passages, [h.chunk for h, _ in folded])
        if quoted[0][1] != 1:  # the passage the answer leads with is shown first
            passages, quoted = _lead_first(passages, quoted)
        answer = " ".join(f"{sentence} [{rank}]" for sentence, rank in quoted)
    return {
        "question": question,
        "found": found,
        "answer": answer,
        "passages": passages,
        "index_version": index.version,
        "took_ms": round((time.perf_counter() - t0) * 1000, 3),
    }
