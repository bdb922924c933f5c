"""Questions about the documents as a whole ("What are the articles about?", "When were they published?"),
answered from each document's header lines, cited to their exact spans.

Retrieval cannot answer these: "When were the articles published?" shares no word with "Monday 13th January,
2014", and no one sentence holds the dates of all documents, so the evidence prefilter used to abstain. Every
document's first chunk is in memory (`HybridRetriever.openings`) and its header lines are told apart by role
(`evidence.header_roles`), so the answer lists each document's headline, with its date line, at no model cost.
A question that names anything besides the documents ("What do the articles say about the budget?") is a question
about their content and goes the usual way.

Example:
    >>> asked_overview("When were the articles published?")
    'date line'
    >>> asked_overview("What do the articles say about the budget?") is None
    True
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.evidence import Evidence, found_evidence, header_lines
from assistant.retrieval import Passage
from assistant.sources import DOCUMENT, DOCUMENTS
from assistant.text import content_terms

# The documents named as a whole: in the plural after an article or a determiner ("the articles", "your
# documents"), with "each"/"every"/"either", the corpus itself, or asked for by "which/what/how many".
COLLECTION = re.compile(
    rf"\b(?:(?:the|these|those|both|all|your|my|our)\s+(?:\w+\s+)?{DOCUMENTS}"
    rf"|(?:each|every|either)\s+(?:of\s+the\s+{DOCUMENTS}|{DOCUMENT})"
    rf"|(?:the|your|this|my)\s+(?:corpus|collection|library|index)"
    rf"|(?:which|what|how\s+many)\s+{DOCUMENTS})\b", re.IGNORECASE)
_ASKS_COUNT = re.compile(r"\bhow\s+many\b|\bnumber\s+of\b", re.IGNORECASE)
_ASKS_DATE = re.compile(r"\b(?:when|dates?|dated|published|publication|written|appeared)\b", re.IGNORECASE)
# Words that only say "the documents" or what about them is asked; any other content word makes the question one
# about their content. Stemmed like `content_terms`.
META_TERMS = frozenset(content_terms(
    "article articles document documents doc docs story stories report reports text texts file files source sources "
    "paper papers piece pieces corpus collection library index indexed publish published publication written write "
    "wrote date dates dated appear appeared title titles headline headlines topic topics subject subjects summary "
    "summarise summarize overview cover covered discuss contain hold list main give show name names many number "
    "available read describe concern deal provide"))
# Listed documents at most: the answer to "which documents do you have?" over a thousand files is their count and
# the first few, not a page of headlines.
MAX_LISTED = 10


def asked_overview(question: str) -> str | None:
    """"date line" when the question asks when the documents were published, "count" when it asks how many there
    are, "headline" when it asks what they are or are about, None when it is about anything else."""
    if not COLLECTION.search(question):
        return None
    if set(content_terms(question)) - META_TERMS:
        return None
    if _ASKS_DATE.search(question):
        return "date line"
    return "count" if _ASKS_COUNT.search(question) else "headline"


def overview_lines(openings: Sequence[Passage], asked: str) -> tuple[str, str, list[Evidence]]:
    """The answer text (with marks), its short answer (the headlines, the date lines or the count, as `asked`)
    and the cited header lines, for each document's opening.

    A document is shown by its headline (else its first line) and its date line when it has one, dated ones in
    date order when dates are asked for, else by name. Marks number the cited lines in order of appearance.
    """
    date_lines = {p.doc: header_line(p, "date line") for p in openings}

    def order(passage: Passage) -> tuple[bool, str, str]:
        # Dated documents first, in date order, when dates are asked for (a date found in a document's text without
        # a date line in its header is no publication date); the rest by name.
        dated = asked == "date line" and date_lines[passage.doc] is not None
        return not dated, (passage.date or "") if dated else "", passage.doc

    docs = sorted(openings, key=order)
    listed = docs[:MAX_LISTED]
    cited: list[Evidence] = []
    rows, shorts = [], []
    for passage in listed:
        headline, date_line = header_line(passage, "headline"), date_lines[passage.doc]
        headline = headline or _first_line(passage)
        row = marked_heading(headline, date_line, passage.doc, cited)
        if date_line is None and asked == "date line":
            row += ", no date given"
        rows.append(f"- {row}")
        shown = date_line if asked == "date line" else headline
        if shown is not None:
            shorts.append(shown.text)
    count = f"{len(docs)} document{'s' if len(docs) != 1 else ''}"
    short = str(len(docs)) if asked == "count" else "; ".join(shorts)
    intro = f"The index holds {count}"
    if asked == "date line" and not any(date_lines.values()):
        intro += f"; {'none gives' if len(docs) > 1 else 'it gives no'} a date line in its header"
    if len(listed) < len(docs):
        by_date = asked == "date line" and any(date_lines.values())
        intro += f"; the first {len(listed)} by {'date' if by_date else 'name'} are listed"
    return "\n".join([f"{intro}:", *rows]), short, cited


def marked_heading(headline: Evidence | None, date_line: Evidence | None, name: str, cited: list[Evidence]) -> str:
    """A document as a reader knows it: its headline in quotes (else its `name`) and its date line, each marked with
    the number it gets when appended to `cited`."""
    heading = name
    if headline is not None:
        cited.append(headline)
        heading = f"\u201c{headline.text}\u201d [{len(cited)}]"
    if date_line is not None:
        cited.append(date_line)
        heading += f", {date_line.text} [{len(cited)}]"
    return heading


def header_line(passage: Passage, role: str) -> Evidence | None:
    """The header line of `role` in a document's opening passage, as evidence with document coordinates."""
    return next((line for line in header_lines(passage) if line.role == role), None)


def _first_line(passage: Passage) -> Evidence | None:
    """The opening's first sentence or line, standing in for a headline the document does not have."""
    return found_evidence(passage, *passage.sentences[0]) if passage.sentences else None
