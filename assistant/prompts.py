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


# Longest evidence sentence shown to the LLM, in words. Prompt reading is the cost of an answer on 2 cores
# (~60 tokens/s); most sentences are 20-35 words, and the rare 80-word one would double the wait on its own.
MAX_EVIDENCE_WORDS = 40


def clip_to_question(text: str, question: str, max_words: int = MAX_EVIDENCE_WORDS) -> str:
    """At most `max_words` words of `text`: the stretch sharing most words with the question, marked with "…"."""
    tokens = text.split()
    if len(tokens) <= max_words:
        return text
    asked = {w.lower().strip(".,;:!?\"'()") for w in question.split()}
    hits = [1 if t.lower().strip(".,;:!?\"'()") in asked else 0 for t in tokens]
    best = max(range(len(tokens) - max_words + 1), key=lambda i: (sum(hits[i:i + max_words]), -i))
    clipped = " ".join(tokens[best:best + max_words])
    return ("… " if best else "") + clipped + (" …" if best + max_words < len(tokens) else "")


def answer_messages(question: str, evidence: list[str], labels: list[str] | None = None) -> list[dict[str, str]]:
    """Chat messages asking for a cited short answer from numbered evidence sentences.

    `labels`: per sentence, what it is in its document ("headline of article 1", `evidence.header_labels`) or ""
    for body text; a label is shown in brackets before its line, so that "the date of the article" is read from
    the date line.
    """
    labels = labels or [""] * len(evidence)
    numbered = "\n".join(f"[{i}] {f'({label}) ' if label else ''}{quote_for_prompt(clip_to_question(text, question))}"
                         for i, (text, label) in enumerate(zip(evidence, labels, strict=True), start=1))
    user = template("answer_user").format(evidence=numbered, question=quote_for_prompt(question))
    return [{"role": "system", "content": template("answer_system")}, {"role": "user", "content": user}]


def support_messages(question: str, sentence: str, answer: str) -> list[dict[str, str]]:
    """Chat messages asking whether `sentence` says that `answer` answers `question` (one word, Yes or No)."""
    user = template("support_user").format(sentence=quote_for_prompt(clip_to_question(sentence, question)),
                                           question=quote_for_prompt(question), answer=quote_for_prompt(answer))
    return [{"role": "system", "content": template("support_system")}, {"role": "user", "content": user}]


def rewrite_messages(question: str, history: list[tuple[str, str]]) -> list[dict[str, str]]:
    """Chat messages asking to make a follow-up question standalone, given (question, answer) turns."""
    lines = []
    for asked, answered in history:
        lines.append(f"User: {quote_for_prompt(asked)}")
        lines.append(f"Assistant: {quote_for_prompt(answered)}")
    user = template("rewrite_user").format(history="\n".join(lines), question=quote_for_prompt(question))
    return [{"role": "system", "content": template("rewrite_system")}, {"role": "user", "content": user}]
