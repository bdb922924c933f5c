"""Calibrate the abstention thresholds on ClapNQ dev (answerable vs unanswerable) and check them on SQuAD.

The assistant abstains for two measured reasons, never a hand-picked number:

1. **Evidence too weak** (both modes): the best evidence sentence scores under a threshold. For each ClapNQ
   question we record the best evidence score (retrieval + evidence ranking, no LLM), then choose
   - fast mode: the threshold maximising balanced accuracy (answerable answered + unanswerable abstained) / 2,
     among thresholds that keep at least 80% of answerable questions answered;
   - LLM mode: a low threshold that drops at most 2% of answerable questions (it only spares the LLM clearly
     off-topic questions; the LLM makes the finer call).
2. **The LLM refuses** (LLM mode): the probability that its reply starts with NOT FOUND (first-token logprobs)
   reaches a threshold. A sample of ClapNQ questions (and of SQuAD, all answerable) is asked once with that
   threshold off, recording each probability and the answer forced otherwise; every candidate threshold is then
   replayed on those records, and the one maximising balanced accuracy with at least 80% of answerable questions
   answered is kept.

The thresholds are chosen on one half of the ClapNQ questions (by a hash of their id) and the figures are also
reported on the other half, so the rates are not only measured on the data they were fitted to. The result is
written to assistant/calibration.json.

Usage:
    python -m bench.calibrate [--eval-dir ../shared/eval] [--squad-limit 500] [--llm-limit 120] [--no-llm]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.config import load_settings
from assistant.evaluation.datasets import EvalItem, load_eval_set, sample
from assistant.evaluation.runner import default_eval_dir, index_corpus, prepare_corpus
from assistant.pipeline import CALIBRATION_FILE, Assistant

MIN_ANSWERED = 0.80  # the floor for answerable questions answered
LLM_MAX_DROPPED = 0.02  # the evidence prefilter of LLM mode may drop at most this share of answerable questions
NEVER = 1.01  # a refusal threshold no probability reaches: the LLM's refusals are recorded, not acted upon


def fit_half(item: EvalItem) -> bool:
    """A stable split of the questions: True for the half the thresholds are fitted on."""
    return hashlib.sha256(item.id.encode("utf-8")).digest()[0] % 2 == 0


def _assistant(eval_paths: list[Path], mode: str) -> tuple[Assistant, list[EvalItem]]:
    eval_set = load_eval_set(eval_paths)
    bot = Assistant(prepare_corpus(eval_set, load_settings(overrides={"mode": mode})))
    index_corpus(bot)
    return bot, eval_set.items


def best_scores(bot: Assistant, items: Sequence[EvalItem]) -> list[float]:
    """Best evidence score per question."""
    return [bot._evidence(item.question)[0].best_score for item in items]


def choose_threshold(answerable: Sequence[float], unanswerable: Sequence[float]) -> tuple[float, float, float]:
    """(threshold, share answered, share abstained) maximising balanced accuracy with the answered floor."""
    a, u = np.asarray(answerable, dtype=float), np.asarray(unanswerable, dtype=float)
    best, best_balanced = (0.0, 1.0, 0.0), -1.0
    for t in sorted(set(a.tolist() + u.tolist())):
        answered = float(np.mean(a >= t))
        abstained = float(np.mean(u < t))
        if answered >= MIN_ANSWERED and (answered + abstained) / 2 > best_balanced:
            best_balanced, best = (answered + abstained) / 2, (t, answered, abstained)
    return best


def rates(answerable: Sequence[bool], unanswerable: Sequence[bool]) -> dict[str, float]:
    """Share of answerable questions answered and of unanswerable ones abstained, from abstain flags."""
    return {"answered": round(1 - float(np.mean(answerable)), 3) if answerable else None,
            "abstained_unanswerable": round(float(np.mean(unanswerable)), 3) if unanswerable else None}


def llm_records(bot: Assistant, items: Sequence[EvalItem]) -> list[dict[str, Any]]:
    """Ask each question with LLM refusals recorded but not acted upon."""
    bot.thresholds["refusal"] = NEVER
    records = []
    for number, item in enumerate(items, 1):
        answer = bot.ask(item.question, mode="llm")
        records.append({"id": item.id, "answerable": bool(item.answers), "fit": fit_half(item),
                        "p": answer.refusal_probability if answer.refusal_probability is not None else 0.0,
                        "abstained": answer.abstained, "ms": answer.timings_ms.get("total_ms", 0.0)})
        print(f"\r  {number}/{len(items)}", end="", flush=True)
    print()
    return records


def replay(records: Sequence[dict[str, Any]], tau: float) -> tuple[list[bool], list[bool]]:
    """Abstain flags (answerable, unanswerable) had the refusal threshold been `tau`."""
    flags = [(r["answerable"], r["abstained"] or r["p"] >= tau) for r in records]
    return [f for ok, f in flags if ok], [f for ok, f in flags if not ok]


def choose_refusal(records: Sequence[dict[str, Any]]) -> float:
    """The refusal threshold maximising balanced accuracy on `records`, keeping >= 80% of answerable answered."""
    best, best_balanced = NEVER, -1.0
    for tau in sorted({r["p"] for r in records} | {NEVER}):
        answerable, unanswerable = replay(records, tau)
        answered = 1 - float(np.mean(answerable)) if answerable else 1.0
        abstained = float(np.mean(unanswerable)) if unanswerable else 0.0
        if answered >= MIN_ANSWERED and (answered + abstained) / 2 > best_balanced:
            best, best_balanced = tau, (answered + abstained) / 2
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval-dir", type=Path, default=default_eval_dir())
    parser.add_argument("--squad-limit", type=int, default=500, help="SQuAD questions for the evidence check")
    parser.add_argument("--llm-limit", type=int, default=120, help="ClapNQ questions asked to the LLM")
    parser.add_argument("--llm-squad-limit", type=int, default=40, help="SQuAD questions asked to the LLM")
    parser.add_argument("--no-llm", action="store_true", help="calibrate the evidence thresholds only")
    args = parser.parse_args()
    clap_paths = [args.eval_dir / "clapnq_dev" / "clapnq_dev_answerable_even.jsonl",
                  args.eval_dir / "clapnq_dev" / "clapnq_dev_unanswerable_even.jsonl"]
    squad_paths = [args.eval_dir / "squad_v1.1_dev" / "squad-dev-v1.1-even-articles.json"]

    clap_bot, clap_items = _assistant(clap_paths, "fast")
    scores = dict(zip((i.id for i in clap_items), best_scores(clap_bot, clap_items), strict=True))
    fit = [i for i in clap_items if fit_half(i)]
    held = [i for i in clap_items if not fit_half(i)]

    def split(items: Sequence[EvalItem]) -> tuple[list[float], list[float]]:
        return ([scores[i.id] for i in items if i.answers], [scores[i.id] for i in items if not i.answers])

    fit_a, fit_u = split(fit)
    held_a, held_u = split(held)
    fast_t, _, _ = choose_threshold(fit_a, fit_u)
    llm_t = float(np.quantile(fit_a, LLM_MAX_DROPPED))
    squad_bot, squad_items = _assistant(squad_paths, "fast")
    squad = best_scores(squad_bot, sample(squad_items, args.squad_limit))

    def evidence_rates(answerable: list[float], unanswerable: list[float], t: float) -> dict[str, float]:
        return rates([s < t for s in answerable], [s < t for s in unanswerable])

    measured: dict[str, Any] = {
        "clapnq_questions": {"fit": len(fit), "held_out": len(held)},
        "fast": {"fit": evidence_rates(fit_a, fit_u, fast_t), "held_out": evidence_rates(held_a, held_u, fast_t),
                 "squad_wrongly_abstained": round(float(np.mean(np.asarray(squad) < fast_t)), 3)},
        "llm_prefilter": {"fit": evidence_rates(fit_a, fit_u, llm_t),
                          "held_out": evidence_rates(held_a, held_u, llm_t),
                          "squad_wrongly_abstained": round(float(np.mean(np.asarray(squad) < llm_t)), 3)},
    }
    result: dict[str, Any] = {
        "note": "Abstention thresholds: minimum best-evidence score per mode (assistant/evidence.py) and the LLM's "
                "refusal probability at which LLM mode abstains. Written by `python -m bench.calibrate`; see "
                "docs/BENCHMARKS.md.",
        "embed_model": load_settings().embed_model,
        "llm_model": load_settings().llm_model,
        "min_evidence_score": {"fast": round(fast_t, 4), "llm": round(llm_t, 4)},
    }
    previous = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8")) if CALIBRATION_FILE.is_file() else {}
    if "llm_refusal_probability" in previous:
        result["llm_refusal_probability"] = previous["llm_refusal_probability"]
        measured["llm_refusal"] = previous.get("measured", {}).get("llm_refusal")
    if not args.no_llm:
        # The LLM sees what the new evidence threshold lets through.
        clap_bot.thresholds["llm"] = squad_bot.thresholds["llm"] = llm_t
        asked = sample(clap_items, args.llm_limit)
        print(f"asking {len(asked)} ClapNQ questions in LLM mode ...")
        records = llm_records(clap_bot, asked)
        print(f"asking {args.llm_squad_limit} SQuAD questions in LLM mode ...")
        squad_records = llm_records(squad_bot, sample(squad_items, args.llm_squad_limit))
        fit_records = [r for r in records if r["fit"]]
        tau = choose_refusal(fit_records)
        result["llm_refusal_probability"] = round(tau, 4)
        measured["llm_refusal"] = {
            "clapnq_asked": len(records),
            "fit": rates(*replay(fit_records, tau)),
            "held_out": rates(*replay([r for r in records if not r["fit"]], tau)),
            "all": rates(*replay(records, tau)),
            "squad_wrongly_abstained": round(float(np.mean(replay(squad_records, tau)[0])), 3),
            "median_ms": round(float(np.median([r["ms"] for r in records + squad_records])), 1),
        }
    result["measured"] = measured
    CALIBRATION_FILE.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
