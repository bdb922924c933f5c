"""The answer-ceiling benchmark hands the LLM the evidence each variant names (bench/answer_ceiling.py)."""

from __future__ import annotations

from assistant.evaluation.datasets import EvalItem
from assistant.evidence import Evidence
from bench.answer_ceiling import swapped_evidence


def _sentence(doc: str, start: int, text: str, score: float) -> Evidence:
    return Evidence(doc=doc, start=start, end=start + len(text), text=text, score=score, semantic=score,
                    lexical=score, title="", chunk_id=doc, passage_rank=0)


# Ranked best first: the gold paragraph's second sentence holds the answer; another paragraph's ranks first.
RANKED = [
    _sentence("other.txt", 0, "The Broncos' seven sacks tied a record.", 0.9),
    _sentence("gold.txt", 40, "It was set by the Chicago Bears in Super Bowl XX.", 0.8),
    _sentence("gold.txt", 0, "Denver's defence sacked Newton seven times.", 0.7),
]
ITEM = EvalItem(id="q", question="Who set the record?", answers=["Chicago Bears"], gold_docs=["gold.txt"],
                gold_spans=(("gold.txt", 58, 71),))


def test_each_variant_hands_over_its_own_evidence() -> None:
    assert swapped_evidence("gold-sentence", RANKED, ITEM) == [RANKED[1]]
    assert swapped_evidence("gold-paragraph", RANKED, ITEM) == [RANKED[2], RANKED[1]]  # in document order
    assert swapped_evidence("top-sentence", RANKED, ITEM) == [RANKED[0]]
    assert swapped_evidence("ranked", RANKED, ITEM) == []  # the prompt stays as ranked


def test_a_gold_paragraph_that_was_not_retrieved_keeps_the_ranked_prompt() -> None:
    missed = EvalItem(id="q", question="Who?", answers=["x"], gold_docs=["elsewhere.txt"],
                      gold_spans=(("elsewhere.txt", 0, 1),))
    assert swapped_evidence("gold-sentence", RANKED, missed) == []
    assert swapped_evidence("gold-paragraph", RANKED, missed) == []
