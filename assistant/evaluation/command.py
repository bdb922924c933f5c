"""`assistant eval`: run an evaluation, print the tables, write the report folder, gate on accuracy.

Kept apart from `assistant.cli` so the command line stays a thin layer: `_cmd_eval` there passes its parsed
flags here.

Example:
    $ assistant eval tests/data/seed_qa.json
    $ assistant eval squad_v1.1_dev/squad-dev-v1.1-even-articles.json --limit 500 --out /tmp/squad500
    $ assistant eval clapnq_dev/clapnq_dev_answerable_even.jsonl --compare --min-accuracy 0.5
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from assistant.config import Settings
from assistant.evaluation.report import compare_table, failures_text, summary_table, write_report
from assistant.evaluation.runner import DEFAULT_PAIRS, DEFAULT_SEED, EvalRun, evaluate, resolve_paths

__all__ = ["default_out_dir", "describe_command", "eval_command", "gate_score"]

EXIT_OK = 0
EXIT_BELOW_GATE = 1
MAX_FAILURE_LINES = 25


def default_out_dir(settings: Settings, run: EvalRun) -> Path:
    """`<data_dir>/eval/runs/<set>-<mode>-<date-time>`: a fresh folder per run, never overwritten."""
    return settings.data_dir / "eval" / "runs" / f"{run.name}-{run.mode}-{time.strftime('%Y%m%d-%H%M%S')}"


def gate_score(run: EvalRun) -> tuple[str, float | None]:
    """The figure `--min-accuracy` checks: accuracy, or recall@5 for a retrieval-only run."""
    summary = run.primary.summary
    key = "accuracy" if summary.get("accuracy") is not None else "recall@5"
    return key, summary.get(key)


def describe_command(paths: Sequence[Path], mode: str, *, format: str | None, limit: int | None, seed: int,
                     compare: bool, retrieval_only: bool, part: str | None = None) -> str:
    """The command line that reproduces a run (for the report)."""
    words = ["assistant", "eval", *(str(p) for p in paths), "--mode", mode]
    if format:
        words += ["--format", format]
    if part not in (None, "all"):
        words += ["--part", str(part)]
    if limit is not None:
        words += ["--limit", str(limit)]
    if seed != DEFAULT_SEED:
        words += ["--seed", str(seed)]
    words += ["--compare"] if compare else []
    words += ["--retrieval-only"] if retrieval_only else []
    return shlex.join(words)


def eval_command(paths: Sequence[Path], settings: Settings, *, format: str | None = None, limit: int | None = None,
                 seed: int = DEFAULT_SEED, out: Path | None = None, min_accuracy: float | None = None,
                 compare: bool = False, retrieval_only: bool = False, eval_dir: Path | None = None,
                 progress: bool = True, part: str | None = None) -> int:
    """Run `assistant eval`; returns the exit code (1 when the gate fails). Bad input raises ValueError."""
    files = resolve_paths(list(paths) or [DEFAULT_PAIRS], eval_dir)
    run = evaluate(files, settings, format=format, limit=limit, seed=seed, compare=compare,
                   retrieval_only=retrieval_only, progress=progress, part=part)
    out = out or default_out_dir(settings, run)
    command = describe_command(files, settings.mode, format=format, limit=limit, seed=seed, compare=compare,
                               retrieval_only=retrieval_only, part=part)
    write_report(run, out, command=command)
    print(f"{run.name} ({run.format}): {run.questions} questions, {run.primary.name}")
    print(summary_table(run))
    if len(run.systems) > 1:
        print()
        print(compare_table(run))
    failures = failures_text(run.primary.results).splitlines()
    if failures:
        print(f"\nfailures ({len(failures)}):")
        print("\n".join(failures[:MAX_FAILURE_LINES]))
        if len(failures) > MAX_FAILURE_LINES:
            print(f"... and {len(failures) - MAX_FAILURE_LINES} more in {out / 'report.md'}")
    print(f"\nreport: {out / 'report.md'}  results: {out / 'results.json'}")
    if min_accuracy is not None:
        key, score = gate_score(run)
        if score is None or score < min_accuracy:
            print(f"assistant eval: {key} {score} is under --min-accuracy {min_accuracy}", file=sys.stderr)
            return EXIT_BELOW_GATE
    return EXIT_OK
