"""Reproduce the figures of docs/BENCHMARKS.md: each benchmark is one `assistant eval` run in its own process.

Steps (run all, or pick with --only):
- squad-fast:  the whole SQuAD v1.1 even-articles file (5,397 questions), fast mode;
- squad-llm:   500 SQuAD questions (fixed sample; --squad-llm-limit), default (LLM) mode;
- clapnq-llm:  all 300 ClapNQ even questions (150 answerable + 150 unanswerable), default mode;
- compare:     side by side with the peers (fast mode, stock LlamaIndex, plain BM25) on SQuAD-even and
               ClapNQ-even samples (--compare-limit questions each, default 100), in this one invocation.

Each step writes its report folder under bench/runs/<step>/ (report.md, plots, results.json, which is
git-ignored, and summary.json, which is not), and bench/runs/timings.json records every step's wall time
from process start to exit (model loading included), so "runs within 30 minutes" is checked end to end.

Example:
    $ .venv/bin/python bench/run_benchmarks.py --only squad-fast
    $ nohup .venv/bin/python bench/run_benchmarks.py > /tmp/bench.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "runs"
SQUAD = "squad_v1.1_dev/squad-dev-v1.1-even-articles.json"
CLAPNQ = "clapnq_dev/clapnq_dev_answerable_even.jsonl"  # its unanswerable sibling is picked up automatically


def steps(compare_limit: int, squad_llm_limit: int = 500) -> dict[str, list[list[str]]]:
    """Step name -> the `assistant eval` argument lists it runs (the out folder is added per run)."""
    return {
        "squad-fast": [[SQUAD, "--mode", "fast"]],
        "squad-llm": [[SQUAD, "--mode", "llm", "--limit", str(squad_llm_limit)]],
        "clapnq-llm": [[CLAPNQ, "--mode", "llm"]],
        "compare": [[SQUAD, "--mode", "llm", "--limit", str(compare_limit), "--compare"],
                    [CLAPNQ, "--mode", "llm", "--limit", str(compare_limit), "--compare"]],
    }


def out_name(step: str, args: list[str], count: int) -> str:
    if count == 1:
        return step
    return f"{step}-{'squad' if args[0] == SQUAD else 'clapnq'}"


def run_one(args: list[str], out: Path) -> dict[str, object]:
    """Run one `assistant eval` in a fresh process; keep its summary (without the per-question items)."""
    command = [sys.executable, "-m", "assistant.cli", "eval", *args, "--out", str(out)]
    print("$ " + " ".join(command[2:]), flush=True)
    started = time.time()
    code = subprocess.call(command, cwd=ROOT)
    wall = time.time() - started
    results = out / "results.json"
    if results.exists():
        data = json.loads(results.read_text(encoding="utf-8"))
        data.pop("items", None)
        (out / "summary.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    return {"command": "assistant eval " + " ".join(args), "exit_code": code, "wall_s": round(wall, 1),
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "load_average": [round(x, 2) for x in os.getloadavg()]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated steps (default: all): squad-fast,squad-llm,clapnq-llm,"
                        "compare")
    parser.add_argument("--compare-limit", type=int, default=100, help="questions per set in the compare step")
    parser.add_argument("--squad-llm-limit", type=int, default=500, help="questions in the squad-llm step")
    args = parser.parse_args(argv)
    plan = steps(args.compare_limit, args.squad_llm_limit)
    chosen = args.only.split(",") if args.only else list(plan)
    unknown = set(chosen) - set(plan)
    if unknown:
        parser.error(f"unknown step(s) {sorted(unknown)}; choose from {list(plan)}")
    timings_file = RESULTS / "timings.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    timings = json.loads(timings_file.read_text()) if timings_file.exists() else {}
    failed = 0
    for step in chosen:
        for eval_args in plan[step]:
            name = out_name(step, eval_args, len(plan[step]))
            timings[name] = run_one(eval_args, RESULTS / name)
            failed += timings[name]["exit_code"] != 0
            timings_file.write_text(json.dumps(timings, indent=1), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
