"""Fit the passage-score weights of assistant/evidence.py on SQuAD-even, and check them.

With the default settings it fits `RANKING_MODEL_WEIGHTS`, the weights used with the ranking model's two cosines
(its store is built first: about 7 min on 2 cores with bfloat16, 16 min in float32); with
`ASSISTANT_RANKING_EMBED_MODEL=none`, `RERANK_WEIGHTS`, those used without a ranking model.

Each question's fused candidates are described by `EvidenceRanker.features` (assistant/evidence.py); a linear
score is fitted so that a softmax over the candidates puts the gold paragraph first (listwise log-loss, features
standardised, L2 penalty, gradient descent). The fit uses the articles of one hash half; recall@1/@5 are reported
on both halves for the fitted weights and for the weights now in the code, so a change is judged on articles it was
not fitted to. The printed weights are scaled so that "best" weighs 1, as the code keeps them.

Usage:
    python -m bench.fit_ranker [--eval-dir ../shared/eval] [--limit N]   # RANKING_MODEL_WEIGHTS
    ASSISTANT_RANKING_EMBED_MODEL=none python -m bench.fit_ranker          # RERANK_WEIGHTS
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from assistant.evaluation.datasets import sample
from assistant.evaluation.runner import default_eval_dir
from assistant.evidence import EvidenceRanker, ranking_weights
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


def recall(groups: list[tuple[np.ndarray, np.ndarray]], w: np.ndarray, k: int) -> float:
    return float(np.mean([y[np.argsort(-(x @ w), kind="stable")[:k]].sum() > 0 for x, y in groups]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval-dir", type=Path, default=default_eval_dir())
    parser.add_argument("--limit", type=int, default=None, help="questions to use (default: all 5,397)")
    args = parser.parse_args()
    bot, items = indexed_assistant(eval_paths(args.eval_dir)["squad"], "fast")
    retriever, ranker = bot.retriever, EvidenceRanker()
    halves: dict[bool, list[tuple[np.ndarray, np.ndarray]]] = {True: [], False: []}
    chosen = sample(items, args.limit)
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
    features = tuple(weights)
    fitted = fit_listwise(halves[True])
    fitted = fitted / fitted[features.index("best")]
    current = np.asarray([weights[f] for f in features])
    report = {"questions": {"fit": len(halves[True]), "held_out": len(halves[False])},
              "fitted_weights": {f: round(float(v), 3) for f, v in zip(features, fitted, strict=True)}}
    for name, w in (("fitted", fitted), ("in_code", current)):
        report[name] = {half: {f"recall@{k}": round(recall(halves[key], w, k), 3) for k in (1, 5)}
                        for half, key in (("fit", True), ("held_out", False))}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
