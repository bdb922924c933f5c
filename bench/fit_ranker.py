"""Fit the passage-score weights of assistant/evidence.py on SQuAD-even, and check them.

With the default settings it fits `RANKING_MODEL_WEIGHTS`, the weights used with the ranking model's two cosines
(its store is built first: about 7 min on 2 cores with bfloat16, 16 min in float32); with
`ASSISTANT_RANKING_EMBED_MODEL=none`, `RERANK_WEIGHTS`, those used without a ranking model.

Each question's fused candidates are described by `EvidenceRanker.features` (assistant/evidence.py); a linear
score is fitted so that a softmax over the candidates puts the gold paragraph first (listwise log-loss, features
standardised, L2 penalty, gradient descent). The fit uses the articles of one hash half; recall@1/@5 are reported
on both halves for the fitted weights and for the weights now in the code, so a change is judged on articles it was
not fitted to. The printed weights are scaled so that "best" weighs 1, as the code keeps them.

With `--scorer-out FILE` it also fits the learned passage score used with the ranking model
(assistant/passage_scorer.py: five small networks averaged) the same way, reports its recall on both halves, and
the recall@1 of both the linear and the learned score measured two ways round (fitted on each half, tested on the
other, pooled over all questions), then writes it to FILE (the assistant reads assistant/passage_scorer.json).
Collecting the features takes most of the time (about 10 min); `--features-out F` keeps them and
`--from-features F` re-fits from them in about a minute.

Usage:
    python -m bench.fit_ranker [--eval-dir ../shared/eval] [--limit N]   # RANKING_MODEL_WEIGHTS
    python -m bench.fit_ranker --features-out F.npz --scorer-out assistant/passage_scorer.json
    ASSISTANT_RANKING_EMBED_MODEL=none python -m bench.fit_ranker          # RERANK_WEIGHTS
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from assistant.config import load_settings
from assistant.evaluation.datasets import sample
from assistant.evaluation.runner import default_eval_dir
from assistant.evidence import EvidenceRanker, ranking_weights
from assistant.passage_scorer import PASSAGE_SCORER_FILE, PassageScorer
from bench.calibrate import eval_paths, indexed_assistant


def fit_half(doc: str) -> bool:
    """True for the articles the weights are fitted on (by a hash of the article's name)."""
    article = doc.split("_", 2)[1]
    return hashlib.sha256(article.encode("utf-8")).digest()[0] % 2 == 0


def fit_listwise(groups: list[tuple[np.ndarray, np.ndarray]], l2: float = 1.0, steps: int = 1500,
                 rate: float = 1.0) -> np.ndarray:
    """Weights (in the features' own units) maximising the softmax probability of the gold candidates."""
    stacked = np.vstack([x for x, _ in groups])
    mean, scale = stacked.mean(axis=0), stacked.std(axis=0) + 1e-9
    w = np.zeros(stacked.shape[1])
    usable = [((x - mean) / scale, y / y.sum()) for x, y in groups if y.sum() > 0]
    for _ in range(steps):
        gradient = l2 * w
        for z, target in usable:
            s = z @ w
            p = np.exp(s - s.max())
            gradient += z.T @ (p / p.sum() - target)
        w -= rate * gradient / len(usable)
    return w / scale


def recall(groups: list[tuple[np.ndarray, np.ndarray]], score: np.ndarray | PassageScorer, k: int) -> float:
    """Share of questions with a gold candidate among the `k` best by `score` (linear weights or a learned scorer)."""
    return float(np.mean([y[np.argsort(-candidate_scores(x, score), kind="stable")[:k]].sum() > 0
                          for x, y in groups]))


Groups = list[tuple[np.ndarray, np.ndarray]]


def collect_features(limit: int | None, eval_dir: Path) -> tuple[tuple[str, ...], dict[bool, Groups]]:
    """Every question's candidates as (features, gold labels), split by `fit_half`; the feature names in order.
    Builds the SQuAD-even store first when needed; about 10 min on 2 cores for all 5,397 questions."""
    bot, items = indexed_assistant(eval_paths(eval_dir)["squad"], "fast")
    retriever, ranker = bot.retriever, EvidenceRanker()
    halves: dict[bool, Groups] = {True: [], False: []}
    chosen = sample(items, limit)
    weights: dict[str, float] = {}
    for number, item in enumerate(chosen, 1):
        vector, passages = retriever.candidates(item.question)
        if not passages:
            continue
        ranking = (np.asarray(bot.ranking_model.get_query_embedding(item.question), dtype=np.float32)
                   if bot.ranking_model is not None else None)
        rows = ranker.features(item.question, vector, passages, retriever.term_stats, ranking)
        weights = ranking_weights(rows[0][1])
        x = np.asarray([[features[f] for f in weights] for _, features in rows])
        y = np.asarray([float(p.doc in item.gold_docs) for p in passages])
        halves[fit_half(item.gold_docs[0])].append((x, y))
        if number % 500 == 0 or number == len(chosen):
            print(f"  {number}/{len(chosen)} questions", flush=True)
    return tuple(weights), halves


def save_features(path: Path, features: tuple[str, ...], halves: dict[bool, Groups]) -> None:
    """Keep the collected features (`--features-out`), so that a re-fit takes seconds (`--from-features`)."""
    groups = [(x, y, half) for half in (True, False) for x, y in halves[half]]
    np.savez_compressed(path, features=np.asarray(features), x=np.vstack([x for x, _, _ in groups]),
                        y=np.concatenate([y for _, y, _ in groups]), sizes=np.asarray([len(y) for _, y, _ in groups]),
                        half=np.asarray([half for _, _, half in groups]))


def load_features(path: Path) -> tuple[tuple[str, ...], dict[bool, Groups]]:
    with np.load(path) as data:
        features, x, y, sizes, half = (data[key] for key in ("features", "x", "y", "sizes", "half"))
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    halves: dict[bool, Groups] = {True: [], False: []}
    for i, fit in enumerate(half):
        halves[bool(fit)].append((x[bounds[i]:bounds[i + 1]], y[bounds[i]:bounds[i + 1]]))
    return tuple(str(f) for f in features), halves


# The learned scorer's shape and training (assistant/passage_scorer.py). On the features of the ranking model, one
# network's pooled held-out recall@1 was 0.8495-0.8514 for 8 to 32 units, 600 to 1,200 steps and weight decay
# 0.001 to 0.01, and 0.8482-0.8521 for five random starts of 8 units (linear alone 0.8481); the mean of those
# five, 0.8523. Eight units, the smallest tried, and five members were kept.
SCORER_UNITS = 8
SCORER_STEPS = 600
SCORER_WEIGHT_DECAY = 1e-3
SCORER_MEMBERS = 5


def fit_scorer(groups: Groups, features: tuple[str, ...], members: int = SCORER_MEMBERS) -> PassageScorer:
    """The mean of `members` small networks (`fit_member`) from random starts 0, 1, ...: one network's recall
    depends on its start by about 0.002, their mean's less. Scaled so that its scores spread around each question's
    mean as much as the linear weights' do (`spread`): a cross-encoder's term was sized against that spread."""
    average = PassageScorer.average([fit_member(groups, features, seed=seed) for seed in range(members)])
    return replace(average, unit=average.unit * spread(groups, average) / spread(groups, in_code_weights(features)))


def in_code_weights(features: tuple[str, ...]) -> np.ndarray:
    """The linear weights assistant/evidence.py uses for these features, in their order."""
    weights = ranking_weights(dict.fromkeys(features, 0.0))
    return np.asarray([weights[f] for f in features])


def candidate_scores(x: np.ndarray, score: np.ndarray | PassageScorer) -> np.ndarray:
    """One question's candidates scored by linear weights or by a learned scorer."""
    return score.scores(x) if isinstance(score, PassageScorer) else x @ score


def spread(groups: Groups, score: np.ndarray | PassageScorer) -> float:
    """The standard deviation of the candidates' scores around their question's mean score."""
    return float(np.std(np.concatenate([s - s.mean() for s in (candidate_scores(x, score) for x, _ in groups)])))


def fit_member(groups: Groups, features: tuple[str, ...], units: int = SCORER_UNITS, steps: int = SCORER_STEPS,
               weight_decay: float = SCORER_WEIGHT_DECAY, seed: int = 0) -> PassageScorer:
    """A linear score plus `units` tanh units over the standardised features, fitted by the same listwise
    log-loss as `fit_listwise` (Adam, full batch); deterministic for a given seed."""
    import torch

    torch.manual_seed(seed)
    usable = [(x, y / y.sum()) for x, y in groups if y.sum() > 0]
    width = max(len(y) for _, y in usable)
    stacked = np.vstack([x for x, _ in usable])
    mean, scale = stacked.mean(axis=0), stacked.std(axis=0) + 1e-9
    z = torch.zeros(len(usable), width, len(features))
    target = torch.zeros(len(usable), width)
    present = torch.zeros(len(usable), width, dtype=torch.bool)
    for i, (x, y) in enumerate(usable):
        z[i, :len(y)] = torch.as_tensor((x - mean) / scale, dtype=torch.float32)
        target[i, :len(y)] = torch.as_tensor(y, dtype=torch.float32)
        present[i, :len(y)] = True
    linear = torch.nn.Linear(len(features), 1, bias=False)
    hidden = torch.nn.Linear(len(features), units)
    out = torch.nn.Linear(units, 1, bias=False)
    parameters = [*linear.parameters(), *hidden.parameters(), *out.parameters()]
    optimiser = torch.optim.Adam(parameters, lr=0.01, weight_decay=weight_decay)
    for _ in range(steps):
        scores = (linear(z) + out(torch.tanh(hidden(z)))).squeeze(-1).masked_fill(~present, -1e9)
        loss = -(target * torch.log_softmax(scores, dim=1)).sum(dim=1).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    weights = linear.weight.detach().numpy()[0].astype(np.float64)
    unit = float(weights[features.index("best")] / scale[features.index("best")])
    return PassageScorer(features, mean, scale, weights, hidden.weight.detach().numpy().T.astype(np.float64),
                         hidden.bias.detach().numpy().astype(np.float64),
                         out.weight.detach().numpy()[0].astype(np.float64), abs(unit) or 1.0)


def pooled(per_half: dict[bool, float], halves: dict[bool, Groups]) -> float:
    """Recall over all questions, each half's measured by what was fitted on the other."""
    return sum(per_half[h] * len(halves[h]) for h in halves) / sum(len(g) for g in halves.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval-dir", type=Path, default=default_eval_dir())
    parser.add_argument("--limit", type=int, default=None, help="questions to use (default: all 5,397)")
    parser.add_argument("--features-out", type=Path, help="keep the collected features in this .npz file")
    parser.add_argument("--from-features", type=Path, help="fit on features kept by --features-out")
    parser.add_argument("--scorer-out", type=Path,
                        help=f"also fit the learned scorer and write it here (the assistant reads "
                             f"{PASSAGE_SCORER_FILE.name})")
    args = parser.parse_args()
    if args.from_features:
        features, halves = load_features(args.from_features)
    else:
        features, halves = collect_features(args.limit, args.eval_dir)
        if args.features_out:
            save_features(args.features_out, features, halves)
    fitted = fit_listwise(halves[True])
    fitted = fitted / fitted[features.index("best")]
    current = in_code_weights(features)
    report: dict[str, Any] = {"questions": {"fit": len(halves[True]), "held_out": len(halves[False])},
                              "fitted_weights": {f: round(float(v), 3) for f, v in zip(features, fitted, strict=True)}}
    for name, w in (("fitted", fitted), ("in_code", current)):
        report[name] = {half: {f"recall@{k}": round(recall(halves[key], w, k), 3) for k in (1, 5)}
                        for half, key in (("fit", True), ("held_out", False))}
    other = fit_listwise(halves[False])
    report["linear_two_way_held_out_recall@1"] = round(pooled(
        {True: recall(halves[True], other, 1), False: recall(halves[False], fitted, 1)}, halves), 4)
    if args.scorer_out:
        scorers = {half: fit_scorer(halves[half], features) for half in (True, False)}
        report["scorer"] = {half: {f"recall@{k}": round(recall(halves[key], scorers[True], k), 4)
                                   for k in (1, 5)} for half, key in (("fit", True), ("held_out", False))}
        report["scorer_two_way_held_out_recall@1"] = round(pooled(
            {h: recall(halves[h], scorers[not h], 1) for h in (True, False)}, halves), 4)
        settings = load_settings()
        args.scorer_out.write_text(json.dumps(
            {"note": "Learned passage score (assistant/passage_scorer.py), fitted on one hash half of SQuAD-even by "
                     "`python -m bench.fit_ranker --scorer-out`; see docs/BENCHMARKS.md.",
             "embed_model": settings.embed_model, "ranking_embed_model": settings.index_ranking_model,
             "measured": {key: report[key] for key in ("scorer", "scorer_two_way_held_out_recall@1",
                                                       "linear_two_way_held_out_recall@1")},
             **scorers[True].to_dict()}, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
