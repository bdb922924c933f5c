"""The abstention model: its signals, its fit, and that it is only used for the models it was fitted with."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assistant.abstention import NO_PHRASE_LOGPROB, AbstentionModel, fit_logistic, phrase_logprobs
from assistant.config import PACKAGED_RANKING_MODEL, load_settings
from tests.conftest import sibling


def test_phrase_logprobs_read_the_phrase_and_the_mark_number() -> None:
    tokens = [("Mont", -0.1), ("reux", -0.3), (" [", -0.05), ("1", -0.7), ("]", -0.01)]
    mean, low, mark = phrase_logprobs(tokens)
    assert mean == pytest.approx(-0.2) and low == pytest.approx(-0.3) and mark == pytest.approx(-0.7)
    assert phrase_logprobs([("Mont", -0.1), (" [2", -0.4)])[2] == pytest.approx(-0.4)  # number inside the token
    assert phrase_logprobs([])[:2] == (NO_PHRASE_LOGPROB, NO_PHRASE_LOGPROB)


def test_fitted_model_separates_what_the_signals_separate() -> None:
    rng = np.random.default_rng(0)
    rows = [{"evidence": float(rng.normal(0.7 if ok else 0.4, 0.1)), "noise": float(rng.normal())}
            for ok in [True] * 100 + [False] * 100]
    labels = [True] * 100 + [False] * 100
    model = fit_logistic(rows, labels, ("evidence", "noise"))
    assert model.weights[0] > 1.0 and abs(model.weights[1]) < 0.5
    predicted = [model.p_answerable(r) >= 0.5 for r in rows]
    assert np.mean([p == y for p, y in zip(predicted, labels, strict=True)]) > 0.9
    assert model.should_abstain({"evidence": 0.2, "noise": 0.0})
    assert not model.should_abstain({"evidence": 0.9, "noise": 0.0})


def test_a_costly_signal_is_needed_only_where_its_value_could_change_the_decision() -> None:
    # p = sigmoid(-1 + 2 * evidence + 2 * check): abstain below 0.5, i.e. where evidence + check < 0.5.
    model = AbstentionModel(("evidence", "check"), (2.0, 2.0), -1.0, (0.0, 0.0), (1.0, 1.0), 0.5)
    assert model.settled_without({"evidence": 0.9}, "check")  # answered whatever the check says
    assert model.settled_without({"evidence": -2.0}, "check")  # abstained whatever it says
    assert not model.settled_without({"evidence": 0.2}, "check")  # a No abstains, a Yes answers
    assert model.settled_without({"evidence": 0.2}, "unread")  # a signal the model does not read
    for evidence in np.linspace(-2.0, 2.0, 41):  # settled means: the same decision at every value in between
        if model.settled_without({"evidence": float(evidence)}, "check"):
            assert len({model.should_abstain({"evidence": float(evidence), "check": float(c)})
                        for c in np.linspace(0.0, 1.0, 11)}) == 1


def test_a_costly_signal_is_asked_only_where_a_value_in_its_seen_range_could_change_the_decision() -> None:
    # Abstain where evidence + check < 0.5; the check was seen between 0.3 and 0.9 on the tuning parts.
    full = AbstentionModel(("evidence", "check"), (2.0, 2.0), -1.0, (0.0, 0.0), (1.0, 1.0), 0.5)
    seen = AbstentionModel(("evidence", "check"), (2.0, 2.0), -1.0, (0.0, 0.0), (1.0, 1.0), 0.5,
                           ranges=(("check", 0.3, 0.9),))
    assert not full.settled_without({"evidence": 0.25}, "check")  # a check of 0.2 would abstain
    assert seen.settled_without({"evidence": 0.25}, "check")  # every seen value answers
    assert not seen.settled_without({"evidence": 0.1}, "check")  # 0.3 abstains, 0.9 answers: ask it
    assert seen.settled_without({"evidence": 0.25}, "check", 0.0, 1.0) is False  # explicit ends win
    assert seen.settled_without({"evidence": 0.25}, "other")  # a signal the model does not read


def test_model_round_trips_and_rejects_malformed_entries() -> None:
    model = AbstentionModel(("refusal",), (-2.0,), 0.5, (0.1,), (0.2,), 0.4)
    assert AbstentionModel.from_json(json.loads(json.dumps(model.to_json()))) == model
    ranged = AbstentionModel(("refusal",), (-2.0,), 0.5, (0.1,), (0.2,), 0.4, ranges=(("refusal", 0.1, 0.8),))
    assert ranged.to_json()["ranges"] == {"refusal": [0.1, 0.8]}
    assert AbstentionModel.from_json(json.loads(json.dumps(ranged.to_json()))) == ranged
    with pytest.raises(ValueError):
        AbstentionModel.from_json({**ranged.to_json(), "ranges": {"refusal": [0.9, 0.1]}})
    with pytest.raises(ValueError):
        AbstentionModel.from_json({**model.to_json(), "weights": [1.0, 2.0]})
    with pytest.raises(ValueError):
        AbstentionModel.from_json({**model.to_json(), "scales": [0.0]})


def test_calibrated_models_apply_only_to_the_models_they_were_fitted_with(tmp_path: Path) -> None:
    from assistant.calibration import (
        CALIBRATION_FILE,
        RANKING_IN_INDEX_FILE,
        WITHOUT_RANKING_FILE,
        load_abstention_models,
    )

    calibration = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    models = load_abstention_models(load_settings(environ={}))
    assert set(models) == set(calibration["abstention"]) == {"fast", "llm"}
    assert load_abstention_models(load_settings(environ={}, overrides={"embed_model": str(tmp_path / "m")})) == {}
    # A ranking model moves the evidence scores and the signals the models read: the default calibration was fitted
    # with the packaged one at question time only; one kept beside it with its vectors in the index, one without any;
    # another ranking model has none.
    assert calibration["ranking_embed_model"] == PACKAGED_RANKING_MODEL and calibration["ranking_at_index"] is False
    in_index = json.loads(RANKING_IN_INDEX_FILE.read_text(encoding="utf-8"))
    indexed = load_abstention_models(load_settings(environ={}, overrides={"ranking_at_index": True}))
    assert {mode: model.to_json() for mode, model in indexed.items()} == in_index["abstention"]
    unranked = json.loads(WITHOUT_RANKING_FILE.read_text(encoding="utf-8"))
    assert "ranking_embed_model" not in unranked
    without = load_abstention_models(load_settings(environ={}, overrides={"ranking_embed_model": "none"}))
    assert {mode: model.to_json() for mode, model in without.items()} == unranked["abstention"]
    assert len({json.dumps(m["llm"].to_json()) for m in (models, indexed, without)}) == 3
    other = load_settings(environ={}, overrides={"ranking_embed_model": "packaged:all-MiniLM-L6-v2"})
    assert load_abstention_models(other) == {}
    endpoint = load_abstention_models(load_settings(environ={}, overrides={"llm_endpoint": "http://127.0.0.1:9/v1"}))
    assert set(endpoint) == {"fast"}


def test_the_llm_decision_reads_a_few_signals_and_was_measured_on_the_validation_parts() -> None:
    from assistant.calibration import CALIBRATION_FILE

    calibration = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    model = calibration["abstention"]["llm"]
    assert {"refusal", "fallback"} <= set(model["features"]) and len(model["features"]) <= 8
    assert calibration["min_evidence_score"]["llm"] == 0.0  # no score cut before the LLM reads the evidence
    measured = calibration["measured"]["llm"]
    for part in ("squad-validation", "clapnq-validation", "paraphrases-validation"):
        assert 0.0 <= measured[part]["answered"] <= 1.0


def test_calibrate_refits_only_the_modes_asked_and_keeps_the_others() -> None:
    """`python -m bench.calibrate --modes llm` after a change to LLM-mode signals: the fast-mode model stays as it
    was (measured again on the new answers); a mode with no stored model to keep cannot be left out."""
    from bench.calibrate import MODEL_FEATURES, calibrate

    rng = np.random.default_rng(7)

    def records(mode: str) -> list[dict]:
        rows = []
        for i in range(80):
            answerable = i % 2 == 0
            signals = {f: float(rng.normal(0.6 if answerable else 0.4, 0.1)) for f in MODEL_FEATURES[mode]}
            rows.append({"answerable": answerable, "fit": i % 4 < 2, "prefiltered": False, "signals": signals,
                         "p": 0.2 if answerable else 0.6, "ms": 10.0})
        return rows

    recs = {"prefilter": 0.3, **{m: {"clapnq": records(m), "squad": [r for r in records(m) if r["answerable"]]}
                                 for m in ("fast", "llm")}}
    kept = AbstentionModel(features=MODEL_FEATURES["fast"], weights=(0.0,) * len(MODEL_FEATURES["fast"]), bias=1.0,
                           means=(0.0,) * len(MODEL_FEATURES["fast"]), scales=(1.0,) * len(MODEL_FEATURES["fast"]),
                           threshold=0.5)
    result = calibrate(recs, {"fast": kept}, modes=["llm"])
    assert result["abstention"]["fast"] == kept.to_json()
    assert result["measured"]["fast"]["all"] == {"answered": 1.0, "abstained_unanswerable": 0.0}  # always answers
    assert "previous" not in result["measured"]["fast"]
    assert result["measured"]["llm"]["held_out"]["abstained_unanswerable"] > 0.5  # fitted: the signals separate
    with pytest.raises(SystemExit, match="no stored fast-mode model"):
        calibrate(recs, {}, modes=["llm"])


def test_answers_carry_the_signals_and_confidence_behind_the_decision(seed_assistant) -> None:  # noqa: ANN001
    answer = seed_assistant.ask("Where will the Geneva II talks be held?", mode="fast")
    assert not answer.abstained and answer.confidence is not None
    assert answer.confidence >= seed_assistant.abstention["fast"].threshold
    assert {"evidence", "passage_dense", "question_covered"} <= set(answer.to_json()["signals"])
    # (LLM mode's signals: tests/test_seed_eval.py::test_llm_answers_carry_the_signals_their_decision_read)


def test_a_model_that_judges_the_corpus_silent_makes_the_assistant_abstain(seed_assistant) -> None:  # noqa: ANN001
    strict = AbstentionModel(("evidence",), (1.0,), 0.0, (0.0,), (1.0,), threshold=0.999)
    saved = seed_assistant.abstention
    try:
        seed_assistant.abstention = {**saved, "fast": strict}
        answer = seed_assistant.ask("Where was Geneva II held?", mode="fast")
    finally:
        seed_assistant.abstention = saved
    assert answer.abstained and answer.citations == [] and answer.related
    assert answer.confidence is not None and answer.confidence < 0.999


def test_replay_subsets_pick_the_questions_a_change_after_a_refusal_can_touch() -> None:
    """bench.replay_records re-asks only recorded questions forced past NOT FOUND that then fell back on the best
    sentence or only repeated the question; the others keep their recorded answers."""
    from bench.replay_records import SUBSETS

    def record(reasked: float, fallback: float, short: str) -> dict:
        return {"signals": {"reasked": reasked, "fallback": fallback}, "short_answer": short,
                "question": "What was the outcome of the Geneva II talks in Montreux?"}

    echo, fell_back, answered = record(1.0, 0.0, "Geneva II talks"), record(1.0, 1.0, "A sentence."), record(
        1.0, 0.0, "a ceasefire")
    plain, prefiltered = record(0.0, 0.0, "Montreux"), {"signals": None, "short_answer": "", "question": "q"}
    pick = SUBSETS["reasked-echo-or-fallback"]
    assert [pick(r) for r in (echo, fell_back, answered, plain, prefiltered)] == [True, True, False, False, False]
    assert [SUBSETS["reasked"](r) for r in (echo, answered, plain, prefiltered)] == [True, True, False, False]


def test_a_long_sentence_is_judged_by_the_clause_that_answers(seed_assistant) -> None:  # noqa: ANN001
    """The UN's appeal is one clause of a 45-word sentence about Kerry's trip: the question's meaning matches that
    clause far better than the whole sentence, and the LLM-mode signals say so (`cited_clause`)."""
    from tests.scripted_llm import ScriptedLLM

    bot = sibling(seed_assistant, llm=ScriptedLLM(["$6.5 billion [1]"]))
    bot.abstention = {}
    answer = bot.ask("How much money is the UN seeking in Kuwait?")
    assert "$6.5 billion" in answer.citations[0].quote
    assert answer.signals["cited_clause"] > answer.signals["cited_semantic"] + 0.1


def test_clauses_split_a_sentence_where_its_clauses_join() -> None:
    from assistant.text import clauses

    parts = clauses("The talks seek a deal after a three-year conflict that has killed 130,000 people.")
    assert "that has killed 130,000 people." in parts  # the comma inside a number joins nothing
    assert "after a three-year conflict that has killed 130,000 people." in parts  # two adjacent clauses
    assert clauses("Montreux is in Switzerland.") == []  # one clause: the sentence's own vector says it


def test_the_window_around_an_answer_is_the_words_next_to_it() -> None:
    from assistant.text import answer_window

    sentence = ("Kerry and Lavrov called for the ceasefire to start ahead of the Geneva II talks due to begin in "
                "Montreux in Switzerland on January 22.")
    assert answer_window(sentence, "switzerland") == "due to begin in Montreux in Switzerland on January 22"
    assert answer_window(sentence, "Montreux in Switzerland", width=1) == "in Montreux in Switzerland on"
    assert answer_window(sentence, "Paris") is None  # not in the sentence: no window to judge
    assert answer_window(sentence, sentence[:-10]) is None  # most of the sentence: its own meaning says it
    assert answer_window(sentence, "  ") is None


def test_an_answer_is_judged_by_the_words_around_it(seed_assistant) -> None:  # noqa: ANN001
    """"In which country is Montreux?" is answered by four words of a sentence about a ceasefire: the question
    means what the words around "Switzerland" say far more than what the whole sentence says (`window_semantic`).
    A phrase that is the whole sentence has no window: the signal is the sentence's own meaning."""
    from tests.scripted_llm import ScriptedLLM

    class CitesSwitzerland(ScriptedLLM):
        def reply(self, chat) -> str:  # noqa: ANN001
            line = next(line for line in chat[-1].content.splitlines() if "Switzerland" in line)
            return f"Switzerland {line.split()[0]}"  # the mark of the line that says it: "[3]"

    bot = sibling(seed_assistant, llm=CitesSwitzerland([]))
    bot.abstention = {}
    answer = bot.ask("In which country is Montreux?")
    assert answer.short_answer == "Switzerland"
    assert answer.signals["window_semantic"] > answer.signals["cited_semantic"] + 0.1
    whole = bot.decider.window_semantic(bot.evidence("In which country is Montreux?")[0], [], "Switzerland")
    assert whole is None


def test_refreshed_records_keep_the_llm_signals_and_flag_a_changed_ranking(seed_assistant) -> None:  # noqa: ANN001
    """bench.refresh_signals re-derives retrieval signals only when the recorded cited sentence is reproduced."""
    from bench.refresh_signals import refreshed_llm_record

    question = "How much money is the UN seeking in Kuwait?"
    bot = seed_assistant
    answer = bot.ask(question, mode="fast")
    signals = {**answer.signals, "cited_rank": 0.0, "refusal": 0.42, "phrase_logprob": -0.3}
    record = {"question": question, "signals": signals, "short_answer": "$6.5 billion"}
    fresh = refreshed_llm_record(bot, record)
    assert fresh is not None and fresh["signals"]["refusal"] == 0.42 and fresh["signals"]["phrase_logprob"] == -0.3
    assert fresh["signals"]["cited_clause"] > fresh["signals"]["cited_semantic"]
    assert fresh["signals"]["window_semantic"] > fresh["signals"]["cited_semantic"]  # the record's phrase is read
    stale = {"question": question, "signals": {**signals, "cited_score": signals["cited_score"] + 0.5}}
    assert refreshed_llm_record(bot, stale) is None
