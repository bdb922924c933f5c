"""A request for a summary is answered with the chosen documents' headlines, dates and opening sentences, each
cited to its exact span; any other question goes the usual way."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.retrieval import Passage
from assistant.summary import (
    LEAD_CHARS,
    SummaryRequest,
    asked_summary,
    chosen_documents,
    lead,
    named_by_headline,
    summary_lines,
)


@pytest.mark.parametrize(("question", "request_"), [
    ("Summarize the first article.", SummaryRequest("ordinal", ordinal=1)),
    ("Summarise document 2", SummaryRequest("ordinal", ordinal=2)),
    ("What is the second article about?", SummaryRequest("ordinal", ordinal=2, explicit=False)),
    ("Give me a short summary of the last article, please", SummaryRequest("ordinal", ordinal=-1)),
    ("Can you sum up the latest article?", SummaryRequest("latest")),
    ("Summarize the articles.", SummaryRequest("all")),
    ("Summarize it in more detail", SummaryRequest("one", longer=True)),
    ("tl;dr", SummaryRequest("all")),
    ("What is the main point of the article?", SummaryRequest("one")),
    ("Sum up the January 13 article.", SummaryRequest("named", name="January 13")),
    ("Summarize the article about prisoner exchanges", SummaryRequest("named", name="prisoner exchanges")),
    ("What is the Harbour Herald article about?", SummaryRequest("named", name="Harbour Herald", explicit=False)),
    # About something the documents say: the usual way.
    ("Summarize what Alder said about Chile.", None),
    ("What is the summary of the talks?", None),
    ("What is Summit II about?", None),
    ("What are the articles about?", None),  # the documents' headlines (assistant.overview)
    ("What was the outcome of the Summit II talks in Turin?", None),
])
def test_a_request_for_a_summary_is_told_from_a_question_about_the_content(
        question: str, request_: SummaryRequest | None) -> None:
    assert asked_summary(question) == request_


def _document(doc: str, text: str, title: str = "", date: str = "", chunk_chars: int = 10_000) -> list[Passage]:
    """The document as chunks of whole lines (a line per sentence), the first holding its header."""
    chunks, at = [], 0
    lines = text.split("\n")
    while lines:
        spans, body, start = [], "", at
        while lines and (not body or len(body) + len(lines[0]) < chunk_chars):
            line = lines.pop(0)
            spans.append((len(body), len(body) + len(line)))
            body += line + "\n"
            at += len(line) + 1
        chunks.append(Passage(chunk_id=f"{doc}-{len(chunks)}", doc=doc, start=start, end=at, text=body, title=title,
                              date=date, sentences=spans, chunk=len(chunks)))
    return chunks


NEWS = ("Talks set for Summit\nMonday 13th January, 2014\nThe talks between the two sides begin next week.\n"
        "Photo: AFP\nBoth delegations have confirmed that they will attend.\nThe venue was moved to Turin.\n"
        "A fourth sentence is not part of the lead.")
NOTES = "Meeting notes of the committee, written as running text.\nThe committee met on a Tuesday in spring."


def test_the_lead_skips_the_header_and_captions_and_gives_each_sentence_once() -> None:
    chunks = _document("news.txt", NEWS, "Talks set for Summit", "2014-01-13", chunk_chars=120)
    assert len(chunks) > 2
    sentences = lead(chunks, 3)
    assert [s.text for s in sentences] == ["The talks between the two sides begin next week.",
                                          "Both delegations have confirmed that they will attend.",
                                          "The venue was moved to Turin."]
    for sentence in sentences:  # document coordinates, across chunks
        assert NEWS[sentence.start:sentence.end] == sentence.text
    assert len(lead(chunks, 1)) == 1


def test_the_lead_stops_at_a_glance_but_never_gives_nothing() -> None:
    long = " ".join(["word"] * (LEAD_CHARS // 5 + 10)) + "."
    chunks = _document("long.txt", f"{long}\n{long}")
    assert [s.text for s in lead(chunks, 3)] == [long]


def test_one_document_is_summarised_by_its_cited_headline_date_and_lead() -> None:
    chunks = _document("news.txt", NEWS, "Talks set for Summit", "2014-01-13")
    text, short, cited = summary_lines(chunks[:1], chunks)
    assert text.splitlines() == [
        "\u201cTalks set for Summit\u201d [1], Monday 13th January, 2014 [2]:",
        "The talks between the two sides begin next week. [3] Both delegations have confirmed that they will "
        "attend. [4] The venue was moved to Turin. [5]"]
    assert short.startswith("The talks between") and short.endswith("Turin.")
    assert [NEWS[e.start:e.end] for e in cited] == [e.text for e in cited]


def test_several_documents_are_summarised_two_sentences_each_by_name() -> None:
    news = _document("b.txt", NEWS, "Talks set for Summit", "2014-01-13")
    notes = _document("a.txt", NOTES)
    text, _, cited = summary_lines(notes[:1] + news[:1], notes + news)
    lines = text.splitlines()
    assert lines[0] == "2 documents, each by its headline and opening sentences:"
    assert lines[1] == ("- a.txt: Meeting notes of the committee, written as running text. [1] The committee met on a "
                        "Tuesday in spring. [2]")
    assert lines[2].startswith("- \u201cTalks set for Summit\u201d [3], Monday 13th January, 2014 [4]: The talks")
    assert lines[2].endswith("will attend. [6]") and len(cited) == 6


@pytest.mark.parametrize(("request_", "chosen", "why"), [
    (SummaryRequest("ordinal", ordinal=1), ["a.txt"], ""),
    (SummaryRequest("ordinal", ordinal=-1), ["b.txt"], ""),
    (SummaryRequest("ordinal", ordinal=3), [], "there is no document number 3: the index holds 2 documents"),
    (SummaryRequest("latest"), ["b.txt"], ""),
    (SummaryRequest("named", name="January 13"), ["b.txt"], ""),
    (SummaryRequest("named", name="Summit"), ["b.txt"], ""),
    (SummaryRequest("named", name="Turin"), [], ""),  # in the text, not the header: the caller searches
    (SummaryRequest("all"), ["a.txt", "b.txt"], ""),
])
def test_the_document_asked_for_is_chosen_by_position_date_or_header(
        request_: SummaryRequest, chosen: list[str], why: str) -> None:
    openings = [_document("b.txt", NEWS, "Talks set for Summit", "2014-01-13")[0], _document("a.txt", NOTES)[0]]
    documents, reason = chosen_documents(request_, openings)
    assert [d.doc for d in documents] == chosen and reason == why


def test_no_date_line_means_no_latest_document() -> None:
    documents, reason = chosen_documents(SummaryRequest("earliest"), _document("a.txt", NOTES)[:1])
    assert documents == [] and "none is the earliest" in reason


@pytest.mark.parametrize("mode", ["fast", "llm"])
def test_summarize_the_first_article_gives_its_cited_opening(seed_assistant: Any, mode: str) -> None:
    """The evidence prefilter abstained: the request names nothing that a sentence says."""
    answer = seed_assistant.ask("Summarize the first article.", mode=mode)
    assert not answer.abstained
    quotes = [c.quote for c in answer.citations]
    assert quotes[:2] == ["Joint call by US and Russia for ceasefire in Syria", "Monday 13th January, 2014"]
    assert quotes[2].startswith("DAMASCUS \u2013 The US and Russia made a joint call Monday")
    assert len(quotes) == 5 and {c.doc for c in answer.citations} == {"000_ba464c03508296b8.txt"}
    for citation in answer.citations:
        assert seed_assistant.source_text(citation.doc)[citation.start:citation.end] == citation.quote
        assert f"[{citation.id}]" in answer.answer


def test_a_summary_of_the_article_about_something_its_header_does_not_name_finds_it_by_content(
        seed_assistant: Any) -> None:
    answer = seed_assistant.ask("Summarize the article about the Friends of Syria meeting in Paris", mode="fast")
    assert not answer.abstained
    assert answer.citations[0].quote == "Russia and America discuss local ceasefires in Syria"
    assert any("matches it best" in note for note in answer.notes)
    missing = seed_assistant.ask("Summarize the fifth article.", mode="fast")
    assert missing.abstained and "there is no document number 5: the index holds 2 documents" in missing.notes


def test_a_longer_summary_gives_twice_the_lead_and_it_is_the_document_the_last_answer_named() -> None:
    text = "\n".join(["Talks set for Summit", "Monday 13th January, 2014"] + [
        f"Sentence number {i} of the running text goes here." for i in range(1, 9)])
    chunks = _document("news.txt", text, "Talks set for Summit", "2014-01-13")
    assert len(summary_lines(chunks[:1], chunks)[2]) == 2 + 3
    assert len(summary_lines(chunks[:1], chunks, longer=True)[2]) == 2 + 6
    other = _document("notes.txt", NOTES)[0]
    last_answer = "\u201cTalks set for Summit\u201d, Monday 13th January, 2014: ..."
    assert named_by_headline(last_answer, [other, chunks[0]]) == [chunks[0]]
    assert named_by_headline("The talks begin next week.", [other, chunks[0]]) == []


def test_summarize_it_after_an_answer_about_one_article_summarises_that_article(seed_assistant: Any) -> None:
    """The rule rewrite appends the last answer's words ("Summarize it (Russia America Syria ...)"): the follow-up
    is read as written, and "it" is the article whose headline the last answer quoted."""
    first = seed_assistant.ask("What is the second article about?", mode="fast")
    history = [{"role": "user", "content": "What is the second article about?"},
               {"role": "assistant", "content": first.answer}]
    answer = seed_assistant.ask("Summarize it in more detail", history=history, mode="fast")
    assert {c.doc for c in answer.citations} == {"004_e31eb55d49d7f6ac.txt"}
    assert answer.citations[0].quote == "Russia and America discuss local ceasefires in Syria"
    assert len(answer.citations) > len(first.citations)  # twice the lead
