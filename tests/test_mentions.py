"""Whether and where the documents mention something is answered by an exhaustive search, cited to the sentences."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.mentions import MAX_CITED, Mention, asked_mention, find_mentions, mention_lines
from assistant.retrieval import Passage


@pytest.mark.parametrize(("question", "expected"), [
    ("Is New Zealand mentioned?", Mention("New Zealand", which=False)),
    ("Was the Kremlin ever named", Mention("Kremlin", which=False)),
    ("Do the articles mention Chile?", Mention("Chile", which=False)),
    ("Does any document talk about \u201cPeru\u201d?", Mention("Peru", which=False)),
    ("Which articles mention Bergen?", Mention("Bergen", which=True)),
    ("What document mentions the Museum?", Mention("Museum", which=True)),
    ("Where is Summit 2 mentioned?", Mention("Summit 2", which=True)),
    ("Did Ada Brook appear?", Mention("Ada Brook", which=False)),  # after "in both articles" is left out
    ("Where does Bergen come up?", Mention("Bergen", which=True)),
    ("Does the ceasefire appear to hold?", None),
    ("Is Ada Brook mentioned? (Norwegian US Tom Alder Paris)", Mention("Ada Brook", which=False)),
    # Questions about content, or a clause too long to be a name: the usual way.
    ("What did Brook say about Chile?", None),
    ("Which country is mentioned as a possible participant?", None),
    ("Is it true that the talks were moved from Summit to Turin and that Chile will attend?", None),
    ("Is the?", None),
])
def test_a_mention_question_names_what_to_search_for(question: str, expected: Mention | None) -> None:
    assert asked_mention(question) == expected


def _chunk(doc: str, text: str, start: int = 0, title: str = "") -> Passage:
    spans, at = [], 0
    for sentence in text.split(" | "):
        spans.append((at, at + len(sentence)))
        at += len(sentence) + 3
    return Passage(chunk_id=f"{doc}-{start}", doc=doc, start=start, end=start + len(text), text=text, title=title,
                   sentences=spans)


def test_every_sentence_saying_the_words_is_found_once_in_document_coordinates() -> None:
    first = _chunk("a.txt", "The Summit II talks begin. | Ceasefires were discussed. | Nothing here.", title="A")
    overlap = _chunk("a.txt", "Ceasefires were discussed. | Nothing here.", start=29, title="A")  # same sentences
    other = _chunk("b.txt", "Summit 2 was delayed. | A ceasefire held.", start=12, title="B")
    found = find_mentions("Summit 2", [first, overlap, other])
    assert [(e.doc, e.start, e.text) for e in found] == [("a.txt", 0, "The Summit II talks begin."),
                                                         ("b.txt", 12, "Summit 2 was delayed.")]
    plural = find_mentions("ceasefire", [first, overlap, other])  # plural and case aside; the overlap counted once
    assert [(e.doc, e.start) for e in plural] == [("a.txt", 29), ("b.txt", 12 + len("Summit 2 was delayed. | "))]
    assert find_mentions("Summit talks", [first, other]) == []  # the words in order, next to each other
    assert [e.text for e in find_mentions("Beyonce", [_chunk("c.txt", "Beyonc\u00e9 sang. | Nothing.")])] == [
        "Beyonc\u00e9 sang."]  # accents aside


def test_yes_cites_the_sentences_no_is_said_plainly_and_which_names_the_documents() -> None:
    chunks = [_chunk(f"{i}.txt", f"Bergen was named in report {i}.", title=f"Report {i}") for i in range(MAX_CITED + 2)]
    found = find_mentions("Bergen", chunks)
    text, short, cited = mention_lines(Mention("Bergen", which=False), found, len(chunks))
    assert text.startswith(f"Yes: \u201cBergen\u201d is mentioned in {MAX_CITED + 2} sentences of {MAX_CITED + 2} "
                           f"documents; the first {MAX_CITED} are cited:")
    assert short == "yes" and len(cited) == MAX_CITED and text.count("\n- ") == MAX_CITED
    which = mention_lines(Mention("Bergen", which=True), found[:2], len(chunks))
    assert which[0].startswith("\u201cBergen\u201d is mentioned in 2 sentences of 2 documents (\u201cReport 0\u201d, "
                               "\u201cReport 1\u201d):")
    assert which[1] == "Report 0; Report 1"
    assert mention_lines(Mention("Peru", which=False), [], 7) == (
        "No: \u201cPeru\u201d does not appear in any of the 7 indexed documents.", "no", [])


def test_mention_questions_on_the_seed_corpus(seed_assistant: Any) -> None:
    """All three abstained: no sentence states that a word occurs, and the model's "YES" is no verifiable span."""
    saudi = seed_assistant.ask("Is Saudi Arabia mentioned?", mode="fast")
    assert not saudi.abstained and saudi.short_answer == "yes" and len(saudi.citations) == 1
    citation = saudi.citations[0]
    assert "Saudi Arabia" in citation.quote
    assert seed_assistant.source_text(citation.doc)[citation.start:citation.end] == citation.quote
    aleppo = seed_assistant.ask("Which articles mention Aleppo?", mode="llm")
    assert aleppo.short_answer == ("Joint call by US and Russia for ceasefire in Syria; Russia and America discuss "
                                   "local ceasefires in Syria")
    assert all("Aleppo" in c.quote for c in aleppo.citations)
    kremlin = seed_assistant.ask("Do the articles mention the Kremlin?", mode="fast")
    assert kremlin.answer == "No: \u201cKremlin\u201d does not appear in any of the 2 indexed documents."
    assert not kremlin.abstained and kremlin.citations == []


def test_a_follow_up_mention_question_searches_for_the_person_meant(seed_assistant: Any) -> None:
    first = seed_assistant.ask("Who is Sergei Lavrov?", mode="fast")
    history = [{"role": "user", "content": "Who is Sergei Lavrov?"}, {"role": "assistant", "content": first.answer}]
    answer = seed_assistant.ask("Is he mentioned in both articles?", history=history, mode="fast")
    assert answer.answer.startswith("Yes: \u201cSergei Lavrov\u201d is mentioned in 2 sentences of 2 documents")
    assert {c.doc for c in answer.citations} == {"000_ba464c03508296b8.txt", "004_e31eb55d49d7f6ac.txt"}
