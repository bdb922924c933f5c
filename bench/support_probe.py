"""Replay: the LLM asked whether the cited sentence says the answer ("Yes" or "No"), as an abstention signal.

Records made by `python -m bench.abstention_fit record` hold, for every answer, the question, the answer phrase and
the sentence it cites. This script asks the LLM one more short question per answer (prompts/support_*.txt: does the
sentence say that this phrase answers the question?) and adds the probability it gives "Yes", relative to "No",
from its first token, as the signal "support_yes" (0 for an answer without a citation). The records are written again
for `python -m bench.abstention_fit fit --records OUT`, whose candidate signal sets include it, to fit on the tuning
parts and replay on the validation parts. What it would cost in the pipeline: one more LLM call of a few dozen prompt
tokens and one generated token per answer (about 1 s on 2 cores; here the prompt is built afresh, not continued from
the answer's cached prompt).

Usage:
    python -m bench.support_probe RECORDS OUT [--sets NAME ...] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

from assistant.config import load_settings
from assistant.support import support_probability


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--sets", nargs="*", help="only these record folders (default: all)")
    parser.add_argument("--limit", type=int, help="at most this many answers per set (a quick look)")
    args = parser.parse_args(argv)
    from assistant.llm import load_llm

    llm = load_llm(load_settings())
    for path in sorted(args.records.glob("*/results.json")):
        if args.sets and path.parent.name not in args.sets:
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        started, asked = time.perf_counter(), 0
        for item in data["items"][:args.limit]:
            signals = (item.get("extra") or {}).get("signals")
            if not signals:
                continue
            if not item.get("citations"):
                signals["support_yes"] = 0.0
                continue
            question = item.get("standalone_question") or item["question"]
            answer = item.get("short_answer") or item.get("answer") or ""
            signals["support_yes"] = support_probability(llm, question, item["citations"][0]["quote"], answer)
            asked += 1
        out = args.out / path.parent.name / "results.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data), encoding="utf-8")
        print(f"{path.parent.name}: {asked} answers asked, {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
