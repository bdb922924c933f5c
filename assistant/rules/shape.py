"""Shape rules: the phrase a reader is shown, once the reply is verified.

Half a bracketed aside is dropped (`without_open_aside`, applied by `bare_phrase`); a question asking what someone
said gets the statement (`ASKS_WHAT_WAS_SAID`).

Example:
    >>> without_open_aside("Politics and Polemics 1531–46 (1983")
    'Politics and Polemics 1531–46'
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.evidence import Evidence
from assistant.rules import Rules


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


# "What did Brook say about the budget?", "What has Alder stressed?", "What was said about the talks?": a statement
# is asked for, not a name or a number.
ASKS_WHAT_WAS_SAID = re.compile(
    r"\bwhat\s+(?:(?:did|does|do|has|have|had)\s+(?:\S+\s+){1,6}?(?:say|said|tell|told|stress(?:ed)?|warn(?:ed)?|"
    r"note(?:d)?|state(?:d)?|claim(?:ed)?|announce(?:d)?|add(?:ed)?|argue(?:d)?|insist(?:ed)?|write|written|"
    r"declare(?:d)?|repl(?:y|ied)|respond(?:ed)?|admit(?:ted)?|explain(?:ed)?)|(?:is|was|were|has\s+been)\s+"
    r"(?:said|stated|claimed|announced|written|reported))\b", re.IGNORECASE)


OFFERS_CHOICE = re.compile(r"\bor\b", re.IGNORECASE)  # "Is Wellington in the north or south island?"


def bare_phrase(located: str, cited: Sequence[Evidence], question: str, rules: Rules) -> str:
    """The short answer of a phrase found in `cited`: without half a bracketed aside."""
    return rules.transform("drop_open_aside", without_open_aside, located)
