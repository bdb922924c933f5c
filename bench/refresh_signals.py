"""Bring calibration records up to date with a changed signal, without asking the LLM again.

A `bench.calibrate --records` file holds, per question, the signals the abstention model reads. Most of them
(evidence scores, the cited sentence's meaning and overlap, the top passage's cosine) depend only on retrieval and
on which evidence sentence the answer cited, which the records keep (`cited_rank`). When a change adds or
redefines such a signal and leaves retrieval and the prompts alone, the LLM's answers are the same, so asking the
450 questions again (about 40 minutes) is not needed: this script re-derives those signals with the current code
and keeps the LLM's own (refusal probability, re-asks, fallback, token log-probabilities). Fast-mode records have no
LLM part and are simply asked again (tens of milliseconds each).

A record whose recorded cited score the current ranking does not reproduce is stale (retrieval changed): it is
counted, kept as it was, and the script exits with 1 so that a full `python -m bench.calibrate` is run instead.
Re-fitting stays `python -m bench.calibrate --from-records OUT`.

Usage:
    python -m bench.refresh_signals --records /tmp/calib-records.json --out /tmp/calib-records-refreshed.json \\
        [--eval-dir ../shared/eval]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from assistant.abstention import answer_signals
from assistant.evaluation.runner import default_eval_dir
from bench.calibrate import ask_all, eval_paths, indexed_assistant, record_only

# What only the LLM's reply tells (see `answer_signals`): kept from the record.
LLM_SIGNALS = ("refusal", "reasked", "fallback", "phrase_logprob", "phrase_min_logprob", "mark_logprob", "support_yes")
# How closely a re-derived cited score must match the recorded one (they are rounded nowhere; float noise only).
SAME_SCORE = 1e-4


def refreshed_llm_record(bot: Any, record: dict[str, Any]) -> dict[str, Any] | None:
    """`record` with its retrieval-derived signals computed again; None when the ranking no longer reproduces it."""
    old = record["signals"]
    if not old:  # prefiltered: nothing was cited
        return record
    ranked, _ = bot.evidence(record["question"])
    evidence = bot.prompt_evidence(ranked.sentences)
    rank = int(old["cited_rank"])
    if rank >= len(evidence) or abs(evidence[rank].score - old["cited_score"]) > SAME_SCORE:
        return None
    cited = evidence[rank:rank + 1]
    best = bot.decider.best_clause(ranked, cited)
    clause_semantic, ranking_clause = bot.decider.clause_semantic(ranked, cited, best)
    signals = answer_signals(record["question"], ranked, evidence, cited,
                             clause_semantic=clause_semantic, ranking_clause=ranking_clause,
                             window_semantic=bot.decider.window_semantic(ranked, cited,
                                                                         record.get("short_answer") or ""))
    signals.update(bot.decider.ranking_at_question(record["question"], cited, best))
    signals.update({name: old[name] for name in LLM_SIGNALS if name in old})
    return {**record, "signals": signals}


def refresh(records: dict[str, Any], eval_dir: Path) -> tuple[dict[str, Any], int]:
    """The records with current signals (fast mode asked again), and how many LLM records were stale."""
    out: dict[str, Any] = {**records, "fast": {}, "llm": {}}
    stale = 0
    paths = eval_paths(eval_dir)
    for dataset in records["llm"]:
        bot, items = indexed_assistant(paths[dataset], "llm")
        record_only(bot, records["prefilter"])
        by_id = {item.id: item for item in items}
        out["fast"][dataset] = ask_all(bot, [by_id[r["id"]] for r in records["fast"][dataset]], "fast")
        fresh = []
        for record in records["llm"][dataset]:
            new = refreshed_llm_record(bot, record)
            stale += new is None
            fresh.append(new or record)
        out["llm"][dataset] = fresh
    return out, stale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=Path, required=True, help="a `bench.calibrate --records` file")
    parser.add_argument("--out", type=Path, required=True, help="write the refreshed records here")
    parser.add_argument("--eval-dir", type=Path, default=default_eval_dir())
    args = parser.parse_args()
    records, stale = refresh(json.loads(args.records.read_text(encoding="utf-8")), args.eval_dir)
    args.out.write_text(json.dumps(records) + "\n", encoding="utf-8")
    total = sum(len(v) for v in records["llm"].values())
    print(f"{total - stale} of {total} LLM records refreshed; {stale} stale (kept as they were)")
    if stale:
        sys.exit(1)


if __name__ == "__main__":
    main()
