"""Calibrate abstention on ClapNQ dev (answerable vs unanswerable) and check it on SQuAD.

The assistant abstains for measured reasons, never a hand-picked number:

1. **Evidence too weak** (a prefilter, both modes): the best evidence sentence scores under a low threshold that
   drops at most 2% of answerable ClapNQ questions. It spares the models clearly off-topic questions.
2. **The abstention model says so** (assistant/abstention.py): a logistic model over the signals of the answer
   (retrieval and evidence scores, how much of the question the cited sentence covers, and in LLM mode the
   model's refusal probability and its answer tokens' log-probabilities). Each ClapNQ question, and a sample of
   SQuAD ones (all answerable), is asked once in each mode with abstention off, recording the signals; the model
   is fitted on one half, and its threshold is the one that makes the smaller of "answerable answered" and
   "unanswerable abstained" largest on that half while abstaining on at most 8% of the SQuAD half.
3. The LLM's refusal-probability threshold is still fitted (balanced accuracy, >= 80% answered): LLM mode falls
   back to it when no abstention model applies.

The halves are fixed by a hash of each question's id; every rate is also reported on the other half, so it is
not only measured on the data it was fitted to. The result is written to assistant/calibration.json.

Usage:
    python -m bench.calibrate [--eval-dir ../shared/eval] [--llm-limit N] [--llm-squad-limit 150] [--records F]
        [--modes llm]

The calibration it replaces is measured on the same answers too ("previous" in the output), so a re-fit shows
what it changes; --records keeps every question's signals, and --from-records re-fits from them in seconds.
--modes re-fits only the named modes' models and keeps the others' (measured again on the new answers): a change
to one mode's signals need not move the other's model, and a re-fit on new answers is not always better.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.abstention import AbstentionModel, fit_logistic
from assistant.calibration import CALIBRATION_FILE, load_abstention_models
from assistant.config import load_settings
from assistant.evaluation.datasets import EvalItem, load_eval_set, sample
from assistant.evaluation.runner import default_eval_dir, index_corpus, prepare_corpus
from assistant.pipeline import Assistant

MIN_ANSWERED = 0.80  # the floor for answerable questions answered (refusal-threshold fallback)
LLM_MAX_DROPPED = 0.02  # the evidence prefilter may drop at most this share of answerable questions
MAX_SQUAD_ABSTAINED = 0.08  # the abstention model may abstain on at most this share of (answerable) SQuAD questions
NEVER = 1.01  # a refusal threshold no probability reaches: the LLM's refusals are recorded, not acted upon
# The signals each mode's abstention model reads (fast mode has no LLM signals).
MODEL_FEATURES = {
    "fast": ("evidence", "cited_score", "cited_semantic", "cited_lexical", "question_covered", "passage_dense",
             "typed"),
    "llm": ("refusal", "reasked", "fallback", "phrase_logprob", "phrase_min_logprob", "mark_logprob", "evidence",
            "cited_score", "cited_semantic", "cited_clause", "window_semantic", "cited_lexical", "cited_rank",
            "question_covered", "passage_dense", "typed"),
}
# Read too when the answers came with a ranking model (`ranking_embed_model`): its cosines with the cited passage,
# sentence and (LLM mode) the sentence's best clause, which the evidence score no longer carries
# (assistant.evidence.PASSAGE_WEIGHT).
RANKING_FEATURES = {"fast": ("ranking_passage", "ranking_cited"),
                    "llm": ("ranking_passage", "ranking_cited", "ranking_clause")}


def fit_half(item: EvalItem) -> bool:
    """A stable split of the questions: True for the half the thresholds are fitted on."""
    return hashlib.sha256(item.id.encode("utf-8")).digest()[0] % 2 == 0


def eval_paths(eval_dir: Path) -> dict[str, list[Path]]:
    """The files the calibration asks, by the dataset key its records use."""
    return {"clapnq": [eval_dir / "clapnq_dev" / "clapnq_dev_answerable_even.jsonl",
                       eval_dir / "clapnq_dev" / "clapnq_dev_unanswerable_even.jsonl"],
            "squad": [eval_dir / "squad_v1.1_dev" / "squad-dev-v1.1-even-articles.json"]}


def record_only(bot: Assistant, prefilter: float) -> None:
    """Set `bot` to answer as the calibration records it: only the evidence prefilter abstains, and the LLM's
    refusals are recorded, not acted upon."""
    bot.thresholds.update({"fast": prefilter, "llm": prefilter, "refusal": NEVER})
    bot.abstention = {}


def indexed_assistant(paths: list[Path], mode: str) -> tuple[Assistant, list[EvalItem]]:
    """An assistant over the corpus of the evaluation files at `paths`, indexed, and their questions."""
    eval_set = load_eval_set(paths)
    bot = Assistant(prepare_corpus(eval_set, load_settings(overrides={"mode": mode})))
    index_corpus(bot)
    return bot, eval_set.items


def best_scores(bot: Assistant, items: Sequence[EvalItem]) -> list[float]:
    """Best evidence score per question."""
    return [bot.evidence(item.question)[0].best_score for item in items]


def rates(answerable: Sequence[bool], unanswerable: Sequence[bool]) -> dict[str, float | None]:
    """Share of answerable questions answered and of unanswerable ones abstained, from abstain flags."""
    return {"answered": round(1 - float(np.mean(answerable)), 3) if answerable else None,
            "abstained_unanswerable": round(float(np.mean(unanswerable)), 3) if unanswerable else None}


def ask_all(bot: Assistant, items: Sequence[EvalItem], mode: str) -> list[dict[str, Any]]:
    """Ask each question with abstention off (prefilter only), recording what the decision would read."""
    records = []
    for number, item in enumerate(items, 1):
        answer = bot.ask(item.question, mode=mode)
        records.append({"id": item.id, "answerable": bool(item.answers), "fit": fit_half(item),
                        "prefiltered": answer.abstained, "signals": answer.signals,
                        "question": item.question, "short_answer": answer.short_answer,
                        "p": answer.refusal_probability if answer.refusal_probability is not None else 0.0,
                        "ms": answer.timings_ms.get("total_ms", 0.0)})
        print(f"\r  {mode}: {number}/{len(items)}", end="", flush=True)
    print()
    return records


def model_abstains(model: AbstentionModel, record: dict[str, Any], threshold: float | None = None) -> bool:
    """Whether the assistant would abstain on `record` with `model` (a prefiltered question always does)."""
    cut = model.threshold if threshold is None else threshold
    return bool(record["prefiltered"]) or model.p_answerable(record["signals"]) < cut


def model_rates(model: AbstentionModel, records: Sequence[dict[str, Any]],
                threshold: float | None = None) -> dict[str, float | None]:
    flags = [(r["answerable"], model_abstains(model, r, threshold)) for r in records]
    return rates([f for ok, f in flags if ok], [f for ok, f in flags if not ok])


def squad_abstained(model: AbstentionModel, records: Sequence[dict[str, Any]], threshold: float | None = None) -> float:
    return round(float(np.mean([model_abstains(model, r, threshold) for r in records])), 3) if records else 0.0


def fit_abstention(mode: str, clap: Sequence[dict[str, Any]], squad: Sequence[dict[str, Any]]) -> AbstentionModel:
    """Fit the mode's abstention model and threshold on the fit halves of ClapNQ and SQuAD records."""
    train = [r for r in list(clap) + list(squad) if r["fit"] and r["signals"]]
    features = MODEL_FEATURES[mode]
    if train and all(set(RANKING_FEATURES[mode]) <= set(r["signals"]) for r in train):
        features = features + RANKING_FEATURES[mode]
    model = fit_logistic([r["signals"] for r in train], [r["answerable"] for r in train], features)
    clap_fit = [r for r in clap if r["fit"]]
    squad_fit = [r for r in squad if r["fit"]]
    best, best_value = 0.5, -1.0
    for t in sorted({model.p_answerable(r["signals"]) for r in clap_fit if r["signals"]}):
        measured = model_rates(model, clap_fit, t)
        value = min(measured["answered"] or 0.0, measured["abstained_unanswerable"] or 0.0)
        if squad_abstained(model, squad_fit, t) <= MAX_SQUAD_ABSTAINED and value > best_value:
            best, best_value = t, value
    return AbstentionModel(model.features, model.weights, model.bias, model.means, model.scales, round(best, 4))


def replay(records: Sequence[dict[str, Any]], tau: float) -> tuple[list[bool], list[bool]]:
    """Abstain flags (answerable, unanswerable) had the refusal threshold been `tau`."""
    flags = [(r["answerable"], r["prefiltered"] or r["p"] >= tau) for r in records]
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


def collect(eval_dir: Path, llm_limit: int | None, squad_limit: int) -> dict[str, Any]:
    """Ask the ClapNQ and SQuAD questions in both modes with abstention off; the records the fit reads."""
    paths = eval_paths(eval_dir)
    clap_bot, clap_items = indexed_assistant(paths["clapnq"], "llm")
    squad_bot, squad_items = indexed_assistant(paths["squad"], "llm")
    fit_answerable = [s for i, s in zip(clap_items, best_scores(clap_bot, clap_items), strict=True)
                      if i.answers and fit_half(i)]
    prefilter = float(np.quantile(fit_answerable, LLM_MAX_DROPPED))
    clap_asked = sample(clap_items, llm_limit)
    squad_asked = sample(squad_items, squad_limit)
    for bot in (clap_bot, squad_bot):
        record_only(bot, prefilter)
    records: dict[str, Any] = {"prefilter": prefilter}
    for mode in ("fast", "llm"):
        print(f"asking {len(clap_asked)} ClapNQ and {len(squad_asked)} SQuAD questions in {mode} mode ...")
        records[mode] = {"clapnq": ask_all(clap_bot, clap_asked, mode), "squad": ask_all(squad_bot, squad_asked, mode)}
    return records


def calibrate(records: dict[str, Any], previous: dict[str, AbstentionModel],
              modes: Sequence[str] = ("fast", "llm")) -> dict[str, Any]:
    """From the records: the calibration (the prefilter they were asked with, both modes' abstention models, the
    refusal fallback), measured on both halves, and the `previous` models measured on the same answers. Only the
    models of `modes` are fitted; another mode keeps its `previous` model."""
    prefilter = records["prefilter"]
    settings = load_settings()
    result: dict[str, Any] = {
        "note": "Abstention: the evidence prefilter (minimum best-evidence score per mode, assistant/evidence.py), "
                "the abstention model per mode (assistant/abstention.py) and the LLM's refusal probability used "
                "when no model applies. Written by `python -m bench.calibrate`; see docs/BENCHMARKS.md.",
        "embed_model": settings.embed_model,
        **({"ranking_embed_model": settings.ranking_embed_model, "ranking_at_index": settings.ranking_at_index}
           if settings.ranking_embed_model else {}),
        "llm_model": settings.llm_model,
        "min_evidence_score": {"fast": round(prefilter, 4), "llm": round(prefilter, 4)},
        "abstention": {},
    }
    clap_all = records["llm"]["clapnq"]
    measured: dict[str, Any] = {"clapnq_questions": {"fit": sum(r["fit"] for r in clap_all),
                                                     "held_out": sum(not r["fit"] for r in clap_all)},
                                "squad_questions": len(records["llm"]["squad"])}
    for mode in ("fast", "llm"):
        clap, squad = records[mode]["clapnq"], records[mode]["squad"]
        if mode not in modes and mode not in previous:
            raise SystemExit(f"no stored {mode}-mode model to keep: re-fit it too (--modes {','.join(MODEL_FEATURES)})")
        model = fit_abstention(mode, clap, squad) if mode in modes else previous[mode]
        result["abstention"][mode] = model.to_json()
        measured[mode] = {
            "fit": model_rates(model, [r for r in clap if r["fit"]]),
            "held_out": model_rates(model, [r for r in clap if not r["fit"]]),
            "all": model_rates(model, clap),
            "squad_wrongly_abstained": {"fit": squad_abstained(model, [r for r in squad if r["fit"]]),
                                        "held_out": squad_abstained(model, [r for r in squad if not r["fit"]])},
            "median_ms": round(float(np.median([r["ms"] for r in clap + squad])), 1),
        }
        if mode in previous and mode in modes:
            measured[mode]["previous"] = {"all": model_rates(previous[mode], clap),
                                          "held_out": model_rates(previous[mode], [r for r in clap if not r["fit"]]),
                                          "squad_wrongly_abstained": squad_abstained(previous[mode], squad)}
        if mode == "llm":
            tau = choose_refusal([r for r in clap if r["fit"]])
            result["llm_refusal_probability"] = round(tau, 4)
            measured["llm_refusal_fallback"] = {"fit": rates(*replay([r for r in clap if r["fit"]], tau)),
                                                "held_out": rates(*replay([r for r in clap if not r["fit"]], tau))}
    result["measured"] = measured
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval-dir", type=Path, default=default_eval_dir())
    parser.add_argument("--llm-limit", type=int, default=None, help="ClapNQ questions asked (default: all 300)")
    parser.add_argument("--llm-squad-limit", type=int, default=150, help="SQuAD questions asked")
    parser.add_argument("--records", type=Path, default=None, help="write every question's signals here (JSON)")
    parser.add_argument("--from-records", type=Path, default=None,
                        help="re-fit from the signals a --records run wrote, asking nothing")
    parser.add_argument("--out", type=Path, default=CALIBRATION_FILE,
                        help="the calibration file written (default: the default models', assistant/calibration.json)")
    parser.add_argument("--modes", default="fast,llm",
                        help="the modes whose models are re-fitted (comma-separated); the others are kept")
    args = parser.parse_args()
    previous = load_abstention_models(load_settings())  # the calibration about to be replaced
    if args.from_records:
        records = json.loads(args.from_records.read_text(encoding="utf-8"))
    else:
        records = collect(args.eval_dir, args.llm_limit, args.llm_squad_limit)
        if args.records:
            args.records.write_text(json.dumps(records) + "\n", encoding="utf-8")
    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    unknown = sorted(set(modes) - set(MODEL_FEATURES))
    if unknown or not modes:
        parser.error(f"--modes takes {', '.join(MODEL_FEATURES)}; got {args.modes!r}")
    result = calibrate(records, previous, modes)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
