"""The validation figures: every data set's validation part, asked with the current code and settings.

Nothing in these parts is used to choose a rule, a weight or a threshold (`assistant.evaluation.datasets.PARTS`);
this script only reports them, so that a change is judged on questions it was not fitted to:

- `paraphrases`: tests/data/seed_paraphrases.json, questions about the seed articles asked the way people ask
  (validation only, as a whole): answerable right with a citation into a supporting document, unanswerable
  abstained, dialogues with every turn right;
- `seed`: tests/data/seed_qa.json, the project's own pairs (reported, as the test suite checks them);
- `squad`: SQuAD-even's validation part (its last 12 articles), a fixed-seed sample: answered, EM/F1;
- `clapnq`: ClapNQ-even's validation part (the second half of each file): answerable answered, unanswerable
  abstained.

Usage:
    python -m bench.validate [--sets paraphrases seed squad clapnq] [--squad-limit 500] [--mode llm]
        [--out bench/runs/validate] [--eval-dir ../shared/eval]

It prints one table and writes `summary.json` and each set's report under --out.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.config import PROJECT_ROOT, load_settings
from assistant.evaluation.report import write_report
from assistant.evaluation.runner import EvalRun, default_eval_dir, evaluate
from assistant.evaluation.scoring import ItemResult

SETS = {
    "paraphrases": ([PROJECT_ROOT / "tests" / "data" / "seed_paraphrases.json"], "all"),
    "seed": ([PROJECT_ROOT / "tests" / "data" / "seed_qa.json"], "all"),
    "squad": ([Path("squad_v1.1_dev/squad-dev-v1.1-even-articles.json")], "validation"),
    "clapnq": ([Path("clapnq_dev/clapnq_dev_answerable_even.jsonl"),
                Path("clapnq_dev/clapnq_dev_unanswerable_even.jsonl")], "validation"),
}


def rate(flags: Sequence[bool]) -> float | None:
    """The share of true flags; None for none."""
    return round(sum(flags) / len(flags), 4) if flags else None


def set_figures(results: Sequence[ItemResult], summary: dict[str, Any]) -> dict[str, Any]:
    """The figures a set is judged by: answerable right with a right citation, answered, unanswerable abstained,
    dialogues whose every turn passed, EM/F1 where the set has them, median latency."""
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    dialogues: dict[str, list[bool]] = defaultdict(list)
    for r in results:
        if r.item.dialogue is not None:
            dialogues[r.item.dialogue].append(r.passed)
    figures: dict[str, Any] = {
        "questions": len(results),
        "answerable_passed": rate([r.passed for r in answerable]),
        "answerable_answered": rate([not r.prediction.abstained for r in answerable]),
        "unanswerable_abstained": rate([r.prediction.abstained for r in unanswerable]),
        "dialogues_all_right": f"{sum(all(t) for t in dialogues.values())}/{len(dialogues)}" if dialogues else None,
        "passed": f"{sum(r.passed for r in results)}/{len(results)}",
        "latency_median_ms": summary.get("latency_median_ms"),
    }
    for metric in ("em", "f1"):
        if summary.get(metric) is not None:
            figures[metric] = round(100 * summary[metric], 1)
    return figures


def run_set(name: str, settings: Any, eval_dir: Path, squad_limit: int | None, out: Path) -> dict[str, Any]:
    """Ask one set's validation part and write its report; its figures."""
    paths, part = SETS[name]
    files = [p if p.is_absolute() else eval_dir / p for p in paths]
    limit = squad_limit if name == "squad" else None
    run: EvalRun = evaluate(files, settings, limit=limit, part=None if part == "all" else part, progress=False)
    write_report(run, out / name, command=f"python -m bench.validate --sets {name}")
    results = run.primary.results
    return {"part": part, **set_figures(results, run.primary.summary)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", choices=tuple(SETS), default=list(SETS))
    parser.add_argument("--squad-limit", type=int, default=500, help="SQuAD validation questions asked (sample)")
    parser.add_argument("--mode", choices=("llm", "fast"), default="llm")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench" / "runs" / "validate")
    parser.add_argument("--eval-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    settings = load_settings(overrides={"mode": args.mode})
    eval_dir = args.eval_dir or default_eval_dir()
    figures: dict[str, Any] = {}
    for name in args.sets:
        started = time.perf_counter()
        figures[name] = run_set(name, settings, eval_dir, args.squad_limit, args.out)
        figures[name]["minutes"] = round((time.perf_counter() - started) / 60, 1)
        print(name, json.dumps(figures[name]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps({"mode": args.mode, "sets": figures}, indent=1) + "\n",
                                           encoding="utf-8")
    columns = ("part", "questions", "answerable_passed", "answerable_answered", "unanswerable_abstained",
               "dialogues_all_right", "em", "f1", "latency_median_ms")
    print("| set | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, row in figures.items():
        print(f"| {name} | " + " | ".join("" if row.get(c) is None else str(row[c]) for c in columns) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
