"""A learned passage score: the fitted linear score plus one small hidden layer, for the features of the ranking model.

The passage score with the ranking model's two cosines (`evidence.RANKING_MODEL_WEIGHTS`) is linear, and a linear
score of these twelve features levels off at about 0.848 recall@1 on held-out SQuAD-even articles. One hidden layer
of tanh units beside the linear part lets features count differently together than alone (a high word overlap
matters less when the ranking model finds the passage far off). Five such networks of eight units, fitted the same
way from different random starts on one hash half of the articles and averaged (`PassageScorer.average`), rank the
gold paragraph of the other half first more often than the linear score, both ways round: pooled held-out
recall@1 0.852 against 0.848 (docs/BENCHMARKS.md, "Retrieval").
`python -m bench.fit_ranker --scorer-out FILE` fits it and writes `passage_scorer.json` beside this module, with the
embedding models it was fitted with: it applies only when those are the configured ones
(`pipeline.load_passage_scorer`) and the features are the ones it was fitted on, else the linear weights do.

Its output is divided by `unit`, chosen when fitting so that its scores spread around each question's mean as much
as the linear weights' do: a cross-encoder's term (`evidence.CROSS_ENCODER_WEIGHT`) was sized against that spread.

Example:
    >>> scorer = PassageScorer.from_dict(json.loads(PASSAGE_SCORER_FILE.read_text()))  # doctest: +SKIP
    >>> scorer.score({"best": 0.7, "best_semantic": 0.6, ...})  # doctest: +SKIP
    0.93
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PASSAGE_SCORER_FILE = Path(__file__).with_name("passage_scorer.json")


@dataclass(frozen=True)
class PassageScorer:
    """score(x) = (z . linear + tanh(z W + b) . out) / unit, with z the features standardised by `mean`, `scale`."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    linear: np.ndarray
    hidden_weights: np.ndarray  # (features, units)
    hidden_bias: np.ndarray
    hidden_out: np.ndarray
    unit: float

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PassageScorer:
        """Build from the JSON layout `to_dict` writes; ValueError when the shapes do not agree."""
        features = tuple(str(name) for name in data["features"])
        arrays = {key: np.asarray(data[key], dtype=np.float64)
                  for key in ("mean", "scale", "linear", "hidden_weights", "hidden_bias", "hidden_out")}
        n, units = len(features), len(arrays["hidden_bias"])
        expected = {"mean": (n,), "scale": (n,), "linear": (n,), "hidden_weights": (n, units),
                    "hidden_bias": (units,), "hidden_out": (units,)}
        wrong = [key for key, shape in expected.items() if arrays[key].shape != shape]
        unit = float(data["unit"])
        if wrong or not unit > 0 or not np.all(arrays["scale"] > 0):
            raise ValueError(f"passage scorer: shapes of {wrong or ['unit/scale']} do not fit {n} features")
        return cls(features, unit=unit, **arrays)

    @classmethod
    def average(cls, scorers: Sequence[PassageScorer]) -> PassageScorer:
        """One scorer whose score is the mean of `scorers`' (fitted on the same features, from different random
        starts): their hidden units side by side. A single small network's recall moves by about 0.002 with its
        random start; the mean of five does not, and ranks better than any one of them."""
        first = scorers[0]
        if any(s.features != first.features or not np.array_equal(s.mean, first.mean)
               or not np.array_equal(s.scale, first.scale) for s in scorers):
            raise ValueError("passage scorers to average must share their features and standardisation")
        n = len(scorers)
        return cls(first.features, first.mean, first.scale, sum(s.linear / s.unit for s in scorers) / n,
                   np.hstack([s.hidden_weights for s in scorers]), np.concatenate([s.hidden_bias for s in scorers]),
                   np.concatenate([s.hidden_out / (s.unit * n) for s in scorers]), 1.0)

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "unit": self.unit,
                **{key: np.round(getattr(self, key), 6).tolist()
                   for key in ("mean", "scale", "linear", "hidden_weights", "hidden_bias", "hidden_out")}}

    def applies(self, features: Mapping[str, float]) -> bool:
        """Whether `features` are exactly the ones this scorer was fitted on."""
        return set(features) == set(self.features)

    def score(self, features: Mapping[str, float]) -> float:
        """The passage score of one candidate's `features` (all of `self.features`)."""
        return float(self.scores(np.asarray([[features[name] for name in self.features]]))[0])

    def scores(self, rows: np.ndarray) -> np.ndarray:
        """The scores of several candidates at once: one row each, its columns in the order of `self.features`."""
        z = (rows - self.mean) / self.scale
        return (z @ self.linear + np.tanh(z @ self.hidden_weights + self.hidden_bias) @ self.hidden_out) / self.unit

