"""What a report says about itself: whether a name reads as a title, the body that published it and
the dates it states.

File metadata is written by programs and by the people who saved the file ("[Insert title of
document]", "coopersk", "Acrobat Pro 24.2"), so a report's own words come first: every reader
(PDF, HTML, Markdown, text) hands the opening text of its report here. ``cover`` is that text with
one display block or paragraph a line, and no longer than :data:`COVER_CHARS` (the patterns here
then take bounded time whatever a hostile file holds).
"""
from __future__ import annotations

import re
from datetime import date

COVER_CHARS = 6000
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
_MONTH = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|" \
         r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
_DAY_MONTH_YEAR = rf"(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH})\s+(\d{{4}})"
_STATED_PUBLISHED = re.compile(
    rf"\b(?:published(?:\s+on)?|re-?issue\s+date|issue\s+date|publication\s+date|date\s+of\s+publication|"
    rf"(?:last\s+)?updated)\s*:?\s*{_DAY_MONTH_YEAR}", re.I)
_COVER_DATE = re.compile(rf"^(?:(\d{{1,2}})(?:st|nd|rd|th)?\s+)?({_MONTH})\s+(\d{{4}})$", re.I)
_INSPECTED = re.compile(
    rf"\binspection\s+dates?\s*:?\s*(\d{{1,2}})(?:\s+({_MONTH}))?(?:\s+(\d{{4}}))?"
    rf"(?:\s*(?:[-–—]|to|and)\s*{_DAY_MONTH_YEAR})?", re.I)

_PLACEHOLDER = re.compile(r"\[.*\]|\binsert\b|^(microsoft (word|powerpoint|excel)\b|untitled\b|document\s*\d*$)", re.I)
_FILE_NAME = re.compile(r"\.(docx?|pdf|indd|xlsx?|pptx?|odt|rtf|txt|html?)$|^[\w.-]+$", re.I)
_DRAFT = re.compile(r"^\d{6,8}\b|\b(FINAL|DRAFT|[vV]\d+(\.\d+)*)\b|\b\d+\.\d+$|"
                    r"(?i:\((standard|large) print\)|\btrack(ed)? changes\b)")
_GENERIC = re.compile(r"^(the\s+)?(final\s+|full\s+|main\s+)?(report|guidance|summary|document|response|contents|"
                      r"overview|introduction|foreword|title|cover)$", re.I)
_CONNECTIVE_END = re.compile(r"\b(to|of|on|and|or|the|a|an|for|in|at|by|with|from|into)$|[,:–-]$", re.I)

_NAME_WORD = r"(?:UK|IT|NHS|[A-Z][a-z][\w’'-]*)"
_LINK_WORD = r"(?:and|with|of|on|for|into|the|&)"
_NOT_A_NAME = r"(?!(?:The|This|That|These|Its|Our|Their|Each|Every|An?|In|Report|Select|Sub|Inquiry|Committee)\b)"
_COMMITTEE = re.compile(rf"(?<![\w-]){_NOT_A_NAME}{_NAME_WORD}(?: (?:{_NAME_WORD}|{_LINK_WORD})){{0,8}}? "
                        r"(?:Select )?Committee\b")
_HOUSE = re.compile(r"\bHouse of (Lords|Commons)\b", re.I)
_INQUIRY = re.compile(rf"(?<![\w-]){_NOT_A_NAME}{_NAME_WORD}(?: (?:{_NAME_WORD}|of|into)){{0,6}}? Inquiry\b")
_GOVERNMENT = re.compile(r"^(UK |HM |His Majesty['’]s |Her Majesty['’]s )?Government\b", re.I)
_BODIES: list[tuple[re.Pattern, str | None]] = [  # a pattern, and the body's usual name (None: as found)
    (re.compile(r"\bOfsted\b"), "Ofsted"),
    (re.compile(r"\b(?:HM|His Majesty['’]s|Her Majesty['’]s) Inspectorate of (Prisons|Probation|Constabulary)"
                r"(?: and Fire & Rescue Services)?\b"), None),
    (re.compile(r"\bHMICFRS\b"), "HM Inspectorate of Constabulary and Fire & Rescue Services"),
    (re.compile(r"\bCare Quality Commission\b"), "Care Quality Commission"),
    (re.compile(r"\b(?:HM Prison (?:and|&) Probation Service|HMPPS)\b"), "HM Prison and Probation Service"),
    (re.compile(r"\bDepartment (?:for|of) [A-Z][a-z]+(?:(?:,| and|,? &)? [A-Z][a-z]+)*"), None),
    (re.compile(r"\bMinistry of [A-Z][a-z]+(?:(?:,| and|,? &)? [A-Z][a-z]+)*"), None),
    (re.compile(r"\b(?:Home Office|Cabinet Office|HM Treasury|Foreign, Commonwealth (?:and|&) Development Office)\b"),
     None),
    (re.compile(r"\b(?:Metropolitan Police(?: Service)?|Met HQ)\b"), "Metropolitan Police Service"),
    (re.compile(rf"\b{_NOT_A_NAME}(?:[A-Z][a-z]+ ){{1,3}}(?:Police|Constabulary)\b(?! and)"), None),
    (re.compile(r"\bParliamentary and Health Service Ombudsman\b"), None),
    (_INQUIRY, None),
]


def reads_as_title(text: str | None) -> bool:
    """A name a reader would take for a report's title: not a template placeholder, a file name, a
    date-stamped draft name, a single word, a generic label ("Report") or a line cut off mid-phrase."""
    text = (text or "").strip()
    if not 2 <= len(text.split()) <= 40 or len(text) > 300:
        return False
    return not (_PLACEHOLDER.search(text) or _FILE_NAME.search(text) or _DRAFT.search(text)
                or _GENERIC.match(text) or _CONNECTIVE_END.search(text))


def first_words(line: str, limit: int = 160) -> str:
    """A first line standing for a title, cut at a word boundary within ``limit`` characters."""
    return line if len(line) <= limit else line[:limit].rsplit(" ", 1)[0] + " …"


def is_generic(text: str) -> bool:
    """A label that names no report ("Report", "The Report", "Guidance")."""
    return bool(_GENERIC.match(text.strip()))


def names_a_body(text: str) -> bool:
    """The whole of ``text`` is the name of an inquiry or a committee ("Infected Blood Inquiry")."""
    return any(p.fullmatch(text.strip()) for p in (_INQUIRY, _COMMITTEE))


def ends_mid_phrase(text: str) -> bool:
    """A line that stops on a connective ("Management of security at") goes on in the next."""
    return bool(_CONNECTIVE_END.search(text.strip()))


def publisher_named(cover: str, title: str | None = None, colophon: str = "") -> str | None:
    """The public body the report names as its own on its opening pages, or None.

    A title that opens with "Government" (a government response) is HM Government's. Otherwise the
    body named first on the cover, from a lexicon of UK public bodies: inspectorates, Ofsted, both
    Houses (with the committee the cover names), committees, departments, HMPPS, police forces,
    inquiries. ``colophon`` (a PDF's last page: "The Office for Standards in Education ... (Ofsted)")
    is read after the cover.
    """
    if title and _GOVERNMENT.match(title):
        return "HM Government"
    text = f"{cover[:COVER_CHARS]}\n{colophon[:COVER_CHARS]}"
    committee = _COMMITTEE.search(text)
    found = [(m.start(), usual or m.group()) for pattern, usual in _BODIES for m in [pattern.search(text)] if m]
    if committee:
        found.append((committee.start(), committee.group()))
    house = _HOUSE.search(text)
    if house:
        name = f"House of {house.group(1).title()}"
        if committee and not committee.group().startswith("House of"):
            name = f"{name} {committee.group()}"
        found.append((house.start(), name))
    return min(found)[1] if found else None


def _iso(day: str | None, month: str, year: str) -> str | None:
    number = next((i for i, m in enumerate(_MONTHS, 1) if m.startswith(month.lower()[:3])), None)
    if number is None:
        return None
    if day is None:
        return f"{int(year):04d}-{number:02d}"
    try:
        return date(int(year), number, int(day)).isoformat()
    except ValueError:
        return None


def cover_date(line: str) -> str | None:
    """A line that is only a date ("July 2024", "20 May 2024"), as ISO (month precision when no day)."""
    m = _COVER_DATE.match(line.strip())
    return _iso(m.group(1), m.group(2), m.group(3)) if m else None


def stated_dates(cover: str, title: str | None = None) -> dict:
    """Dates the report states: ``published`` ("published 19 July 2011", "Re-Issue Date: 30 May 2023",
    else a date standing alone on the cover that is not part of the title) and ``inspected`` ("Inspection
    dates 9-10 November 2016": one ISO date, or ``start/end``)."""
    found: dict = {}
    cover = cover[:COVER_CHARS]
    m = _STATED_PUBLISHED.search(cover)
    published = _iso(*m.groups()) if m else None
    if published is None:
        published = next((d for line in cover.splitlines() if (d := cover_date(line))
                          and line.strip() not in (title or "")), None)
    if published:
        found["published"] = published
    m = _INSPECTED.search(cover)
    if m:
        day, month, year, end_day, end_month, end_year = m.groups()
        if end_day:
            start, end = _iso(day, month or end_month, year or end_year), _iso(end_day, end_month, end_year)
            if start and end:
                found["inspected"] = start if start == end else f"{start}/{end}"
        elif month and year and (single := _iso(day, month, year)):
            found["inspected"] = single
    return found


def describe(cover: str, meta: dict, title: str | None, colophon: str = "") -> dict:
    """``meta`` with the report's own words over it: ``title`` (when given), the publisher it names
    (else none: an author field is never a publisher) and the dates it states on its cover."""
    out = {k: v for k, v in meta.items() if k not in ("author", "publisher")}
    if title:
        out["title"] = title
    publisher = publisher_named(cover, out.get("title"), colophon) or meta.get("publisher")
    if publisher:
        out["publisher"] = publisher
    out.update(stated_dates(cover, out.get("title")))
    return out
