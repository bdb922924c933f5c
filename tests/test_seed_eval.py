"""The evaluation test: every fixed Q&A pair of the seed corpus must pass in the default (LLM) mode.

`tests/data/seed_qa.json` is asked through the evaluation runner, exactly as `assistant eval` does, against the
session's index of the two seed articles: single questions on their own, each conversation in order as one
dialogue. An item passes when its answer holds one of its `any` strings without abstaining (or abstains when
`any` is empty) and every citation is the exact span of a supporting document. One test per item, so a
failure names the item; its message gives the cause (retrieval miss, answer miss, wrong abstention,
unsupported citation) and what came back.

The 1.5B local model does not get every pair right. The pairs it misses on this machine are listed in
KNOWN_MISSES, each marked as an expected failure with its cause (measured with
`assistant eval tests/data/seed_qa.json`; docs/BENCHMARKS.md): the list is the honest record of what is not yet
good enough, and a pair that starts passing shows up as XPASS. Every other pair must pass, and the summary test
keeps the whole set from getting worse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assistant.answering import SUPPORT_NOT_ASKED
from assistant.evaluation.datasets import load_pairs
from assistant.evaluation.report import failures_text
from assistant.evaluation.runner import AssistantSystem, SystemRun, run_system, source_texts

SEED_QA = Path(__file__).resolve().parent / "data" / "seed_qa.json"
SEED_SET = load_pairs(SEED_QA)

# Pairs the default pipeline misses today (id -> cause), from `python -m bench.validate --sets seed`
# (docs/BENCHMARKS.md).
KNOWN_MISSES: dict[str, str] = {
    # answerable, abstained: the abstention model's confidence is under its threshold (0.533)
    "q8": "wrong abstention: the envoy's other organisation is answered, but confidence is 0.42",
    "q68": "wrong abstention: 'Syria's President' is answered at a confidence near the threshold (0.55 in a fresh "
           "process; under it after the other pairs, whose prompts the model's cache holds)",
    "conversation10.2": "wrong abstention: the follow-up is rewritten and answered from the right sentence, but the "
                        "question matches it weakly in meaning (confidence 0.44)",
    # unanswerable, answered: a related figure stands in for the one asked about, with high confidence
    "q45": "wrong abstention: asked what the appeal raised, it answers what the appeal seeks (confidence 0.77)",
    "q50": "wrong abstention: asked for one city's dead, it answers the whole war's toll (confidence 0.89)",
    "conversation8.2": "wrong abstention: the same question as q50, as a follow-up (confidence 0.89)",
    "q49": "wrong abstention: the talks' outcome is not reported; the reply forced past a refusal names their start, "
           "at a confidence near the threshold (answered in some runs, abstained in others)",
    "q51": "wrong abstention: the outlet of the other article stands in; asked again past a refusal, the model's reply "
           "depends on what its prompt cache holds (on a 2-core AMD machine: an echo in a fresh process, so the "
           "assistant abstains; the other outlet after the whole suite)",
    # answered with the wrong words
    "q31": "answer miss: the model names the Russian minister of the same sentence, not the French one",
    "conversation11.2": "answer miss: 'What about Lavrov?' cites the joint call of both ministers, not Lavrov's own "
                        "words",
}


@pytest.fixture(scope="module")
def seed_run(seed_assistant: Any) -> SystemRun:
    """All seed pairs asked once in LLM mode (about a minute per ten questions on 2 cores)."""
    return run_system(AssistantSystem(seed_assistant, "llm"), SEED_SET.items, "pairs",
                      source_texts(SEED_SET, seed_assistant))


@pytest.mark.parametrize("item_id", [
    pytest.param(item.id, marks=pytest.mark.xfail(reason=KNOWN_MISSES[item.id], strict=False))
    if item.id in KNOWN_MISSES else item.id for item in SEED_SET.items])
def test_seed_pair_passes(seed_run: SystemRun, item_id: str) -> None:
    result = next(r for r in seed_run.results if r.item.id == item_id)
    assert result.passed, failures_text([result]) or f"{item_id}: citations {result.prediction.citations}"


def test_llm_answers_carry_the_signals_their_decision_read(seed_run: SystemRun, seed_assistant: Any) -> None:
    """Every answer the LLM wrote that the abstention model judged (a decision rule may abstain first) was judged with
    the ranking model's cosine with the cited sentence (taken when the question is asked: the default index holds none
    of its vectors) and the LLM's own Yes/No on that sentence, unless no value in the range the Yes/No takes (the
    model's `ranges`) could have changed it."""
    written = [r.prediction for r in seed_run.results if "refusal" in r.prediction.extra.get("signals", {})
               and r.prediction.extra.get("confidence") is not None]
    assert len(written) > len(SEED_SET.items) // 2
    model = seed_assistant.abstention["llm"]
    checked = []
    for prediction in written:
        signals = prediction.extra["signals"]
        assert "ranking_clause" in signals, prediction.answer
        if "support_yes" in signals:
            checked.append(prediction)
        else:  # not asked only where no value in its range could have changed the decision
            assert SUPPORT_NOT_ASKED in prediction.extra["notes"] and model.settled_without(signals, "support_yes")
    assert len(checked) > len(written) // 4
    kept = [p for p in checked if not p.abstained]
    assert sum(p.extra["signals"]["support_yes"] > 0.5 for p in kept) > len(kept) / 2  # the LLM mostly agrees


def test_seed_run_summary(seed_run: SystemRun) -> None:
    """The whole set at a glance (every failure with its cause), plus sanity of what the report relies on."""
    summary = seed_run.summary
    assert summary["questions"] == len(SEED_SET.items)
    assert summary["recall@5"] == 1.0, failures_text(seed_run.results)
    assert summary["passed"] >= len(SEED_SET.items) - len(KNOWN_MISSES), failures_text(seed_run.results)
    world_cup = next(r for r in seed_run.results if r.item.question == "Who won the 2014 FIFA World Cup?")
    assert world_cup.prediction.abstained, "the seed corpus says nothing about football: it must abstain"
