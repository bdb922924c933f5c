"""The assistant's components: its settings, models, index and documents, loaded once, lazily, and shared.

`Components` loads each model on first use (the embedding model, the ranking model, the LLM, a cross-encoder when
one is configured), opens the index (checking that it was built with the configured models), reads the fitted
calibration that goes with those models, and keeps the corpus in step (`index`, `remove`). The question path
(`assistant.pipeline.Assistant`) is built on it. Thread-safe: the web UI's queue shares one.

Example:
    >>> from assistant.config import load_settings
    >>> parts = Components(load_settings(overrides={"mode": "fast"}))  # doctest: +SKIP
    >>> parts.documents()[0]["doc"]  # doctest: +SKIP
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.answering import answer_messages
from assistant.calibration import load_abstention_models, load_thresholds
from assistant.config import Settings, load_settings
from assistant.replies import generate_text
from assistant.retrieval import HybridRetriever
from assistant.source_text import SourceText, SourceTexts
from index.indexer import Indexer, IndexReport, ProgressCallback
from index.store import CorpusStore


class Components:
    """Settings, models (loaded on first use), the index and the calibration fitted for those models."""

    def __init__(self, settings: Settings | None = None, *, embed_model: Any = None, llm: Any = None,
                 cross_encoder: Any = None, ranking_model: Any = None) -> None:
        self.settings = settings or load_settings()
        self._embed_model = embed_model
        self._llm = llm
        self._retriever: HybridRetriever | None = None
        self._cross_encoder = cross_encoder
        self._ranking_model = ranking_model  # used only when `ranking_embed_model` is set
        self._sources = SourceTexts()
        self._lock = threading.RLock()
        self.thresholds = load_thresholds(self.settings)
        self.abstention = load_abstention_models(self.settings)

    @property
    def embed_model(self) -> Any:
        with self._lock:
            if self._embed_model is None:
                from index.embeddings import load_configured_embedding

                self._embed_model = load_configured_embedding(self.settings.embed_model, self.settings)
            return self._embed_model

    @property
    def llm(self) -> Any:
        """The chat model. LLM answers read the ranking model too, so that loads first: reading an embedding model's
        weights briefly holds them twice (the mapped file and the model's own copy, ~0.6 GB for mpnet), and done
        beside the mapped LLM that transient would set the process's peak memory."""
        with self._lock:
            if self._llm is None:
                from assistant.llm import load_llm

                _ = self.ranking_model
                self._llm = load_llm(self.settings)
            return self._llm

    @property
    def cross_encoder(self) -> Any:
        """The configured cross-encoder reranker (None unless `reranker` is set or one was passed in)."""
        with self._lock:
            if self._cross_encoder is None and self.settings.reranker:
                from assistant.rerank import load_cross_encoder

                self._cross_encoder = load_cross_encoder(self.settings.reranker)
            return self._cross_encoder

    @property
    def ranking_model(self) -> Any:
        """The second embedding model (None unless `ranking_embed_model`): its cosines join the passage score when
        the index carries its vectors (`ranking_at_index`), and the abstention signals read its cosine with the cited
        sentence either way."""
        with self._lock:
            if not self.settings.ranking_embed_model:
                return None
            if self._ranking_model is None:
                from index.embeddings import load_configured_embedding

                self._ranking_model = load_configured_embedding(self.settings.ranking_embed_model, self.settings)
            return self._ranking_model

    @property
    def retriever(self) -> HybridRetriever:
        with self._lock:
            if self._retriever is None:
                store = CorpusStore.open(self.settings, create=False)
                store.check_model(self.settings.embed_model, None)
                store.check_ranking_model(self.settings.index_ranking_model, exact=False)
                self._retriever = HybridRetriever(store, self.embed_model, self.settings)
            return self._retriever

    def warm_up(self, mode: str | None = None) -> dict[str, float]:
        """Load every model the mode needs and run one tiny query, so the first user question is fast."""
        timings: dict[str, float] = {}
        mode = mode or self.settings.mode
        started = time.perf_counter()
        _ = self.cross_encoder
        # The ranking model serves fast mode only when the index carries its vectors; LLM answers read it either way.
        ranking = self.ranking_model if self.settings.index_ranking_model or mode == "llm" else None
        for model in (self.embed_model, ranking):
            if model is not None:  # a model's first pass is slow (~130 ms more for mpnet): not the first question's
                model.get_query_embedding("Where was the meeting held?")
        timings["embed_model_s"] = time.perf_counter() - started
        if mode == "llm":
            started = time.perf_counter()
            _ = self.llm
            timings["llm_s"] = time.perf_counter() - started
        started = time.perf_counter()
        self.retriever.refresh()
        timings["index_s"] = time.perf_counter() - started
        return timings

    def prime_prompt_cache(self) -> float:
        """Have the LLM read the answer prompt's fixed part (instructions and examples) once, ahead of the first
        question; returns the seconds it took.

        Every answer prompt starts with the same ~330 tokens, which llama.cpp keeps in its prompt cache after the
        first answer. Read at start-up (the UI and the chat do this in the background), they no longer make the
        first question wait ~7 s on 2 cores. Not part of `warm_up`: a one-shot `assistant ask` would only move
        that time from the answer to the load.
        """
        started = time.perf_counter()
        generate_text(self.llm, answer_messages("", []), max_tokens=1)
        return time.perf_counter() - started

    def index(self, paths: Sequence[Path] | None = None, rebuild: bool = False,
              progress: ProgressCallback | None = None, prune: bool = False, force: bool = False) -> IndexReport:
        """Bring the index in step with the corpus folder, or add/update `paths` (see `index.indexer.Indexer.run`:
        named paths never remove other documents, and no run empties a non-empty index unless `force`)."""
        indexer = Indexer(self.settings, embed_model=self._embed_model, ranking_model=self._ranking_model)
        report = indexer.run(paths, rebuild=rebuild, progress=progress, prune=prune, force=force)
        self._adopt(indexer, rebuild)
        return report

    def remove(self, names: Sequence[str]) -> IndexReport:
        """Take documents (by name or file path) out of the index; their files stay (`Indexer.remove`)."""
        indexer = Indexer(self.settings, embed_model=self._embed_model, ranking_model=self._ranking_model)
        report = indexer.remove(names)
        self._adopt(indexer, rebuild=False)
        return report

    def _adopt(self, indexer: Indexer, rebuild: bool) -> None:
        """After an index run: keep the models it loaded, and see the index it committed."""
        with self._lock:
            # Models the indexer had to load serve the questions too: never two copies in memory.
            loaded_embed, loaded_ranking = indexer.loaded_models
            if self._embed_model is None:
                self._embed_model = loaded_embed
            if self._ranking_model is None:
                self._ranking_model = loaded_ranking
            if rebuild:
                self._retriever = None
        if self._retriever is not None:
            self._retriever.refresh()

    def documents(self) -> list[dict[str, Any]]:
        """The live documents: name, title, date, chunks, when indexed."""
        manifest = self.retriever.refresh()
        return [{"doc": name, "title": entry.title, "date": entry.date, "chunks": entry.chunks,
                 "indexed_at": entry.indexed_at} for name, entry in sorted(manifest.docs.items())]

    def source_text(self, doc: str) -> str:
        """The text a document's citation spans index into (for showing a cited passage in context): the file as
        indexed, or, once it changed or vanished, the index's own passages at their spans (`source_document`)."""
        return self.source_document(doc).text

    def source_document(self, doc: str) -> SourceText:
        """A document's text for citations, with a note when it came from the index rather than the file (see
        `assistant.source_text`); KeyError for a document not in the index."""
        entry = self.retriever.refresh().docs.get(doc)
        if entry is None:
            raise KeyError(f"document not in the index: {doc}")
        return self._sources.get(entry.path, entry.hash,
                                 lambda: [(p.start, p.end, p.text) for p in self.retriever.chunks({doc})])
