"""How long the first LLM answer after start-up takes, with and without priming the prompt cache.

    python bench/first_answer.py [--prime]

Loads the assistant as the UI does (`warm_up`), primes the LLM's prompt cache with the answer prompt's fixed part
when `--prime` is given (what the UI and `assistant chat` do in the background), then asks two seed questions and
prints each one's wall time. Run it once with and once without `--prime`: the difference in the first answer is
what priming saves a user who asks as soon as the page is up. Uses the configured index (`assistant index`).
"""

from __future__ import annotations

import argparse
import time

from assistant.pipeline import Assistant

QUESTIONS = ("Where will the Geneva II peace talks be held?", "Who is the US secretary of state?")


def main() -> None:
    """Measure and print; nothing is written."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prime", action="store_true", help="prime the prompt cache before the first question")
    args = parser.parse_args()
    bot = Assistant()
    loaded = bot.warm_up("llm")
    print(f"loaded in {sum(loaded.values()):.1f} s")
    if args.prime:
        print(f"primed in {bot.prime_prompt_cache():.2f} s")
    for number, question in enumerate(QUESTIONS, start=1):
        started = time.perf_counter()
        answer = bot.ask(question, mode="llm")
        print(f"answer {number}: {time.perf_counter() - started:.2f} s  {question} -> {answer.short_answer}")


if __name__ == "__main__":
    main()
