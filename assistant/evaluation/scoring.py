"""Score what a system said against an evaluation item, and sum the scores up into one summary.

Any system (the assistant in either mode, or a peer such as plain BM25 or a stock LlamaIndex pipeline) is
reduced to a `Prediction`: its answer text, whether it abstained, what it cited and the documents it ranked.
`score_item` applies one rule set to every system, so their figures compare:

- correct: an answerable item is right when the system does not abstain and its answer holds a gold answer
  (pairs: any `any` string, case-insensitive, the pairs-format contract; SQuAD: a gold answer after the official
  normalisation; ClapNQ, whose references are whole sentences: at least one citation lies in a gold passage).
  An unanswerable item is right when the system abstains.
- a citation is right when its document is a supporting one and its quote is exactly the document's text at
  its span (the span really lies in that document).
- a failure has one cause: wrong abstention (answered an unanswerable item; or abstained on an answerable one
  although a supporting document was read), retrieval miss (an answerable item answered wrongly or abstained
  on, with no supporting document among the passages the answer step read), answer miss (answered wrongly
  although a supporting document was read), unsupported citation (the answer is right, but a citation is not
  in a supporting document, or its quote is not the document's text at its span).
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant.evaluation.datasets import EvalItem
from assistant.evaluation.metrics import (
    contains_any,
    contains_normalized,
    exact_match,
    f1,
    recall_at_k,
    reciprocal_rank,
    rouge_l,
    summarize_latency,
)

__all__ = [
    "CAUSES",
    "RECALL_KS",
    "ItemResult",
    "Prediction",
    "score_item",
    "strip_marks",
    "summarize",
]

RECALL_KS = (1, 5, 20)
CURVE_KS = tuple(range(1, 21))
RETRIEVAL_MISS = "retrieval miss"
ANSWER_MISS = "answer miss"
WRONG_ABSTENTION = "wrong abstention"
UNSUPPORTED_CITATION = "unsupported citation"
CAUSES = (RETRIEVAL_MISS, ANSWER_MISS, WRONG_ABSTENTION, UNSUPPORTED_CITATION)
_ITEM_SCORES = frozenset({*(f"recall@{k}" for k in RECALL_KS), "rr", "em", "f1", "rouge_l"})
_MARKS = re.compile(r"\s*\[\d{1,2}(?:\s*,\s*\d{1,2})*\]")

SourceText = Callable[[str], str | None]
"""Returns a document's text by name (None when unknown), for checking that a cited quote is its span."""


@dataclass
class Prediction:
    """What one system said for one question, in a system-independent shape.

    `citations` are the objects of `ask --json` (dicts with doc, start, end, quote...). `ranked_docs` are the
    distinct documents of the system's ranked passages, best first (recall@k, MRR); `read_docs` those of the
    passages the answer step actually read (to tell a retrieval miss from an answer miss). `answers` False
    marks a retrieval-only system (plain BM25): it has no answer to score; `ranks` False a system that exposes
    no ranking (no retrieval metrics).
    """

    answer: str = ""
    short_answer: str = ""
    abstained: bool = False
    citations: list[dict[str, Any]] = field(default_factory=list)
    ranked_docs: list[str] = field(default_factory=list)
    read_docs: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    standalone_question: str = ""
    answers: bool = True
    ranks: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ItemResult:
    """One scored question: the prediction, the gold data, the verdict and its cause when wrong."""

    item: EvalItem
    prediction: Prediction
    correct: bool | None  # None for a retrieval-only system
    citations_right: list[bool]
    cause: str | None
    detail: str
    scores: dict[str, float]

    @property
    def answerable(self) -> bool:
        return bool(self.item.answers)

    @property
    def passed(self) -> bool:
        """Correct, and every citation right: what the seed-pairs test demands of each item."""
        return bool(self.correct) and all(self.citations_right)

    def to_json(self) -> dict[str, Any]:
        """One entry of `results.json`'s "items" list."""
        p = self.prediction
        return {
            "id": self.item.id,
            "question": self.item.question,
            "dialogue": self.item.dialogue,
            "turn": self.item.turn,
            "standalone_question": p.standalone_question,
            "answer": p.answer,
            "short_answer": p.short_answer,
            "abstained": p.abstained,
            "citations": p.citations,
            "correct": self.correct,
            "citations_right": self.citations_right,
            "passed": self.passed,
            "cause": self.cause,
            "detail": self.detail,
            "answerable": self.answerable,
            "expected": self.item.answers,
            "gold_docs": self.item.gold_docs,
            "retrieved_docs": p.ranked_docs[: max(RECALL_KS)],
            "scores": {k: _round(v) for k, v in self.scores.items() if k in _ITEM_SCORES},
            "timings_ms": {k: round(v, 1) for k, v in p.timings_ms.items()},
            **({"extra": p.extra} if p.extra else {}),
        }


def strip_marks(answer: str) -> str:
    """The answer text without its `[n]` citation marks (for answer metrics)."""
    return _MARKS.sub("", answer).strip()


def _citation_right(citation: dict[str, Any], gold_docs: Sequence[str], source_text: SourceText | None) -> bool:
    if citation.get("doc") not in gold_docs:
        return False
    if source_text is None:
        return True
    text = source_text(citation["doc"])
    start, end = citation.get("start"), citation.get("end")
    if text is None or start is None or end is None:
        return False
    return text[int(start):int(end)] == citation.get("quote")


def is_correct(item: EvalItem, prediction: Prediction, fmt: str, citations_right: Sequence[bool]) -> bool:
    """The format's correctness rule (see the module docstring)."""
    if not item.answers:
        return prediction.abstained
    if prediction.abstained:
        return False
    if fmt == "pairs":
        return contains_any(prediction.answer, item.answers)
    if fmt == "clapnq":
        return any(citations_right)
    return contains_normalized(strip_marks(prediction.answer), item.answers)


def _answer_scores(item: EvalItem, prediction: Prediction, fmt: str) -> dict[str, float]:
    """EM and F1 (SQuAD, on the short answer) and ROUGE-L (ClapNQ, on the answer) of answerable items."""
    if not item.answers or not prediction.answers:
        return {}
    if fmt == "clapnq":
        text = "" if prediction.abstained else strip_marks(prediction.answer)
        return {"rouge_l": max(rouge_l(text, ref) for ref in item.answers)}
    if fmt == "squad":
        short = "" if prediction.abstained else strip_marks(prediction.short_answer or prediction.answer)
        return {"em": exact_match(short, item.answers), "f1": f1(short, item.answers)}
    return {}


def _retrieval_scores(item: EvalItem, prediction: Prediction) -> dict[str, float]:
    if not item.gold_docs or not prediction.ranks:
        return {}
    scores = {f"recall@{k}": recall_at_k(prediction.ranked_docs, item.gold_docs, k) for k in CURVE_KS}
    scores["rr"] = reciprocal_rank(prediction.ranked_docs, item.gold_docs)
    return scores


def _cause(item: EvalItem, prediction: Prediction, correct: bool, citations_right: Sequence[bool]) -> tuple[
        str | None, str]:
    """The failure's cause and a one-line explanation; (None, "") when the item passed."""
    gold_read = bool(set(item.gold_docs) & set(prediction.read_docs))
    if not item.answers:
        if correct:
            return None, ""
        return WRONG_ABSTENTION, "answered a question the corpus cannot answer"
    if correct and all(citations_right):
        return None, ""
    if correct:
        wrong = [c.get("doc") for c, ok in zip(prediction.citations, citations_right, strict=True) if not ok]
        return UNSUPPORTED_CITATION, f"cites outside the supporting documents (or off-span): {wrong}"
    if not gold_read:
        return RETRIEVAL_MISS, f"no supporting document among the {len(prediction.read_docs)} documents read"
    if prediction.abstained:
        return WRONG_ABSTENTION, "abstained although a supporting document was read"
    return ANSWER_MISS, "answered, but without a gold answer, although a supporting document was read"


def score_item(item: EvalItem, prediction: Prediction, fmt: str, source_text: SourceText | None = None) -> ItemResult:
    """Score one prediction (see the module docstring for the rules)."""
    scores = _retrieval_scores(item, prediction)
    if not prediction.answers:
        return ItemResult(item, prediction, None, [], None, "", scores)
    rights = [_citation_right(c, item.gold_docs, source_text) for c in prediction.citations] if item.answers \
        else [False for _ in prediction.citations]
    correct = is_correct(item, prediction, fmt, rights)
    scores.update(_answer_scores(item, prediction, fmt))
    cause, detail = _cause(item, prediction, correct, rights)
    return ItemResult(item, prediction, correct, rights, cause, detail, scores)


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _round(value: float | None, digits: int = 4) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(value, digits)


def summarize(results: Sequence[ItemResult]) -> dict[str, Any]:
    """The summary metrics of one system's run (None where a metric does not apply)."""
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    ranked = [r for r in answerable if "rr" in r.scores]
    judged = [r for r in results if r.correct is not None]
    summary: dict[str, Any] = {"questions": len(results), "answerable": len(answerable),
                               "unanswerable": len(unanswerable)}
    if judged:
        summary["accuracy"] = _mean([float(bool(r.correct)) for r in judged])
        summary["passed"] = sum(r.passed for r in judged)
        citation_flags = [ok for r in judged if r.answerable for ok in r.citations_right]
        summary["citation_accuracy"] = _mean([float(ok) for ok in citation_flags])
        summary["abstention_accuracy"] = _mean([float(r.prediction.abstained != r.answerable) for r in judged])
        summary["answered_when_answerable"] = _mean([float(not r.prediction.abstained) for r in judged
                                                     if r.answerable])
        summary["abstained_when_unanswerable"] = _mean([float(r.prediction.abstained) for r in judged
                                                        if not r.answerable])
        for metric in ("em", "f1", "rouge_l"):
            values = [r.scores[metric] for r in judged if metric in r.scores]
            if values:
                summary[metric] = _mean(values)
        summary["failures"] = dict(Counter(r.cause for r in judged if r.cause))
    for k in RECALL_KS:
        summary[f"recall@{k}"] = _mean([r.scores.get(f"recall@{k}", 0.0) for r in ranked])
    summary["mrr"] = _mean([r.scores.get("rr", 0.0) for r in ranked])
    latency = summarize_latency(r.prediction.timings_ms.get("total_ms", math.nan) for r in results
                                if "total_ms" in r.prediction.timings_ms)
    summary["latency_median_ms"] = latency["median_ms"]
    summary["latency_p95_ms"] = latency["p95_ms"]
    summary["latency_mean_ms"] = latency["mean_ms"]
    return {k: (_round(v) if isinstance(v, float) or v is None else v) for k, v in summary.items()}


def recall_curve(results: Sequence[ItemResult]) -> dict[int, float]:
    """recall@k for k = 1..20 over the answerable items with a ranking (the recall@k plot)."""
    ranked = [r for r in results if "rr" in r.scores]
    if not ranked:
        return {}
    return {k: statistics.fmean(r.scores.get(f"recall@{k}", 0.0) for r in ranked) for k in CURVE_KS}
