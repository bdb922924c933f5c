"""Reply rules: when the LLM's reply cannot stand as it is, and it is asked again.

A reply's phrase may be supported by its sentence word for word and still not answer the question: it names the
holder of something the question's subject owns (`possessive_mismatch`), words describing someone other than the
person asked about (`detached_description`), a sum of money for "How many ...?" (`money_for_a_count`), or words of
the speaker asked about on another topic than the one asked (`speaks_of_another_topic`). `misread_sentence` reads a
reply with all four; the pipeline then asks again without that sentence (at most `max_llm_calls` calls in all). A
whole sentence shown in place of a phrase is asked about alone (`sentence_stands_in`, rule `sentence_alone`).

Example:
    >>> money_for_a_count("4.7", "The agency seeks $6.5 billion (4.7 billion euros) to aid families.",
    ...                   "How many families need aid?")
    True
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.evidence import Evidence
from assistant.grounding import check_reply, locate, short_answer_from
from assistant.rules import Rules
from assistant.rules.evidence import SPEECH_VERB, asked_speaker
from assistant.text import STOP_WORDS, content_terms, word_key, words
from assistant.types import Answer


def misread_sentence(reply: str, evidence: list[Evidence], question: str, rules: Rules
                     ) -> tuple[Evidence, str] | None:
    """The sentence that supports the reply's phrase, with why, when there the phrase does not answer what
    is asked: it names the holder of something the question's subject owns (`possessive_mismatch`), the
    phrase describes someone other than the person asked about (`detached_description`), it is a sum of money
    for a count (`money_for_a_count`), or the sentence reports words on another topic than the one a "What did
    <Name> say about <topic>?" names (`speaks_of_another_topic`); None otherwise."""
    checked = check_reply(reply, evidence)
    if not checked.supported:
        return None
    sentence = checked.supported[0]
    if rules.apply("misread_possessive", possessive_mismatch, checked.phrase, sentence.text, question):
        return sentence, "where the question's words own something else"
    # The model may reword ("Norden's mayor" for "mayor of Norden's ..."): judge the source's words.
    located = short_answer_from(checked.phrase, [sentence], question, Rules(rules.disabled))
    if rules.apply("misread_detached", detached_description, located, sentence.text, question):
        return sentence, "where those words stand apart from the name asked about"
    if rules.apply("misread_money_count", money_for_a_count, located, sentence.text, question):
        return sentence, "where that number is a sum of money, not a count of what is asked"
    if rules.apply("misread_other_topic", speaks_of_another_topic, sentence.text, question):
        return sentence, "that reports words on another topic than the one asked about"
    return None


_WHO_IS = re.compile(r"^\s*who\s+(?:is|was|are|were)\s+(?P<name>[^?]+?)\s*\?*\s*$", re.IGNORECASE)


def detached_description(phrase: str, sentence: str, question: str) -> bool:
    """For "Who is <name>?", whether `phrase` stands in `sentence` apart from the name, so that it does not
    describe that person.

    "Who is Ada Brook?" is answered "mayor of Norden" from "The mayor of Norden's harbour board Carl Olsen said:
    '... no place for Ada Brook ...'": the words are there, but they describe Olsen. A description is written next
    to its name: before it ("Finance Minister Ada Brook"), or after it ("Carl Olsen, the harbour board's
    chairman"). More than a few words between the two
    flag it. A sentence that does not write the name as asked is not judged (the question may name a role: "Who
    was the Most Valuable Player of Super Bowl II?" of "Bart Starr (MVP of Super Bowls I and II)").
    """
    asked = _WHO_IS.match(question)
    said = locate(phrase, sentence) if asked else None
    named = locate(asked.group("name").strip(), sentence) if asked and said else None
    if said is None or named is None or (said[0] <= named[0] and named[1] <= said[1]):
        return False
    between = sentence[said[1]:named[0]] if said[1] <= named[0] else sentence[named[1]:said[0]]
    return len(words(between)) > _MAX_WORDS_TO_NAME


# Words a description may have between it and its name: "Carl Olsen, the harbour ...", "Philip I, Landgrave of
# ...", "the Semuren (various allied groups ...": none or one here; four is past any apposition.
_MAX_WORDS_TO_NAME = 3


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


def money_for_a_count(phrase: str, sentence: str, question: str) -> bool:
    """Whether `phrase` answers a "How many <things>?" question with an amount of money in `sentence`.

    "How many families need aid?" is answered "4.7" from "... seeking $6.5 billion (4.7 billion euros) to aid
    families ...": a sum, not a count of people. Flagged when the number carries a currency sign or unit in the
    sentence and the question does not count money ("How many dollars ...?"). Of SQuAD-even's 444 "how
    many/much" questions, the five whose gold answer is money ("$5 million", "£1.3bn") all ask "how much".
    """
    if not HOW_MANY.search(question) or _CURRENCY.search(question):
        return False
    span = locate(phrase, sentence)
    if span is None:
        return False
    start, end = span
    return bool(_CURRENCY.search(phrase) or _CURRENCY_BEFORE.search(sentence[max(0, start - 3):start])
                or _CURRENCY_AFTER.match(sentence[end:]))


HOW_MANY = re.compile(r"\bhow many\b", re.IGNORECASE)


# Units that only ever name money; "pounds" also weighs, so it counts as money only in the question.
_MONEY_UNITS = r"dollars?|euros?|yen|yuan|rupees?|francs?|roubles?|rubles?|USD|EUR|GBP"


_CURRENCY = re.compile(rf"[$€£¥]|\b(?:{_MONEY_UNITS}|pounds? sterling|pounds|US\$)\b", re.IGNORECASE)


_CURRENCY_BEFORE = re.compile(r"[$€£¥]\s*$")


# "4.7 billion euros", "6.5bn dollars" (not "300 pounds", a weight as often).
_CURRENCY_AFTER = re.compile(rf"\s*(?:million|billion|trillion|thousand|bn|m)?\s*(?:{_MONEY_UNITS})\b", re.IGNORECASE)


# What a question asks someone's words on: "the budget" in "What did Brook say about the budget?".
_ASKED_TOPIC = re.compile(rf"\b{SPEECH_VERB}\s+(?:[^?]*?\s)?about\s+(?P<topic>[^?]*\w)", re.IGNORECASE)


def speaks_of_another_topic(sentence: str, question: str) -> bool:
    """Whether `sentence` shares no word with the topic a "What did <Name> say about <topic>?" question names: it
    reports other words of that speaker ("He and Brook added that an exchange of staff ... might be possible"
    for "What did Brook say about the budget?"). False when the question names no topic."""
    match = _ASKED_TOPIC.search(question) if asked_speaker(question) else None
    topic = set(content_terms(match.group("topic"))) if match else set()
    return bool(topic) and not topic & set(content_terms(sentence))


def sentence_stands_in(answer: Answer, cited: Sequence[Evidence], misleading: Evidence | None,
                       fallback: bool) -> bool:
    """Whether a kept answer shows a whole body sentence in place of the model's words: the best sentence stood in
    for a reply with no supported phrase (`fallback`), or the short answer is the cited sentence itself. A header
    line, or the sentence the model was found to misread, is not asked about again."""
    if answer.abstained or not cited or cited[0].role or cited[0] is misleading:
        return False
    return fallback or answer.short_answer.strip() == cited[0].text.strip()
