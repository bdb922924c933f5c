"""A question that names the document it asks about: "How long had the conflict lasted, according to the January 13
article?", "... according to the Harbour Herald article?".

The qualifier says which document to read, not what to look for in it: scored against sentences, "January 13" and
"Harbour Herald" pull up sentences with those words (a date of the talks, the outlet's name) and push the answer
out of the prompt. So the qualifier is split off (`split_source`), matched against each candidate document's header
(its title, first lines and date, `names_document`), and when a document matches, the question without it is
answered from that document alone (`Assistant.stream`). When none matches, the question is read as written.

Example:
    >>> split_source("How long had the conflict lasted, according to the January 13 article?")
    ('How long had the conflict lasted?', 'January 13')
    >>> without_collection("What do the articles say about the budget?")
    'What is said about the budget?'
    >>> names_document("January 13", "Harbour plans approved\\n\\nHarbour Herald\\nMonday 13th January, 2014")
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
# A document named by what it is ("the article"), and the documents named as a whole, in the plural ("the
# articles", "your two documents").
DOCUMENT = r"(?:article|document|doc|story|report|text|file|source|paper|piece)"
DOCUMENTS = r"(?:articles|documents|docs|stories|reports|texts|files|sources|papers|pieces)"
_THE_DOCUMENTS = rf"(?:the|these|those|both|all|your|my|our)\s+(?:\w+\s+)?{DOCUMENTS}"
# "What do the articles say about the budget?": asks what is said, wherever it is said.
_WHAT_DOCUMENTS_SAY = re.compile(rf"^what\s+(?:do|does|did)\s+{_THE_DOCUMENTS}\s+(?:say|report|tell\s+us|tell|mention|"
                                 rf"write|state|claim|reveal|note)\b", re.IGNORECASE)
# "..., according to the articles?", "... in the documents?" at the end of a question (before the context a rule
# rewrite may append, "(Brook Oslo)"): where to look, which is everywhere.
_IN_THE_DOCUMENTS = re.compile(rf",?\s*\b(?:according\s+to|in|from|as\s+reported\s+(?:by|in))\s+{_THE_DOCUMENTS}"
                               rf"\s*(?=[?.!]?\s*(?:\([^()]*\)\s*)?$)", re.IGNORECASE)
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
    if match is None or not document_terms(match.group("source")):
        return question, ""
    rest = (question[:match.start()] + question[match.end():]).strip()
    return re.sub(r"\s+([?.!])$", r"\1", rest), match.group("source").strip()


def without_collection(question: str) -> str:
    """The question without words that only name all the documents: "What do the articles say about the budget?"
    is "What is said about the budget?", "Who met Brook, according to the articles?" is "Who met Brook?".

    The corpus is all there is to read, so such words select nothing; scored against sentences they only blur the
    question's meaning (in one measured case, abstained at confidence 0.23 in fast mode and 0.55 in LLM mode with
    them, answered at 0.89 and 0.93 without).
    """
    rest = _WHAT_DOCUMENTS_SAY.sub("What is said", question)
    rest = _IN_THE_DOCUMENTS.sub("", rest)
    return rest if document_terms(rest) else question


# A document named by its place in the list of documents (by name, as they are listed: "the second article", "the
# last one") or by its date line ("the latest article", "the oldest report").
ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "fifth": 5,
            "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "7th": 7, "eighth": 8, "8th": 8, "ninth": 9, "9th": 9,
            "tenth": 10, "10th": 10, "last": -1, "final": -1}
BY_DATE = {"latest": "latest", "newest": "latest", "newer": "latest", "recent": "latest", "earliest": "earliest",
           "oldest": "earliest", "older": "earliest"}


def position_named(source: str) -> int | str | None:
    """The place `source` names ("second" -> 2, "last" -> -1, "most recent" -> "latest"), None for a name."""
    word = re.sub(r"^(?:the\s+)?(?:most\s+)?", "", source.strip().lower())
    return ORDINALS.get(word) or BY_DATE.get(word)


def document_at(position: int | str, docs: dict[str, str]) -> str | None:
    """The document at `position` among `docs` (name -> ISO date or ""): the n-th by name (-1 the last), or the
    latest or earliest by date; None when there is no such document (no n-th, or no date line at all)."""
    if isinstance(position, int):
        names = sorted(docs)
        index = position - 1 if position > 0 else len(names) + position
        return names[index] if 0 <= index < len(names) else None
    dated = sorted((day, name) for name, day in docs.items() if day)
    if not dated:
        return None
    return dated[-1][1] if position == "latest" else dated[0][1]


def names_document(source: str, header: str, iso_date: str | None = None) -> bool:
    """Whether every word of `source` is in the document's `header` or its date (ordinals as numbers: "13th" is
    "13"; the date as month name, abbreviation, day and year)."""
    wanted = document_terms(source)
    return bool(wanted) and wanted <= document_terms(header) | _date_terms(iso_date)


def document_terms(text: str) -> set[str]:
    """Lower-case words without stop words, with ordinal suffixes dropped ("3rd" -> "3")."""
    return {re.sub(r"^(\d+)(st|nd|rd|th)$", r"\1", w) for w in words(text) if w not in STOP_WORDS}


def _date_terms(iso_date: str | None) -> set[str]:
    try:
        day = date.fromisoformat(iso_date or "")
    except ValueError:
        return set()
    return {day.strftime("%B").lower(), day.strftime("%b").lower(), str(day.day), str(day.year),
            day.strftime("%A").lower()}
