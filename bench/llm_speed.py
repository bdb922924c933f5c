"""Prompt and generation speed of the local LLM as installed: which llama.cpp build, which weight layout.

    python bench/llm_speed.py [--repack on|off] [--runs 3] [--threads 2]

Loads the configured GGUF model through the assistant's own `LocalGGUFLLM` (so the figures are the pipeline's),
then answers a fixed question over the first 2,400 characters of the seed article (~520 prompt tokens) with
a new prompt every run (a run number in the question defeats the prompt cache), and prints llama.cpp's own
timings: prompt tokens/s, generation tokens/s and the wall time per answer, plus the build's CPU features.
Compare builds by running it before and after `tools/native_llamacpp.py` (docs/BENCHMARKS.md, "Speed").
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from llama_index.core.base.llms.types import ChatMessage

from assistant.config import load_settings
from assistant.llm.gguf import resolve_gguf
from assistant.llm.local import LocalGGUFLLM

SEED_FILE = Path(__file__).resolve().parent.parent / "seeds" / "000_ba464c03508296b8.txt"
CONTEXT_CHARS = 2400  # ~520 tokens: the size of a real prompt (system prompt + numbered evidence sentences)


def main() -> None:
    """Measure and print; nothing is written."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repack", choices=("on", "off"), default="off")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="default: the llm_threads setting")
    args = parser.parse_args()

    import xllamacpp

    settings = load_settings()
    repack = args.repack == "on"
    started = time.perf_counter()
    llm = LocalGGUFLLM(model_path=resolve_gguf(settings.llm_model, settings.cache_dir),
                       n_ctx=settings.llm_context, n_threads=args.threads or settings.llm_threads,
                       max_tokens=24, weight_repack=repack, cache_ram_mib=0)
    print(f"build: {xllamacpp.get_system_info().strip()}")
    print(f"weight repack: {args.repack}; load {time.perf_counter() - started:.1f} s")
    context = SEED_FILE.read_text(encoding="utf-8")[:CONTEXT_CHARS]
    prompt_rates, gen_rates, walls = [], [], []
    for run in range(args.runs):
        question = f"{run}. Where was Geneva II held? Answer briefly."
        messages = [ChatMessage(role="user", content=f"Run {run}.\n{context}\n\n{question}")]
        t0 = time.perf_counter()
        response = llm.chat(messages)
        walls.append(time.perf_counter() - t0)
        timings = response.additional_kwargs.get("timings", {})
        prompt_rates.append(timings.get("prompt_per_second", 0.0))
        gen_rates.append(timings.get("predicted_per_second", 0.0))
        print(f"run {run}: {walls[-1]:.2f} s, prompt {timings.get('prompt_n')} tok at "
              f"{prompt_rates[-1]:.1f} tok/s, generated {timings.get('predicted_n')} tok at "
              f"{gen_rates[-1]:.1f} tok/s: {response.message.content!r}")
    print(f"median: prompt {statistics.median(prompt_rates):.1f} tok/s, generation "
          f"{statistics.median(gen_rates):.1f} tok/s, answer {statistics.median(walls):.2f} s")


if __name__ == "__main__":
    main()
