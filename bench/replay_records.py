"""Re-ask, with the current code, only the calibration questions a change can touch, and measure its effect.

A full `python -m bench.calibrate` run asks 450 questions twice (about 40 minutes on 2 cores). A change to what
happens after the model first leans to NOT FOUND can only alter the questions where that happened, which a
`--records` file says (the `reasked` and `fallback` signals). This script re-asks just those in LLM mode, with
abstention off as the calibration does, merges the new records into the old ones, and prints what the current
abstention model (assistant/calibration.json, unchanged) decides on both: ClapNQ answered / abstained over all 300
and on the held-out half, and SQuAD questions wrongly abstained. Each question whose answer or decision changed
is listed. Re-fitting stays `python -m bench.calibrate --from-records OUT`.

Usage:
    python -m bench.replay_records --records /tmp/calib-records.json --subset reasked-echo-or-fallback \\
        [--out /tmp/calib-records-replayed.json] [--eval-dir ../shared/eval]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.calibration import load_abstention_models
from assistant.config import load_settings
from assistant.evaluation.runner import default_eval_dir
from assistant.replies import echoes_question
from bench.calibrate import (
    ask_all,
    eval_paths,
    indexed_assistant,
    model_abstains,
    model_rates,
    record_only,
    squad_abstained,
)


def _signal(record: dict[str, Any], name: str) -> bool:
    return bool(record["signals"]) and record["signals"].get(name) == 1.0


def _echo(record: dict[str, Any]) -> bool:
    """The recorded answer only repeats the question (`echoes_question`, as the code now defines it)."""
    return echoes_question(record["short_answer"], record["question"])


# Which recorded questions a change can touch, by what the recorded answer went through.
SUBSETS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "reasked": lambda r: _signal(r, "reasked"),
    "fallback": lambda r: _signal(r, "fallback"),
    "echo": _echo,
    # forced past NOT FOUND, and the reply then fell back on the best sentence or only repeated the question
    "reasked-echo-or-fallback": lambda r: _signal(r, "reasked") and (_signal(r, "fallback") or _echo(r)),
}


def replay(records: dict[str, Any], subset: Callable[[dict[str, Any]], bool], eval_dir: Path) -> dict[str, Any]:
    """`records` with the LLM-mode records that `subset` selects asked again with the current code."""
    merged = {**records, "llm": {}}
    paths = eval_paths(eval_dir)
    for dataset, old in records["llm"].items():
        ids = {r["id"] for r in old if subset(r)}
        bot, items = indexed_assistant(paths[dataset], "llm")
        record_only(bot, records["prefilter"])
        fresh = {r["id"]: r for r in ask_all(bot, [item for item in items if item.id in ids], "llm")}
        merged["llm"][dataset] = [fresh.get(r["id"], r) for r in old]
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=Path, required=True, help="a `bench.calibrate --records` file")
    parser.add_argument("--subset", choices=sorted(SUBSETS), required=True)
    parser.add_argument("--out", type=Path, default=None, help="write the merged records here")
    parser.add_argument("--eval-dir", type=Path, default=default_eval_dir())
    args = parser.parse_args()
    old = json.loads(args.records.read_text(encoding="utf-8"))
    new = replay(old, SUBSETS[args.subset], args.eval_dir)
    if args.out:
        args.out.write_text(json.dumps(new) + "\n", encoding="utf-8")
    model = load_abstention_models(load_settings())["llm"]
    for dataset in new["llm"]:
        for before, after in zip(old["llm"][dataset], new["llm"][dataset], strict=True):
            was, now = model_abstains(model, before), model_abstains(model, after)
            if before["short_answer"] != after["short_answer"] or was != now:
                kind = "answerable" if before["answerable"] else "unanswerable"
                print(f"{dataset} {kind}: {before['question'][:60]!r}: {before['short_answer'][:40]!r} "
                      f"(abstains {was}) -> {after['short_answer'][:40]!r} (abstains {now})")
    for name, records in (("before", old), ("after", new)):
        clap = records["llm"]["clapnq"]
        print(f"{name}: ClapNQ all {model_rates(model, clap)}, held-out "
              f"{model_rates(model, [r for r in clap if not r['fit']])}; SQuAD wrongly abstained "
              f"{squad_abstained(model, records['llm']['squad'])}")


if __name__ == "__main__":
    main()
