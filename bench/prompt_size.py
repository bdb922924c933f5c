"""How many evidence sentences the LLM should read: answer coverage against answer time, on SQuAD-even.

The prompt's evidence sentences are most of an answer's cost (the fixed system prompt is cached; each new
prompt token costs ~7 ms on two cores), yet every sentence left out may be the one holding the answer. This
prints, for 1..8 sentences:

- **coverage**: the share of questions whose gold answer string occurs in one of the first n evidence sentences
  (retrieval + evidence ranking only, no LLM; the ceiling for the LLM's exact match with n sentences);
- **the configured rule** (`Assistant.prompt_evidence`: at least `evidence_min_sentences`, then up to
  `evidence_sentences` while a sentence scores `evidence_relative_score` of the best): its coverage, the mean
  number of sentences and the mean words, against a fixed 5;
- **typed extension**: how many 5-sentence prompts get one more sentence from `prompt_evidence` (none of the 5
  holds the kind of phrase the question asks for, one of the next 3 does);
- **sentence meaning by the ranking model** (with `--ranking-sentences`): the configured rule's coverage when each
  of the best `RESCORED` sentences takes its meaning (the cosine in its score) from the ranking model
  (`ranking_embed_model`) instead of the default embedding model, and the median time to embed them at query time;
- **answer time** (with `--llm-questions N`): the median wall time of the answer generation for 4, 5 and 6
  sentences, with and without the stop at the mark's closing bracket, and for the configured rule, on N
  questions. Each variant's prompt is made unique by a two-character tag at the start of the user message, so
  no variant reuses another's KV cache (the system prompt stays cached, as in the assistant).

`--part tuning` / `--part validation` takes the questions from one part of a split set (SQuAD by article).

Example:
    $ .venv/bin/python bench/prompt_size.py --questions 500 --llm-questions 30
    $ .venv/bin/python bench/prompt_size.py --part validation --questions 300 --ranking-sentences
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.answering import answer_messages
from assistant.config import load_settings
from assistant.evaluation.datasets import load_eval_set, sample, select_part
from assistant.evaluation.metrics import normalize_answer
from assistant.evaluation.runner import default_eval_dir, index_corpus, prepare_corpus, resolve_paths
from assistant.evidence import PASSAGE_WEIGHT, SEMANTIC_WEIGHT, Evidence, prompt_evidence
from assistant.pipeline import Assistant
from assistant.replies import ANSWER_MAX_TOKENS

SQUAD = "squad_v1.1_dev/squad-dev-v1.1-even-articles.json"
# (label, evidence sentences, stop at "]"): earlier defaults and their neighbours; None: the configured rule.
VARIANTS = [("6 sentences", 6, False), ("6 sentences, stop at ]", 6, True), ("5 sentences, stop at ]", 5, True),
            ("4 sentences, stop at ]", 4, True), ("configured rule, stop at ]", None, True)]


# How many of the best sentences the ranking model re-scores: the prompt takes at most 6 and its typed look-ahead 3
# more, so the rest never reach it.
RESCORED = 20


def holds_gold(item: Any, sentences: list[Evidence], by_span: bool = False) -> bool:
    """Whether one of `sentences` contains one of the item's gold answers (SQuAD normalisation), or, `by_span`,
    overlaps one of its gold spans (ClapNQ, whose answers are whole sentences and may straddle two)."""
    if by_span:
        return any(ev.doc == doc and ev.start < end and start < ev.end
                   for ev in sentences for doc, start, end in item.gold_spans)
    golds = [g for g in (normalize_answer(a) for a in item.answers) if g]
    return any(g in normalize_answer(ev.text) for ev in sentences for g in golds)


def prompt_figures(items: list[Any], prompts: list[list[Evidence]], by_span: bool = False) -> str:
    """What the prompts hold, one per item: the share holding a gold answer (`holds_gold`), and their mean
    sentences and words."""
    covered = sum(holds_gold(item, prompt, by_span) for item, prompt in zip(items, prompts, strict=True))
    return (f"coverage {covered / len(items):.3f}, {statistics.mean(len(p) for p in prompts):.2f} sentences, "
            f"{statistics.mean(sum(len(ev.text.split()) for ev in p) for p in prompts):.1f} words")


def with_meaning(sentences: Sequence[Evidence], cosines: Sequence[float]) -> list[Evidence]:
    """Copies of `sentences`, each scored with `cosines[i]` as its meaning instead of its `semantic`, best first.

    A sentence's score is (1 - PASSAGE_WEIGHT) * (SEMANTIC_WEIGHT * meaning + ...) + PASSAGE_WEIGHT * passage, so
    swapping the meaning moves it by (1 - PASSAGE_WEIGHT) * SEMANTIC_WEIGHT * (new - old); the rest is kept.
    """
    if len(cosines) != len(sentences):
        raise ValueError(f"{len(cosines)} cosines for {len(sentences)} sentences")
    shift = (1 - PASSAGE_WEIGHT) * SEMANTIC_WEIGHT
    rescored = [dataclasses.replace(ev, score=ev.score + shift * (float(c) - ev.semantic), semantic=float(c))
                for ev, c in zip(sentences, cosines, strict=True)]
    return sorted(rescored, key=lambda ev: -ev.score)


def ranking_model_meaning(bot: Assistant, question: str, sentences: list[Evidence]) -> tuple[list[Evidence], float]:
    """The best `RESCORED` sentences re-scored by the ranking model's cosines (`with_meaning`), and the seconds
    that embedding them took."""
    top = sentences[:RESCORED]
    started = time.perf_counter()
    query = np.asarray(bot.ranking_model.get_query_embedding(question), dtype=np.float32)
    vectors = np.asarray(bot.ranking_model.get_text_embedding_batch([ev.text for ev in top]), dtype=np.float32)
    seconds = time.perf_counter() - started
    return with_meaning(top, list(vectors @ query)) + sentences[RESCORED:], seconds


def coverage(items: list[Any], rankings: list[list[Evidence]], depth: int = 8, by_span: bool = False) -> list[float]:
    """Share of questions with a gold answer inside the first n of their ranked evidence sentences, n = 1..depth."""
    first_hit = [next((i for i in range(min(depth, len(ranked))) if holds_gold(item, [ranked[i]], by_span)), None)
                 for item, ranked in zip(items, rankings, strict=True)]
    return [sum(h is not None and h < n for h in first_hit) / len(items) for n in range(1, depth + 1)]


def answer_seconds(bot: Assistant, questions: list[str]) -> dict[str, float]:
    """Median generation time per variant, every variant on every question."""
    from llama_index.core.llms import ChatMessage

    evidence = {q: bot.evidence(q)[0].sentences for q in questions}
    times: dict[str, list[float]] = {label: [] for label, _, _ in VARIANTS}
    for question in questions:
        for tag, (label, count, stop) in enumerate(VARIANTS):
            chosen = evidence[question][:count] if count else bot.prompt_evidence(evidence[question])
            messages = answer_messages(question, chosen)
            messages[-1]["content"] = f"#{tag}\n" + messages[-1]["content"]
            options: dict[str, Any] = {"max_tokens": ANSWER_MAX_TOKENS, "logprobs": True, "top_logprobs": 10}
            if stop:
                options["stop"] = ["]"]
            started = time.perf_counter()
            for _ in bot.llm.stream_chat([ChatMessage(**m) for m in messages], **options):
                pass
            times[label].append(time.perf_counter() - started)
    return {label: statistics.median(values) for label, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=default_eval_dir())
    parser.add_argument("--eval-file", default=SQUAD, help="evaluation set (default: SQuAD-even)")
    parser.add_argument("--questions", type=int, default=500, help="questions for the coverage figures")
    parser.add_argument("--part", default="all", help="tuning, validation or all (default) of a split set")
    parser.add_argument("--ranking-sentences", action="store_true",
                        help="also score the sentences' meaning by the ranking model (`ranking_embed_model`)")
    parser.add_argument("--llm-questions", type=int, default=0, help="questions timed with the LLM (0 = none)")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    eval_set = load_eval_set(resolve_paths([args.eval_file], args.eval_dir))
    bot = Assistant(prepare_corpus(eval_set, load_settings()))
    index_corpus(bot)
    items = sample([i for i in select_part(eval_set.items, args.part) if i.answers or i.gold_spans],
                   args.questions, seed=args.seed)
    rankings = [bot.evidence(item.question)[0].sentences for item in items]
    by_span = eval_set.format == "clapnq"
    extended = sum(len(prompt_evidence(ranked, 5)) > 5 for ranked in rankings)
    words = statistics.mean(sum(len(ev.text.split()) for ev in ranked[:5]) for ranked in rankings)
    print(f"coverage of the gold answer in the first n evidence sentences ({len(items)} questions):")
    for n, share in enumerate(coverage(items, rankings, by_span=by_span), start=1):
        print(f"  n={n}: {share:.3f}")
    print(f"5-sentence prompts extended by a sentence of the kind asked for: {extended} of {len(items)}")
    print(f"mean words in 5 sentences: {words:.1f}")
    settings = bot.settings
    chosen = [bot.prompt_evidence(ranked) for ranked in rankings]
    print(f"configured rule ({settings.evidence_min_sentences} to {settings.evidence_sentences} sentences, cut below "
          f"{settings.evidence_relative_score} of the best): {prompt_figures(items, chosen, by_span)}")
    if args.ranking_sentences:
        if bot.ranking_model is None:
            parser.error("--ranking-sentences needs a ranking model (setting `ranking_embed_model`)")
        rescored = [ranking_model_meaning(bot, item.question, ranked) for item, ranked in zip(items, rankings,
                                                                                             strict=True)]
        by_ranking = [bot.prompt_evidence(sentences) for sentences, _ in rescored]
        print(f"configured rule, sentence meaning by the ranking model: {prompt_figures(items, by_ranking, by_span)}; "
              f"embedding up to {RESCORED} sentences: median {statistics.median(s for _, s in rescored):.2f} s")
    if args.llm_questions:
        questions = [i.question for i in sample(eval_set.items, args.llm_questions, seed=args.seed + 1)]
        _ = bot.llm.complete("Say OK.", max_tokens=2)  # load and warm the model before timing
        print(f"answer generation, median over {len(questions)} questions:")
        for label, seconds in answer_seconds(bot, questions).items():
            print(f"  {label:24s} {seconds:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
