"""The LLM's own check of an answer: does the cited sentence say that this phrase answers the question?

A reply can cite a sentence on the question's topic and still take its phrase from words that answer something else
("4,000 paintings" for "Who designed the museum?"). Asked that one question about the sentence alone (prompts/
support_*.txt: a few dozen prompt tokens and one generated token), the model's probability of "Yes" relative to "No"
is the abstention signal "support_yes". The pipeline asks it only when the abstention model in use reads that signal
and a value in the range it takes (seen on the tuning parts, the model's `ranges`) could change its decision
(`AbstentionModel.settled_without`).

Example:
    >>> support_probability(llm, "When did the bridge open?", "The bridge opened in 1932.", "1932")  # doctest: +SKIP
    0.97
"""

from __future__ import annotations

from typing import Any

from assistant.prompts import support_messages
from assistant.replies import Generation, stream_reply

YES = ("Yes", " Yes", "yes", " yes", "YES")
NO = ("No", " No", "no", " no", "NO")


def support_probability(llm: Any, question: str, sentence: str, answer: str) -> float:
    """P(Yes) / (P(Yes) + P(No)) of the reply's first token; 0.5 when neither is among its top tokens, and 1 or 0 by
    the reply's text from a backend that reports no log-probabilities."""
    generation = Generation()
    for _ in stream_reply(llm, support_messages(question, sentence, answer), 1, generation):
        pass
    yes, no = generation.first_token_probability(YES), generation.first_token_probability(NO)
    if yes is None or no is None:
        return 1.0 if generation.text.strip().lower().startswith("yes") else 0.0
    return yes / (yes + no) if yes + no > 0 else 0.5
