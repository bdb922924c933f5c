"""Word overlap counts a word however a sentence writes it: as digits, or as the initials of a name."""

from __future__ import annotations

from assistant.text import TermStats, acronyms, lexical_overlap, present_terms, query_terms


def test_a_name_holds_the_acronym_of_each_of_its_stretches() -> None:
    assert acronyms("a conference where the United Nations is seeking $6.5 billion") == {"un"}
    assert {"nfl", "dd"} <= acronyms("The National Football League and the Department of Defense")
    assert acronyms("Kerry met Lavrov in Paris.") == set()  # single capitalised words make no acronym
    assert acronyms("He said nothing at all.") == set()


def test_a_question_shares_its_acronyms_and_numbers_with_the_sentence_that_spells_them_out() -> None:
    stats = TermStats(["the United Nations is seeking money", "the Geneva II talks begin in Montreux",
                       "a nearly three-year conflict", "something else entirely"])
    seeking = "Kerry will head to Kuwait City, where the United Nations is seeking $6.5 billion to aid Syrians."
    assert lexical_overlap(query_terms("How much money is the UN seeking?"), seeking, stats) > lexical_overlap(
        query_terms("How much money is the IMF seeking?"), seeking, stats)
    talks = "Kerry and Lavrov called for a ceasefire ahead of the Geneva II talks due to begin in Montreux."
    assert lexical_overlap(query_terms("Where will Geneva 2 take place?"), talks, stats) == lexical_overlap(
        query_terms("Where will Geneva II take place?"), talks, stats) > 0
    assert "3" in present_terms("after a nearly three-year conflict") and "3" in query_terms("a 3-year conflict")
    assert lexical_overlap(query_terms("Where will the US team play?"), "The United States team plays.", stats) > 0
