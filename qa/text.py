"""The one tokenizer, used for passages and questions alike.

NFKC, lowercase, word tokens (numbers and one-character tokens kept, so "domain 2" and "key stage 1"
survive), a short reviewed stoplist that keeps negations, American spellings folded into British ones,
then the Snowball English stemmer.
Everything here works with no NLTK data downloaded.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from nltk.stem.snowball import SnowballStemmer

TOKENIZER_VERSION = 3  # 2: hyphenated compounds also give their joined form; 3: American spellings folded

# Function words and question words only. Reviewed by hand: "no", "not", "nor", "against", "without",
# numbers ("one", "two", "first") and domain words are deliberately absent.
STOPWORDS = frozenset(
    """
    a an the and or but if then than so as of at by for from in into on onto to with within about
    is are was were be been being am do does did doing done have has had having
    i me my we our us you your he him his she her it its they them their this that these those
    there here what which who whom whose when where why how
    can could will would shall should may might must
    also just very too such
    """.split()
)

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_stemmer = SnowballStemmer("english")


@lru_cache(maxsize=500_000)
def _stem(word: str) -> str:
    return _stemmer.stem(british(word))


def _forms(pairs: str) -> dict[str, str]:
    """``"us:uk us:uk"`` pairs, each also with its plural ("offenses:offences")."""
    out = {}
    for pair in pairs.split():
        us, uk = pair.split(":")
        out[us], out[us + "s"] = uk, uk + "s"
    return out


# American spellings, folded into the British ones of the reports, so that "offenses", "behavior" or
# "center" find what the reports call "offences", "behaviour" and "centre". The list is of whole words
# (with plurals); the patterns below take the -ize/-yze and -or families and medical prefixes. Each
# rule maps an American form onto the British one; three also join two British forms on purpose:
# "practise" (verb) with "practice", "focussed" with "focused", and "program" with "programme".
_BRITISH = {
    **_forms("offense:offence defense:defence pretense:pretence license:licence catalog:catalogue "
             "dialog:dialogue analog:analogue program:programme center:centre fiber:fibre theater:theatre "
             "liter:litre caliber:calibre specter:spectre luster:lustre maneuver:manoeuvre gray:grey "
             "aluminum:aluminium skeptic:sceptic mold:mould plow:plough judgment:judgement "
             "installment:instalment artifact:artefact"),
    **dict(pair.split(":") for pair in (
        "centered:centred centering:centring cataloged:catalogued cataloging:cataloguing "
        "maneuvered:manoeuvred maneuvering:manoeuvring skeptical:sceptical skepticism:scepticism "
        "moldy:mouldy molding:moulding plowed:ploughed judgmental:judgemental somber:sombre meager:meagre "
        "focussed:focused focussing:focusing skillful:skilful skillfully:skilfully willful:wilful "
        "willfully:wilfully practise:practice practised:practiced practises:practices practising:practicing "
        "fetus:foetus fetal:foetal fetuses:foetuses celiac:coeliac feces:faeces fecal:faecal cesarean:caesarean "
        "diarrhea:diarrhoea edema:oedema").split()),
}
_IZE = re.compile(r"(\w{3,}[iy])z(e|es|ed|ing|er|ers|ation|ations|ational)")
_OR = re.compile(r"(behavi|col|fav|lab|neighb|hon|hum|rum|tum|harb|od|vig|rig|endeav|flav|sav|vap|arm|cand|clam|"
                 r"ferv|parl|splend|val)or(|s|ed|ing|al|ally|ist|ists|ite|ites|able|ably|er|ers|hood|hoods|ful|"
                 r"less|y)")
_PREFIXES = (("hemo", "haemo"), ("hema", "haema"), ("anemi", "anaemi"), ("anesth", "anaesth"),
             ("leukemi", "leukaemi"), ("ischemi", "ischaemi"), ("septicemi", "septicaemi"), ("esophag", "oesophag"),
             ("estrogen", "oestrogen"), ("estradiol", "oestradiol"), ("pediatr", "paediatr"),
             ("orthoped", "orthopaed"), ("gynecolog", "gynaecolog"), ("edemat", "oedemat"))


def british(word: str) -> str:
    """``word`` (lower case) in British spelling where it is a known American one, else unchanged."""
    if word in _BRITISH:
        return _BRITISH[word]
    m = _IZE.fullmatch(word)
    if m:
        return f"{m.group(1)}s{m.group(2)}"
    m = _OR.fullmatch(word)
    if m:
        return f"{m.group(1)}our{m.group(2)}"
    for us, uk in _PREFIXES:
        if word.startswith(us):
            return uk + word[len(us):]
    return word.replace("glycemi", "glycaemi")


def normalize(text: str) -> str:
    """NFKC and lowercase: the form both passages and questions are compared in."""
    return unicodedata.normalize("NFKC", text).lower()


def words(text: str) -> list[str]:
    """Lowercased word tokens before stopping and stemming (apostrophes folded to ')."""
    return [m.group().replace("’", "'") for m in _WORD.finditer(normalize(text))]


_HYPHENATED = re.compile(r"[^\W_]+(?:-[^\W_]+)+")


def tokenize(text: str) -> list[str]:
    """Index terms of ``text``: the same function for passages and questions.

    A hyphenated compound also gives its joined form ("re-offending" -> re, offend, reoffend), so
    it meets the same word written whole ("reoffending").
    """
    norm = normalize(text).replace("’", "'")
    terms = [_stem(w) for w in _WORD.findall(norm) if w not in STOPWORDS]
    if "-" in norm:
        for piece in norm.split():
            if "-" in piece:
                terms += [_stem(w.replace("-", "")) for w in _HYPHENATED.findall(piece)]
    return terms


_RAW_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def cased(text: str) -> bool:
    """Does the case of ``text`` say anything? Not when no word after the first is in lower case: a
    question in capitals or title case ("How Is London CRC Doing?") marks no names."""
    words = _RAW_WORD.findall(text)[1:]
    return not words or any(w.islower() for w in words)


def _is_name(position: int, word: str) -> bool:
    """Is the ``position``-th word of a question a name: capitalised (not as the first word) or in capitals?"""
    return (position > 0 and word[0].isupper()) or (len(word) > 1 and word.isupper())


def name_terms(text: str) -> list[str]:
    """Index terms of the names in a question: words written with a capital (other than the first
    word) or in capitals ("Rough Hay", "CRC", "Belmarsh"). A report that never names them does not
    answer the question, however well its other words match."""
    if not cased(text):
        return []
    names = []
    for i, m in enumerate(_RAW_WORD.finditer(text)):
        w = m.group()
        if _is_name(i, w):
            names.extend(tokenize(w))
    return list(dict.fromkeys(names))


NAME_LINKS = frozenset({"of", "for"})  # lowercase words inside a name: "Bank of England"


_POSSESSIVE = re.compile(r"['’]s$")


def name_phrases(text: str) -> list[str]:
    """Names of two words or more in a question, as written ("Thames Valley CRC", "Bank of England");
    a possessive ends one ("the Cabinet Office's Emergency Preparedness guidance" names two).

    A report that has each word somewhere but never the name itself (one says "Thames", another
    "valley") does not answer a question about it."""
    if not cased(text):
        return []
    phrases, run, previous_end = [], [], 0
    for i, m in enumerate(_RAW_WORD.finditer(text)):
        w = m.group()
        adjacent = bool(run) and not text[previous_end:m.start()].strip()
        is_name = _is_name(i, w)
        if is_name and (adjacent or not run):
            run.append(w)
        elif adjacent and w in NAME_LINKS and not run[-1].isupper():  # not "QALY of MEND"
            run.append(w)
        else:
            phrases.append(run)
            run = [w] if is_name else []
        if run and _POSSESSIVE.search(w):  # a possessive ends a name: "Cabinet Office's Emergency Preparedness"
            phrases.append(run[:-1] + [_POSSESSIVE.sub("", w)])
            run = []
        previous_end = m.end()
    phrases.append(run)
    out = []
    for run in phrases:
        while run and run[-1] in NAME_LINKS:
            run = run[:-1]
        if len(run) > 1:
            out.append(" ".join(run))
    return list(dict.fromkeys(out))


def settings() -> dict:
    """What the index manifest records, so an index built with other settings is refused."""
    return {
        "version": TOKENIZER_VERSION,
        "normalization": "NFKC+lower",
        "stemmer": "snowball-english",
        "stopwords": sorted(STOPWORDS),
        "compounds": "joined",
    }
