"""Rules on trial: each answer-repair rule switched off in turn, measured on the validation parts.

The records of `python -m bench.abstention_fit record` hold, for every validation question, the answer with every rule
on and the rules that changed it (`rules`). A rule can only change the answers it fired on, so switching it off
re-asks just those questions (a whole dialogue when it fired on one of its turns), with abstention off as in the
records; both answers then go through the same abstention decision (the model in assistant/calibration.json).
Decoding is greedy, so an answer that changes was changed by the rule.

For each rule: how often it fired, and on those questions the answers it made right that are wrong without it
(`gained`) and the reverse (`lost`), SQuAD F1 summed over them, and a two-sided sign test of gained against lost.

Usage:
    python -m bench.rule_ablation --records DIR [--rules NAME ...] [--max-per-rule 60] [--budget]
        [--out bench/runs/rule-ablation]
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import assistant.pipeline as pipeline
from assistant.abstention import AbstentionModel
from assistant.calibration import CALIBRATION_FILE
from assistant.config import PROJECT_ROOT, load_settings
from assistant.evaluation.datasets import load_eval_set, select_part
from assistant.evaluation.runner import (
    AssistantSystem,
    default_eval_dir,
    index_corpus,
    prepare_corpus,
    run_system,
    source_texts,
)
from assistant.rules import RULES
from bench.abstention_fit import SETS, abstention_off, load_records, model_decision, replayed

# The rules that ask the LLM once more when they fire.
LLM_CALLING = frozenset({"reask_refusal", "misread_possessive", "sentence_alone"})
VALIDATION_SETS = ("paraphrases-validation", "squad-validation", "clapnq-validation", "seed-pairs")


def sign_test(gained: int, lost: int) -> float:
    """Two-sided p-value of `gained` against `lost` under no effect (each change equally likely either way)."""
    n = gained + lost
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(0, min(gained, lost) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def fired_rules(item: Mapping[str, Any]) -> list[str]:
    return (item.get("extra") or {}).get("rules") or []


def affected(items: Sequence[Mapping[str, Any]], touched: Any, limit: int | None) -> set[str]:
    """The ids of the items to re-ask: those `touched(item)` selects, with every turn of their dialogues; at most
    `limit` units (a fixed-seed sample)."""
    fired = [i for i in items if touched(i)]
    units: dict[str, list[str]] = {}
    for item in fired:
        key = item.get("dialogue") or item["id"]
        units.setdefault(key, [])
    for item in items:
        key = item.get("dialogue") or item["id"]
        if key in units:
            units[key].append(item["id"])
    keys = sorted(units)
    if limit is not None and len(keys) > limit:
        keys = sorted(random.Random(13).sample(keys, limit))
    return {i for key in keys for i in units[key]}


class SetRunner:
    """One validation set's corpus, indexed once, asked again with one rule off at a time (models shared)."""

    def __init__(self, name: str, eval_dir: Path, shared: dict[str, Any]) -> None:
        files, part, _ = SETS[name]
        self.eval_set = load_eval_set([p if p.is_absolute() else eval_dir / p for p in files])
        self.items = select_part(self.eval_set.items, part) if part else self.eval_set.items
        self.shared = shared

    def ask(self, ids: set[str], overrides: Mapping[str, Any]) -> list[dict[str, Any]]:
        settings = prepare_corpus(self.eval_set, load_settings(overrides={"mode": "llm", **overrides}))
        with abstention_off():
            bot = pipeline.Assistant(settings, embed_model=self.shared.get("embed"), llm=self.shared.get("llm"),
                                     ranking_model=self.shared.get("ranking"))
        index_corpus(bot)
        self.shared.update(embed=bot.embed_model, llm=bot.llm, ranking=bot.ranking_model)
        items = [i for i in self.items if i.id in ids]
        run = run_system(AssistantSystem(bot, "llm"), items, self.eval_set.format, source_texts(self.eval_set, bot))
        return [r.to_json() for r in run.results]


def compare(before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]], decide: Any) -> dict[str, Any]:
    """Gained and lost answers (and summed F1 change) when the rule is off, under the same decision."""
    by_id = {i["id"]: i for i in before}
    gained = lost = 0
    f1_change = 0.0
    for new in after:
        old = by_id[new["id"]]
        was, now = replayed(old, decide(old)), replayed(new, decide(new))
        gained += int(now["passed"] > was["passed"])
        lost += int(now["passed"] < was["passed"])
        f1_change += now["f1"] - was["f1"]
    return {"asked": len(after), "without_gains": gained, "without_loses": lost, "f1_change": round(f1_change, 2)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=Path, required=True)
    parser.add_argument("--rules", nargs="+", choices=tuple(RULES), default=list(RULES))
    parser.add_argument("--sets", nargs="+", choices=VALIDATION_SETS, default=list(VALIDATION_SETS))
    parser.add_argument("--max-per-rule", type=int, default=60, help="questions (or dialogues) re-asked per rule/set")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench" / "runs" / "rule-ablation")
    parser.add_argument("--eval-dir", type=Path, default=None)
    parser.add_argument("--offline", action="store_true",
                        help="make the table from the answers a previous run saved (reasked.json), asking nothing")
    parser.add_argument("--budget", action="store_true",
                        help="also re-ask, with the default max_llm_calls, the answers that asked the LLM 3+ times")
    args = parser.parse_args(argv)
    records = load_records(args.records)
    calibration = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    decide = model_decision(AbstentionModel.from_json(calibration["abstention"]["llm"]))
    shared: dict[str, Any] = {}
    runners: dict[str, SetRunner] = {}
    table: dict[str, Any] = {}
    saved = args.out / "reasked.json"  # every answer asked again, so that the table can be made again offline
    reasked: dict[str, dict[str, list[dict[str, Any]]]] = (
        json.loads(saved.read_text(encoding="utf-8")) if saved.is_file() else {})
    for rule in args.rules:
        row: dict[str, Any] = {"family": RULES[rule][0], "fired": {}, "sets": {}}
        for name in args.sets:
            items = records.get(name, [])
            row["fired"][name] = sum(rule in fired_rules(i) for i in items)
            ids = affected(items, lambda i, r=rule: r in fired_rules(i), args.max_per_rule)
            if not ids:
                continue
            after = reasked.get(rule, {}).get(name) if args.offline else None
            if after is None:
                runner = runners.setdefault(name, SetRunner(name, args.eval_dir or default_eval_dir(), shared))
                after = runner.ask(ids, {"disabled_rules": rule, "max_llm_calls": 99})
                reasked.setdefault(rule, {})[name] = after
                args.out.mkdir(parents=True, exist_ok=True)
                saved.write_text(json.dumps(reasked) + "\n", encoding="utf-8")
            row["sets"][name] = compare([i for i in items if i["id"] in ids], after, decide)
        validation = [s for n, s in row["sets"].items() if n != "seed-pairs"]
        gained = sum(s["without_loses"] for s in validation)  # what the rule gains is what is lost without it
        lost = sum(s["without_gains"] for s in validation)
        row |= {"rule_gains": gained, "rule_loses": lost, "p": round(sign_test(gained, lost), 3)}
        table[rule] = row
        print(rule, json.dumps(row), flush=True)
    if args.budget:
        # The records were asked with no bound on LLM calls; the default bound changes only answers that asked the
        # LLM more than twice.
        row = {"sets": {}}
        for name in args.sets:
            items = records.get(name, [])
            ids = affected(items, lambda i: sum(r in LLM_CALLING for r in fired_rules(i)) >= 2, None)
            if ids:
                after = reasked.get("max_llm_calls=2", {}).get(name) if args.offline else None
                if after is None:
                    runner = runners.setdefault(name, SetRunner(name, args.eval_dir or default_eval_dir(), shared))
                    after = runner.ask(ids, {})
                    reasked.setdefault("max_llm_calls=2", {})[name] = after
                    args.out.mkdir(parents=True, exist_ok=True)
                    saved.write_text(json.dumps(reasked) + "\n", encoding="utf-8")
                row["sets"][name] = compare([i for i in items if i["id"] in ids], after, decide)
        table["max_llm_calls=2"] = row
        print("max_llm_calls=2", json.dumps(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
