"""How indexing, memory and query time grow with the corpus: the scale table.

    python -m bench.scale [--sizes 1000 10000 50000] [--questions 30] [--llm-questions 10]
        [--ranking-embed-model none] [--work DIR] [--out FILE] [--eval-dir ../shared/eval]

For each size it writes a corpus of that many chunks (as the indexer cuts them) from the text in ../shared/eval
(SQuAD-even paragraphs and ClapNQ-even passages, one file each; past their ~1,500 chunks the same texts again under
other file names, in subfolders, each opening with a line of its own so that it is not skipped as a duplicate), then,
each step in its own process so that its peak memory is its own:

- the bare main embedding model's encode throughput on 512 of the corpus's texts (chunks/s, this process; before
  and after indexing, the faster kept);
- `assistant index` with the settings given (the defaults unless flags say otherwise): chunks/s from the run's own
  clock, its ratio to the bare throughput, the process's wall time and peak RSS;
- `assistant index` again, nothing changed: its time;
- a serving process: cold start (launch to the first fast-mode answer), the first LLM-mode answer (the LLM loads
  then), warm fast-mode p50/p95 over
  `--questions` SQuAD-even validation questions whose paragraphs are in the corpus, LLM-mode p50/p95 over
  `--llm-questions` of them, "Is X mentioned?" p50 (an exhaustive search of the corpus) over `MENTIONED` (words
  of rare, common and absent kinds), and its peak RSS.

Nothing here chooses anything; it only measures. It prints one table and writes the figures as JSON to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
BARE_SAMPLE = 512
# Things asked about with "Is X mentioned?": a word of many SQuAD-even paragraphs, one of a few, a two-word phrase,
# and one that no paragraph holds (the search still has to look everywhere).
MENTIONED = ("Normandy", "Luther", "the Super Bowl", "Brittany", "Zanzibar pirates")


def source_texts(eval_dir: Path) -> tuple[list[str], list[tuple[int, str]]]:
    """The paragraphs to lay out (SQuAD-even's, validation part first, then ClapNQ-even's distinct passages) and
    the SQuAD validation questions as (index of their paragraph, question)."""
    from assistant.evaluation.datasets import load_clapnq, load_squad, select_part

    squad = load_squad(eval_dir / "squad_v1.1_dev" / "squad-dev-v1.1-even-articles.json")
    paragraphs = [doc.text for doc in squad.docs]
    index_of = {doc.name: i for i, doc in enumerate(squad.docs)}
    questions = [(index_of[item.gold_docs[0]], item.question) for item in select_part(squad.items, "validation")
                 if item.gold_docs and item.gold_docs[0] in index_of]
    # The validation part's paragraphs first, so that every size holds the paragraphs of some questions.
    asked = dict.fromkeys(i for i, _ in questions)
    order = [*asked, *(i for i in range(len(paragraphs)) if i not in asked)]
    position = {old: new for new, old in enumerate(order)}
    paragraphs = [paragraphs[i] for i in order]
    questions = [(position[i], question) for i, question in questions]
    clap = eval_dir / "clapnq_dev"
    clapnq = load_clapnq(clap / "clapnq_dev_answerable_even.jsonl", clap / "clapnq_dev_unanswerable_even.jsonl")
    seen = set(paragraphs)
    paragraphs += [doc.text for doc in clapnq.docs if doc.text not in seen]
    return paragraphs, questions


def write_corpus(folder: Path, paragraphs: Sequence[str], chunks: int, chunk_words: int,
                 overlap_sentences: int) -> tuple[int, int]:
    """Files under `folder` (copy k in subfolder cK/) until they hold `chunks` chunks as the indexer cuts them
    (`index.chunking.chunk_text` with the settings' sizes): the number of files and of chunks they hold. A size
    is thus a number of chunks, whatever the texts' lengths."""
    from index.chunking import chunk_text

    files = written = 0
    while written < chunks:
        copy, i = divmod(files, len(paragraphs))
        # A copy opens with its own line: the indexer skips a file whose content another file already has.
        text = paragraphs[i] if copy == 0 else f"Copy {copy} of text {i}.\n\n{paragraphs[i]}"
        path = folder / f"c{copy:02d}" / f"p{i:05d}.txt"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        written += len(chunk_text(text, chunk_words, overlap_sentences))
        files += 1
    return files, written


def run_measured(command: list[str], env: dict[str, str]) -> tuple[int, str, float, float]:
    """Run a command; (exit status, its stdout, wall seconds, peak RSS in MiB of that process alone)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=env, cwd=PROJECT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own resource use, not all children's
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            sys.stderr.write(err.read()[-3000:])
        return proc.returncode, out.read(), wall, usage.ru_maxrss / 1024


def bare_throughput(settings: Any, texts: Sequence[str]) -> float:
    """Chunks/s of the main embedding model alone on `texts` (batched as the indexer batches, padded as
    sentence-transformers pads: to each batch's longest text)."""
    from index.embeddings import load_embedding

    model = load_embedding(settings.embed_model, settings.embed_batch_size, settings.cache_dir,
                           settings.embed_precision, pad_to_multiple=0)
    model.get_text_embedding_batch(list(texts[:8]))  # warm up
    started = time.perf_counter()
    model.get_text_embedding_batch(list(texts))
    return len(texts) / (time.perf_counter() - started)


def probe(args: argparse.Namespace) -> int:
    """The serving process: cold start, warm fast and LLM answers; prints its figures as JSON."""
    started = time.perf_counter()
    from assistant import Assistant, load_settings
    from index.embeddings import bound_kernel_cache

    bound_kernel_cache()  # as every answering entry point does (the CLI's ask/chat/eval, the UI)

    questions = json.loads(Path(args.probe).read_text("utf-8"))
    bot = Assistant(load_settings(overrides=overrides(args)))
    bot.ask(questions[0], mode="fast")
    cold = time.perf_counter() - started
    fast, llm = [], []
    t0 = time.perf_counter()
    bot.ask(questions[0], mode="llm")  # loads the LLM: its first answer is not a warm one
    llm_first = time.perf_counter() - t0
    for question in questions[1:args.questions + 1]:
        t0 = time.perf_counter()
        bot.ask(question, mode="fast")
        fast.append(time.perf_counter() - t0)
    for question in questions[1:args.llm_questions + 1]:
        t0 = time.perf_counter()
        bot.ask(question, mode="llm")
        llm.append(time.perf_counter() - t0)
    mentions = []
    for thing in MENTIONED:
        t0 = time.perf_counter()
        bot.ask(f"Is {thing} mentioned?", mode="fast")
        mentions.append(time.perf_counter() - t0)
    retrieved = [[p.chunk_id for p in bot.retrieve(question)] for question in questions[1:args.questions + 1]]
    print(json.dumps({"cold_start_s": cold, "llm_first_s": llm_first, "fast": fast, "llm": llm,
                      "mentions": mentions, "retrieved": retrieved}))
    return 0


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {"corpus_dir": str(args.corpus), "data_dir": str(args.data),
            "ranking_embed_model": args.ranking_embed_model}


def percentile(values: Sequence[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure_size(size: int, args: argparse.Namespace, paragraphs: list[str],
                 questions: list[tuple[int, str]]) -> dict[str, Any]:
    from assistant import load_settings

    corpus, data = args.work / f"corpus-{size}", args.work / f"data-{size}"
    args.corpus, args.data = corpus, data
    settings = load_settings(overrides=overrides(args))
    files, _ = write_corpus(corpus, paragraphs, size, settings.chunk_words, settings.chunk_overlap_sentences)
    sample = [paragraphs[i % len(paragraphs)] for i in range(min(BARE_SAMPLE, files))]
    bare = bare_throughput(settings, sample)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    flags = ["--corpus", str(corpus), "--data-dir", str(data)]
    if args.ranking_embed_model:
        flags += ["--ranking-embed-model", args.ranking_embed_model]
    index = [sys.executable, "-m", "assistant", "index", "--json", *flags]
    rc, out, wall, peak = run_measured(index, env)
    if rc != 0:
        raise SystemExit(f"indexing {size} failed (exit {rc})")
    report = json.loads(out[out.index("{"):])
    rc, out, rewall, _ = run_measured(index, env)
    again = json.loads(out[out.index("{"):]) if rc == 0 else {}
    # Measured again after indexing, the faster of the two kept: a ratio that another job's load cannot inflate.
    bare = max(bare, bare_throughput(settings, sample))
    in_corpus = [q for i, q in questions if i < min(files, len(paragraphs))]
    random.Random(13).shuffle(in_corpus)
    asked = args.work / f"questions-{size}.json"
    asked.write_text(json.dumps(in_corpus[:max(args.questions, args.llm_questions) + 1]), encoding="utf-8")
    serve = [sys.executable, "-m", "bench.scale", "--probe", str(asked), "--questions", str(args.questions),
             "--llm-questions", str(args.llm_questions), "--work", str(args.work)]
    serve += ["--ranking-embed-model", args.ranking_embed_model] if args.ranking_embed_model else []
    env_probe = {**env, "SCALE_CORPUS": str(corpus), "SCALE_DATA": str(data)}
    rc, out, _, serve_peak = run_measured(serve, env_probe)
    served = json.loads(out.strip().splitlines()[-1]) if rc == 0 else {}
    chunks = report["chunks_total"]
    per_s = chunks / report["seconds"] if report["seconds"] else None
    return {
        "size": size, "files": files, "chunks": chunks,
        "bare_encode_chunks_per_s": round(bare, 1),
        "index_chunks_per_s": round(per_s, 2) if per_s else None,
        "ratio_to_bare": round(per_s / bare, 3) if per_s else None,
        "index_seconds": round(report["seconds"], 1), "index_process_wall_s": round(wall, 1),
        "index_peak_rss_mib": round(peak),
        "reindex_unchanged_s": round(again.get("seconds", float("nan")), 2), "reindex_process_wall_s": round(rewall, 1),
        "serve_peak_rss_mib": round(serve_peak),
        "cold_start_s": round(served.get("cold_start_s", float("nan")), 2),
        "llm_first_answer_s": _round(served.get("llm_first_s")),
        "fast_p50_s": _round(percentile(served.get("fast", []), 0.5)),
        "fast_p95_s": _round(percentile(served.get("fast", []), 0.95)),
        "llm_p50_s": _round(percentile(served.get("llm", []), 0.5)),
        "llm_p95_s": _round(percentile(served.get("llm", []), 0.95)),
        "mention_p50_s": _round(percentile(served.get("mentions", []), 0.5)),
        "mention_max_s": _round(max(served.get("mentions") or [float("nan")])),
        "retrieved": served.get("retrieved"),  # each fast question's top passages: two versions can be compared
    }


def _round(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


COLUMNS = ("size", "chunks", "bare_encode_chunks_per_s", "index_chunks_per_s", "ratio_to_bare", "index_seconds",
           "index_peak_rss_mib", "reindex_unchanged_s", "serve_peak_rss_mib", "cold_start_s",
           "fast_p50_s", "fast_p95_s", "llm_p50_s", "llm_p95_s", "mention_p50_s", "mention_max_s")


def table(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(row.get(c)) for c in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1000, 10000, 50000])
    parser.add_argument("--questions", type=int, default=30, help="fast-mode questions per size")
    parser.add_argument("--llm-questions", type=int, default=10, help="LLM-mode questions per size")
    parser.add_argument("--ranking-embed-model", help="passed to every command (e.g. none)")
    parser.add_argument("--work", type=Path, default=PROJECT / ".data" / "scale")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--eval-dir", type=Path, default=PROJECT.parent / "shared" / "eval")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        args.corpus, args.data = Path(os.environ["SCALE_CORPUS"]), Path(os.environ["SCALE_DATA"])
        return probe(args)
    args.work.mkdir(parents=True, exist_ok=True)
    paragraphs, questions = source_texts(args.eval_dir)
    rows = []
    for size in args.sizes:
        rows.append(measure_size(size, args, paragraphs, questions))
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "retrieved"}), flush=True)
    print(table(rows))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"command": "python -m bench.scale " + " ".join(argv or sys.argv[1:]),
                                        "machine": machine(), "rows": rows}, indent=1), encoding="utf-8")
    return 0


def machine() -> str:
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        model = "unknown CPU"
    return f"{model}, {os.cpu_count()} cores"


if __name__ == "__main__":
    raise SystemExit(main())
