"""Load test of a running web UI: many concurrent users, each with a conversation of follow-up questions.

    python bench/load_ui.py http://127.0.0.1:7860 [--users 20] [--questions 10] [--mode fast] [--endpoint chat]

Every simulated user is its own `gradio_client.Client` (its own Gradio session) and alternates a first question
with a follow-up that only makes sense with its own previous turn. Each first question carries a tag unique to
that user and turn ("asked by U07q2"); the follow-up's standalone question (the pipeline's rewrite, returned in
the answer JSON) may carry no tag but that one: another turn's or session's tag means histories got mixed. A
follow-up whose pronoun the rewrite resolved to a name ("he" -> "Sergei Lavrov") carries none, and is counted apart.

`--endpoint chat` (default) drives the page's chat handler, whose history is the server-side per-session
`gr.State`; `--endpoint ask` drives the public `/ask` API with a client-kept history. Prints the number of
questions, errors, mixed histories, latency median/p95/max and throughput; exits 1 on any error or mix.
Use `--mode fast` (the default) unless the LLM's own throughput is what you measure.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # gradio_client's Client() otherwise reaches for the hub
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

FIRST_QUESTIONS = (
    "Who met Kerry in Paris?",
    "Where was Geneva II held?",
    "What did Lavrov say about Iran?",
    "Who won the 2014 FIFA World Cup?",
    "What did Kerry say about Aleppo?",
)
FOLLOW_UPS = ("What did he say about Iran?", "What about them?", "When did it start?", "Who said that?")
TAG = re.compile(r"\bU\d+q\d+\b")


@dataclass
class UserResult:
    """What one simulated user saw."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    mixed: list[str] = field(default_factory=list)
    untagged: int = 0  # follow-ups rewritten without the previous question's words (checked only for other tags)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (nearest-rank), 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


class User:
    """One simulated user: a Gradio session and (for `/ask`) the history it keeps itself."""

    def __init__(self, url: str, index: int, endpoint: str, mode: str) -> None:
        from gradio_client import Client

        self.client = Client(url, verbose=False)
        self.index, self.endpoint, self.mode = index, endpoint, mode
        self.history: list[dict[str, str]] = []

    def ask(self, question: str) -> dict[str, Any]:
        """Ask one question in this user's conversation; returns `Answer.to_json()`."""
        if self.endpoint == "ask":
            answer = self.client.predict(question, self.history, self.mode, api_name="/ask")
            self.history += [{"role": "user", "content": question},
                             {"role": "assistant", "content": answer["answer"]}]
            return answer
        _messages, _sources, _textbox, answer = self.client.predict(question, [], self.mode, 5, api_name="/chat")
        if not isinstance(answer, dict):
            raise RuntimeError(f"no answer returned; last chat message: {_messages[-1] if _messages else None}")
        return answer

    def run(self, questions: int, start: threading.Barrier, result: UserResult) -> None:
        """Alternate tagged first questions and follow-ups; record latency, errors and history mix-ups."""
        start.wait()
        tag = ""
        for turn in range(questions):
            if turn % 2 == 0:
                tag = f"U{self.index:02d}q{turn}"
                question = f"{FIRST_QUESTIONS[(self.index + turn) % len(FIRST_QUESTIONS)]} (asked by {tag})"
            else:
                question = FOLLOW_UPS[(self.index + turn) % len(FOLLOW_UPS)]
            began = time.perf_counter()
            try:
                answer = self.ask(question)
            except Exception as exc:  # counted and reported; the load goes on
                result.errors.append(f"user {self.index} turn {turn}: {type(exc).__name__}: {exc}")
                continue
            result.latencies.append(time.perf_counter() - began)
            if turn % 2 == 1:
                seen = set(TAG.findall(answer.get("standalone_question", "")))
                if seen - {tag}:  # another turn's or session's tag: histories got mixed
                    result.mixed.append(f"user {self.index} turn {turn}: expected {tag}, "
                                        f"standalone question was {answer.get('standalone_question')!r}")
                elif not seen:  # resolved to a name ("he" -> the person answered): no tag to check
                    result.untagged += 1


def run_load(url: str, users: int, questions: int, endpoint: str, mode: str) -> tuple[list[UserResult], float]:
    """Run all users at once; returns their results and the wall time in seconds."""
    clients = [User(url, i, endpoint, mode) for i in range(users)]
    results = [UserResult() for _ in clients]
    start = threading.Barrier(users + 1)
    threads = [threading.Thread(target=c.run, args=(questions, start, r), daemon=True)
               for c, r in zip(clients, results, strict=True)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - began


def report(results: Sequence[UserResult], wall: float) -> int:
    """Print the summary; the exit code is 1 when anything went wrong."""
    latencies = [x for r in results for x in r.latencies]
    errors = [e for r in results for e in r.errors]
    mixed = [m for r in results for m in r.mixed]
    untagged = sum(r.untagged for r in results)
    print(f"questions answered: {len(latencies)}   errors: {len(errors)}   mixed histories: {len(mixed)}   "
          f"follow-ups resolved to a name (no tag to check): {untagged}")
    if latencies:
        print(f"latency: median {statistics.median(latencies):.2f} s   p95 {percentile(latencies, 95):.2f} s   "
              f"max {max(latencies):.2f} s")
    print(f"wall time {wall:.1f} s   throughput {len(latencies) / wall:.2f} questions/s")
    for line in (errors + mixed)[:20]:
        print("  " + line)
    return 1 if errors or mixed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the running app, e.g. http://127.0.0.1:7860")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--questions", type=int, default=10, help="questions per user (first/follow-up pairs)")
    parser.add_argument("--endpoint", choices=("chat", "ask"), default="chat",
                        help="chat: the page's handler (server-side session history); ask: the /ask API")
    parser.add_argument("--mode", choices=("fast", "llm"), default="fast")
    args = parser.parse_args(argv)
    print(f"{args.users} users x {args.questions} questions against {args.url} "
          f"(endpoint /{args.endpoint}, mode {args.mode})", flush=True)
    results, wall = run_load(args.url, args.users, args.questions, args.endpoint, args.mode)
    return report(results, wall)


if __name__ == "__main__":
    sys.exit(main())
