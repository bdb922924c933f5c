"""Questions about one document's header ("What is the headline of the article dated February 3, 2014?", "When was
the article "Harbour plans approved" published?"), answered from the header lines themselves, cited.

The header names the document (by its headline, outlet or date line) and holds the answer (another of its lines).
Retrieval finds that header, but the small model then has to read a line's role from a label and often repeats
the question instead. The lines' roles are known (`evidence.header_roles`)
and every document's header is in memory (`HybridRetriever.openings`), so the line asked for is read off the one
document whose header (or date) holds every other word of the question, at no model cost. When no document or
more than one fits, the question goes the usual way.

Example:
    >>> asked_header("What is the headline of the article dated February 3, 2014?")
    ('headline', ('2014', '3', 'february'))
    >>> asked_header("What is the headline of the article about Norway?")
    ('headline', ('norway',))
    >>> asked_header("Who met Brook?") is None
    True
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.evidence import Evidence, header_lines
from assistant.retrieval import Passage
from assistant.sources import DOCUMENT, document_terms, names_document

# A question about a document's own header: "What is the headline of the article dated ...?", "What is the date of
# the article <headline>?". The answer is that header's line of the role asked for.
_ASKED_ROLES = (
    ("headline", re.compile(r"\b(what|which)\s+(is|was)\s+the\s+(headline|title)\b", re.IGNORECASE)),
    # "the date of the Daily Courier article", "When was the February 3 story published?"
    ("date line", re.compile(r"\b(what|which)\s+(is|was)\s+the\s+(date|publication date)\s+of\s+the\s+"
                             r"(?:[\w.'’-]+\s+){0,5}?(article|story|report|piece)\b|\bwhen\s+was\s+the\s+"
                             r"(?:[\w.'’-]+\s+){0,5}?(article|story|report|piece)\b", re.IGNORECASE)),
)


def asked_header_role(question: str) -> str | None:
    """"headline" or "date line" when the question asks for that line of an article's header, else None."""
    return next((role for role, pattern in _ASKED_ROLES if pattern.search(question)), None)


_NAMES_A_DOCUMENT = re.compile(rf"\b{DOCUMENT}\b", re.IGNORECASE)
# Words that ask for a header line or say "the article", not which article: what is left names the document.
_FRAME_WORDS = document_terms("what which when is was the headline title date publication of article story report "
                              "piece dated published appeared written")


def asked_header(question: str) -> tuple[str, tuple[str, ...]] | None:
    """The header role a question asks for ("headline" or "date line") and the words that name the document (in
    order of spelling), or None when it asks for no header line."""
    role = asked_header_role(question)
    if role is None or not _NAMES_A_DOCUMENT.search(question):  # "What is the title of the Pope?" is no such question
        return None
    return role, tuple(sorted(document_terms(question) - _FRAME_WORDS))


def header_answer(asked: tuple[str, tuple[str, ...]], openings: Sequence[Passage]
                  ) -> tuple[Evidence | None, list[Evidence], Passage] | None:
    """For the header role and naming words a question asks with (`asked_header`): the asked line of the one
    document they name (None when its header has no line of that role), the other header lines that hold the
    naming words (what the reader can check the choice by), and that document's opening; None when no naming word
    is left, or no single document is named."""
    role, naming = asked
    if not naming:
        return None
    named = [p for p in openings if names_document(" ".join(naming), _header_text(p), p.date or None)]
    if len(named) != 1:
        return None
    lines = header_lines(named[0])
    line = next((ev for ev in lines if ev.role == role), None)
    matched = [ev for ev in lines if ev is not line and document_terms(ev.text) & set(naming)]
    return line, matched, named[0]


def _header_text(opening: Passage) -> str:
    """The document's title and its header lines (the short lines before the body, whose words name no document:
    "the article about the joint call" is about the body, and goes the usual way)."""
    return "\n".join([opening.title, *(line.text for line in header_lines(opening))])
