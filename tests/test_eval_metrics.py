"""Tests for assistant.evaluation.metrics: SQuAD-style answer scores, ROUGE-L, retrieval and latency stats.

Expected values follow the official SQuAD v1.1 evaluation script's behaviour and are worked out by hand in
the comments, so a change in any formula shows up as a failing number.
"""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from assistant.evaluation.metrics import (
    contains_any,
    contains_normalized,
    exact_match,
    f1,
    normalize_answer,
    percentile,
    recall_at_k,
    reciprocal_rank,
    rouge_l,
    summarize_latency,
    wilson_interval,
)

# ------------------------------------------------------------------------------------------ normalize_answer


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("The Montreux!", "montreux"),
        ("  A  cat,  an apple; THE end. ", "cat apple end"),
        ("Theatre the", "theatre"),  # articles only as whole words
        ("the-cat", "thecat"),  # punctuation is removed before articles, as in the official script
        ("U.S.A.", "usa"),
        ("Denver\tBroncos\n", "denver broncos"),
        ("", ""),
        ("The. A, an!", ""),
        ("Café «Noir»", "café «noir»"),  # only ASCII punctuation is removed (string.punctuation)
    ],
)
def test_normalize_answer_matches_official_script(raw: str, expected: str) -> None:
    assert normalize_answer(raw) == expected


# ------------------------------------------------------------------------------------------------ exact_match


def test_exact_match_ignores_case_punctuation_and_articles() -> None:
    assert exact_match("The Montreux!", ["montreux"]) == 1.0


def test_exact_match_takes_max_over_ground_truths() -> None:
    assert exact_match("Broncos", ["Denver Broncos", "the Broncos", "Denver"]) == 1.0
    assert exact_match("Panthers", ["Denver Broncos", "Broncos"]) == 0.0


def test_exact_match_partial_answer_is_zero() -> None:
    assert exact_match("Denver", ["Denver Broncos"]) == 0.0


def test_exact_match_empty_prediction() -> None:
    assert exact_match("", ["Denver Broncos"]) == 0.0


def test_exact_match_single_string_is_one_ground_truth() -> None:
    assert exact_match("Denver Broncos", "denver broncos") == 1.0
    assert exact_match("d", "Denver") == 0.0  # not treated as the truths "D", "e", "n", ...


def test_exact_match_without_ground_truths_rewards_only_empty_answer() -> None:
    assert exact_match("", []) == 1.0
    assert exact_match("Montreux", []) == 0.0


# --------------------------------------------------------------------------------------------------------- f1


def test_f1_identical_after_normalisation() -> None:
    assert f1("The Denver Broncos.", ["denver broncos"]) == 1.0


def test_f1_partial_overlap_by_hand() -> None:
    # pred [denver, broncos, team], gold [denver, broncos]: P = 2/3, R = 1, F1 = 2 * 2/3 / (5/3) = 0.8
    assert f1("the Denver Broncos team", ["Denver Broncos"]) == pytest.approx(0.8)


def test_f1_counts_repeated_tokens_once_per_occurrence() -> None:
    # pred [x, x, y], gold [x, y, y]: common = {x: 1, y: 1} = 2; P = R = 2/3, F1 = 2/3
    assert f1("x x y", ["x y y"]) == pytest.approx(2 / 3)


def test_f1_max_over_ground_truths() -> None:
    # vs "Denver Broncos": 1 common, P = R = 1/2 -> 0.5; vs "Carolina Panthers": 0; vs "Broncos": P=1/2, R=1
    # -> 2/3. The max is 2/3.
    assert f1("Broncos won", ["Denver Broncos", "Carolina Panthers", "Broncos"]) == pytest.approx(2 / 3)


def test_f1_no_overlap_is_zero() -> None:
    assert f1("Carolina Panthers", ["Denver Broncos"]) == 0.0


def test_f1_empty_prediction_is_zero() -> None:
    assert f1("", ["Denver Broncos"]) == 0.0
    assert f1("The!", ["Denver Broncos"]) == 0.0  # normalises to nothing


def test_f1_without_ground_truths_rewards_only_empty_answer() -> None:
    assert f1("", []) == 1.0
    assert f1("Montreux", []) == 0.0


def test_f1_returns_float() -> None:
    assert isinstance(f1("a", ["b"]), float)
    assert isinstance(exact_match("a", ["b"]), float)


# ---------------------------------------------------------------------------------------------------- rouge_l


def test_rouge_l_identical_is_one() -> None:
    assert rouge_l("The police killed the gunman.", "police killed gunman") == 1.0


def test_rouge_l_by_hand() -> None:
    # pred [police, killed, gunman], ref [police, kill, gunman]: LCS 2, P = R = 2/3, F = 2/3
    assert rouge_l("police killed the gunman", "the police kill the gunman") == pytest.approx(2 / 3)
    # pred [w, x, y, z], ref [y, w, z]: LCS 2 (w z), P = 1/2, R = 2/3, F = (2/3) / (7/6) = 4/7
    assert rouge_l("w x y z", "y w z") == pytest.approx(4 / 7)


def test_rouge_l_is_order_sensitive_unlike_f1() -> None:
    # Same bag of words reversed: F1 is 1, but the LCS is a single token: P = R = 1/4.
    assert f1("z y x w", ["w x y z"]) == 1.0
    assert rouge_l("z y x w", "w x y z") == pytest.approx(0.25)


def test_rouge_l_empty_inputs() -> None:
    assert rouge_l("", "Denver") == 0.0
    assert rouge_l("Denver", "") == 0.0
    assert rouge_l("", "") == 1.0
    assert rouge_l("Carolina", "Denver") == 0.0


def _brute_force_lcs(a: list[str], b: list[str]) -> int:
    for size in range(min(len(a), len(b)), 0, -1):
        subsequences = set(itertools.combinations(a, size))
        if any(combo in subsequences for combo in itertools.combinations(b, size)):
            return size
    return 0


def test_rouge_l_agrees_with_brute_force_lcs() -> None:
    rng = random.Random(0)
    for _ in range(200):
        pred = [rng.choice("pqrs") for _ in range(rng.randint(1, 7))]
        ref = [rng.choice("pqrs") for _ in range(rng.randint(1, 7))]
        lcs = _brute_force_lcs(pred, ref)
        expected = 0.0 if lcs == 0 else 2 * lcs / (len(pred) + len(ref))  # F1 simplifies to 2L / (m + n)
        assert rouge_l(" ".join(pred), " ".join(ref)) == pytest.approx(expected)


# ------------------------------------------------------------------------------------------ retrieval metrics


def test_recall_at_k() -> None:
    ranked = ["a.txt", "b.txt", "c.txt"]
    assert recall_at_k(ranked, ["c.txt"], 2) == 0.0
    assert recall_at_k(ranked, ["c.txt"], 3) == 1.0
    assert recall_at_k(ranked, ["z.txt", "a.txt"], 1) == 1.0
    assert recall_at_k(ranked, ["c.txt"], 10) == 1.0  # k beyond the list
    assert recall_at_k([], ["c.txt"], 5) == 0.0


def test_recall_at_k_without_gold_is_zero() -> None:
    assert recall_at_k(["a.txt"], [], 5) == 0.0


def test_recall_at_k_rejects_non_positive_k() -> None:
    with pytest.raises(ValueError, match="k must be at least 1"):
        recall_at_k(["a.txt"], ["a.txt"], 0)


def test_reciprocal_rank() -> None:
    assert reciprocal_rank(["a", "b", "c"], {"b", "c"}) == 0.5
    assert reciprocal_rank(["a", "b", "c"], ["a"]) == 1.0
    assert reciprocal_rank(["a", "b", "c"], ["z"]) == 0.0
    assert reciprocal_rank([], ["z"]) == 0.0
    assert reciprocal_rank(["a", "a", "b"], ["b"]) == pytest.approx(1 / 3)  # positions count as given


# ----------------------------------------------------------------------------------------------- contains_any


def test_contains_any_is_case_insensitive_substring() -> None:
    assert contains_any("The talks will be held in MONTREUX, Switzerland.", ["montreux"])
    assert contains_any("Roughly 130,000 people", ["130 000", "130,000"])
    assert not contains_any("The talks will be held in Geneva.", ["Montreux", "Swiss"])
    assert contains_any("Hauptstraße", ["STRASSE"])  # casefold, not just lower


def test_contains_any_edge_cases() -> None:
    assert not contains_any("anything", [])
    assert not contains_any("anything", [""])  # an empty needle would match every answer
    assert not contains_any("", ["Montreux"])


# ------------------------------------------------------------------------------------------------ percentiles


def test_percentile_by_hand() -> None:
    values = [4.0, 1.0, 3.0, 2.0]  # order does not matter
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 95) == pytest.approx(3.85)  # rank 3 * 0.95 = 2.85 -> 3 + 0.85 * (4 - 3)
    assert percentile(values, 100) == 4.0
    assert percentile([7.0], 95) == 7.0


def test_percentile_matches_numpy_linear() -> None:
    rng = random.Random(1)
    for size in (1, 2, 5, 20, 101):
        values = [rng.uniform(0, 1000) for _ in range(size)]
        for q in (0, 5, 25, 50, 90, 95, 99, 100):
            assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)
    with pytest.raises(ValueError, match="q must be within"):
        percentile([1.0], 101)


def test_summarize_latency() -> None:
    stats = summarize_latency([100, 200, 300, 400, 1000])
    assert set(stats) == {"median_ms", "p95_ms", "mean_ms"}
    assert stats["median_ms"] == 300.0
    assert stats["p95_ms"] == pytest.approx(880.0)  # rank 4 * 0.95 = 3.8 -> 400 + 0.8 * 600
    assert stats["mean_ms"] == 400.0


def test_summarize_latency_empty_gives_nan() -> None:
    stats = summarize_latency([])
    assert all(math.isnan(value) for value in stats.values())


def test_a_normalised_answer_is_held_only_as_whole_words() -> None:
    assert contains_normalized("The span is 503 metres.", ["503 Metres"])
    assert not contains_normalized("The span is 1503 metres.", ["503 metres"])
    assert not contains_normalized("anything", [""])


def test_a_rate_interval_holds_the_rate_and_narrows_with_more_questions() -> None:
    small, large = wilson_interval(15, 20), wilson_interval(150, 200)
    assert small[0] < 0.75 < small[1] and large[0] < 0.75 < large[1]
    assert large[1] - large[0] < small[1] - small[0]
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0  # never outside [0, 1]
    with pytest.raises(ValueError):
        wilson_interval(3, 0)
    with pytest.raises(ValueError):
        wilson_interval(5, 4)
