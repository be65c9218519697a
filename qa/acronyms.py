"""Acronyms learned from the reports themselves: "Community Rehabilitation Company (CRC)" teaches
that CRC and the full name mean the same thing, so a question using one finds passages using the other."""
from __future__ import annotations

import re
from collections import Counter

from .text import STOPWORDS, tokenize

_DEFINITION = re.compile(
    r"((?:[A-Z][\w’'&-]*[ \t]+(?:(?:of|and|for|the|on|in|to|&)[ \t]+)*){1,9}[A-Z][\w’'-]*)[ \t]*\(([A-Z][A-Za-z]{1,9})\)"
)


def _long_form(words: list[str], acronym: str) -> list[str] | None:
    """The shortest tail of ``words`` whose capitalised words' initials spell ``acronym``."""
    letters = acronym.rstrip("s").upper() if acronym.endswith("s") and not acronym.isupper() else acronym.upper()
    for start in range(len(words) - 1, -1, -1):
        tail = words[start:]
        initials = "".join(w[0].upper() for w in tail if w.lower() not in STOPWORDS and w != "&")
        if initials == letters:
            return tail
        if len(initials) > len(letters):
            return None
    return None


def learn(texts: list[str]) -> dict[str, list[str]]:
    """{acronym term: the terms of its most frequent long form} from definitions in ``texts``."""
    seen: dict[str, Counter] = {}
    for text in texts:
        for m in _DEFINITION.finditer(text):
            acronym = m.group(2)
            words = m.group(1).split()
            long_form = _long_form(words, acronym)
            if not long_form or len(long_form) < 2:
                continue
            key = tokenize(acronym)
            terms = tokenize(" ".join(long_form))
            if len(key) == 1 and len(terms) >= 2:
                seen.setdefault(key[0], Counter())[tuple(terms)] += 1
    return {acr: list(forms.most_common(1)[0][0]) for acr, forms in seen.items()}
