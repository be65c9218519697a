"""What /ask remembers per generation: bounded caches of per-passage and per-name data, never answers."""
from qa.answer import ask, quotable_sentences
from qa.search import (NAMES_REMEMBERED, PASSAGES_REMEMBERED, _reports_naming_one, passage_sentences, passage_terms,
                       reports_naming)


def test_per_passage_and_per_name_caches_are_bounded(sample_index):
    ask(sample_index, "how is London CRC doing on public protection?")
    sizes = {name: sample_index.memo[name].cache_info().maxsize
             for name in ("sentences", "passage_terms", "quotable", "reports_naming")}
    assert sizes == {"sentences": PASSAGES_REMEMBERED, "passage_terms": PASSAGES_REMEMBERED,
                     "quotable": PASSAGES_REMEMBERED, "reports_naming": NAMES_REMEMBERED}


def test_remembered_passage_data_is_what_the_passage_says(sample_index):
    for chunk in range(min(sample_index.n_chunks, 20)):
        text = sample_index.chunk_text(chunk)
        spans = passage_sentences(sample_index, chunk)
        assert passage_terms(sample_index, chunk) == frozenset().union(*(t for _, _, t in spans))
        for start, end, _terms, n_words in quotable_sentences(sample_index, chunk):
            sentence = text[start:end]
            assert sentence == sentence.strip() and n_words == len(sentence.split())


def test_names_remembered_are_not_changed_by_later_questions(sample_index):
    first = reports_naming(sample_index, ["london", "crc"]).copy()
    reports_naming(sample_index, ["crc"])[:] = False  # the caller's own array, not the remembered one
    assert (reports_naming(sample_index, ["london", "crc"]) == first).all()
    assert not _reports_naming_one(sample_index, "crc").flags.writeable
