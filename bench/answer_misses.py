"""Where a record's answer misses come from: retrieval, the prompt's evidence, or the reader's choice.

    python -m bench.answer_misses --records R [--sets paraphrases-validation squad-validation ...] [--out F]

Reads a record of `python -m bench.abstention_fit record` (abstention off: every answerable question was answered)
and puts each answerable question it got wrong under one cause:

- **retrieval miss**: no retrieved passage is of a gold document (the evaluation's own cause);
- **wrong words**: the cited sentence holds a gold answer; the reply's words are not it;
- **evidence miss**: no sentence of the prompt holds a gold answer (the prompt recomputed as the pipeline builds it:
  retrieval, the evidence ranker, `Assistant.prompt_evidence`; no LLM), with the rank, among all ranked sentences,
  of the first that does;
- **reader's choice**: a sentence of the prompt holds a gold answer, and the LLM cited another.

"Holds" is containment of a gold answer after the official SQuAD normalisation, so a set whose gold answers are
whole passages (ClapNQ) is not sorted. This chooses nothing: it says which stage a change would have to improve.

Example:
    $ .venv/bin/python -m bench.answer_misses --records /work/records --sets paraphrases-validation
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.config import load_settings
from assistant.evaluation.datasets import load_eval_set
from assistant.evaluation.metrics import contains_normalized as holds
from assistant.evaluation.runner import default_eval_dir, index_corpus, prepare_corpus
from assistant.pipeline import Assistant
from assistant.rules import Rules
from bench.abstention_fit import SETS, load_records

SORTABLE = ("squad-tuning", "squad-validation", "paraphrases-tuning", "paraphrases-validation", "seed-pairs")


def prompt_of(bot: Assistant, question: str) -> tuple[list[str], list[str]]:
    """The texts of the prompt's sentences for `question` and of every ranked sentence, best first, as the pipeline
    ranks and selects them (steps 3 and 4 of `Assistant.stream`)."""
    selection = bot.select_evidence(question, Rules(bot.settings.disabled_rule_set))
    return [ev.text for ev in selection.evidence], [ev.text for ev in selection.ranked.sentences]


def cause(item: dict[str, Any], bot: Assistant) -> tuple[str, int | None]:
    """The cause of a wrong answer (the module's list) and, for an evidence miss, the 1-based rank of the first
    ranked sentence holding a gold answer (None when none does)."""
    if item.get("cause") == "retrieval miss":
        return "retrieval miss", None
    if holds(" ".join(c["quote"] for c in item["citations"]), item["expected"]):
        return "wrong words", None
    prompt, ranked = prompt_of(bot, item["standalone_question"])
    if any(holds(text, item["expected"]) for text in prompt):
        return "reader's choice", None
    rank = next((i + 1 for i, text in enumerate(ranked) if holds(text, item["expected"])), None)
    return "evidence miss", rank


def sort_set(name: str, items: Sequence[dict[str, Any]], eval_dir: Path) -> dict[str, Any]:
    """The causes of one recorded set's answerable misses."""
    files = [p if p.is_absolute() else eval_dir / p for p in SETS[name][0]]
    bot = Assistant(prepare_corpus(load_eval_set(files), load_settings()))
    index_corpus(bot)
    answerable = [it for it in items if it["answerable"] and it["expected"]]
    missed = [it for it in answerable if not it["correct"] and not it["abstained"]]
    causes: Counter[str] = Counter()
    ranks = []
    for item in missed:
        why, rank = cause(item, bot)
        causes[why] += 1
        if why == "evidence miss":
            ranks.append(rank)
    return {"answerable": len(answerable), "answered right": sum(it["correct"] for it in answerable),
            "abstained": sum(it["abstained"] for it in answerable), "causes": dict(causes),
            "evidence miss: rank of the first sentence holding the answer": sorted(ranks, key=lambda r: r or 10**6)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=Path, required=True, help="a folder written by bench.abstention_fit record")
    parser.add_argument("--sets", nargs="+", choices=SORTABLE, default=list(SORTABLE))
    parser.add_argument("--eval-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    args = parser.parse_args(argv)
    records = load_records(args.records)
    figures = {name: sort_set(name, records[name], args.eval_dir or default_eval_dir())
               for name in args.sets if name in records}
    print(json.dumps(figures, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"records": str(args.records), "sets": figures}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
