"""What /ask remembers per generation: bounded caches of per-passage and per-name data, never answers."""
import pytest

from qa.answer import CANDIDATES, ask, quotable_sentences
from qa.search import (DERIVED_REMEMBERED, NAMES_REMEMBERED, PASSAGES_REMEMBERED, _reports_naming_one, make_query,
                       passage_sentences, passage_terms, prefer_named, reports_naming, search)


def test_per_passage_and_per_name_caches_are_bounded(sample_index):
    ask(sample_index, "how is London CRC doing on public protection?")
    sizes = {name: sample_index.memo[name].cache_info().maxsize
             for name in ("sentences", "passage_terms", "quotable", "citations", "reports_naming")}
    assert sizes == {"sentences": PASSAGES_REMEMBERED, "passage_terms": DERIVED_REMEMBERED,
                     "quotable": DERIVED_REMEMBERED, "citations": DERIVED_REMEMBERED,
                     "reports_naming": NAMES_REMEMBERED}


def test_a_reply_changed_by_its_caller_does_not_change_the_next(sample_index):
    question = "how is London CRC doing on public protection?"
    first = ask(sample_index, question)
    expected = [dict(p["citation"]) for p in first["passages"]]
    for p in first["passages"]:
        p["citation"]["page"] = -1
    assert [p["citation"] for p in ask(sample_index, question)["passages"]] == expected


def test_remembered_passage_data_is_what_the_passage_says(sample_index):
    for chunk in range(min(sample_index.n_chunks, 20)):
        text = sample_index.chunk_text(chunk)
        spans = passage_sentences(sample_index, chunk)
        assert passage_terms(sample_index, chunk) == frozenset().union(*(t for _, _, t in spans))
        for start, end, _terms, n_words, _may_quote, _label in quotable_sentences(sample_index, chunk):
            sentence = text[start:end]
            assert sentence == sentence.strip() and n_words == len(sentence.split())


def test_names_remembered_are_not_changed_by_later_questions(sample_index):
    first = reports_naming(sample_index, ["london", "crc"], [], set()).copy()
    reports_naming(sample_index, ["crc"], [], set())[:] = False  # the caller's own array, not the remembered one
    assert (reports_naming(sample_index, ["london", "crc"], [], set()) == first).all()
    assert not _reports_naming_one(sample_index, "crc").flags.writeable


@pytest.mark.parametrize("fixture", ["sample_index", "corpus_index"])
@pytest.mark.parametrize("question", ["how is London CRC doing on public protection?",
                                      "What did the Thames Valley CRC inspection find?",
                                      "Is HM Prison Belmarsh safe?"])
def test_names_are_looked_for_only_where_it_matters(request, fixture, question):
    """prefer_named checks names of several words in the hits' reports only, with the same outcome as
    reports_naming over every report."""
    index = request.getfixturevalue(fixture)
    query = make_query(index, question)
    hits = search(index, query, CANDIDATES)
    ok = reports_naming(index, query.names, query.phrases, set(range(len(index.reports))))
    first = [h for h in hits if ok[int(index.chunk_report[h.chunk])]]
    expected = (first + [h for h in hits if h not in first], bool(first)) if query.names else (hits, bool(hits))
    assert prefer_named(index, query, hits) == expected
