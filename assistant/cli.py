"""The `assistant` command: index, ask, chat, serve, eval and config.

Every subcommand builds the same `Settings` (defaults < TOML < env < these flags) and calls the same
`Assistant` object as the web UI and the evaluation, so a flag means the same thing everywhere.

Example:
    $ assistant index
    $ assistant ask "Where was Geneva II held?" --json
    $ assistant chat
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.config import EMBED_PRECISIONS, Settings, load_settings

if TYPE_CHECKING:
    from index.indexer import ProgressCallback

EXIT_USAGE = 2
EXIT_FAILURE = 1


def serve_flags(parser: argparse.ArgumentParser) -> None:
    """Where the web UI listens and who may use it (`assistant serve` and `python app.py` alike)."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    parser.add_argument("--share", action="store_true", help="create a public Gradio link (off by default)")
    parser.add_argument("--auth", help="user:password the page asks for (required with --share or a non-loopback "
                                       "--host; or ASSISTANT_AUTH)")


def _common(parser: argparse.ArgumentParser) -> None:
    """Flags shared by every subcommand; None means "not given", so lower layers keep their value."""
    group = parser.add_argument_group("settings (override assistant.toml and ASSISTANT_* variables)")
    group.add_argument("--config", type=Path, help="TOML settings file (default: ./assistant.toml if present)")
    group.add_argument("--corpus", dest="corpus_dir", help="corpus folder (default: seeds/)")
    group.add_argument("--data-dir", dest="data_dir", help="working data folder (default: .data/)")
    group.add_argument("--store-dir", dest="store_dir", help="embedded Chroma store folder (default: DATA/store)")
    group.add_argument("--collection", help="Chroma collection name")
    group.add_argument("--chroma-url", dest="chroma_url", help="use a Chroma server, e.g. http://127.0.0.1:8000")
    group.add_argument("--embed-model", dest="embed_model", help="sentence-transformers name or path")
    group.add_argument("--ranking-embed-model", dest="ranking_embed_model",
                       help="a second embedding model for ranking passages (default: packaged:all-mpnet-base-v2; "
                            "'none' turns it off)")
    group.add_argument("--no-ranking-at-index", dest="ranking_at_index", action="store_const", const=False,
                       help="index without the ranking model's vectors (about its main model's speed); the ranking "
                            "model then only judges the cited sentence when an answer is decided")
    group.add_argument("--embed-precision", dest="embed_precision", choices=EMBED_PRECISIONS,
                       help="embedding models' number format (auto: bfloat16 where the CPU computes it natively)")
    group.add_argument("--llm-model", dest="llm_model", help="GGUF file path (default: the packaged Qwen2.5 1.5B)")
    group.add_argument("--llm-endpoint", dest="llm_endpoint", help="OpenAI-compatible base URL instead of local LLM")
    group.add_argument("--mode", choices=("llm", "fast"), help="llm: generative cited answers; fast: extractive")
    group.add_argument("--top-k", dest="top_k", type=int, help="passages to read per question")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for all subcommands."""
    parser = argparse.ArgumentParser(prog="assistant", description="Offline question answering over your documents, "
                                     "every answer cited to the exact passage.")
    sub = parser.add_subparsers(dest="command", required=True)

    p_index = sub.add_parser("index", help="build or update the index (only changed files are re-embedded)",
                             description="Without paths: make the index hold the corpus folder's files. With paths: "
                                         "add or update those files, leaving every other document in the index "
                                         "(--prune: hold exactly those paths). Removing needs `assistant remove`.")
    p_index.add_argument("paths", nargs="*", type=Path, help="files/folders to add or update (default: the corpus "
                                                             "folder, in full)")
    p_index.add_argument("--rebuild", action="store_true", help="drop this index's collection and build it again")
    p_index.add_argument("--prune", action="store_true", help="with paths: also remove documents not under them")
    p_index.add_argument("--force", action="store_true",
                         help="allow a run that would empty a non-empty index (an empty or missing folder)")
    p_index.add_argument("--json", action="store_true", help="print the report as JSON")
    _common(p_index)

    p_remove = sub.add_parser("remove", help="take documents out of the index (their files are not touched)")
    p_remove.add_argument("names", nargs="+", help="document names as `assistant index` lists them, or file paths")
    p_remove.add_argument("--json", action="store_true", help="print the report as JSON")
    _common(p_remove)

    p_ask = sub.add_parser("ask", help="answer one question")
    p_ask.add_argument("question")
    p_ask.add_argument("--json", action="store_true", help="print one JSON object (answer, citations, timings)")
    _common(p_ask)

    p_chat = sub.add_parser("chat", help="terminal chat; follow-up questions keep the context")
    _common(p_chat)

    p_serve = sub.add_parser("serve", help="start the web UI (same as python app.py)")
    serve_flags(p_serve)
    _common(p_serve)

    p_eval = sub.add_parser("eval", help="score the assistant on a Q&A set (pairs JSON, SQuAD v1.1 JSON, ClapNQ jsonl)")
    p_eval.add_argument("paths", nargs="*", type=Path, help="evaluation file(s) (default: tests/data/seed_qa.json); "
                        "relative paths are also looked up in the eval folder")
    p_eval.add_argument("--format", choices=("pairs", "squad", "clapnq"), help="default: detected from the content")
    p_eval.add_argument("--limit", type=int, help="ask at most N questions (fixed-seed sample, whole dialogues)")
    p_eval.add_argument("--seed", type=int, default=13, help="sample seed for --limit (default: 13)")
    p_eval.add_argument("--part", choices=("all", "tuning", "validation"), default="all",
                        help="SQuAD and ClapNQ: ask only the tuning or the validation part (SQuAD: the first or last "
                             "half of the articles; ClapNQ: of each file's lines); the corpus stays whole")
    p_eval.add_argument("--out", type=Path, help="results folder (default: DATA/eval/runs/<set>-<mode>-<time>)")
    p_eval.add_argument("--min-accuracy", dest="min_accuracy", type=float,
                        help="exit 1 when accuracy (recall@5 with --retrieval-only) is under this (CI gate)")
    p_eval.add_argument("--compare", action="store_true",
                        help="also run fast mode, a stock LlamaIndex pipeline and plain BM25, side by side")
    p_eval.add_argument("--retrieval-only", dest="retrieval_only", action="store_true",
                        help="measure retrieval only (recall@k, MRR); no answers")
    p_eval.add_argument("--eval-dir", dest="eval_dir", type=Path,
                        help="shared evaluation data folder (default: $ASSISTANT_EVAL_DIR or ../shared/eval)")
    p_eval.add_argument("--quiet", action="store_true", help="no progress bar")
    _common(p_eval)

    p_config = sub.add_parser("config", help="print every setting as it resolves here (TOML), or the answer rules")
    p_config.add_argument("--rules", action="store_true",
                          help="list the answer-repair rules that `disabled_rules` can switch off")
    _common(p_config)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings with the command-line flags as the top layer."""
    keys = ("corpus_dir", "data_dir", "store_dir", "collection", "chroma_url", "embed_model",
            "ranking_embed_model", "ranking_at_index", "llm_model", "llm_endpoint", "mode", "top_k", "auth")
    return load_settings(config_file=args.config, overrides={k: getattr(args, k, None) for k in keys})


def _print_report(report: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
        return
    for label, names in (("added", report.added), ("updated", report.updated), ("removed", report.removed)):
        for name in names:
            print(f"  {label:8} {name}")
    for name, reason in report.skipped:
        print(f"  skipped  {name}: {reason}")
    for name, note in report.notes:
        print(f"  note     {name}: {note}")
    print(("index updated: " if report.changed else "index unchanged: ") + report.summary())


def where(citation: Any) -> str:
    """A cited span's place as the terminal shows it: "report.pdf, p. 12 [4510:4620]"."""
    return f"{citation.place()} [{citation.start}:{citation.end}]"


def format_answer(answer: Any) -> str:
    """An answer for the terminal: text, numbered sources with their exact spans, then notes (as the web UI)."""
    lines = [answer.answer]
    if answer.standalone_question and answer.standalone_question != answer.question:
        lines.insert(0, f"(understood as: {answer.standalone_question})")
    for c in answer.citations:
        lines.append(f"  [{c.id}] {where(c)} \u201c{c.quote}\u201d")
    if answer.abstained and answer.related:
        lines.append("  Related passages (they do not answer the question):")
        for c in answer.related:
            quote = c.quote if len(c.quote) < 160 else c.quote[:157] + "..."
            lines.append(f"  - {where(c)} {' '.join(quote.split())}")
    lines.extend(f"  (note: {note})" for note in answer.notes)  # e.g. the question was truncated
    return "\n".join(lines)


def _progress_lines() -> ProgressCallback | None:
    """Progress as plain stderr lines ("embedding: 256/900 chunks") where no terminal shows the bar.

    Logs, CI and parent processes then still see how far a long index run got; a terminal gets the tqdm bar
    instead, and `ASSISTANT_NO_PROGRESS=1` silences both.
    """
    if sys.stderr.isatty() or os.environ.get("ASSISTANT_NO_PROGRESS"):
        return None

    from index.indexer import PROGRESS_UNITS

    def report(done: int, total: int, stage: str) -> None:
        if total and (stage != "reading" or total > 1):  # one file read is no progress worth a line
            print(f"{stage}: {done}/{total} {PROGRESS_UNITS.get(stage, 'items')}", file=sys.stderr, flush=True)

    return report


def _cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.pipeline import Assistant
    from index.indexer import IndexRefused

    try:
        report = Assistant(settings).index(args.paths or None, rebuild=args.rebuild, progress=_progress_lines(),
                                           prune=args.prune, force=args.force)
    except IndexRefused as exc:
        print(f"assistant: refused: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    _print_report(report, args.json)
    return 0


def _cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.pipeline import Assistant

    report = Assistant(settings).remove(args.names)
    _print_report(report, args.json)
    return EXIT_FAILURE if report.skipped and not report.removed else 0


def _cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.question import clean_question
    from index.store import CorpusStore

    # What the user can fix is said before the models load (seconds, not the quarter minute of loading them).
    clean_question(args.question, settings.max_question_chars)
    CorpusStore.open(settings)
    from assistant.pipeline import Assistant

    bot = Assistant(settings)
    load = bot.warm_up()
    if args.json:
        answer = bot.ask(args.question)
        answer.timings_ms["load_ms"] = sum(load.values()) * 1000
        print(json.dumps(answer.to_json(), ensure_ascii=False, indent=2))
        return 0
    answer = None
    for event in bot.stream(args.question):
        if isinstance(event, str):
            continue  # the verified answer is printed whole below; raw tokens may carry unverified marks
        answer = event
    print(format_answer(answer))
    return 0


def _prime_quietly(bot: Any) -> None:
    """Prime the LLM's prompt cache; a failure only costs the first answer its speed-up (that answer reports
    any real LLM error itself)."""
    with contextlib.suppress(Exception):
        bot.prime_prompt_cache()


def _cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    from index.store import CorpusStore, StoreError

    CorpusStore.open(settings)  # no index (or an unreadable one) is said before the models load
    from assistant.llm.base import LLMError
    from assistant.llm.gguf import ModelIntegrityError
    from assistant.pipeline import Assistant, QuestionError

    bot = Assistant(settings)
    print("Loading models...", file=sys.stderr)
    bot.warm_up()
    if settings.mode == "llm":  # read the answer prompt's fixed part while the user types the first question
        threading.Thread(target=_prime_quietly, args=(bot,), name="prime-prompt-cache", daemon=True).start()
    print("Ask a question about the documents (empty line or Ctrl-D to quit, /clear to forget the conversation).")
    history: list[tuple[str, str]] = []
    while True:
        try:
            question = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not question:
            return 0
        if question == "/clear":
            history.clear()
            print("(conversation cleared)")
            continue
        try:
            answer = bot.ask(question, history=history)
        except QuestionError as exc:
            print(f"error: {exc}")
            continue
        except (LLMError, ModelIntegrityError, StoreError, OSError) as exc:  # this question failed, not the chat
            print(f"error: {exc} (the conversation is kept: ask again, or /clear)")
            continue
        print(format_answer(answer))
        history.append((answer.standalone_question or question, answer.short_answer or answer.answer))


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.ui import serve

    serve(settings, host=args.host, port=args.port, share=args.share)
    return 0


def _cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.evaluation.command import eval_command

    try:
        return eval_command(args.paths, settings, format=args.format, limit=args.limit, seed=args.seed, out=args.out,
                            min_accuracy=args.min_accuracy, compare=args.compare, retrieval_only=args.retrieval_only,
                            eval_dir=args.eval_dir, progress=not args.quiet, part=args.part)
    except ValueError as exc:  # a file in no known format, or malformed
        print(f"assistant: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    """Print the settings in effect (defaults < TOML < environment < flags) as TOML, or the rule registry."""
    import dataclasses

    if args.rules:
        from assistant.rules import RULES

        for name, (family, contract) in RULES.items():
            state = "off" if name in settings.disabled_rule_set else "on"
            print(f"{name:22} {family:8} {state:3}  {contract}")
        return 0
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if f.name in ("llm_api_key", "auth") and value:
            value = "***"
        if value is None or value == {}:
            print(f"# {f.name} =")
        else:
            print(f"{f.name} = {json.dumps(str(value) if isinstance(value, Path) else value)}")
    return 0


COMMANDS = {"index": _cmd_index, "ask": _cmd_ask, "chat": _cmd_chat, "serve": _cmd_serve, "eval": _cmd_eval,
            "config": _cmd_config, "remove": _cmd_remove}
# Commands whose process answers questions and keeps a bounded kernel cache (`index.embeddings.bound_kernel_cache`).
ANSWERING_COMMANDS = ("ask", "chat", "eval")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `assistant` command; returns the exit code (errors are one clear line, no trace)."""
    import assistant  # noqa: F401  (sets the offline switches before any heavy import)

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
        if args.command in ANSWERING_COMMANDS:  # `serve` does the same in `assistant.ui.serve`
            from index.embeddings import bound_kernel_cache

            bound_kernel_cache()
        return COMMANDS[args.command](args, settings)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        code = _exit_code(exc)
        if code is None:
            raise
        print(f"assistant: error: {exc}", file=sys.stderr)
        return code


# The errors a user can act on, said in one line: (module, class) -> exit code.
USER_ERRORS = {("assistant.config", "ConfigError"): EXIT_USAGE, ("assistant.question", "QuestionError"): EXIT_USAGE,
               ("index.store", "StoreError"): EXIT_FAILURE, ("index.embeddings", "EmbeddingModelError"): EXIT_FAILURE,
               ("assistant.llm.base", "LLMError"): EXIT_FAILURE,
               ("assistant.llm.gguf", "ModelIntegrityError"): EXIT_FAILURE}


def _exit_code(exc: Exception) -> int | None:
    """The exit code for an error the user can act on (a missing file or folder, a refused permission, the errors
    in `USER_ERRORS`); None for anything else. The classes are looked up among the modules already imported, so a
    command that fails early never waits for the models' libraries to import (an error of a class can only be
    raised once its module is)."""
    if isinstance(exc, FileNotFoundError | PermissionError):
        return EXIT_FAILURE
    for (module, name), code in USER_ERRORS.items():
        error_class = getattr(sys.modules.get(module), name, None)
        if error_class is not None and isinstance(exc, error_class):
            return code
    return None


if __name__ == "__main__":
    sys.exit(main())
