"""A question about one document's header line is answered from that header, cited to the line's exact span."""

from __future__ import annotations

import pytest

from assistant.evidence import Evidence
from assistant.headers import asked_header, header_answer
from assistant.retrieval import Passage
from tests.openings import opening

NEWS = opening("b.txt", "Talks set for Summit\n\nDaily Courier\n\nMonday 13th January, 2014\n\nThe talks begin next "
               "week in Summit, officials said.", "Talks set for Summit", "2014-01-13", start=12)
BLOG = opening("a.txt", "Aid reaches Bergen\n\nFebruary 3, 2014 at 10:12 am\n\nThe convoy arrived on Monday.",
               "Aid reaches Bergen", "2014-02-03")
NO_DATE = opening("c.txt", "Notes on the talks\n\nThe talks were long and went on for a week.", "Notes on the talks")


@pytest.mark.parametrize(("question", "asked"), [
    ("What is the headline of the article dated February 3, 2014?", ("headline", ("2014", "3", "february"))),
    ("What was the title of the Daily Courier article?", ("headline", ("courier", "daily"))),
    ("When was the article \"Aid reaches Bergen\" published?", ("date line", ("aid", "bergen", "reaches"))),
    ("What is the title of the Pope?", None),  # no document named: another kind of question
    ("Who met Alder in Paris?", None),
])
def test_a_question_for_a_header_line_is_told_with_the_words_that_name_the_document(question, asked) -> None:  # noqa: ANN001
    assert asked_header(question) == asked


def _read(question: str) -> tuple[Evidence | None, list[Evidence], Passage] | None:
    """What the header of one of the three openings above answers `question` with."""
    asked = asked_header(question)
    assert asked is not None
    return header_answer(asked, [BLOG, NEWS, NO_DATE])


def test_the_line_asked_for_is_read_from_the_one_header_the_question_names() -> None:
    line, matched, opening = _read("What is the headline of the article dated February 3, 2014?")
    assert opening is BLOG and line.text == "Aid reaches Bergen"
    assert (line.doc, line.start, line.end) == ("a.txt", 0, 18)
    assert [m.text for m in matched] == ["February 3, 2014 at 10:12 am"]  # the line it was named by
    line, matched, opening = _read("What is the date of the Daily Courier article?")
    # document coordinates: the opening of b.txt starts at character 12 of its file
    assert line.text == "Monday 13th January, 2014" and (line.start, line.end) == (12 + 37, 12 + 62)
    assert [m.text for m in matched] == ["Daily Courier"]
    line, matched, opening = _read('When was the article "Notes on the talks" published?')
    assert opening is NO_DATE and line is None  # named, but its header has no date line: nothing to cite
    # the body's words name no document; two documents or none named: the usual way
    assert _read("What is the headline of the article about officials in Summit?") is None
    assert _read("What is the headline of the article about the talks?") is None
    assert _read("What is the headline of the article dated March 5, 2015?") is None


def test_a_header_question_is_answered_from_the_seed_headers_without_the_model(seed_assistant) -> None:  # noqa: ANN001
    answer = seed_assistant.ask("What is the headline of the article dated February 3, 2014?", mode="llm")
    assert answer.short_answer == "Russia and America discuss local ceasefires in Syria" and not answer.abstained
    assert answer.answer.endswith("[1][2]") and answer.citations[1].quote.startswith("February 3, 2014")
    for citation in answer.citations:
        source = (seed_assistant.settings.corpus_dir / citation.doc).read_text(encoding="utf-8")
        assert source[citation.start:citation.end] == citation.quote
    assert answer.citations[0].quote == answer.short_answer
    assert answer.timings_ms.get("generate_ms") is None  # read off the header: no model call
