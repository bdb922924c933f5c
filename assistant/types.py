"""The answer a user gets: text with `[n]` marks, the citations those marks point at, and how long it took.

`Answer.to_json()` is the contract shared by `assistant ask --json`, the web API (`/ask`) and the evaluation
reports: `{"question", "standalone_question", "answer", "short_answer", "abstained", "citations": [{"id", "doc",
"start", "end", "page", "quote", "score", ...}], "related", "timings_ms", "mode", "notes", "refusal_probability",
"confidence", "signals"}`; `confidence` and `signals` are what the abstention decision read (assistant/abstention.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# One fixed refusal sentence, so abstention is unmistakable to users and measurable by the evaluation.
REFUSAL = "The documents do not answer this question."


@dataclass
class Citation:
    """A cited span: `quote == source_text(doc)[start:end]`, verified before it is shown."""

    id: int
    doc: str
    start: int
    end: int
    quote: str
    score: float
    title: str = ""
    chunk_id: str = ""
    page: int | None = None  # 1-based page of `start` in a paged document (PDF); None for one without pages

    def place(self) -> str:
        """The document, with the page where it has pages: "report.pdf, p. 12" or "notes.txt"."""
        return f"{self.doc}, p. {self.page}" if self.page is not None else self.doc


@dataclass
class Answer:
    """One answered (or abstained) question."""

    question: str
    answer: str
    short_answer: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    related: list[Citation] = field(default_factory=list)  # closest passages shown on abstention, not claimed
    standalone_question: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)
    mode: str = "llm"
    notes: list[str] = field(default_factory=list)  # e.g. "question truncated to 2000 characters"
    refusal_probability: float | None = None  # LLM mode: P(the model's reply starts with NOT FOUND)
    confidence: float | None = None  # the abstention model's P(the corpus answers), when one is calibrated
    signals: dict[str, float] = field(default_factory=dict)  # what the abstention decision read
    rules: list[str] = field(default_factory=list)  # the answer-repair rules that changed it (assistant.rules)

    def to_json(self) -> dict[str, Any]:
        """The JSON object printed by `ask --json` and returned by the web API."""
        data = asdict(self)
        data["timings_ms"] = {k: round(v, 1) for k, v in self.timings_ms.items()}
        data["signals"] = {k: round(v, 4) for k, v in self.signals.items()}
        for key in ("citations", "related"):
            for item in data[key]:
                item["score"] = round(item["score"], 4)
        return data
