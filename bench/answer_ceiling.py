"""How well the local LLM answers SQuAD-even when it is handed the right evidence: the ceiling that evidence
selection puts on exact match and F1.

The assistant's answer prompt holds the 2-6 best-ranked sentences (`Assistant.prompt_evidence`). This runs the same
pipeline (retrieval, the LLM's reply and every re-ask, citation checks, the abstention model) with the prompt's
sentences replaced, per question, by:

- `ranked`: nothing replaced (the assistant as it is);
- `gold-sentence`: the sentence(s) holding a gold answer span (the best a sentence selector could do);
- `gold-paragraph`: every sentence of the gold paragraph, in document order (the whole context a SQuAD question was
  written from);
- `top-sentence`: the best-ranked sentence alone.

A question whose gold paragraph is not among the retrieved candidates keeps the ranked sentences. For each variant
it reports EM/F1 of `short_answer` as answered, and as they would be had no answer been turned into an abstention
(the short answer the abstention decision replaced is scored instead), with the median answer time. Writes
report.md and results.json to --out.

Example:
    $ .venv/bin/python -m bench.answer_ceiling --limit 500 --variants ranked gold-sentence
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

from assistant.answering import AnswerStage, Reply
from assistant.config import load_settings
from assistant.deciding import Decider
from assistant.evaluation.datasets import EvalItem, load_eval_set, sample
from assistant.evaluation.metrics import exact_match, f1
from assistant.evaluation.runner import default_eval_dir, index_corpus, prepare_corpus
from assistant.evidence import Evidence
from assistant.pipeline import Assistant
from assistant.rules import Rules
from assistant.types import Answer
from bench.calibrate import eval_paths

VARIANTS = ("ranked", "gold-sentence", "gold-paragraph", "top-sentence")


class EvidenceSwap(Assistant):
    """The assistant with its prompt's sentences chosen by `variant` for the question set in `item`; it keeps the
    short answer an abstention replaced (`would_have_said`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.variant = "ranked"
        self.item: EvalItem | None = None
        self.candidates: list[Evidence] = []
        self.would_have_said = ""
        self.decider = RememberingDecider(self)
        self.answers = SwappedAnswers(self, self.decider)

    def prompt_evidence(self, sentences: list[Evidence]) -> list[Evidence]:
        self.candidates = sentences
        return super().prompt_evidence(sentences)


class SwappedAnswers(AnswerStage):
    """The answer stage with the prompt's sentences swapped for the variant's (`swapped_evidence`)."""

    def llm_reply(self, query: str, evidence: list[Evidence], notes: list[str], rules: Rules
                  ) -> Generator[str, None, Reply]:
        bot = self.models
        return super().llm_reply(query, swapped_evidence(bot.variant, bot.candidates, bot.item) or evidence, notes,
                                 rules)


class RememberingDecider(Decider):
    """The decider that keeps the short answer it was handed, before any abstention replaces it."""

    def decide(self, answer: Answer, *args: Any, **kwargs: Any) -> Answer:
        decided = super().decide(answer, *args, **kwargs)
        self.models.would_have_said = answer.short_answer
        return decided


def swapped_evidence(variant: str, candidates: Sequence[Evidence], item: EvalItem | None) -> list[Evidence]:
    """The sentences `variant` puts in the prompt, from the ranked candidate sentences; empty to keep the ranked
    prompt (the `ranked` variant, or the gold paragraph not among the candidates)."""
    if variant == "top-sentence":
        return list(candidates[:1])
    spans = item.gold_spans if item is not None else ()
    if variant == "gold-sentence":
        return [ev for ev in candidates if any(ev.doc == d and ev.start <= s and e <= ev.end for d, s, e in spans)]
    if variant == "gold-paragraph":
        docs = {d for d, _, _ in spans}
        return sorted((ev for ev in candidates if ev.doc in docs), key=lambda ev: ev.start)
    return []


def run_variant(bot: EvidenceSwap, items: Sequence[EvalItem], variant: str) -> dict[str, Any]:
    """Ask every item with `variant`'s evidence; the scores as answered and with abstentions set aside."""
    bot.variant = variant
    rows = []
    for item in items:
        bot.item, bot.would_have_said = item, ""
        started = time.perf_counter()
        answer = bot.ask(item.question, mode="llm")
        seconds = time.perf_counter() - started
        said = answer.short_answer if not answer.abstained else bot.would_have_said
        rows.append({"id": item.id, "question": item.question, "expected": item.answers,
                     "short_answer": answer.short_answer, "abstained": answer.abstained, "would_have_said": said,
                     "em": exact_match(answer.short_answer, item.answers), "f1": f1(answer.short_answer, item.answers),
                     "em_unabstained": exact_match(said, item.answers), "f1_unabstained": f1(said, item.answers),
                     "seconds": seconds})
    n = max(len(rows), 1)
    return {"variant": variant, "questions": len(rows),
            "em": 100 * sum(r["em"] for r in rows) / n, "f1": 100 * sum(r["f1"] for r in rows) / n,
            "abstained": sum(r["abstained"] for r in rows),
            "em_unabstained": 100 * sum(r["em_unabstained"] for r in rows) / n,
            "f1_unabstained": 100 * sum(r["f1_unabstained"] for r in rows) / n,
            "median_s": statistics.median(r["seconds"] for r in rows) if rows else 0.0, "items": rows}


def report(results: Sequence[dict[str, Any]], limit: int | None, seed: int) -> str:
    lines = [f"# Answer ceiling: SQuAD-even, {results[0]['questions']} questions (limit {limit}, seed {seed})", "",
             "| evidence in the prompt | EM | F1 | abstained | EM / F1, no abstention | median answer |",
             "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['variant']} | {r['em']:.1f} | {r['f1']:.1f} | {r['abstained']} | "
                     f"{r['em_unabstained']:.1f} / {r['f1_unabstained']:.1f} | {r['median_s']:.2f} s |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval-dir", type=Path, default=None, help="shared evaluation data (default ../shared/eval)")
    parser.add_argument("--limit", type=int, default=150, help="questions (fixed-seed sample, as assistant eval)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--out", type=Path, default=Path("bench/runs/answer-ceiling"))
    args = parser.parse_args(argv)

    eval_set = load_eval_set(eval_paths(args.eval_dir or default_eval_dir())["squad"])
    bot = EvidenceSwap(prepare_corpus(eval_set, load_settings()))
    index_corpus(bot)
    bot.warm_up("llm")
    items = sample(eval_set.items, args.limit, args.seed)
    results = []
    for variant in args.variants:
        results.append(run_variant(bot, items, variant))
        print(report(results, args.limit, args.seed).splitlines()[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    text = report(results, args.limit, args.seed)
    (args.out / "report.md").write_text(text, encoding="utf-8")
    (args.out / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(text)
    print(f"report: {args.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
