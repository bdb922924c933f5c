"""The question as the pipeline reads it: cleaned of control characters and extra spaces, bounded in length,
with the conversation so far as (question, answer) turns.

Example:
    >>> clean_question("  Where  is the\x1b[31m ferry?  ", 2000)
    ('Where is the ferry?', ['control characters removed from the question'])
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from assistant.conversation import Turn, strip_marks, turns_from_messages

# Terminal colour codes pasted with a question (ESC [ ... letter): removed whole, not just their ESC byte.
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")


class QuestionError(ValueError):
    """The question cannot be asked as given (empty after cleaning); the message says why."""


def clean_question(question: str, max_chars: int) -> tuple[str, list[str]]:
    """Strip control characters and extra spaces, truncate overlong input; notes say what was changed."""
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    notes = []
    text = _CONTROL.sub(" ", _ANSI_ESCAPE.sub("", question))
    if text != question:
        notes.append("control characters removed from the question")
    text = " ".join(text.split())
    if not text:
        raise QuestionError("the question is empty; type a question about the documents")
    if len(text) > max_chars:
        notes.append(f"question truncated from {len(text)} to {max_chars} characters")
        text = text[:max_chars].rsplit(" ", 1)[0] or text[:max_chars]
    return text, notes


def as_turns(history: Sequence[dict[str, Any]] | Sequence[Turn] | None) -> list[Turn]:
    """The conversation as (question, answer) turns, from chat messages ({"role", "content"}) or from pairs; an
    answer's citation marks are left out."""
    if not history:
        return []
    if all(isinstance(item, dict) for item in history):
        return turns_from_messages(history)  # type: ignore[arg-type]
    return [(str(q), strip_marks(str(a))) for q, a in history]  # type: ignore[misc]

