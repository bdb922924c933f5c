"""A question that names the document it asks about: "How long had the conflict lasted, according to the January 13
article?", "... according to the Russia News.Net article?".

The qualifier says which document to read, not what to look for in it: scored against sentences, "January 13" and
"Russia News.Net" pull up sentences with those words (a date of the talks, the outlet's name) and push the answer
out of the prompt. So the qualifier is split off (`split_source`), matched against each candidate document's header
(its title, first lines and date, `names_document`), and when a document matches, the question without it is
answered from that document alone (`Assistant.stream`). When none matches, the question is read as written.

Example:
    >>> split_source("How long had the conflict lasted, according to the January 13 article?")
    ('How long had the conflict lasted?', 'January 13')
    >>> names_document("January 13", "Joint call by US and Russia\\n\\nRussia News.Net\\nMonday 13th January, 2014")
    True
"""

from __future__ import annotations

import re
from datetime import date

from assistant.text import STOP_WORDS, words

# "according to the <source> article", "in the <source> report", "as reported in the <source> story": up to 60
# characters of source, without a question mark or comma (a longer clause is no name of a document).
_NAMED_SOURCE = re.compile(r",?\s*\b(?:according to|as reported (?:by|in)|in|per)\s+the\s+(?P<source>[^?,]{1,60}?)\s+"
                           r"(?:article|report|story|piece|news story)\b", re.IGNORECASE)
# The characters of a document's start that hold its header (headline, outlet, byline, date line).
HEADER_CHARS = 400


# "Which article says ...?", "In what document is ...?", "Where does the line ... come from?": the question asks
# for the source itself, which the citation names, not for something the source says.
_ASKS_FOR_SOURCE = re.compile(r"\b(?:which|what)\s+(?:article|document|story|report|piece|source|file|text|page)s?"
                              r"\b|\bwhere\b.*\b(?:from|appear|appears|come|comes|found)\b", re.IGNORECASE)


def asks_for_source(question: str) -> bool:
    """Whether the question asks which document holds something ("Which article is headlined ...?"): then a
    cited line that repeats the question is the answer, its citation naming the document."""
    return bool(_ASKS_FOR_SOURCE.search(question))


def split_source(question: str) -> tuple[str, str]:
    """The question without the document it names, and that name ("" and the question unchanged when none)."""
    match = _NAMED_SOURCE.search(question)
    if match is None or not _terms(match.group("source")):
        return question, ""
    rest = (question[:match.start()] + question[match.end():]).strip()
    return re.sub(r"\s+([?.!])$", r"\1", rest), match.group("source").strip()


def names_document(source: str, header: str, iso_date: str | None = None) -> bool:
    """Whether every word of `source` is in the document's `header` or its date (ordinals as numbers: "13th" is
    "13"; the date as month name, abbreviation, day and year)."""
    wanted = _terms(source)
    return bool(wanted) and wanted <= _terms(header) | _date_terms(iso_date)


def _terms(text: str) -> set[str]:
    """Lower-case words without stop words, with ordinal suffixes dropped ("3rd" -> "3")."""
    return {re.sub(r"^(\d+)(st|nd|rd|th)$", r"\1", w) for w in words(text) if w not in STOP_WORDS}


def _date_terms(iso_date: str | None) -> set[str]:
    try:
        day = date.fromisoformat(iso_date or "")
    except ValueError:
        return set()
    return {day.strftime("%B").lower(), day.strftime("%b").lower(), str(day.day), str(day.year),
            day.strftime("%A").lower()}
