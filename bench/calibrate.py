"""Calibrate the abstention thresholds on ClapNQ dev (answerable vs unanswerable) and check them on SQuAD.

The assistant abstains before answering when its best evidence sentence scores under a threshold. The value is
measured, not picked by hand: for each question of the ClapNQ answerable and unanswerable files we record the
best evidence score (retrieval + evidence ranking, no LLM), then choose

- fast mode: the threshold maximising balanced accuracy (answerable answered + unanswerable abstained) / 2,
  among thresholds that keep at least 80% of answerable questions answered;
- LLM mode: a low threshold that drops at most 2% of answerable questions (the LLM and the citation check make
  the finer call; the threshold only spares it clearly off-topic questions).

Both are checked on a SQuAD sample (all answerable: the share that would wrongly abstain is printed). The result
is written to assistant/calibration.json.

Usage:
    python -m bench.calibrate [--eval-dir ../shared/eval] [--squad-limit 500]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from assistant.config import load_settings
from assistant.evaluation.datasets import load_eval_set, sample
from assistant.evaluation.runner import default_eval_dir, prepare_corpus
from assistant.pipeline import CALIBRATION_FILE, Assistant

MIN_ANSWERED = 0.80  # the floor for answerable questions answered
LLM_MAX_DROPPED = 0.02


def best_scores(eval_paths: list[Path], limit: int | None) -> tuple[list[float], list[float]]:
    """Best evidence score per question, split into (answerable, unanswerable)."""
    eval_set = load_eval_set(eval_paths)
    settings = prepare_corpus(eval_set, load_settings(overrides={"mode": "fast"}))
    bot = Assistant(settings)
    bot.index()
    items = sample(eval_set.items, limit) if limit else eval_set.items
    answerable, unanswerable = [], []
    for item in items:
        ranked, _ = bot._evidence(item.question)
        (answerable if item.answers else unanswerable).append(ranked.best_score)
    return answerable, unanswerable


def choose_fast(answerable: list[float], unanswerable: list[float]) -> tuple[float, float, float]:
    """(threshold, share answered, share abstained) maximising balanced accuracy with the answered floor."""
    best = (0.0, 1.0, 0.0)
    best_balanced = -1.0
    for t in sorted(set(answerable + unanswerable)):
        answered = float(np.mean(np.asarray(answerable) >= t))
        abstained = float(np.mean(np.asarray(unanswerable) < t))
        if answered >= MIN_ANSWERED and (answered + abstained) / 2 > best_balanced:
            best_balanced, best = (answered + abstained) / 2, (t, answered, abstained)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval-dir", type=Path, default=default_eval_dir())
    parser.add_argument("--squad-limit", type=int, default=500)
    args = parser.parse_args()
    clap = [args.eval_dir / "clapnq_dev" / "clapnq_dev_answerable_even.jsonl",
            args.eval_dir / "clapnq_dev" / "clapnq_dev_unanswerable_even.jsonl"]
    answerable, unanswerable = best_scores(clap, None)
    fast_t, fast_answered, fast_abstained = choose_fast(answerable, unanswerable)
    llm_t = float(np.quantile(answerable, LLM_MAX_DROPPED))
    squad, _ = best_scores([args.eval_dir / "squad_v1.1_dev" / "squad-dev-v1.1-even-articles.json"],
                           args.squad_limit)
    result = {
        "note": "Abstention thresholds on the best evidence score (assistant/evidence.py), written by "
                "`python -m bench.calibrate`; see docs/BENCHMARKS.md.",
        "embed_model": load_settings().embed_model,
        "min_evidence_score": {"fast": round(fast_t, 4), "llm": round(llm_t, 4)},
        "measured": {
            "clapnq_answerable": len(answerable), "clapnq_unanswerable": len(unanswerable),
            "fast": {"answered": round(fast_answered, 3), "abstained_unanswerable": round(fast_abstained, 3),
                     "squad_wrongly_abstained": round(float(np.mean(np.asarray(squad) < fast_t)), 3)},
            "llm_prefilter": {
                "answerable_dropped": round(float(np.mean(np.asarray(answerable) < llm_t)), 3),
                "unanswerable_abstained": round(float(np.mean(np.asarray(unanswerable) < llm_t)), 3),
                "squad_wrongly_abstained": round(float(np.mean(np.asarray(squad) < llm_t)), 3)},
            "score_quartiles": {
                "clapnq_answerable": [round(float(q), 3) for q in np.quantile(answerable, [0.25, 0.5, 0.75])],
                "clapnq_unanswerable": [round(float(q), 3) for q in np.quantile(unanswerable, [0.25, 0.5, 0.75])],
                "squad": [round(float(q), 3) for q in np.quantile(squad, [0.25, 0.5, 0.75])]},
        },
    }
    CALIBRATION_FILE.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
