"""Turn an `EvalRun` into what people and CI read: a terminal table, `results.json`, `report.md` and plots.

`results.json` is a contract: `{"summary": {metric: value, ...}, "items": [{"id", "question", "answer",
"abstained", "citations", "correct", "timings_ms", ...}], "run": {...}, "systems": {...}}`: one item per
question asked by our default pipeline (`citations` are the objects `ask --json` prints); `systems` holds every
compared system's summary. `report.md` has the summary table, the side-by-side table when peers ran, the plots
and the failures grouped by cause.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.evaluation.runner import EvalRun, SystemRun
from assistant.evaluation.scoring import CAUSES, ItemResult

__all__ = ["compare_table", "machine_info", "results_json", "summary_table", "write_report"]

# Rows of the summary table: key, label, kind ("frac" shown as 0.873, "ms" as seconds or ms, "num" as is).
_SUMMARY_ROWS = (
    ("questions", "questions", "num"),
    ("accuracy", "accuracy", "frac"),
    ("passed", "passed (correct, every citation right)", "num"),
    ("em", "exact match (short answer)", "frac"),
    ("f1", "F1 (short answer)", "frac"),
    ("rouge_l", "ROUGE-L (answer vs reference)", "frac"),
    ("citation_accuracy", "citation accuracy", "frac"),
    ("abstention_accuracy", "abstention accuracy", "frac"),
    ("answered_when_answerable", "answered, answerable side", "frac"),
    ("abstained_when_unanswerable", "abstained, unanswerable side", "frac"),
    ("recall@1", "recall@1 (gold document)", "frac"),
    ("recall@5", "recall@5", "frac"),
    ("recall@20", "recall@20", "frac"),
    ("mrr", "MRR", "frac"),
    ("latency_median_ms", "latency median", "ms"),
    ("latency_p95_ms", "latency p95", "ms"),
    ("index_chunks", "indexed chunks", "num"),
    ("index_chunks_per_s", "indexing throughput (chunks/s)", "num"),
    ("peak_rss_mb", "peak memory (MiB RSS)", "num"),
)
_COMPARE_COLUMNS = (
    ("accuracy", "accuracy", "frac"),
    ("recall@1", "R@1", "frac"),
    ("recall@5", "R@5", "frac"),
    ("recall@20", "R@20", "frac"),
    ("mrr", "MRR", "frac"),
    ("abstention_accuracy", "abstention", "frac"),
    ("citation_accuracy", "citations", "frac"),
    ("latency_median_ms", "latency p50", "ms"),
    ("latency_p95_ms", "latency p95", "ms"),
)
MAX_FAILURES_SHOWN = 40


# ---------------------------------------------------------------------------------------------------- values


def _fmt(value: Any, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if kind == "frac":
        return f"{value:.3f}"
    if kind == "ms":
        return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def failure_key(cause: str) -> str:
    """The summary key counting one failure cause, e.g. "failures_retrieval_miss"."""
    return "failures_" + cause.replace(" ", "_")


def full_summary(run: EvalRun, system: SystemRun | None = None) -> dict[str, Any]:
    """A system's metrics plus the run-wide ones (index size and speed, peak memory), flat."""
    system = system or run.primary
    summary = {k: v for k, v in system.summary.items() if k != "failures"}
    for cause in CAUSES:
        summary[failure_key(cause)] = system.summary["failures"].get(cause, 0) if "failures" in system.summary \
            else None
    if run.index is not None:
        summary["index_chunks"] = run.index.chunks
        summary["index_documents"] = run.index.documents
        summary["index_seconds"] = round(run.index.seconds, 2)
        summary["index_chunks_per_s"] = None if run.index.chunks_per_s is None else round(run.index.chunks_per_s, 1)
        summary["index_cached"] = run.index.cached
    summary["peak_rss_mb"] = round(system.peak_rss_mb, 1)
    summary["seconds"] = round(system.seconds, 1)
    return summary


def machine_info() -> dict[str, Any]:
    """The machine the figures come from: CPU, cores usable, memory, load (others may share the CPU)."""
    model = ""
    memory_gb = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gb = round(int(line.split()[1]) / 2**20, 1)
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cpu": model or platform.processor(), "cores": cores, "memory_gb": memory_gb,
            "platform": platform.platform(), "python": platform.python_version(),
            "load_average_1_5_15": [round(x, 2) for x in load] if load else None}


def results_json(run: EvalRun) -> dict[str, Any]:
    """The `results.json` object (see the module docstring)."""
    return {
        "summary": full_summary(run),
        "items": [r.to_json() for r in run.primary.results],
        "run": {"name": run.name, "format": run.format, "paths": run.paths, "mode": run.mode,
                "system": run.primary.name, "limit": run.limit, "seed": run.seed, "questions": run.questions,
                "total_questions": run.total_questions, "index": run.index.to_json() if run.index else None,
                "settings": run.settings, "notes": run.notes, "seconds": round(run.seconds, 1),
                "peak_rss_mb": round(run.peak_rss_mb, 1), "machine": machine_info(),
                "finished": time.strftime("%Y-%m-%d %H:%M:%S")},
        "systems": {s.name: {"summary": full_summary(run, s),
                             "recall_curve": {str(k): round(v, 4) for k, v in s.curve.items()}}
                    for s in run.systems},
    }


# ---------------------------------------------------------------------------------------------------- tables


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table that also reads well in a terminal (columns padded)."""
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def summary_table(run: EvalRun) -> str:
    """Metric | value for our default pipeline (metrics that do not apply are left out)."""
    summary = full_summary(run)
    rows = [(label, _fmt(summary.get(key), kind)) for key, label, kind in _SUMMARY_ROWS
            if summary.get(key) is not None]
    failures = [f"{cause}: {summary[failure_key(cause)]}" for cause in CAUSES if summary.get(failure_key(cause))]
    if failures:
        rows.append(("failures", ", ".join(failures)))
    return _table(("metric", run.primary.name), rows)


def _ratio(ours: Any, peer: Any) -> str:
    if ours is None or peer is None or (isinstance(peer, float) and (math.isnan(peer) or peer == 0)):
        return "n/a"
    return f"{ours / peer:.2f}x"


def compare_table(run: EvalRun) -> str:
    """Every system on one row, then our systems' figures as ratios to each peer's (ours / peer)."""
    header = ("system", *(label for _, label, _ in _COMPARE_COLUMNS))
    rows = [(s.name, *(_fmt(s.summary.get(key), kind) for key, _, kind in _COMPARE_COLUMNS)) for s in run.systems]
    ours = [s for s in run.systems if s.name.startswith("ours")]
    peers = [s for s in run.systems if not s.name.startswith("ours")]
    for mine in ours:
        for peer in peers:
            rows.append((f"{mine.name} / {peer.name}",
                         *(_ratio(mine.summary.get(key), peer.summary.get(key)) for key, _, _ in _COMPARE_COLUMNS)))
    return _table(header, rows)


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _cell(text: str) -> str:
    return _short(text).replace("|", "\\|")


def failures_markdown(results: Sequence[ItemResult]) -> str:
    """The failures grouped by cause, each with what was expected and what came back."""
    parts = []
    for cause in CAUSES:
        failed = [r for r in results if r.cause == cause]
        if not failed:
            continue
        parts.append(f"### {cause} ({len(failed)})\n")
        rows = []
        for r in failed[:MAX_FAILURES_SHOWN]:
            expected = " / ".join(r.item.answers) if r.item.answers else "(abstain)"
            got = "(abstained)" if r.prediction.abstained else r.prediction.answer
            cited = ", ".join(sorted({str(c.get('doc')) for c in r.prediction.citations})) or "-"
            rows.append((r.item.id, _cell(r.item.question), _cell(expected), _cell(got), _cell(cited),
                         _cell(r.detail)))
        parts.append(_table(("id", "question", "expected", "answer", "cited", "why"), rows))
        if len(failed) > MAX_FAILURES_SHOWN:
            parts.append(f"\n... and {len(failed) - MAX_FAILURES_SHOWN} more (see results.json)")
        parts.append("")
    return "\n".join(parts) if parts else "None: every question passed."


def failures_text(results: Sequence[ItemResult]) -> str:
    """Failures as plain lines for a terminal or a test message: `[cause] id: question -> answer (why)`."""
    lines = []
    for r in results:
        if r.cause:
            got = "(abstained)" if r.prediction.abstained else _short(r.prediction.answer, 100)
            lines.append(f"[{r.cause}] {r.item.id}: {_short(r.item.question, 90)} -> {got} ({r.detail})")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------- plots


def plot_recall(run: EvalRun, path: Path) -> bool:
    """recall@k for k = 1..20, one line per system that ranks; False when no system ranked."""
    curves = [(s.name, s.curve) for s in run.systems if s.curve]
    if not curves:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for name, curve in curves:
        ax.plot(list(curve), list(curve.values()), marker="o", markersize=3, label=name)
    ax.set(xlabel="k (documents)", ylabel="recall@k (gold document in top k)", ylim=(0, 1.02),
           title=f"{run.name}: retrieval recall@k ({run.questions} questions)")
    ax.set_xticks([1, 5, 10, 15, 20])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def plot_latency(run: EvalRun, path: Path) -> bool:
    """Histogram of per-question latency (seconds), one series per system."""
    series = [(s.name, [r.prediction.timings_ms["total_ms"] / 1000 for r in s.results
                        if "total_ms" in r.prediction.timings_ms]) for s in run.systems]
    series = [(name, values) for name, values in series if values]
    if not series:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    low = max(min(min(v) for _, v in series), 1e-3)
    high = max(max(v) for _, v in series)
    bins = np.geomspace(low, high * 1.01 if high > low else low * 10, 30)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for name, values in series:
        ax.hist(values, bins=bins, alpha=0.55, label=f"{name} (median {np.median(values):.2f} s)")
    ax.set_xscale("log")
    ax.set(xlabel="seconds per question (log scale)", ylabel="questions",
           title=f"{run.name}: latency ({run.questions} questions)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


# ---------------------------------------------------------------------------------------------------- report


def report_markdown(run: EvalRun, plots: Sequence[str], command: str | None = None) -> str:
    """The text of `report.md`."""
    machine = machine_info()
    sampled = f"{run.questions} of {run.total_questions}" + (f" (--limit {run.limit}, seed {run.seed})"
                                                             if run.questions < run.total_questions else "")
    lines = [f"# Evaluation: {run.name} ({run.format})", "",
             f"- system: {run.primary.name}; questions: {sampled}",
             f"- machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB; "
             f"load average at the end {machine['load_average_1_5_15']}",
             f"- finished {time.strftime('%Y-%m-%d %H:%M')} after {run.seconds / 60:.1f} min"]
    if run.settings.get("embed_model"):
        ranking = run.settings.get("ranking_embed_model") or "none"
        if run.settings.get("ranking_embed_model") and run.settings.get("ranking_at_index") is False:
            ranking += " (at question time only)"
        lines.append(f"- models: embedding {run.settings['embed_model']}, ranking {ranking} "
                     f"({run.settings.get('embed_precision', 'float32')}); LLM "
                     f"{run.settings.get('llm_endpoint') or run.settings.get('llm_model')}")
    if run.index is not None:
        built = "reused (built earlier)" if run.index.cached else "built in this run"
        lines.append(f"- index: {run.index.documents} documents, {run.index.chunks} chunks, {built}")
    if command:
        lines.append(f"- command: `{command}`")
    lines += ["", "## Summary", "", summary_table(run), ""]
    if len(run.systems) > 1:
        lines += ["## Side by side", "", "Same corpus, questions and machine; ratio rows divide our figure by "
                  "the peer's (for latency, under 1x means faster).", "", compare_table(run), ""]
    if plots:
        lines += ["## Plots", "", *(f"![{name}]({name})" for name in plots), ""]
    lines += ["## Failures by cause", "", failures_markdown(run.primary.results), ""]
    if run.notes:
        lines += ["## Dataset notes", "", *(f"- {note}" for note in run.notes), ""]
    lines += ["## Settings", "", "```json", json.dumps(run.settings, indent=2), "```", ""]
    return "\n".join(lines)


def write_report(run: EvalRun, out_dir: Path, command: str | None = None) -> list[Path]:
    """Write `results.json`, the plots and `report.md` into `out_dir`; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    results = out_dir / "results.json"
    results.write_text(json.dumps(results_json(run), ensure_ascii=False, indent=1), encoding="utf-8")
    written.append(results)
    plots = []
    for name, plot in (("recall_at_k.png", plot_recall), ("latency.png", plot_latency)):
        if plot(run, out_dir / name):
            plots.append(name)
            written.append(out_dir / name)
    report = out_dir / "report.md"
    report.write_text(report_markdown(run, plots, command), encoding="utf-8")
    written.append(report)
    return written
