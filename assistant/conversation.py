"""Make a follow-up question standalone, so that retrieval sees what the user means.

"What did he say about the budget?" after "Who met Alder in Oslo?" (answer: Brook) must retrieve Brook's remarks.
With an LLM the follow-up is rewritten by the model (prompts/rewrite_*.txt), then sanity-checked; without one
(fast mode, or when the model's rewrite is unusable or only repeats an earlier question) a rule does it: a
personal pronoun becomes the previous answer when that answered "who", else the previous question's first name;
"after that" / "before that" become "after <previous answer>"; "it" or "there" after a "where" question becomes
its answer; "And X?" or "What about X?" asks the previous question again about X; otherwise the previous turn's
answer, names and subject are carried into the query.

Example:
    >>> rewrite_by_rule("What did he say about the budget?", [("Who met Alder in Oslo?", "Brook")])
    'What did Brook say about the budget?'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from assistant.grounding import MARK_RE
from assistant.text import STOP_WORDS, expected_answer_type, words
from assistant.types import REFUSAL

Turn = tuple[str, str]  # (question as asked, answer text)

# Only singular personal pronouns are replaced by a name: "they"/"it" usually mean the subject, not the answer.
_PERSONAL = ("he", "she", "him")
_POSSESSIVE = ("his", "her")
_REFERRING = re.compile(r"\b(he|she|him|her|his|hers|they|them|their|it|its|there|that|this|those|these|then|"
                        r"the same|the latter|the former)\b", re.IGNORECASE)
_SEQUEL = re.compile(r"\b(after|before|besides|apart from|other than|except for|instead of) (that|this|it)\b(?!\s+\w)",
                     re.IGNORECASE)
_WH_WORDS = "who|whom|whose|what|which|when|where|why|how"
_WH_WORD = re.compile(rf"\b({_WH_WORDS})\b", re.IGNORECASE)
# The question word with the preposition before it, which is part of what is asked: "On what terms...?" asks for
# conditions, "What terms...?" for a thing.
_WH_PHRASE = re.compile(rf"\b(?:(about|at|by|for|from|in|of|on|since|to|under|until|with)\s+)?({_WH_WORDS})\b",
                        re.IGNORECASE)
# "And Brook?", "What about Norway?": the previous question asked again about another name.
_ELLIPTICAL = re.compile(r"^\s*(?:and\s+)?(?:what about|how about|and)\s+(?P<topic>[^?]+?)\s*\??\s*$", re.IGNORECASE)
# "it" and "there" stand for the previous answer when that answered where: "Where is it?" after "Which city would
# the festival open in?" (Turin) asks where Turin is. "it" only in a question that asks for a place too:
# "When does it start?" after "Where will the conference be held?" asks about the conference.
_PLACE_PRONOUN = re.compile(r"\b(it|there)\b", re.IGNORECASE)
# "Which Norwegian foreign minister ...?" asks for a person as "who" does: "he" in the next question is the answer.
_ASKS_PERSON = re.compile(r"^\s*(?:which|what)\b(?:\s+[\w-]+){0,3}?\s+(?:minister|president|secretary|official|leader|"
                          r"envoy|spokes(?:man|woman|person)|diplomat|ambassador|head|chief|king|queen|general|"
                          r"person|man|woman|politician|author|writer|journalist|player|director)\b", re.IGNORECASE)


def turns_from_messages(messages: Sequence[dict[str, Any]] | None) -> list[Turn]:
    """(question, answer) pairs from chat messages `{"role", "content"}` (Gradio / OpenAI style)."""
    turns: list[Turn] = []
    pending: str | None = None
    for message in messages or []:
        role, content = message.get("role"), message.get("content")
        if not isinstance(content, str):
            continue
        if role == "user":
            pending = content
        elif role == "assistant" and pending is not None:
            turns.append((pending, strip_marks(content)))
            pending = None
    return turns


def strip_marks(answer: str) -> str:
    """The answer text without `[n]` marks and anything after a sources separator."""
    answer = answer.split("\n\n**Sources", 1)[0]
    return re.sub(r"\s+", " ", MARK_RE.sub("", answer)).strip()


def is_follow_up(question: str, history: Sequence[Turn]) -> bool:
    """Whether the question leans on the conversation (refers back, or is too short to stand alone)."""
    if not history:
        return False
    content = [w for w in re.findall(r"\w+", question.lower()) if w not in STOP_WORDS]
    return bool(_REFERRING.search(question)) or len(content) <= 1 or question.lower().startswith(("and ", "what about"))


def _is_phrase(answer: str) -> bool:
    """Whether a previous answer is a short phrase that can stand in the question (not a sentence or a refusal)."""
    return 0 < len(answer.split()) <= 8 and answer != REFUSAL


def _is_name(text: str) -> bool:
    words = text.split()
    return 0 < len(words) <= 5 and all(w[:1].isupper() or w.lower() in ("of", "al", "de", "the") for w in words)


def _entities(text: str) -> list[str]:
    """Capitalised phrases and numbers: the names a follow-up most likely refers to."""
    found = re.findall(r"(?:[A-Z][\w’'-]*(?:\s+(?:of\s+|al-)?[A-Z][\w’'-]*)*)|\b\d[\d,.]*\b", text)
    return [f for f in found if f.lower() not in STOP_WORDS and not _WH_WORD.match(f)]


def rewrite_by_rule(question: str, history: Sequence[Turn]) -> str:
    """A standalone form of a follow-up without an LLM (see module docstring)."""
    if not is_follow_up(question, history):
        return question
    previous_question, previous_answer = history[-1]
    elliptical = _asked_again_about(question, previous_question)
    if elliptical:
        return elliptical
    # "after that" / "before that" point at the previous answer ("And where will he go after that?" asked after
    # "Where will Alder head on Tuesday?" -> Bergen): the answer takes the demonstrative's place.
    if _is_phrase(previous_answer):
        question = _SEQUEL.sub(lambda m: f"{m.group(1)} {previous_answer}", question, count=1)
    # "there" (or "it" asked where) after a where-question is the place that answered it.
    pronoun = _PLACE_PRONOUN.search(question)
    if pronoun and _is_name(previous_answer) and _asks_place(previous_question) \
            and (pronoun.group(1).lower() == "there" or _asks_place(question)):
        return question[:pronoun.start()] + _in_place(question, pronoun, previous_answer) + question[pronoun.end():]
    # "he" is the previous answer when that answered "who" (or "which minister"...); after "Where will Alder
    # head?" (Bergen) it is Alder.
    asked_person = expected_answer_type(previous_question) == "name" or _ASKS_PERSON.search(previous_question)
    person = previous_answer if _is_name(previous_answer) and asked_person \
        else next(iter(_entities(previous_question)), "")
    if person:
        for word, replacement in [(w, person) for w in _PERSONAL] + [(w, f"{person}'s") for w in _POSSESSIVE]:
            pattern = re.compile(rf"\b{word}\b", re.IGNORECASE)
            if pattern.search(question):
                rewritten = pattern.sub(replacement, question, count=1)
                # The pronoun stood for the answer: the question is standalone now. Otherwise carry the answer.
                return rewritten if person == previous_answer else _with_context(rewritten, history[-1])
    return _with_context(question, history[-1])


def _in_place(question: str, pronoun: re.Match[str], place: str) -> str:
    """What stands for "it" or "there": the place, with "in" for a "there" that has no preposition of its own
    ("born there" -> "born in Turin", "from there" -> "from Turin")."""
    if pronoun.group(1).lower() == "it" or re.search(r"\b(?:from|to|in|at|near|over|around|out of)\s+$",
                                                    question[:pronoun.start()], re.IGNORECASE):
        return place
    return f"in {place}"


def _asks_place(question: str) -> bool:
    """Whether the question asks for a place ("Where ...?", "Which city ...?")."""
    return expected_answer_type(question) == "place" or bool(_WHICH_PLACE.match(question))


_WHICH_PLACE = re.compile(r"^\s*(?:in |at |from )?(?:which|what) (?:city|country|town|place|region|state|village)\b",
                          re.IGNORECASE)


def _asked_again_about(question: str, previous_question: str) -> str | None:
    """The previous question with its first name replaced by the one an elliptical follow-up names ("And
    Brook?" after "What did Alder say about the budget?" -> "What did Brook say about the budget?"); None for any other
    follow-up, or when the previous question names no one."""
    topic = _elliptical_topic(question)
    if topic is None:
        return None
    named = [e for e in _entities(previous_question) if e.lower() not in topic.lower()]
    if not named or not _is_name(topic):
        return None
    return re.sub(rf"\b{re.escape(named[0])}\b", topic, previous_question, count=1)


def _elliptical_topic(question: str) -> str | None:
    """What an elliptical follow-up asks about ("Brook" of "And Brook?"); None for a question of its own
    ("And where will he go after that?")."""
    match = _ELLIPTICAL.match(question)
    if not match or _WH_WORD.search(match.group("topic")):
        return None
    return match.group("topic").strip()


def _usable_rewrite(text: str, question: str, history: Sequence[Turn]) -> bool:
    """Whether the model's rewrite is one standalone question that asks what the follow-up asks.

    Not an answer (bounded length, no refusal, no citation marks); not the previous question copied back ("Where
    will Alder head after Oslo?" for "And where will he go after that?": that asks the answered question again),
    nor two questions ("What did Alder say about the budget? And Brook?" for "And Brook?": retrieval reads the
    first); not elliptical still ("And Ada Brook?" for "And Brook?"); and asking with the follow-up's own
    question word ("What city is Turin?" for "Where is it?" asks something else).
    """
    asked_before = {tuple(words(q)) for q, _ in history}
    if not (3 <= len(text.split()) <= 3 * len(question.split()) + 15) or MARK_RE.search(text) \
            or "not found" in text.lower() or tuple(words(text)) in asked_before or text.count("?") > 1 \
            or _elliptical_topic(text):
        return False
    wanted = None if _elliptical_topic(question) else _WH_PHRASE.search(question)
    given = _WH_PHRASE.search(text)
    if wanted is None:
        return True
    if given is None:
        return False
    return given.group(2).lower() == wanted.group(2).lower() and \
        (wanted.group(1) is None or (given.group(1) or "").lower() == wanted.group(1).lower())


def _with_context(question: str, turn: Turn) -> str:
    """The question, followed in brackets by the previous turn's answer and names it does not already hold."""
    previous_question, previous_answer = turn
    context = [previous_answer] if _is_phrase(previous_answer) and previous_answer.lower() not in question.lower() \
        else []
    for item in _entities(previous_question) + _entities(previous_answer):
        if not any(item in c for c in context) and item.lower() not in question.lower():
            context.append(item)
    subject = " ".join(context[:6])
    return f"{question.rstrip()} ({subject})" if subject else f"{question.rstrip()} ({previous_question})"


def rewrite(question: str, history: Sequence[Turn], generate: Callable[[list[dict[str, str]]], str] | None) -> str:
    """Standalone question: the LLM's rewrite when available and sane, else the rule's."""
    if not is_follow_up(question, history):
        return question
    if generate is not None:
        from assistant.prompts import rewrite_messages

        candidate = generate(rewrite_messages(question, list(history)[-3:])).strip().strip('"').splitlines()
        text = candidate[0].strip() if candidate else ""
        if _usable_rewrite(text, question, history):
            return text
    return rewrite_by_rule(question, history)
