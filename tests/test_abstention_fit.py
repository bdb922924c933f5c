"""The abstention fit's replay and choice, on toy records: an abstention replaces the recorded answer, never another
answer, and the fitted decision separates what its signals separate."""

from __future__ import annotations

import random
from typing import Any

from bench.abstention_fit import (
    balanced_accuracy,
    choose,
    figures,
    fit,
    model_decision,
    operating_points,
    probed_ranges,
    replayed,
)
from bench.rule_ablation import affected, sign_test


def record(i: int, answerable: bool, refusal: float, passed: bool = True,
           dialogue: str | None = None) -> dict[str, Any]:
    signals = {"refusal": refusal, "reasked": 0.0, "fallback": 0.0, "phrase_logprob": -1.0, "cited_clause": 0.5,
               "ranking_clause": 0.5, "question_covered": 0.5}
    return {"id": f"q{i}", "answerable": answerable, "abstained": False, "passed": passed if answerable else False,
            "dialogue": dialogue, "scores": {"em": 1.0 if passed else 0.0, "f1": 1.0 if passed else 0.5},
            "extra": {"signals": signals}}


def test_an_abstention_replaces_the_recorded_answer() -> None:
    right, wrong, trap = record(1, True, 0.1), record(2, True, 0.1, passed=False), record(3, False, 0.9)
    assert replayed(right, abstain=True) == {"answered": 0.0, "passed": 0.0, "em": 0.0, "f1": 0.0}
    assert replayed(right, abstain=False)["passed"] == 1.0
    assert replayed(wrong, abstain=False) == {"answered": 1.0, "passed": 0.0, "em": 0.0, "f1": 0.5}
    assert replayed(trap, abstain=True)["passed"] == 1.0 and replayed(trap, abstain=False)["passed"] == 0.0
    shown = figures([right, wrong, trap], lambda item: item["id"] == "q3")
    assert shown["answered"] == 1.0 and shown["unanswerable_abstained"] == 1.0 and shown["passed"] == "2/3"
    assert shown["intervals"]["unanswerable_abstained"][1] == 1.0  # one trap question: the interval stays wide
    assert shown["intervals"]["unanswerable_abstained"][0] < 0.25


def test_the_fit_learns_what_the_refusal_signal_separates() -> None:
    rng = random.Random(3)
    sets = {name: [record(i, i % 2 == 0, rng.uniform(0, 0.4) if i % 2 == 0 else rng.uniform(0.6, 1.0))
                   for i in range(60)] for name in ("a", "b")}
    model = fit(sets)
    assert balanced_accuracy(sets, model_decision(model)) == 1.0
    features, scores = choose(sets)
    assert len(features) == 4 and all(0.9 <= s <= 1.0 for s in scores.values())  # the fewest signals that do


def test_records_without_a_ranking_model_are_fitted_on_the_signals_they_hold() -> None:
    rng = random.Random(5)
    sets = {name: [record(i, i % 2 == 0, rng.uniform(0, 0.6)) for i in range(40)] for name in ("a", "b")}
    for items in sets.values():
        for item in items:
            del item["extra"]["signals"]["ranking_clause"]
    features, scores = choose(sets)
    assert "ranking_clause" not in features
    assert scores and not any("ranking_clause" in candidate for candidate in scores)
    fit(sets, features)  # fits without asking for the missing signal


def test_ablation_reasks_whole_dialogues_and_its_sign_test() -> None:
    items = [record(1, True, 0.1, dialogue="d1"), record(2, True, 0.1, dialogue="d1"), record(3, True, 0.1)]
    items[1]["extra"]["rules"] = ["widen_date"]
    assert affected(items, lambda i: "widen_date" in i["extra"].get("rules", []), None) == {"q1", "q2"}
    assert sign_test(0, 0) == 1.0 and sign_test(6, 0) < 0.05 < sign_test(3, 1)


def test_the_fit_keeps_where_the_costly_signal_was_seen() -> None:
    sets = {name: [record(i, i % 2 == 0, 0.2 if i % 2 == 0 else 0.8) for i in range(101)] for name in ("a", "b")}
    for items in sets.values():
        for i, item in enumerate(items):
            item["extra"]["signals"]["support_yes"] = 0.2 + 0.6 * i / 100  # seen from 0.2 to 0.8
    features = ("refusal", "support_yes")
    (name, low, high), = probed_ranges(sets, features)
    assert name == "support_yes" and 0.2 < low < 0.21 and 0.79 < high < 0.8  # 1 % left out at each end
    assert fit(sets, features).ranges == ((name, low, high),)
    assert probed_ranges(sets, ("refusal",)) == ()  # a model that does not read it keeps no range


def test_the_operating_points_show_each_trade_once_around_the_chosen_threshold() -> None:
    rng = random.Random(7)
    sets = {name: [record(i, i % 2 == 0, rng.uniform(0, 0.7) if i % 2 == 0 else rng.uniform(0.3, 1.0))
                   for i in range(80)] for name in ("a", "b")}
    model = fit(sets, ("refusal",))
    points = operating_points(sets, model, margin=0.05)
    assert model.threshold in {p["threshold"] for p in points}
    assert [p["threshold"] for p in points] == sorted(p["threshold"] for p in points)
    trades = [(tuple(p["a"]), tuple(p["b"])) for p in points]
    assert all(x != y or p["threshold"] == model.threshold  # each trade once, and the model's own threshold
               for x, y, p in zip(trades, trades[1:], points[1:], strict=False))
    best = max(p["balanced_accuracy"] for p in points)
    assert all(p["balanced_accuracy"] >= best - 0.05 for p in points)
    answered = [p["a"][0] for p in points]
    assert answered == sorted(answered, reverse=True)  # a higher threshold never answers more
