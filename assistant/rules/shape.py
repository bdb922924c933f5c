"""Shape rules: the phrase a reader is shown, once the reply is verified.

Asked for a header line (the headline, the date line), the line of that header is the answer (`asked_header_line`,
`answer_the_asked_line`); half a bracketed aside is dropped (`without_open_aside`); "How many ...?" gets the count
alone (`count_alone`); a question asking what someone said gets the statement (`ASKS_WHAT_WAS_SAID`). `bare_phrase`
applies the last two rules that trim a located phrase.

Example:
    >>> count_alone("Six-time", "How many titles did she win?")
    'Six'
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.evidence import Evidence
from assistant.grounding import CheckedAnswer
from assistant.rules import Rules
from assistant.rules.reply import HOW_MANY

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


def asked_header_line(cited: Evidence, evidence: Sequence[Evidence], question: str) -> Evidence | None:
    """The line of `cited`'s header that the question asks for, when `cited` is another line of that header.

    Asked "the headline of the article dated February 3", the date line is what matches the question, but the
    line that answers it is that header's headline (None when the question asks for no header line, `cited` is
    body text or already the line asked for, or the evidence holds no such line).
    """
    role = asked_header_role(question)
    if role is None or not cited.role or cited.role == role:
        return None
    return next((e for e in evidence if e.doc == cited.doc and e.role == role), None)


def answer_the_asked_line(checked: CheckedAnswer, evidence: Sequence[Evidence], question: str) -> CheckedAnswer:
    """The header line the question asks for, when the reply cites another line of the same header.

    The small model cites the line it matched (`asked_header_line`); a citation is checked for the kind of line
    asked for as it is for support. The line the model cited stays cited after it: it is what ties the answer
    to the question (the date asked about).
    """
    cited = checked.supported[0] if checked.supported else None
    line = asked_header_line(cited, evidence, question) if cited else None
    if line is None:
        return checked
    return CheckedAnswer(phrase=line.text.strip(), supported=[line, cited], dropped_marks=checked.dropped_marks,
                         said_not_found=False)


def without_open_aside(phrase: str) -> str:
    """The phrase without a bracketed aside it opens but does not close ("Politics and Polemics 1531–46 (1983" ->
    "Politics and Polemics 1531–46"), and without an aside's end it starts inside ("RCA), which owned two radio
    networks" -> "which owned two radio networks"): the model stopped, or started, inside the brackets, and half an
    aside is not a phrase. A phrase that is all aside is kept."""
    opened = phrase.rfind("(")
    if opened > 0 and ")" not in phrase[opened:]:
        phrase = phrase[:opened].rstrip(" ,;:")
    closed = phrase.find(")")
    if 0 <= closed < len(phrase) - 1 and "(" not in phrase[:closed]:
        phrase = phrase[closed + 1:].lstrip(" ,;:")
    return phrase


def count_alone(phrase: str, question: str) -> str:
    """For "How many ...?", the number of a phrase that joins it to a word ("Six" for "Six-time", asked how many
    Grammys; "two" for "two-man", asked how many people): the count is the answer, the word only describes it.

    Of SQuAD-even's "how many" questions whose gold number the source joins so, 13 take the number alone and 3 the
    whole ("39-yard", "512-bit", "1024-bit", each asked in the unit it names).
    """
    match = _JOINED_COUNT.fullmatch(phrase.strip())
    return match.group("count") if match and HOW_MANY.search(question) else phrase


_JOINED_COUNT = re.compile(r"(?P<count>\d[\d.,]*|(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
                           r"twenty|thirty|forty|fifty|hundred)(?:-(?:one|two|three|four|five|six|seven|eight|nine))?)"
                           r"-[a-z]+", re.IGNORECASE)


# "What did Brook say about the budget?", "What has Alder stressed?", "What was said about the talks?": a statement
# is asked for, not a name or a number.
ASKS_WHAT_WAS_SAID = re.compile(
    r"\bwhat\s+(?:(?:did|does|do|has|have|had)\s+(?:\S+\s+){1,6}?(?:say|said|tell|told|stress(?:ed)?|warn(?:ed)?|"
    r"note(?:d)?|state(?:d)?|claim(?:ed)?|announce(?:d)?|add(?:ed)?|argue(?:d)?|insist(?:ed)?|write|written|"
    r"declare(?:d)?|repl(?:y|ied)|respond(?:ed)?|admit(?:ted)?|explain(?:ed)?)|(?:is|was|were|has\s+been)\s+"
    r"(?:said|stated|claimed|announced|written|reported))\b", re.IGNORECASE)


OFFERS_CHOICE = re.compile(r"\bor\b", re.IGNORECASE)  # "Is Wellington in the north or south island?"


def bare_phrase(located: str, cited: Sequence[Evidence], question: str, rules: Rules) -> str:
    """The short answer of a phrase found in `cited`: without half a bracketed aside, and for "How many ...?" the
    count alone."""
    phrase = rules.transform("drop_open_aside", without_open_aside, located)
    return rules.transform("count_alone", count_alone, phrase, question)
