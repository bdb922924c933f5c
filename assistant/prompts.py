"""Load the prompt templates from `prompts/` and fill them.

Templates live in files so they can be reviewed and tuned without touching code; the system parts are constant
so that the LLM's prompt cache is reused across questions.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


@cache
def template(name: str) -> str:
    """The text of `prompts/<name>.txt` (cached; the files are read once per process)."""
    path = PROMPTS_DIR / f"{name}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"prompt template missing: {path}")
    return path.read_text(encoding="utf-8").strip()


def quote_for_prompt(text: str) -> str:
    """Document text as inert data: one line, no characters that could fake our own numbering or roles."""
    return " ".join(text.replace("[", "(").replace("]", ")").split())


def answer_messages(question: str, evidence: list[str]) -> list[dict[str, str]]:
    """Chat messages asking for a cited short answer from numbered evidence sentences."""
    numbered = "\n".join(f"[{i}] {quote_for_prompt(text)}" for i, text in enumerate(evidence, start=1))
    user = template("answer_user").format(evidence=numbered, question=quote_for_prompt(question))
    return [{"role": "system", "content": template("answer_system")}, {"role": "user", "content": user}]


def rewrite_messages(question: str, history: list[tuple[str, str]]) -> list[dict[str, str]]:
    """Chat messages asking to make a follow-up question standalone, given (question, answer) turns."""
    lines = []
    for asked, answered in history:
        lines.append(f"User: {quote_for_prompt(asked)}")
        lines.append(f"Assistant: {quote_for_prompt(answered)}")
    user = template("rewrite_user").format(history="\n".join(lines), question=quote_for_prompt(question))
    return [{"role": "system", "content": template("rewrite_system")}, {"role": "user", "content": user}]
