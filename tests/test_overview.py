"""Questions about the documents as a whole are answered from every document's header, cited to exact spans."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.overview import MAX_LISTED, asked_overview, overview_lines
from tests.openings import opening


@pytest.mark.parametrize(("question", "asked"), [
    ("When were the articles published?", "date line"),
    ("When was each article published?", "date line"),
    ("What are the publication dates of the documents?", "date line"),
    ("What are the articles about?", "headline"),
    ("Which documents do you have?", "headline"),
    ("What are the titles of the documents?", "headline"),
    ("How many articles are in the corpus?", "count"),
    # About the documents' content, or one document: the usual way.
    ("What do the articles say about Chile?", None),
    ("Which articles mention Bergen?", None),
    ("When was the article about local ceasefires published?", None),
    ("Who wrote the reports on Norden?", None),
    ("When were the peace talks due to begin?", None),
])
def test_a_question_about_the_documents_as_a_whole_is_told_from_one_about_their_content(
        question: str, asked: str | None) -> None:
    assert asked_overview(question) == asked


def test_each_document_is_listed_with_its_cited_headline_and_date_line() -> None:
    news = opening("b.txt", "Talks set for Summit\n\nMonday 13th January, 2014\n\nThe talks begin next week.",
                   "Talks set for Summit", "2014-01-13", start=45)
    notes = opening("a.txt", "Meeting notes without a header line of any kind, written as one sentence.", "")
    text, short, cited = overview_lines([news, notes], "date line")
    assert text.splitlines() == [
        "The index holds 2 documents:",
        "- \u201cTalks set for Summit\u201d [1], Monday 13th January, 2014 [2]",
        "- \u201cMeeting notes without a header line of any kind, written as one sentence.\u201d [3], no date given"]
    assert short == "Monday 13th January, 2014"
    # Spans are in document coordinates: the opening of b.txt starts at character 45 of its file.
    assert [(e.doc, e.start, e.end) for e in cited] == [("b.txt", 45, 65), ("b.txt", 67, 92),
                                                        ("a.txt", 0, len(notes.text))]
    assert overview_lines([news, notes], "count")[1] == "2"
    assert overview_lines([news, notes], "headline")[1].startswith("Meeting notes")  # by name when no date asked


def test_a_corpus_without_date_lines_says_so() -> None:
    paragraphs = [opening(f"{i}.txt", f"In April 119{i} the king left Messina with a fleet.", "", date=f"119{i}-04-01")
                  for i in range(3)]
    text, short, _ = overview_lines(paragraphs, "date line")
    assert text.startswith("The index holds 3 documents; none gives a date line in its header:")
    assert short == "" and text.count("no date given") == 3
    reversed_dates = [opening(f"{i}.txt", "Some text.", "", date=f"119{9 - i}-04-01") for i in range(3)]
    assert [e.doc for e in overview_lines(reversed_dates, "date line")[2]] == ["0.txt", "1.txt", "2.txt"]  # by name


def test_a_large_corpus_is_counted_and_only_its_first_documents_listed() -> None:
    openings = [opening(f"{i:04d}.txt", f"Headline {i}\n\nBody.", f"Headline {i}") for i in range(MAX_LISTED + 5)]
    text, short, cited = overview_lines(openings, "count")
    assert text.startswith(f"The index holds {MAX_LISTED + 5} documents; the first {MAX_LISTED} by name are listed:")
    assert short == str(MAX_LISTED + 5) and len(cited) == MAX_LISTED


@pytest.mark.parametrize("mode", ["fast", "llm"])
def test_when_were_the_articles_published_lists_both_dates_cited(seed_assistant: Any, mode: str) -> None:
    """Retrieval alone abstained: no sentence shares a word with the question, and none holds both dates."""
    answer = seed_assistant.ask("When were the articles published?", mode=mode)
    assert not answer.abstained
    assert answer.short_answer == "Monday 13th January, 2014; February 3, 2014 at 10:12 am"
    quotes = [c.quote for c in answer.citations]
    assert quotes == ["Joint call by US and Russia for ceasefire in Syria", "Monday 13th January, 2014",
                      "Russia and America discuss local ceasefires in Syria", "February 3, 2014 at 10:12 am"]
    for citation in answer.citations:
        assert seed_assistant.source_text(citation.doc)[citation.start:citation.end] == citation.quote
        assert f"[{citation.id}]" in answer.answer
