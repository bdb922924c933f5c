"""Word overlap counts a word the question writes in capitals where a sentence spells it out as a name's initials."""

from __future__ import annotations

from assistant.text import TermStats, acronyms, lexical_overlap, query_terms


def test_a_name_holds_the_acronym_of_each_of_its_stretches() -> None:
    assert acronyms("a conference where the United Nations is seeking $6.5 billion") == {"un"}
    assert {"nfl", "dd"} <= acronyms("The National Football League and the Department of Defense")
    assert acronyms("Alder met Brook in Paris.") == set()  # single capitalised words make no acronym
    assert acronyms("He said nothing at all.") == set()


def test_a_question_shares_its_acronyms_with_the_sentence_that_spells_them_out() -> None:
    stats = TermStats(["the United Nations is seeking money", "the Arab League envoy", "something else entirely"])
    seeking = "Alder will head to Kuwait City, where the United Nations is seeking $6.5 billion to aid Nordics."
    assert lexical_overlap(query_terms("How much money is the UN seeking?"), seeking, stats) > lexical_overlap(
        query_terms("How much money is the IMF seeking?"), seeking, stats)
    assert lexical_overlap(query_terms("Who is Al-Olsson?"), "the UN-Arab League envoy", stats) == 0  # not "AL"
    assert lexical_overlap(query_terms("Where will the US team play?"), "The United States team plays.", stats) > 0
