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

It prints one table (each target rate with its 95 % Wilson interval: at 75 questions a side, rates closer than
about a tenth cannot be told apart) and writes `summary.json` and each set's report under --out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assistant.config import PROJECT_ROOT, load_settings
from assistant.evaluation.runner import default_eval_dir
from bench.abstention_fit import SETS as PARTS_ASKED
from bench.abstention_fit import ask_set, figures

# This script's set names -> the parts of bench.abstention_fit they ask (the same files and splits).
SETS = {"paraphrases": "paraphrases-validation", "seed": "seed-pairs", "squad": "squad-validation",
        "clapnq": "clapnq-validation"}


def set_figures(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A set's figures from its answers as given (`bench.abstention_fit.figures`, nothing replayed), with the
    median answer time."""
    times = [i["timings_ms"]["total_ms"] for i in items if "total_ms" in i.get("timings_ms", {})]
    return {**figures(items, lambda item: False),
            "latency_median_ms": round(statistics.median(times)) if times else None}


def cell(row: Mapping[str, Any], column: str) -> str:
    """A table cell: the figure, with its 95 % interval where it has one ("0.733 (0.62-0.82)")."""
    value = row.get(column)
    if value is None:
        return ""
    interval = (row.get("intervals") or {}).get(column)
    return f"{value} ({interval[0]:.2f}-{interval[1]:.2f})" if interval else str(value)


def run_set(name: str, settings: Any, eval_dir: Path, squad_limit: int | None, out: Path) -> dict[str, Any]:
    """Ask one set's validation part and write its report; its figures."""
    asked = SETS[name]
    run = ask_set(asked, settings, eval_dir, squad_limit if name == "squad" else None, out,
                  f"python -m bench.validate --sets {name}")
    return {"part": PARTS_ASKED[asked][1] or "all", **set_figures([r.to_json() for r in run.primary.results])}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", choices=tuple(SETS), default=list(SETS))
    parser.add_argument("--squad-limit", type=int, default=500, help="SQuAD validation questions asked (sample)")
    parser.add_argument("--mode", choices=("llm", "fast"), default="llm")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench" / "runs" / "validate")
    parser.add_argument("--eval-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    from index.embeddings import bound_kernel_cache

    bound_kernel_cache()  # answers as the CLI's and the UI's answering processes do
    settings = load_settings(overrides={"mode": args.mode})
    eval_dir = args.eval_dir or default_eval_dir()
    results: dict[str, Any] = {}
    for name in args.sets:
        started = time.perf_counter()
        results[name] = run_set(name, settings, eval_dir, args.squad_limit, args.out)
        results[name]["minutes"] = round((time.perf_counter() - started) / 60, 1)
        print(name, json.dumps(results[name]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps({"mode": args.mode, "sets": results}, indent=1) + "\n",
                                           encoding="utf-8")
    columns = ("part", "questions", "answerable_passed", "answered", "unanswerable_abstained", "dialogues_all_right",
               "em", "f1", "latency_median_ms")
    print("| set | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, row in results.items():
        print(f"| {name} | " + " | ".join(cell(row, c) for c in columns) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
