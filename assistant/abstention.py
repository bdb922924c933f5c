"""Answer or abstain: a small logistic model over a few signals the pipeline already has.

A single number is a poor judge of "does the corpus answer this?". The LLM's probability of replying NOT FOUND
misses most near misses: their passage is on the topic, and the model picks some phrase from it. But a guessed
phrase looks different from a read one: the model leaned to refusing, had to be asked again with the refusal banned,
gave no phrase the cited sentence supports, was unsure of its words (their log-probabilities), or cited a sentence
whose best clause means something else than the question asks (by the main model and by the larger ranking model).
`answer_signals` gathers those signals (and a few more, reported in each answer's `signals`) and `AbstentionModel`
weighs the ones it was fitted on. One more comes from the LLM itself, asked when the model reads it: its probability
that the cited sentence says the answer ("support_yes", assistant/support.py).

The LLM-mode model is fitted by `python -m bench.abstention_fit` on the tuning parts of SQuAD, ClapNQ and the seed
paraphrases together, each data set weighted alike, its threshold set for the best balanced accuracy across them;
the fast-mode model by `python -m bench.calibrate`. Both live in assistant/calibration*.json beside the models they
were measured with, and apply only with those models (assistant/calibration.py).

Example:
    >>> model = AbstentionModel(features=("refusal",), weights=(-4.0,), bias=2.0, means=(0.0,), scales=(1.0,),
    ...                         threshold=0.5)
    >>> model.should_abstain({"refusal": 0.9}), model.should_abstain({"refusal": 0.1})
    (True, False)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from assistant.evidence import Evidence, RankedEvidence, ranking_cosines
from assistant.text import present_terms, query_terms

# A phrase whose tokens all came with certainty has mean log-probability 0; an empty phrase gets this floor,
# about the log-probability of a token the model gave one chance in a thousand.
NO_PHRASE_LOGPROB = -7.0


def phrase_logprobs(tokens: Sequence[tuple[str, float]]) -> tuple[float, float, float]:
    """(mean, min) log-probability of the answer phrase's tokens (those before the first `[`), and the
    log-probability of the mark's number (the token after `[`, 0 when there is none)."""
    phrase: list[float] = []
    mark = 0.0
    for i, (token, logprob) in enumerate(tokens):
        if "[" in token:
            tail = token.split("[", 1)[1].strip()
            if tail[:1].isdigit():
                mark = logprob
            elif i + 1 < len(tokens):
                mark = tokens[i + 1][1]
            break
        if token.strip():
            phrase.append(logprob)
    if not phrase:
        return NO_PHRASE_LOGPROB, NO_PHRASE_LOGPROB, mark
    return float(np.mean(phrase)), float(min(phrase)), mark


def answer_signals(question: str, ranked: RankedEvidence, evidence: Sequence[Evidence], cited: Sequence[Evidence],
                   *, refusal: float | None = None, reasked: bool = False, fallback: bool = False,
                   tokens: Sequence[tuple[str, float]] = (), clause_semantic: float | None = None,
                   window_semantic: float | None = None, ranking_clause: float | None = None) -> dict[str, float]:
    """The signals the abstention model reads, for one answer (LLM or extractive).

    `refusal`: the LLM's first-token probability of NOT FOUND; `reasked`: the reply came from the second ask with
    refusals banned; `fallback`: the model gave no supported phrase and the best sentence stands in; `tokens`: the
    final reply's (token, logprob) pairs; `clause_semantic`: the question's best cosine with a clause of the cited
    sentence (`Decider.clause_semantic`), when it has several; `window_semantic`: its cosine with the words
    around the answer phrase in that sentence (`Decider.window_semantic`), when the phrase is a part of it;
    `ranking_clause`: the ranking model's best cosine with a clause of the cited sentence, when one is configured.
    """
    top = ranked.passages[0] if ranked.passages else None
    first = cited[0] if cited else (evidence[0] if evidence else None)
    mean, low, mark = phrase_logprobs(tokens)
    asked = query_terms(question)
    q_terms = set(asked)
    covered = (len(q_terms & present_terms(first.text, asked.acronyms)) / len(q_terms)) if (first and q_terms) else 0.0
    signals = {
        "refusal": float(refusal or 0.0),
        "reasked": float(reasked),
        "fallback": float(fallback),
        "phrase_logprob": mean,
        "phrase_min_logprob": low,
        "mark_logprob": mark,
        "evidence": ranked.best_score,
        "cited_score": first.score if first else 0.0,
        "cited_semantic": first.semantic if first else 0.0,
        # the cited sentence's meaning at its best clause: a long sentence answers with one of its clauses
        "cited_clause": max(first.semantic, clause_semantic or 0.0) if first else 0.0,
        "cited_lexical": first.lexical if first else 0.0,
        # the meaning of the words around the answer phrase; with the clause's meaning held equal, its fitted weight
        # is negative (in both calibration halves): the closer those words restate the question, the likelier a guess
        "window_semantic": window_semantic if window_semantic is not None else (first.semantic if first else 0.0),
        "cited_rank": float(next((i for i, e in enumerate(evidence) if first is not None and e is first), 0)),
        "question_covered": covered,
        "passage_dense": float(top.dense or 0.0) if top else 0.0,
        "typed": float(bool(first and first.typed)),
    }
    # With a ranking model: its cosines with the cited passage and sentence ("ranking_passage", "ranking_cited")
    if first is not None:
        signals.update(ranking_cosines(ranked, first))
    if "ranking_cited" in signals:  # ... and at the sentence's best clause, as "cited_clause" for the main model
        signals["ranking_clause"] = max(signals["ranking_cited"], ranking_clause or 0.0)
    return signals


@dataclass(frozen=True)
class AbstentionModel:
    """P(the corpus answers the question) = sigmoid(bias + sum w * (x - mean) / scale); abstain below threshold."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    means: tuple[float, ...]
    scales: tuple[float, ...]
    threshold: float
    # (feature, low, high): where a signal that costs a model call to get was seen on the tuning parts (its 1st to
    # 99th percentile, `bench.abstention_fit`); `settled_without` asks for it only where a value in that range
    # could change the decision. A feature not listed ranges over [0, 1].
    ranges: tuple[tuple[str, float, float], ...] = ()

    def p_answerable(self, signals: Mapping[str, float]) -> float:
        """The fitted probability that the question is answerable from the evidence the answer came from."""
        z = self.bias + sum(w * (float(signals.get(f, m)) - m) / s
                            for f, w, m, s in zip(self.features, self.weights, self.means, self.scales, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def should_abstain(self, signals: Mapping[str, float]) -> bool:
        return self.p_answerable(signals) < self.threshold

    def settled_without(self, signals: Mapping[str, float], feature: str, low: float | None = None,
                        high: float | None = None) -> bool:
        """Whether the decision on `signals` is the same whatever value from `low` to `high` `feature` would take
        (by default the feature's range in `ranges`, else 0 to 1).

        The score is linear in each signal, so the two ends settle it: when both give the same decision, a signal
        that costs a model call to get can go unasked, and the decision is the one it would have been for any value
        in the range. Over [0, 1] that is exact for a probability; over the range seen on the tuning parts it is
        exact except where the signal would have fallen outside it (1 % at each end there), and it settles far more
        answers. A feature the model does not read settles nothing it needs.
        """
        if feature not in self.features:
            return True
        seen = {name: (lo, hi) for name, lo, hi in self.ranges}.get(feature, (0.0, 1.0))
        low, high = seen[0] if low is None else low, seen[1] if high is None else high
        return self.should_abstain({**signals, feature: low}) == self.should_abstain({**signals, feature: high})

    def to_json(self) -> dict[str, Any]:
        data = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items() if k != "ranges"}
        if self.ranges:
            data["ranges"] = {name: [lo, hi] for name, lo, hi in self.ranges}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AbstentionModel:
        """The model as stored in calibration.json; raises ValueError/KeyError/TypeError on a malformed entry."""
        features = tuple(str(f) for f in data["features"])
        model = cls(features=features, weights=tuple(float(w) for w in data["weights"]), bias=float(data["bias"]),
                    means=tuple(float(m) for m in data["means"]), scales=tuple(float(s) for s in data["scales"]),
                    threshold=float(data["threshold"]),
                    ranges=tuple((str(name), float(lo), float(hi))
                                 for name, (lo, hi) in (data.get("ranges") or {}).items()))
        if any(lo > hi for _, lo, hi in model.ranges):
            raise ValueError("abstention model: a signal's range has its low end above its high end")
        if not (len(features) == len(model.weights) == len(model.means) == len(model.scales)):
            raise ValueError("abstention model: features, weights, means and scales differ in length")
        if any(s <= 0 for s in model.scales):
            raise ValueError("abstention model: scales must be positive")
        return model


def fit_logistic(rows: Sequence[Mapping[str, float]], labels: Sequence[bool], features: Sequence[str],
                 l2: float = 1.0, iterations: int = 50) -> AbstentionModel:
    """Fit the weights by Newton's method on L2-regularised log-loss (features standardised first); the
    threshold is left at 0.5 for the caller to choose."""
    x = np.asarray([[float(r[f]) for f in features] for r in rows], dtype=float)
    y = np.asarray(labels, dtype=float)
    means = x.mean(axis=0)
    scales = x.std(axis=0)
    scales[scales < 1e-9] = 1.0
    z = np.hstack([np.ones((len(x), 1)), (x - means) / scales])
    w = np.zeros(z.shape[1])
    penalty = np.eye(z.shape[1]) * l2
    penalty[0, 0] = 0.0  # the bias is not shrunk
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -60, 60)))
        gradient = z.T @ (p - y) + penalty @ w
        hessian = (z.T * (p * (1 - p))) @ z + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return AbstentionModel(features=tuple(features), weights=tuple(float(v) for v in w[1:]), bias=float(w[0]),
                           means=tuple(float(v) for v in means), scales=tuple(float(v) for v in scales),
                           threshold=0.5)
