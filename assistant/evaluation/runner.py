"""Run an evaluation set through the assistant (and, on request, its peers) and score every answer.

The harness never re-implements the pipeline: each question goes to the same `Assistant.ask` the CLI and the
web UI call, and `Assistant.retrieve` supplies the ranking for recall@k and MRR. What it adds is the corpus:

- pairs files are scored against the configured corpus (default `seeds/`), which is indexed first (a no-op when
  nothing changed), exactly as `assistant index` would;
- SQuAD and ClapNQ bring their own documents. They are written as files into
  `<data_dir>/eval/<format>-<content hash>/corpus/` and indexed with `Assistant.index()` into a store beside it,
  in a collection named after the settings that shape the index (embedding model, chunking and the chunker's
  source), so a second run starts at once and a changed chunker never reads a stale index.

Dialogues are asked in order as one conversation, with the history the terminal chat keeps. Each `System`
(our pipeline in a mode, or a peer from `assistant.evaluation.peers`) becomes a list of scored `ItemResult`s.

Example:
    >>> run = evaluate(["tests/data/seed_qa.json"], load_settings(), mode="fast")  # doctest: +SKIP
    >>> run.primary.summary["accuracy"]  # doctest: +SKIP
    0.9
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import resource
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from assistant.config import PROJECT_ROOT, Settings
from assistant.evaluation.datasets import EvalItem, EvalSet, load_eval_set, sample, select_part
from assistant.evaluation.scoring import ItemResult, Prediction, SourceText, recall_curve, score_item, summarize

__all__ = [
    "DEFAULT_PAIRS",
    "DEFAULT_SEED",
    "EVAL_DIR_ENV",
    "AssistantSystem",
    "EvalRun",
    "IndexStats",
    "RetrievalSystem",
    "System",
    "SystemRun",
    "default_eval_dir",
    "evaluate",
    "index_corpus",
    "prepare_corpus",
    "resolve_paths",
    "run_system",
]

DEFAULT_SEED = 13
DEFAULT_PAIRS = PROJECT_ROOT / "tests" / "data" / "seed_qa.json"
EVAL_DIR_ENV = "ASSISTANT_EVAL_DIR"
# Passages fetched for recall@k: enough for 20 distinct documents in the fused list of two 20-deep retrievers.
RANK_DEPTH = 40
_STATS_FILE = "index_stats.json"


def default_eval_dir() -> Path:
    """Where the shared evaluation sets live: `$ASSISTANT_EVAL_DIR`, else `<repo>/../shared/eval`."""
    return Path(os.environ.get(EVAL_DIR_ENV) or PROJECT_ROOT.parent / "shared" / "eval")


def resolve_paths(paths: Sequence[str | Path], eval_dir: Path | None = None) -> list[Path]:
    """Evaluation files as given, or else relative to the shared eval folder (`squad_v1.1_dev/...` works)."""
    resolved = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists() and not path.is_absolute():
            candidate = (eval_dir or default_eval_dir()) / path
            path = candidate if candidate.exists() else path
        resolved.append(path)
    return resolved


# ------------------------------------------------------------------------------------------------ the corpus


@dataclass
class IndexStats:
    """How big the indexed corpus is and how fast it was built (from the first build when reused)."""

    chunks: int
    documents: int
    seconds: float
    chunks_per_s: float | None
    cached: bool
    store: str

    def to_json(self) -> dict[str, Any]:
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in dataclasses.asdict(self).items()}


def _digest(parts: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def index_fingerprint(settings: Settings) -> str:
    """A short hash of what shapes the stored chunks: embedding model(s), chunk settings, the chunker's code and
    the store's schema."""
    import index.chunking
    from index.store import SCHEMA_VERSION

    chunker = Path(index.chunking.__file__).read_text(encoding="utf-8")
    parts = [settings.embed_model, str(settings.chunk_words), str(settings.chunk_overlap_sentences), chunker,
             f"schema {SCHEMA_VERSION}"]
    if settings.index_ranking_model:  # its vectors are stored too; without them, the fingerprint stays as it was
        parts.append(f"ranking {settings.index_ranking_model}")
    return _digest(parts)[:10]


def prepare_corpus(eval_set: EvalSet, settings: Settings) -> Settings:
    """Write the set's documents as files (once per content) and return settings for their own store.

    The folder is `<data_dir>/eval/<format>-<hash of the documents>/`; the corpus files are exactly the
    documents' texts, so gold spans and citation spans index the same characters. The model cache stays in
    the configured data_dir (no second copy of the LLM). A set scored against the configured corpus (pairs) gets a
    copy of that corpus's files the same way: an evaluation never indexes into, or changes, the user's own index.
    """
    if eval_set.docs is None:
        return _corpus_copy(settings)
    key = _digest(part for doc in eval_set.docs for part in (doc.name, doc.text))[:12]
    root = settings.data_dir / "eval" / f"{eval_set.format}-{key}"
    corpus = root / "corpus"
    done = corpus / ".complete"
    if not done.exists():
        corpus.mkdir(parents=True, exist_ok=True)
        for doc in eval_set.docs:
            target = corpus / doc.name
            if not target.exists() or target.read_text(encoding="utf-8") != doc.text:
                tmp = target.with_name(f".{doc.name}.tmp")
                tmp.write_text(doc.text, encoding="utf-8", newline="")
                tmp.replace(target)
        done.write_text(f"{len(eval_set.docs)} documents\n", encoding="utf-8")
    return dataclasses.replace(settings, corpus_dir=corpus, store_dir=root / "store", chroma_url=None,
                               collection=f"eval-{index_fingerprint(settings)}")


def _corpus_copy(settings: Settings) -> Settings:
    """Settings for an evaluation store over a byte-exact copy of the configured corpus folder's files (hidden files
    and folders left out), under `<data_dir>/eval/corpus-<hash of names and bytes>/`, made once per content."""
    import shutil

    source = settings.corpus_dir
    if not source.is_dir():
        raise FileNotFoundError(f"corpus path not found: {source}")
    files = sorted(p for p in source.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(source).parts))
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(source).as_posix().encode("utf-8", "surrogateescape") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    root = settings.data_dir / "eval" / f"corpus-{digest.hexdigest()[:12]}"
    corpus = root / "corpus"
    done = corpus / ".complete"
    if not done.exists():
        for path in files:
            target = corpus / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        done.write_text(f"{len(files)} files copied from {source}\n", encoding="utf-8")
    return dataclasses.replace(settings, corpus_dir=corpus, store_dir=root / "store", chroma_url=None,
                               collection=f"eval-{index_fingerprint(settings)}")


def index_corpus(assistant: Any, progress: bool = False) -> IndexStats:
    """Bring the assistant's index in step with its corpus; report the build throughput.

    When nothing had to be embedded, the throughput of the build that made the store is reported (kept in a
    small file beside the store), marked `cached`.
    """
    settings: Settings = assistant.settings
    if progress:
        print(f"indexing {settings.corpus_dir} ...", file=sys.stderr)
    _ = assistant.embed_model  # loaded before the clock starts: throughput is about embedding, not model loading
    report = assistant.index()
    store = settings.resolved_store_dir
    stats_file = store / f"{settings.collection}-{_STATS_FILE}"
    documents = len(report.added) + len(report.updated) + len(report.unchanged)
    if report.chunks_added:
        rate = report.chunks_added / report.seconds if report.seconds > 0 else None
        stats = IndexStats(report.chunks_total, documents, report.seconds, rate, False, str(store))
        if store.is_dir():
            stats_file.write_text(json.dumps(stats.to_json()), encoding="utf-8")
        return stats
    try:
        first = json.loads(stats_file.read_text(encoding="utf-8"))
        return IndexStats(report.chunks_total, documents, float(first["seconds"]), first.get("chunks_per_s"), True,
                          str(store))
    except (OSError, ValueError, KeyError):
        return IndexStats(report.chunks_total, documents, report.seconds, None, True, str(store))


def source_texts(eval_set: EvalSet, assistant: Any) -> SourceText:
    """A document-text lookup for checking citation spans (the set's own texts, else the indexed files)."""
    if eval_set.docs is not None:
        texts = {doc.name: doc.text for doc in eval_set.docs}
        return texts.get
    cache: dict[str, str | None] = {}

    def lookup(name: str) -> str | None:
        if name not in cache:
            try:
                cache[name] = assistant.source_text(name)
            except (KeyError, OSError):
                cache[name] = None
        return cache[name]

    return lookup


# ----------------------------------------------------------------------------------------------- the systems


class System(Protocol):
    """Anything that answers (or only ranks for) one question, given the dialogue so far."""

    name: str

    def predict(self, item: EvalItem, history: list[tuple[str, str]]) -> Prediction: ...


def distinct_docs(docs: Iterable[str]) -> list[str]:
    """Documents in first-seen order, each once (chunk rankings become document rankings)."""
    return list(dict.fromkeys(docs))


@dataclass
class AssistantSystem:
    """Our pipeline in one answer mode: `Assistant.ask`, then `Assistant.retrieve` for the ranking."""

    assistant: Any
    mode: str
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or f"ours ({self.mode})"

    def predict(self, item: EvalItem, history: list[tuple[str, str]]) -> Prediction:
        started = time.perf_counter()
        answer = self.assistant.ask(item.question, history=history or None, mode=self.mode)
        wall_ms = (time.perf_counter() - started) * 1000
        standalone = answer.standalone_question or item.question
        started = time.perf_counter()
        passages = self.assistant.retrieve(standalone, top_k=RANK_DEPTH)
        rank_ms = (time.perf_counter() - started) * 1000
        read = passages[: self.assistant.settings.top_k]
        data = answer.to_json()
        return Prediction(answer=answer.answer, short_answer=answer.short_answer, abstained=answer.abstained,
                          citations=data["citations"], ranked_docs=distinct_docs(p.doc for p in passages),
                          read_docs=distinct_docs(p.doc for p in read),
                          timings_ms={**answer.timings_ms, "total_ms": wall_ms, "eval_rank_ms": rank_ms},
                          standalone_question=standalone,
                          # What the abstention decision read, so that a run's wrong answers and abstentions
                          # can be studied (and the decision replayed) without asking again.
                          extra={key: data[key] for key in ("notes", "confidence", "refusal_probability", "signals",
                                                            "rules")
                                 if data.get(key)})


@dataclass
class RetrievalSystem:
    """Our retrieval alone (no answer): fast figures for retrieval tuning (`--retrieval-only`)."""

    assistant: Any
    name: str = "ours (retrieval)"

    def predict(self, item: EvalItem, history: list[tuple[str, str]]) -> Prediction:
        started = time.perf_counter()
        passages = self.assistant.retrieve(item.question, top_k=RANK_DEPTH)
        wall_ms = (time.perf_counter() - started) * 1000
        read = passages[: self.assistant.settings.top_k]
        return Prediction(ranked_docs=distinct_docs(p.doc for p in passages),
                          read_docs=distinct_docs(p.doc for p in read), timings_ms={"total_ms": wall_ms},
                          standalone_question=item.question, answers=False)


# --------------------------------------------------------------------------------------------------- running


@dataclass
class SystemRun:
    """One system's scored answers over the evaluation items, and their summary."""

    name: str
    results: list[ItemResult]
    summary: dict[str, Any]
    curve: dict[int, float]
    seconds: float
    peak_rss_mb: float


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports ru_maxrss in KiB)."""
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def _progress_bar(total: int, desc: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="q", file=sys.stderr, mininterval=2.0, dynamic_ncols=True,
                disable=not enabled or bool(os.environ.get("ASSISTANT_NO_PROGRESS")))


def run_system(system: System, items: Sequence[EvalItem], fmt: str, source_text: SourceText | None = None,
               progress: bool = False) -> SystemRun:
    """Ask every item (dialogue turns in order, with the history so far) and score each answer."""
    started = time.perf_counter()
    results: list[ItemResult] = []
    history: list[tuple[str, str]] = []
    dialogue: str | None = None
    with _progress_bar(len(items), system.name, progress) as bar:
        for item in items:
            if item.dialogue is None or item.dialogue != dialogue:
                history = []
            dialogue = item.dialogue
            prediction = system.predict(item, list(history) if item.dialogue else [])
            results.append(score_item(item, prediction, fmt, source_text))
            if item.dialogue is not None:
                history.append((prediction.standalone_question or item.question,
                                prediction.short_answer or prediction.answer))
            bar.update(1)
    return SystemRun(system.name, results, summarize(results), recall_curve(results),
                     time.perf_counter() - started, peak_rss_mb())


@dataclass
class EvalRun:
    """A whole evaluation: the set, the index, every system's run (ours first) and the context to report."""

    name: str
    format: str
    paths: list[str]
    mode: str
    limit: int | None
    seed: int
    questions: int
    total_questions: int
    index: IndexStats | None
    systems: list[SystemRun]
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    peak_rss_mb: float = 0.0

    @property
    def primary(self) -> SystemRun:
        """Our default pipeline's run (the one the summary, the gates and `results.json` items are about)."""
        return self.systems[0]


def _settings_record(settings: Settings) -> dict[str, Any]:
    from index.embeddings import resolve_precision

    keys = ("corpus_dir", "embed_model", "ranking_embed_model", "ranking_at_index", "llm_model", "llm_endpoint",
            "top_k", "candidate_k", "chunk_words", "chunk_overlap_sentences", "evidence_sentences",
            "evidence_min_sentences", "evidence_relative_score", "llm_threads", "llm_context", "reranker", "collection")
    record = {k: (str(v) if isinstance(v, Path) else v) for k, v in ((k, getattr(settings, k)) for k in keys)}
    # the number format the embedding models ran in on this machine ("auto" resolved): figures differ slightly with it
    record["embed_precision"] = resolve_precision(settings.embed_precision)
    return record


def build_systems(assistant: Any, mode: str, compare: bool, retrieval_only: bool,
                  peers: Callable[[Any], list[System]] | None = None) -> list[System]:
    """Our system in the asked mode first; with `compare`, fast mode beside it and the peers after."""
    if retrieval_only:
        return [RetrievalSystem(assistant)]
    systems: list[System] = [AssistantSystem(assistant, mode)]
    if compare:
        if mode != "fast":
            systems.append(AssistantSystem(assistant, "fast"))
        if peers is None:
            from assistant.evaluation.peers import default_peers as peers
        systems.extend(peers(assistant))
    return systems


def evaluate(paths: Sequence[str | Path], settings: Settings, *, format: str | None = None,
             limit: int | None = None, seed: int = DEFAULT_SEED, mode: str | None = None, compare: bool = False,
             retrieval_only: bool = False, embed_model: Any = None, llm: Any = None,
             progress: bool = True, part: str | None = None) -> EvalRun:
    """Load the set, index its corpus, ask the (sampled) questions to every system and score them.

    `part`: ask only the "tuning" or "validation" part's questions (`datasets.select_part`); the corpus stays whole.
    """
    from assistant.pipeline import Assistant

    started = time.perf_counter()
    eval_set = load_eval_set(list(paths), format=format)
    asked = select_part(eval_set.items, part)
    run_settings = prepare_corpus(eval_set, settings)
    assistant = Assistant(run_settings, embed_model=embed_model, llm=llm)
    stats = index_corpus(assistant, progress=progress)
    mode = mode or settings.mode
    if not retrieval_only:
        assistant.warm_up(mode)
    items = sample(asked, limit, seed)
    lookup = source_texts(eval_set, assistant)
    runs = [run_system(system, items, eval_set.format, lookup, progress)
            for system in build_systems(assistant, mode, compare, retrieval_only)]
    return EvalRun(name=eval_set.name, format=eval_set.format, paths=[str(p) for p in paths],
                   mode="retrieval" if retrieval_only else mode, limit=limit, seed=seed, questions=len(items),
                   total_questions=len(asked), index=stats, systems=runs,
                   settings=_settings_record(run_settings), notes=list(eval_set.notes),
                   seconds=time.perf_counter() - started, peak_rss_mb=peak_rss_mb())
