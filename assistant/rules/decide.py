"""Decision rules: answers that do not answer, whatever the abstention model makes of them.

A whole cited line made only of the question's own words is the thing the question quotes, not what it asks
(`restates_question`, rule `restated_line`); an answer to "Which <things> ...?" that only says there were some
("top officials") names none of them (`names_none_of_them`, rule `names_none`). Either way the assistant abstains.

Example:
    >>> names_none_of_them("top officials", "Which city officials did the mayor meet?")
    True
"""

from __future__ import annotations

import re

from assistant.grounding import parse_reply
from assistant.replies import only_question_words
from assistant.sources import asks_for_source
from assistant.text import STOP_WORDS, word_key, words
from assistant.types import Answer


def restates_question(answer: Answer, question: str) -> bool:
    """Whether the answer is a whole cited sentence or line made only of the question's words.

    A phrase of question words can answer (a choice: "north or south?" -> "south"), but a whole line cannot: it is
    the thing the question quotes or names, not what it asks about it. Unless the question asks where that line
    is ("Which article is headlined ...?"): then the line's citation is the answer.
    """
    shown = parse_reply(answer.answer)[0]
    return (not answer.abstained and any(shown == c.quote.strip().strip(" .;,") for c in answer.citations)
            and only_question_words(shown, question) and not asks_for_source(question))


def names_none_of_them(phrase: str, question: str) -> bool:
    """Whether `phrase` answers a "Which <things> ...?" question with a vague word and the question's own words
    ("top officials" for "Which city officials did the mayor meet?"): the source describes them but names none.

    The question asks which ones; words like "top", "some" or "several" only say that there were some, and so does
    the count the question gives ("Eleven states" for "Which eleven states held discussions?"). Of the gold
    answers of SQuAD-even's 2,563 which/what-<noun> questions, none is made so (20 are only question words,
    "Kearney Park" for "Which park ...?": a name, and no vague word, so not flagged).
    """
    if not _WHICH_THINGS.match(question):
        return False
    said = [w.lower() for w in re.findall(r"\w+", phrase)]
    asked = {word_key(w) for w in words(question)}

    def vague(word: str) -> bool:  # a count is vague when it is the question's own ("eleven states")
        return word in _VAGUE_WORDS or ((word.isdigit() or word in _COUNT_WORDS) and word_key(word) in asked)

    return any(vague(w) for w in said) and all(word_key(w) in asked for w in said
                                                if not vague(w) and w not in STOP_WORDS)


# "Which officials ...?", "What states ...?": not "What is ...?" or "What kind of officials ...?", which ask for a
# description ("top officials" answers that).
_WHICH_THINGS = re.compile(r"\s*(?:which|what)\s+(?!(?:is|was|are|were|do|does|did|has|have|had|can|could|will|would|"
                           r"should|may|might|must|kinds?|types?|sorts?|level|rank)\b)\w", re.IGNORECASE)


# Words that say there were some, not which: a description of that kind names none of them.
_VAGUE_WORDS = frozenset({"top", "senior", "some", "several", "many", "various", "certain", "other", "others", "few",
                          "numerous", "unnamed", "unidentified", "leading", "key", "high", "ranking"})


# A count says how many there were, not which: "Eleven states" for "Which eleven states held talks?" (the count
# the question gives: a year or a number asked for is an answer).
_COUNT_WORDS = frozenset("one two three four five six seven eight nine ten eleven twelve dozen dozens hundreds "
                         "thousands".split())
