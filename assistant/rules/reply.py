"""Reply rules: when the LLM's reply cannot stand as it is, and it is asked again.

A reply's phrase may be supported by its sentence word for word and still not answer the question: it names the
holder of something the question's subject owns (`possessive_mismatch`). `misread_sentence` reads a reply for it;
the pipeline then asks again without that sentence (at most `max_llm_calls` calls in all). A whole sentence shown in
place of a phrase is asked about alone (`sentence_stands_in`, rule `sentence_alone`).

Example:
    >>> possessive_mismatch("Carl Olsen", "The mayor of Norden's harbour board Carl Olsen said so.",
    ...                     "Who is the mayor of Norden?")
    True
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.evidence import Evidence
from assistant.grounding import check_reply, locate
from assistant.rules import Rules
from assistant.text import STOP_WORDS, word_key, words
from assistant.types import Answer


def misread_sentence(reply: str, evidence: list[Evidence], question: str, rules: Rules
                     ) -> tuple[Evidence, str] | None:
    """The sentence that supports the reply's phrase, with why, when there the phrase names the holder of something
    the question's subject owns (`possessive_mismatch`), not what is asked; None otherwise."""
    checked = check_reply(reply, evidence)
    if not checked.supported:
        return None
    sentence = checked.supported[0]
    if rules.apply("misread_possessive", possessive_mismatch, checked.phrase, sentence.text, question):
        return sentence, "where the question's words own something else"
    return None


def possessive_mismatch(phrase: str, sentence: str, question: str) -> bool:
    """Whether `phrase`, in `sentence`, names the holder of something the question's subject owns, not what the
    question asks for.

    "Who is the mayor of Norden?" finds its own words in "The mayor of Norden's harbour board Carl Olsen said
    ...", but the possessive makes Norden the owner of what follows: Olsen chairs the board. A small model answers
    "Carl Olsen" with confidence. Flagged when the sentence writes
    "<question word> of <question words>'s", then one to six words the question does not say, then the phrase.
    A phrase that starts at the owner ("Norden's harbour board") is flagged the same way. When the question says a
    word of the owned thing ("the mayor of Norden's harbour board"), it asks about it.
    Over the gold answers of all 5,397 SQuAD-even questions, each in its own sentence, nothing is flagged
    (without the condition on the words between, four were, each answering for the owned thing).
    """
    span = locate(phrase, sentence)
    if span is None:
        return False
    asked = {word_key(w) for w in words(question) if w not in STOP_WORDS}
    for match in _OF_POSSESSIVE.finditer(sentence[:span[1]]):
        head, owner = match.group(1), match.group(2)
        if span[0] < match.start(2) or not (word_key(head.lower()) in asked
                                            and all(word_key(w) in asked or w in STOP_WORDS for w in words(owner))):
            continue
        # The owned thing's words: those before the phrase, or the phrase's own when it starts at the owner
        # ("Norden's harbour board"). Asked words among them mean the question is about it.
        stretch = words(sentence[match.end():span[0] if span[0] >= match.end() else span[1]])
        owned = [w for w in stretch if w not in STOP_WORDS]
        # Only a name's words lie between (no verb: "The effect of Luther's intervention was immediate" answers
        # "How quick was the effect...?" with its predicate).
        is_name = all(w not in STOP_WORDS or w in _NAME_JOINERS for w in stretch)
        if is_name and 1 <= len(owned) <= _MAX_OWNED_WORDS and not any(word_key(w) in asked for w in owned):
            return True
    return False


# "<head> of [the] <owner>'s": the owner is one to three words ("Norden's", "the city council's").
_OF_POSSESSIVE = re.compile(r"\b(\w+) of (?:the )?((?:\w+ ){0,2}\w+)['\u2019]s\b", re.IGNORECASE)


# Words of the owned thing's name between the possessive and the answer ("harbour board"); an
# answer further on is in another part of the sentence.
_MAX_OWNED_WORDS = 6


_NAME_JOINERS = frozenset({"of", "the", "and", "for"})  # "Board of Trade and Industry"


def sentence_stands_in(answer: Answer, cited: Sequence[Evidence], misleading: Evidence | None,
                       fallback: bool) -> bool:
    """Whether a kept answer shows a whole body sentence in place of the model's words: the best sentence stood in
    for a reply with no supported phrase (`fallback`), or the short answer is the cited sentence itself. A header
    line, or the sentence the model was found to misread, is not asked about again."""
    if answer.abstained or not cited or cited[0].role or cited[0] is misleading:
        return False
    return fallback or answer.short_answer.strip() == cited[0].text.strip()
