"""Fit LLM-mode abstention on the tuning parts; measure it, and the calibration it replaces, on the validation parts.

Abstaining is a decision on an answer already made: with abstention off, the answer a question gets is the same
whatever the decision would have been. So every question is asked once with abstention off (`record`), keeping the
answer, its score and the signals the decision reads, and any abstention rule is then replayed on those records in
a second (`fit`): the answer stands, or the fixed refusal replaces it.

- Tuning parts (fitted on): SQuAD-even's tuning articles (a sample; all answerable), ClapNQ-even's tuning lines
  (answerable and unanswerable) and tests/data/seed_paraphrases_tuning.json.
- Validation parts (reported, never fitted on): SQuAD-even's validation articles (a sample), ClapNQ-even's validation
  lines and tests/data/seed_paraphrases.json; the project's seed pairs (tests/data/seed_qa.json) are reported too.

The model is a logistic regression over a few signals a reader can follow (one of `CANDIDATES`, chosen by two-fold
cross-validation on the tuning parts, averaged over 5 splits), each data set weighted equally; its threshold is the
lowest within 0.005 of the best balanced accuracy across the tuning sets (the mean of each set's share of answerable
questions answered and of unanswerable ones abstained): abstaining is only worth what it measurably buys. No
evidence-score cut comes before the LLM.

Usage:
    python -m bench.abstention_fit record --out DIR [--sets ...] [--squad-limit 500] [--squad-tuning-limit 300]
    python -m bench.abstention_fit fit --records DIR [--write]   # fit, compare, and write the calibration file

Records made with the defaults are written into assistant/calibration.json; those made with
`ASSISTANT_RANKING_AT_INDEX=true` (the ranking model's vectors in the index) into
assistant/calibration-ranking-in-index.json, and those made with `ASSISTANT_RANKING_EMBED_MODEL=none` (fitted without
the ranking model's signal) into assistant/calibration-without-ranking.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

import assistant.calibration as calibration
import assistant.components as components
from assistant.abstention import AbstentionModel, fit_logistic
from assistant.config import PROJECT_ROOT, load_settings
from assistant.evaluation.metrics import wilson_interval
from assistant.evaluation.report import write_report
from assistant.evaluation.runner import EvalRun, default_eval_dir, evaluate

DATA = PROJECT_ROOT / "tests" / "data"
SQUAD = Path("squad_v1.1_dev/squad-dev-v1.1-even-articles.json")
CLAPNQ = [Path("clapnq_dev/clapnq_dev_answerable_even.jsonl"), Path("clapnq_dev/clapnq_dev_unanswerable_even.jsonl")]
# name: (files, part, role); files relative to the evaluation folder unless absolute.
SETS: dict[str, tuple[list[Path], str | None, str]] = {
    "squad-tuning": ([SQUAD], "tuning", "tuning"),
    "clapnq-tuning": (CLAPNQ, "tuning", "tuning"),
    "paraphrases-tuning": ([DATA / "seed_paraphrases_tuning.json"], None, "tuning"),
    "squad-validation": ([SQUAD], "validation", "validation"),
    "clapnq-validation": (CLAPNQ, "validation", "validation"),
    "paraphrases-validation": ([DATA / "seed_paraphrases.json"], None, "validation"),
    "seed-pairs": ([DATA / "seed_qa.json"], None, "report"),
}
# What the decision reads: the model's own refusal (its probability of starting with NOT FOUND, and whether it
# had to be asked again with that banned), whether a phrase of its reply was supported by the sentence it cited
# (else the sentence stands in: "fallback"), how sure it was of the phrase's words, and how closely the cited
# sentence's best clause means what the question asks.
FEATURES = ("refusal", "reasked", "fallback", "phrase_logprob", "cited_clause")
# The candidate signal sets, chosen between by repeated two-fold cross-validation on the tuning parts alone
# (`choose`): the fewest signals within CHOICE_MARGIN of the best balanced accuracy win. "ranking_clause" is the
# same meaning signal as "cited_clause" read by the larger ranking model; "question_covered" the share of the
# question's words the cited sentence has. "support_yes" is the LLM's probability of "Yes" when asked whether the
# cited sentence says the answer (`bench/support_probe.py` adds it to records). Only the candidates whose signals
# every record holds are tried: records made without a ranking model (`ranking_embed_model = "none"`) have no
# "ranking_clause".
CANDIDATES = (FEATURES[:4], FEATURES, (*FEATURES, "question_covered"), (*FEATURES, "ranking_clause"),
              (*FEATURES, "ranking_clause", "question_covered"), (*FEATURES, "support_yes"),
              (*FEATURES, "support_yes", "question_covered"), (*FEATURES, "ranking_clause", "support_yes"))
CHOICE_MARGIN = 0.005
CV_SPLITS = 5  # two-way splits averaged by `cross_validated`
# Signals that cost a model call at question time, and the share of their tuning values left out of the range within
# which the pipeline checks whether they could change the decision (`probed_ranges`): 1 % at each end.
PROBED = ("support_yes",)
RANGE_QUANTILES = (0.01, 0.99)
NEVER_ABSTAIN = -math.inf


@contextlib.contextmanager
def abstention_off() -> Iterator[None]:
    """Assistants built inside answer every question they have evidence for: no evidence cut, no abstention model,
    and the LLM's refusals recorded (it is asked again with them banned), not acted upon."""
    saved = components.load_thresholds, components.load_abstention_models

    def thresholds(settings: Any) -> dict[str, float]:
        return {**saved[0](settings), "fast": NEVER_ABSTAIN, "llm": NEVER_ABSTAIN, "refusal": 1.01}

    components.load_thresholds, components.load_abstention_models = thresholds, lambda settings: {}
    try:
        yield
    finally:
        components.load_thresholds, components.load_abstention_models = saved


def ask_set(name: str, settings: Any, eval_dir: Path, limit: int | None, out: Path, command: str) -> EvalRun:
    """Ask one set's questions (its part, a sample of `limit`) as `settings` say; its report under `out/name`."""
    files, part, _ = SETS[name]
    paths = [p if p.is_absolute() else eval_dir / p for p in files]
    run = evaluate(paths, settings, limit=limit, part=part, progress=False)
    write_report(run, out / name, command=command)
    return run


def record(out: Path, names: Sequence[str], squad_limits: Mapping[str, int], eval_dir: Path) -> None:
    """Ask each set's questions in LLM mode with abstention off; each set's results.json under `out`."""
    settings = load_settings(overrides={"mode": "llm"})
    for name in names:
        with abstention_off():
            run = ask_set(name, settings, eval_dir, squad_limits.get(name), out,
                          f"python -m bench.abstention_fit record --sets {name}")
        print(f"{name}: {run.questions} questions recorded", flush=True)


def load_records(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Each recorded set's items, by set name."""
    found = {}
    for name in SETS:
        path = folder / name / "results.json"
        if path.is_file():
            found[name] = json.loads(path.read_text(encoding="utf-8"))["items"]
    return found


Decision = Any  # a callable: item -> True to abstain


def replayed(item: Mapping[str, Any], abstain: bool) -> dict[str, float]:
    """The item's scores had the decision been `abstain`: the recorded answer stands, or the refusal replaces it."""
    if item["abstained"] or not abstain:
        scores = item.get("scores", {})
        return {"answered": float(not item["abstained"]), "passed": float(item["passed"]),
                "em": scores.get("em", 0.0), "f1": scores.get("f1", 0.0)}
    return {"answered": 0.0, "passed": float(not item["answerable"]), "em": 0.0, "f1": 0.0}


def figures(items: Sequence[Mapping[str, Any]], decide: Decision) -> dict[str, Any]:
    """A set's validation figures under a decision rule."""
    rows = [(item, replayed(item, decide(item))) for item in items]
    answerable = [r for i, r in rows if i["answerable"]]
    unanswerable = [r for i, r in rows if not i["answerable"]]
    dialogues: dict[str, list[float]] = {}
    for item, r in rows:
        if item.get("dialogue") is not None:
            dialogues.setdefault(item["dialogue"], []).append(r["passed"])
    result: dict[str, Any] = {"questions": len(rows)}
    if answerable:
        result |= {"answered": _mean(r["answered"] for r in answerable),
                   "answerable_passed": _mean(r["passed"] for r in answerable)}
        if any("em" in (i.get("scores") or {}) for i, _ in rows):
            result |= {"em": round(100 * _mean(r["em"] for r in answerable), 1),
                       "f1": round(100 * _mean(r["f1"] for r in answerable), 1)}
    if unanswerable:
        result["unanswerable_abstained"] = _mean(1.0 - r["answered"] for r in unanswerable)
    # 95 % intervals of the two rates the targets name: what a sample this size can tell apart.
    result["intervals"] = {
        name: wilson_interval(int(sum(flags)), len(flags))
        for name, flags in (("answerable_passed", [r["passed"] for r in answerable]),
                            ("unanswerable_abstained", [1.0 - r["answered"] for r in unanswerable]))
        if flags}
    if dialogues:
        result["dialogues_all_right"] = f"{sum(all(t) for t in dialogues.values())}/{len(dialogues)}"
    result["passed"] = f"{int(sum(r['passed'] for _, r in rows))}/{len(rows)}"
    return result


def _mean(values: Any) -> float:
    values = list(values)
    return round(float(np.mean(values)), 3) if values else 0.0


def signals_of(item: Mapping[str, Any]) -> dict[str, float] | None:
    return (item.get("extra") or {}).get("signals") or None


def model_decision(model: AbstentionModel, threshold: float | None = None) -> Decision:
    cut = model.threshold if threshold is None else threshold
    return lambda item: signals_of(item) is not None and model.p_answerable(signals_of(item)) < cut


def calibrated_decision(calibration: Mapping[str, Any]) -> Decision:
    """The decision of a calibration file as the pipeline applies it: the evidence cut, then the model."""
    cut = float(calibration.get("min_evidence_score", {}).get("llm", NEVER_ABSTAIN))
    model = AbstentionModel.from_json(calibration["abstention"]["llm"])
    by_model = model_decision(model)
    return lambda item: (signals_of(item) is not None
                         and (signals_of(item).get("evidence", 1.0) < cut or by_model(item)))


def balanced_accuracy(sets: Mapping[str, Sequence[Mapping[str, Any]]], decide: Decision) -> float:
    """The mean over the sets of each one's answered rate (answerable) and abstained rate (unanswerable)."""
    rates = []
    for items in sets.values():
        answerable = [not decide(i) for i in items if i["answerable"] and not i["abstained"]]
        unanswerable = [decide(i) or i["abstained"] for i in items if not i["answerable"]]
        rates += [float(np.mean(flags)) for flags in (answerable, unanswerable) if flags]
    return float(np.mean(rates))


def fit(tuning: Mapping[str, Sequence[Mapping[str, Any]]], features: Sequence[str] = FEATURES,
        l2: float = 1.0) -> AbstentionModel:
    """The logistic model over `features`, each tuning set weighted equally (a set's rows repeated to the largest
    set's size), and the lowest threshold within CHOICE_MARGIN of the best balanced accuracy across the tuning
    sets."""
    rows: list[dict[str, float]] = []
    labels: list[bool] = []
    largest = max(len(items) for items in tuning.values())
    for items in tuning.values():
        usable = [i for i in items if signals_of(i) is not None]
        repeat = max(1, round(largest / max(1, len(usable))))
        for item in usable:
            rows += [signals_of(item)] * repeat
            labels += [bool(item["answerable"])] * repeat
    model = fit_logistic(rows, labels, features, l2=l2)
    scores = threshold_scores(tuning, model)
    best = max(scores.values())
    # Abstaining is only worth what it measurably buys: of the thresholds within CHOICE_MARGIN of the best balanced
    # accuracy, the lowest (the one that answers most) is taken.
    threshold = min(t for t, score in scores.items() if score >= best - CHOICE_MARGIN)
    return AbstentionModel(model.features, model.weights, model.bias, model.means, model.scales, threshold,
                           probed_ranges(tuning, model.features))


def threshold_scores(tuning: Mapping[str, Sequence[Mapping[str, Any]]], model: AbstentionModel) -> dict[float, float]:
    """Balanced accuracy on the tuning sets at each threshold the model's scores of their records offer (ascending)."""
    candidates = sorted({round(model.p_answerable(signals), 4) for items in tuning.values() for item in items
                         if (signals := signals_of(item)) is not None})
    return {t: balanced_accuracy(tuning, model_decision(model, t)) for t in candidates}


def operating_points(tuning: Mapping[str, Sequence[Mapping[str, Any]]], model: AbstentionModel,
                     margin: float = 0.02) -> list[dict[str, Any]]:
    """The trade a threshold makes, for the team to see before choosing: each threshold of `model` whose balanced
    accuracy on the tuning parts is within `margin` of the best, with every tuning part's answered and abstained
    rates (lowest threshold first; the model's own among them). Between such thresholds the objective barely moves
    while a part's rates can move by a tenth."""
    scores = threshold_scores(tuning, model)
    best = max(scores.values())
    rows, last = [], None
    for t in scores:
        if scores[t] < best - margin:
            continue
        row: dict[str, Any] = {"threshold": t, "balanced_accuracy": round(scores[t], 3)}
        for name, items in tuning.items():
            shown = figures(items, model_decision(model, t))
            row[name] = [shown.get("answered"), shown.get("unanswerable_abstained")]
        key = json.dumps({k: v for k, v in row.items() if k not in ("threshold", "balanced_accuracy")})
        if key != last or t == model.threshold:  # a trade is shown once (and the model's own threshold always)
            rows.append(row)
        last = key
    return rows


def probed_ranges(tuning: Mapping[str, Sequence[Mapping[str, Any]]], features: Sequence[str]
                  ) -> tuple[tuple[str, float, float], ...]:
    """(signal, low, high) for each signal in `features` that costs a model call (`PROBED`): its RANGE_QUANTILES over
    the tuning records that hold it. The pipeline asks for the signal only where a value in that range could change
    the decision (`AbstentionModel.settled_without`)."""
    ranges = []
    for name in (n for n in PROBED if n in features):
        values = [signals[name] for items in tuning.values() for item in items
                  if (signals := signals_of(item)) and name in signals]
        if values:
            low, high = np.quantile(values, RANGE_QUANTILES)
            ranges.append((name, round(float(low), 4), round(float(high), 4)))
    return tuple(ranges)


def fold_of(item: Mapping[str, Any], split: int = 0) -> int:
    """A stable two-way split of a set's items (whole dialogues together), by a hash of the id; each `split` number
    gives another split."""
    import hashlib

    key = str(item.get("dialogue") or item["id"])
    key = key if split == 0 else f"{split}:{key}"
    return hashlib.sha256(key.encode("utf-8")).digest()[0] % 2


def cross_validated(tuning: Mapping[str, Sequence[Mapping[str, Any]]], features: Sequence[str],
                    splits: int = CV_SPLITS) -> float:
    """Mean balanced accuracy of the model over `features` fitted on one fold of every tuning set, measured on the
    other fold, both ways round, over `splits` different two-way splits: with a few dozen unanswerable questions a
    single split's score moves by about 0.02 (its standard deviation across splits), as much as candidates differ."""
    scores = []
    for split in range(splits):
        for held in (0, 1):
            train = {n: [i for i in items if fold_of(i, split) != held] for n, items in tuning.items()}
            test = {n: [i for i in items if fold_of(i, split) == held] for n, items in tuning.items()}
            scores.append(balanced_accuracy(test, model_decision(fit(train, features))))
    return float(np.mean(scores))


def choose(tuning: Mapping[str, Sequence[Mapping[str, Any]]]) -> tuple[tuple[str, ...], dict[str, float]]:
    """The candidate signal set to fit (`CANDIDATES` whose signals the records hold), by cross-validation on the
    tuning parts; every score."""
    held = [set(signals) for items in tuning.values() for item in items if (signals := signals_of(item))]
    candidates = [c for c in CANDIDATES if all(set(c) <= signals for signals in held)]
    scores = {",".join(c): round(cross_validated(tuning, c), 4) for c in candidates}
    best = max(scores.values())
    chosen = min((c for c in candidates if scores[",".join(c)] >= best - CHOICE_MARGIN), key=len)
    return chosen, scores


def calibration_file_for(records: Mapping[str, Sequence[Mapping[str, Any]]], folder: Path) -> Path:
    """The calibration file of the models the records were made with (`assistant.calibration`): the one for the
    ranking model's vectors in the index (records made with `ranking_at_index = true`); the default one (the ranking
    model at question time only) when the index had none of its vectors but the answers carry its signal (records
    made with the defaults, or without it and given its signal by `bench.query_time_ranking`); else the one for no
    ranking model."""
    for path in sorted(folder.glob("*/results.json")):
        settings = json.loads(path.read_text(encoding="utf-8")).get("run", {}).get("settings", {})
        if settings.get("ranking_embed_model") and settings.get("ranking_at_index", True):
            return calibration.RANKING_IN_INDEX_FILE
        break
    with_signal = any("ranking_clause" in (signals_of(item) or {}) for items in records.values() for item in items)
    return calibration.CALIBRATION_FILE if with_signal else calibration.WITHOUT_RANKING_FILE


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_record = sub.add_parser("record")
    p_record.add_argument("--out", type=Path, required=True)
    p_record.add_argument("--sets", nargs="+", choices=tuple(SETS), default=list(SETS))
    p_record.add_argument("--squad-limit", type=int, default=500, help="SQuAD validation questions (a sample)")
    p_record.add_argument("--squad-tuning-limit", type=int, default=300, help="SQuAD tuning questions (a sample)")
    p_record.add_argument("--eval-dir", type=Path, default=None)
    p_fit = sub.add_parser("fit")
    p_fit.add_argument("--records", type=Path, required=True)
    p_fit.add_argument("--write", action="store_true",
                       help="write the fitted model into the calibration file of the records' models")
    p_fit.add_argument("--write-ranges", action="store_true",
                       help="only set the current model's probed-signal ranges from these tuning records (records "
                            "made with the prompts and models that model was fitted with)")
    args = parser.parse_args(argv)
    if args.command == "record":
        limits = {"squad-validation": args.squad_limit, "squad-tuning": args.squad_tuning_limit}
        record(args.out, args.sets, limits, args.eval_dir or default_eval_dir())
        return 0
    records = load_records(args.records)
    tuning = {name: items for name, items in records.items() if SETS[name][2] == "tuning"}
    features, scores = choose(tuning)
    print("cross-validated balanced accuracy on the tuning parts:", json.dumps(scores))
    model = fit(tuning, features)
    target = calibration_file_for(records, args.records)
    current = json.loads(target.read_text(encoding="utf-8"))
    current_model = AbstentionModel.from_json(current["abstention"]["llm"])
    rules = {"no abstention": lambda item: False, "current calibration": calibrated_decision(current),
             "fitted model": model_decision(model)}
    print("fitted:", json.dumps(model.to_json()))
    print(f"balanced accuracy on the tuning sets: {balanced_accuracy(tuning, model_decision(model)):.3f}")
    report: dict[str, Any] = {}
    for name, items in records.items():
        report[name] = {rule: figures(items, decide) for rule, decide in rules.items()}
        for rule, row in report[name].items():
            print(f"{name:24s} {rule:20s} {json.dumps(row)}")
    print("operating points of the fitted model on the tuning parts (answered, unanswerable abstained), within 0.02 "
          "of its best balanced accuracy; * marks its threshold:")
    for row in operating_points(tuning, model):
        print(("* " if row["threshold"] == model.threshold else "  ") + json.dumps(row))
    for label, decider in (("current calibration", current_model), ("fitted model", model)):
        print(f"the LLM's Yes/No asked ({label}), answers in all parts: "
              + json.dumps(probes_asked(records, decider)))
    (args.records / "fit.json").write_text(json.dumps({"model": model.to_json(), "candidates": scores,
                                                       "sets": report}, indent=1) + "\n", encoding="utf-8")
    if args.write:
        current["abstention"]["llm"] = model.to_json()
        current["min_evidence_score"]["llm"] = 0.0
        current["note"] = ("LLM mode: the abstention model fitted by `python -m bench.abstention_fit` on the tuning "
                           "parts (no evidence cut before the LLM). Fast mode: the evidence cut and model of "
                           "`python -m bench.calibrate`. See docs/BENCHMARKS.md.")
        current["measured"] = {"llm": {"signal_sets_cross_validated": scores,
                                       **{name: rows["fitted model"] for name, rows in report.items()}}}
        target.write_text(json.dumps(current, indent=2) + "\n", encoding="utf-8")
    elif args.write_ranges:
        current["abstention"]["llm"] = replace(current_model,
                                               ranges=probed_ranges(tuning, current_model.features)).to_json()
        target.write_text(json.dumps(current, indent=2) + "\n", encoding="utf-8")
        print("ranges written:", json.dumps(current["abstention"]["llm"].get("ranges")))
    return 0


def probes_asked(records: Mapping[str, Sequence[Mapping[str, Any]]], model: AbstentionModel) -> dict[str, int]:
    """How many recorded answers would ask each probed signal: over its whole [0, 1], and within the model's
    range (`AbstentionModel.settled_without`); of all answers holding the signal."""
    counts = {"answers": 0, "asked_over_0_1": 0, "asked_over_range": 0}
    for items in records.values():
        for item in items:
            signals = signals_of(item)
            if not signals or any(name not in signals for name in PROBED) or item["abstained"]:
                continue
            counts["answers"] += 1
            counts["asked_over_0_1"] += any(not model.settled_without(signals, n, 0.0, 1.0) for n in PROBED)
            counts["asked_over_range"] += any(not model.settled_without(signals, n) for n in PROBED)
    return counts


if __name__ == "__main__":
    raise SystemExit(main())
