"""The learned passage score: what it computes, when the assistant uses it, and that it only orders passages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assistant.config import PACKAGED_RANKING_MODEL, load_settings
from assistant.evidence import RANKING_MODEL_WEIGHTS, EvidenceRanker
from assistant.passage_scorer import PASSAGE_SCORER_FILE, PassageScorer
from assistant.retrieval import Passage
from assistant.text import TermStats

FEATURES = ("best", "ranking_dense")


def _scorer(seed: int, units: int = 3) -> PassageScorer:
    rng = np.random.default_rng(seed)
    return PassageScorer(FEATURES, np.array([0.5, 0.4]), np.array([0.2, 0.1]), rng.normal(size=2),
                         rng.normal(size=(2, units)), rng.normal(size=units), rng.normal(size=units), 0.5 + seed)


def test_the_score_is_the_linear_part_plus_the_hidden_units_over_the_unit() -> None:
    scorer = _scorer(0)
    z = (np.array([0.7, 0.2]) - scorer.mean) / scorer.scale
    by_hand = (z @ scorer.linear + np.tanh(z @ scorer.hidden_weights + scorer.hidden_bias) @ scorer.hidden_out)
    assert scorer.score({"ranking_dense": 0.2, "best": 0.7}) == pytest.approx(by_hand / scorer.unit)


def test_the_average_of_scorers_scores_as_the_mean_of_their_scores() -> None:
    members = [_scorer(seed) for seed in range(3)]
    average = PassageScorer.average(members)
    for features in ({"best": 0.9, "ranking_dense": 0.1}, {"best": 0.1, "ranking_dense": 0.8}):
        assert average.score(features) == pytest.approx(np.mean([m.score(features) for m in members]))
    other = PassageScorer(("best", "dense"), *(getattr(members[0], k) for k in (
        "mean", "scale", "linear", "hidden_weights", "hidden_bias", "hidden_out", "unit")))
    with pytest.raises(ValueError, match="share their features"):
        PassageScorer.average([members[0], other])


def test_a_scorer_survives_its_json_and_a_malformed_one_is_refused() -> None:
    scorer = _scorer(1)
    again = PassageScorer.from_dict(json.loads(json.dumps(scorer.to_dict())))
    assert again.score({"best": 0.3, "ranking_dense": 0.6}) == pytest.approx(scorer.score(
        {"best": 0.3, "ranking_dense": 0.6}), abs=1e-5)
    broken = scorer.to_dict() | {"hidden_out": [1.0]}
    with pytest.raises(ValueError, match="do not fit"):
        PassageScorer.from_dict(broken)


def test_the_shipped_scorer_applies_with_the_packaged_ranking_model_in_the_index_only(tmp_path: Path,
                                                                                      monkeypatch) -> None:  # noqa: ANN001
    """Fitted with the packaged models, the ranking model's vectors in the index: used when they are configured (its
    features are the ranking model's twelve), not with the ranking model at question time only (the default), without
    one or with another one, and a damaged file falls back to the linear weights."""
    from assistant import calibration

    indexed = load_settings(overrides={"data_dir": tmp_path, "ranking_at_index": True}, environ={})
    assert indexed.index_ranking_model == PACKAGED_RANKING_MODEL
    scorer = calibration.load_passage_scorer(indexed)
    assert scorer is not None and scorer.applies(RANKING_MODEL_WEIGHTS)
    assert calibration.load_passage_scorer(load_settings(overrides={"data_dir": tmp_path}, environ={})) is None
    assert calibration.load_passage_scorer(load_settings(
        overrides={"data_dir": tmp_path, "ranking_embed_model": "none"}, environ={})) is None
    assert calibration.load_passage_scorer(load_settings(
        overrides={"data_dir": tmp_path, "ranking_embed_model": "/models/other-encoder", "ranking_at_index": True},
        environ={})) is None
    damaged = tmp_path / "passage_scorer.json"
    damaged.write_text(PASSAGE_SCORER_FILE.read_text(encoding="utf-8")[:-200], encoding="utf-8")
    monkeypatch.setattr(calibration, "PASSAGE_SCORER_FILE", damaged)
    assert calibration.load_passage_scorer(indexed) is None


def test_the_learned_score_orders_passages_and_leaves_sentence_scores_alone() -> None:
    """With the shipped scorer, the passage the ranking model finds closer comes first, as with the linear
    weights; what each sentence scores as evidence (and so what the LLM reads) is the same either way."""
    from assistant import calibration

    scorer = calibration.load_passage_scorer(load_settings(overrides={"ranking_at_index": True}, environ={}))
    assert scorer is not None
    texts = ["Delegates met in Paris on Monday.", "The Geneva II talks begin in Montreux next month."]
    axes = np.eye(4, dtype=np.float32)

    def passage(i: int) -> Passage:
        return Passage(chunk_id=str(i), doc=str(i), start=0, end=len(texts[i]), text=texts[i], dense=0.4,
                       lexical=1.0, ranks={"dense": 1 + i, "bm25": 1 + i}, sentences=[(0, len(texts[i]))],
                       sentence_vectors=axes[i:i + 1], ranking_vector=axes[i], ranking_sentence_vectors=axes[i:i + 1])

    stats = TermStats(texts)
    question = "Where were the Geneva II talks held?"
    by_linear = EvidenceRanker().rank(question, axes[3], [passage(0), passage(1)], stats, ranking_vector=axes[1])
    learned = EvidenceRanker(scorer).rank(question, axes[3], [passage(0), passage(1)], stats,
                                          ranking_vector=axes[1])
    assert [p.doc for p in learned.passages] == [p.doc for p in by_linear.passages] == ["1", "0"]
    assert {ev.text: ev.score for ev in learned.sentences} == {ev.text: ev.score for ev in by_linear.sentences}
    without_model = EvidenceRanker(scorer).rank(question, axes[3], [passage(0), passage(1)], stats)
    assert [p.rerank for p in without_model.passages] == [p.rerank for p in EvidenceRanker().rank(
        question, axes[3], [passage(0), passage(1)], stats).passages]  # no ranking model: the linear weights


@pytest.mark.e2e  # fits five small networks: seconds of numerics, not the edit-test loop
def test_fitting_learns_an_interaction_and_keeps_the_linear_spread() -> None:
    """`bench.fit_ranker.fit_scorer` on made-up candidates whose gold one is where two features are both high or
    both low (which no linear score can tell apart from one high and one low): it ranks the gold one first on new
    questions far more often than the linear fit does, and its scores spread as the linear weights' do."""
    from bench.fit_ranker import fit_listwise, fit_scorer, recall, spread

    features = tuple(RANKING_MODEL_WEIGHTS)
    rng = np.random.default_rng(7)

    def questions(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for _ in range(n):
            x = rng.uniform(0.0, 1.0, size=(10, len(features)))
            y = np.zeros(10)
            y[int(np.argmax((x[:, 0] - 0.5) * (x[:, -1] - 0.5)))] = 1.0  # both high, or both low
            out.append((x, y))
        return out

    fit, held_out = questions(300), questions(300)
    scorer = fit_scorer(fit, features, members=2)
    assert recall(held_out, scorer, 1) > recall(held_out, fit_listwise(fit), 1) + 0.05
    linear = np.asarray([RANKING_MODEL_WEIGHTS[f] for f in features])
    assert spread(fit, scorer) == pytest.approx(spread(fit, linear), rel=1e-6)
