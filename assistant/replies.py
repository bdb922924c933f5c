"""The LLM's reply to a prompt: streamed with each token's log-probability, and read for what it says.

One reply is a `Generation`: its text, its tokens' log-probabilities, and the probability (from the first token's
distribution) that it is a refusal. `stream_reply` streams one into a `Generation`, optionally with token texts
banned (llama.cpp's text logit bias: the pipeline asks again with refusals banned) and stopped at the citation
mark's `]`. `echoes_question` and `only_question_words` tell a reply that says nothing the question does not, for
which the pipeline shows the cited sentence instead. The decisions on what to ask again live in the pipeline
(`AnswerStage.llm_reply`, assistant/answering.py); this module only asks and reads.

Example:
    >>> reply = Generation()
    >>> reply.text = "NOT FOUND"
    >>> reply.text_starts_refusal(), reply.refusal_probability  # no logprobs: judged by the text
    (True, 1.0)
    >>> echoes_question("Brook said [1]", "What did Brook say?")
    True
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from typing import Any

from assistant.grounding import parse_reply
from assistant.text import STOP_WORDS, word_key, words

# An answer phrase is short; generation stops well before this (the budget bounds latency on junk input).
ANSWER_MAX_TOKENS = 48
# First tokens by which the model starts "NOT FOUND" (Qwen's tokenizer; other models fall back to the text).
REFUSAL_TOKENS = ("NOT", "Not", "not", " NOT", " Not")
OPEN_MARK_AT_END = re.compile(r"\[\s*\d+\s*$")  # "Turin [1" after the stop string took the "]"
NOT_FOUND_START = re.compile(r"^not(\b|$)", re.IGNORECASE)  # "NOT FOUND", "Not found", or a bare "NOT"


class Generation:
    """The text of one LLM reply and the probability that it is a refusal (from the first token's logprobs)."""

    def __init__(self) -> None:
        self.text = ""
        self.token_logprobs: list[tuple[str, float]] = []  # each generated token and its log-probability
        self._first_token_probs: dict[str, float] | None = None

    def observe(self, raw: Any) -> None:
        """Record each token's log-probability, and the first token's distribution, when the backend reports
        logprobs."""
        if not isinstance(raw, dict):
            return
        choices = raw.get("choices") or [{}]
        content = ((choices[0] or {}).get("logprobs") or {}).get("content") or []
        for entry in content:
            if isinstance(entry, dict) and "token" in entry and "logprob" in entry:
                self.token_logprobs.append((str(entry["token"]), float(entry["logprob"])))
        if content and self._first_token_probs is None:
            top = content[0].get("top_logprobs") or []
            self._first_token_probs = {t["token"]: math.exp(t["logprob"]) for t in top if "token" in t}

    def first_token_probability(self, tokens: Sequence[str]) -> float | None:
        """The probability that the reply starts with one of `tokens` (from the first token's top log-probabilities);
        None when the backend reported none."""
        if not self._first_token_probs:
            return None
        return min(1.0, sum(p for token, p in self._first_token_probs.items() if token in tokens))

    def text_starts_refusal(self) -> bool:
        return bool(NOT_FOUND_START.match(self.text.strip())) if self.text.strip() else False

    @property
    def refusal_probability(self) -> float:
        """P(reply starts with a refusal); without logprobs, 1.0 for a refusal and 0.0 otherwise."""
        if self._first_token_probs:
            return min(1.0, sum(p for token, p in self._first_token_probs.items() if token in REFUSAL_TOKENS))
        return 1.0 if NOT_FOUND_START.match(self.text.strip()) else 0.0


def stream_reply(llm: Any, messages: list[dict[str, str]], max_tokens: int, generation: Generation,
                 banned: Sequence[str] = (), stop_after_mark: bool = False) -> Iterator[str]:
    """Stream the reply's text into `generation`, yielding the pieces a user may see.

    The first token's distribution gives the probability that the model refuses (NOT FOUND); pieces of a
    reply that starts with a refusal are not shown, since the final answer may still be an answer.
    `banned`: token texts the model may not produce (llama.cpp's text logit bias).
    With `stop_after_mark`, generation ends at the first closing bracket: the answer prompt asks for one
    phrase and one mark, so the tokens after "]" are only the end-of-turn (about 0.1 s of a 2.5 s answer).
    The stop string is not returned, so the "]" of a mark is put back.
    """
    from llama_index.core.llms import ChatMessage

    chat = [ChatMessage(role=m["role"], content=m["content"]) for m in messages]
    options: dict[str, Any] = {"max_tokens": max_tokens, "logprobs": True, "top_logprobs": 10}
    if banned:
        options["logit_bias"] = [[token, False] for token in banned]
    if stop_after_mark:
        options["stop"] = ["]"]
    for response in llm.stream_chat(chat, **options):
        generation.observe(response.raw)
        if response.delta:
            generation.text += response.delta
            if not generation.text_starts_refusal():
                yield response.delta
    if stop_after_mark and OPEN_MARK_AT_END.search(generation.text):
        generation.text += "]"
        yield "]"


def ask_again(llm: Any, messages: list[dict[str, str]], banned: Sequence[str], stop_after_mark: bool = True
              ) -> Generation:
    """The answer prompt asked once more with `banned` token texts, not streamed (the final answer follows)."""
    retry = Generation()
    for _ in stream_reply(llm, messages, ANSWER_MAX_TOKENS, retry, banned=banned, stop_after_mark=stop_after_mark):
        pass
    return retry


def generate_text(llm: Any, messages: list[dict[str, str]], max_tokens: int) -> str:
    """The whole text of one reply, not streamed (a rewritten question; the prompt-cache warm-up)."""
    generation = Generation()
    for _ in stream_reply(llm, messages, max_tokens, generation):
        pass
    return generation.text


def only_question_words(reply: str, question: str) -> bool:
    """Whether the reply's answer phrase says nothing the question does not ("UN" for "Besides the UN, which
    organisation...?"): it has words other than stop words, and each of them is a question word.

    Words are compared by `word_key`, and the stop words of the reply are not counted: "Brook said" answers
    "What did Brook say?", "The Herald reports about the council" answers "What does the Herald report about
    the council?" and "Summit 2" answers "What is Summit II?" with nothing new. A stop word in capitals is a
    name and counts ("IT industry" answers "Which industry ...?").
    """
    phrase = _said_keys(reply)
    return bool(phrase) and phrase <= {word_key(w) for w in words(question)}


def echoes_question(reply: str, question: str) -> bool:
    """Whether the reply's answer phrase only repeats words that stand together in the question: "Brook said" for
    "What did Brook say?", "Alder and Brook" for "What did Brook tell Alder?".

    Question words the question keeps apart may name the answer: "graph isomorphism problem" answers "What is
    the problem attributed to defining if two finite graphs are isomorphic?", "twin prime conjecture" answers
    "What conjecture holds that there is an infinite amount of twin primes?" (each the gold answer; 13 of the 49
    SQuAD-even gold answers made only of question words are so). Together means within a stretch of the
    question's words other than stop words one longer than the phrase's.
    """
    phrase = _said_keys(reply)
    if not phrase or not only_question_words(reply, question):
        return False
    asked = [word_key(w) for w in words(question) if w not in STOP_WORDS]
    size = len(phrase) + 1
    return len(asked) <= size or any(phrase <= set(asked[i:i + size]) for i in range(len(asked) - size + 1))


def _said_keys(reply: str) -> set[str]:
    """The `word_key`s of the reply's answer phrase, stop words aside unless written in capitals ("IT")."""
    return {word_key(w) for w in re.findall(r"\w+", parse_reply(reply)[0])
            if w.lower() not in STOP_WORDS or (w.isupper() and len(w) > 1)}


def names_as_asked(phrase: str, question: str) -> bool:
    """Whether each capitalised word of the phrase (stop words aside) is written so in the question: "Brook" for
    "What did Brook say?" is the question's own name; "ARTS" for "... arts programming?" is a new one."""
    asked = set(re.findall(r"\w+", question))
    return all(w in asked for w in re.findall(r"\w+", phrase) if w != w.lower() and w.lower() not in STOP_WORDS)
