"""Example questions for the chat page, made from what is indexed and checked to be answered."""
from __future__ import annotations

import re

from .answer import ask
from .index import Index

_NOT_A_TOPIC = {
    "annex", "appendix", "background", "conclusion", "conclusions", "contents", "evidence", "foreword", "full report",
    "glossary", "guidance", "index", "inspection team", "introduction", "ministerial foreword", "notes",
    "notes to editors", "outcomes", "purpose", "recommendations", "references", "report", "requirements",
    "resources", "school details", "summary", "the report",
}
_NOT_A_TOPIC_WORDS = {"annex", "appendix", "box", "chapter", "contents", "figure", "figures", "list", "page", "section",
                      "table", "tables", "volume"}
# A phrase holding one of these is a finding or an instruction ("Safeguarding is effective"), not a topic.
_FINDING_WORDS = {"is", "are", "was", "were", "be", "been", "has", "have", "had", "should", "must", "can", "will",
                  "by", "do", "does", "need", "needs", "know", "take", "plan", "means", "goes"}
_DANGLING = {"to", "of", "and", "or", "the", "a", "an", "in", "on", "for", "with"}
_LEAD_IN = re.compile(r"(?m)^[ \t]*[•▪●◦–-][ \t]+([^\W\d_](?:[^\W\d_]|[ ’'-]){2,60}?)[.:](?=\s)")
_TOPIC = re.compile(r"^[^\W\d_]+(?:[ ’'-][^\W\d_]+){0,5}$")


def _topic(phrase: str) -> str | None:
    """The phrase as a topic for a question ("Protecting the public" -> "protecting the public"), or None."""
    phrase = re.sub(r"^(?:\d+[.)]|[A-Z][.)])\s+", "", " ".join(phrase.split())).rstrip(".:")
    words = phrase.split()
    if (not _TOPIC.match(phrase) or phrase.lower() in _NOT_A_TOPIC or words[-1].lower() in _DANGLING
            or any(w.lower() in _FINDING_WORDS | _NOT_A_TOPIC_WORDS for w in words)):
        return None
    # "Overall effectiveness Inadequate", "Government of the United Kingdom": a label and a value, or a name.
    if any(a[:1].islower() and b[:1].isupper() and not b.isupper() for a, b in zip(words, words[1:])):
        return None
    # Keep acronyms (CRC, NPS); lower-case ordinary capitalised words so they read inside a sentence.
    return " ".join(w if len(w) > 1 and w.isupper() and len(words) > 1 else w.lower() for w in words)


def example_questions(index: Index, limit: int = 4, tries_per_report: int = 12) -> list[dict]:
    """Questions about the indexed reports' own topics: the short name in a report's title, its bulleted
    lead-ins ("Protecting the public.") and its headings. Only questions this index answers from that
    same report are offered. Reports of HM Inspectorate of Probation come first, then the newest."""
    reports = sorted(index.reports, key=lambda r: r.get("published") or "", reverse=True)
    reports.sort(key=lambda r: "probation" not in (r.get("publisher") or "").lower())
    per_report = []
    for r in reports:
        if sum(1 for good in per_report if good) >= limit:
            break
        title = r["title"] or ""
        short_title = re.split(r"\s+[-–—]\s+|:\s+", title)[0]
        candidates = []  # (topic, question), each topic phrased two ways
        if len(short_title.split()) >= 2 and _topic(short_title):
            candidates.append((short_title, f"What did the report on {short_title} find?"))
        phrases = [m.group(1) for m in _LEAD_IN.finditer(index.report_text(r["id"]))]
        phrases += [h[2] for h in index.report_layout(r["id"])["headings"]]
        for phrase in phrases:
            topic = _topic(phrase)
            if topic and phrase.strip() != title.strip():
                candidates += [(topic, f"What did inspectors find on {topic}?"),
                               (topic, f"What do the reports say about {topic}?")]
        good, done = [], set()
        for topic, q in list(dict.fromkeys(candidates))[:tries_per_report]:
            if topic in done:
                continue
            body = ask(index, q, top_k=1)
            if body["found"] and body["passages"][0]["citation"]["report_id"] == r["id"]:
                good.append({"question": q, "report_id": r["id"], "title": title})
                done.add(topic)
                if len(good) == limit:
                    break
        per_report.append(good)
    # Round robin: every report's first question, then every report's second one, and so on.
    chosen = [good[n] for n in range(limit) for good in per_report if len(good) > n]
    return chosen[:limit]
