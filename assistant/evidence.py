"""Pick the few source sentences that best answer the question, from the top retrieved passages.

The local LLM reads a handful of numbered sentences instead of whole chunks: it answers in seconds rather than
tens of seconds, and every sentence has an exact span, so a `[n]` mark maps straight to the characters it cites.
A sentence's score mixes meaning (cosine of MiniLM embeddings) with the share of the question's rare words it
contains (names and numbers matter more than meaning for factoid questions), plus a small prior from its
passage's retrieval rank. Overlapping chunks yield the same sentence twice; it is kept once.

Example:
    >>> selector = EvidenceSelector(embed_model)  # doctest: +SKIP
    >>> selector.select("Where was Geneva II held?", passages, limit=3)[0].text  # doctest: +SKIP
    'Kerry and Lavrov called for the ceasefire to start ahead of the Geneva II talks due to begin in Montreux...'
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.retrieval import Passage
from assistant.text import TermStats, content_terms, lexical_overlap
from index.chunking import sentence_spans

# Weights of the sentence score; tuned on the seed pairs and SQuAD dev (docs/BENCHMARKS.md), kept simple on
# purpose: meaning and rare-word overlap matter about equally, the passage rank breaks ties.
SEMANTIC_WEIGHT = 0.5
LEXICAL_WEIGHT = 0.5
PASSAGE_PRIOR = 0.05

@dataclass
class Evidence:
    """A candidate sentence with its exact span and score."""

    doc: str
    start: int
    end: int
    text: str
    score: float
    semantic: float
    lexical: float
    title: str
    chunk_id: str
    passage_rank: int


class EvidenceSelector:
    """Scores the sentences of retrieved passages; caches sentence vectors per chunk (they never change)."""

    def __init__(self, embed_model: Any, cache_size: int = 4096) -> None:
        self.embed_model = embed_model
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def _sentence_vectors(self, passage: Passage, texts: list[str]) -> np.ndarray:
        with self._lock:
            cached = self._cache.get(passage.chunk_id)
            if cached is not None and len(cached) == len(texts):
                self._cache.move_to_end(passage.chunk_id)
                return cached
        vectors = np.asarray(self.embed_model.get_text_embedding_batch(texts), dtype=np.float32)
        with self._lock:
            self._cache[passage.chunk_id] = vectors
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vectors

    def select(self, question: str, passages: list[Passage], limit: int, stats: TermStats) -> list[Evidence]:
        """The `limit` best sentences, best first; spans are in document coordinates."""
        if not passages:
            return []
        candidates: list[tuple[Passage, int, int, int]] = []
        for rank, passage in enumerate(passages):
            for s_start, s_end in sentence_spans(passage.text):
                candidates.append((passage, rank, passage.start + s_start, passage.start + s_end))
        if not candidates:
            return []
        q_vec = np.asarray(self.embed_model.get_query_embedding(question), dtype=np.float32)
        q_terms = content_terms(question)
        by_passage: dict[str, np.ndarray] = {}
        for passage in passages:
            texts = [passage.text[s - passage.start:e - passage.start] for p, _, s, e in candidates if p is passage]
            by_passage[passage.chunk_id] = self._sentence_vectors(passage, texts)
        seen: dict[tuple[str, int], Evidence] = {}
        counters: dict[str, int] = {}
        for passage, rank, start, end in candidates:
            i = counters.get(passage.chunk_id, 0)
            counters[passage.chunk_id] = i + 1
            text = passage.text[start - passage.start:end - passage.start]
            semantic = float(by_passage[passage.chunk_id][i] @ q_vec)
            lexical = lexical_overlap(q_terms, text, stats)
            score = SEMANTIC_WEIGHT * semantic + LEXICAL_WEIGHT * lexical + PASSAGE_PRIOR / (1 + rank)
            key = (passage.doc, start)
            if key not in seen or seen[key].score < score:
                seen[key] = Evidence(passage.doc, start, end, text, score, semantic, lexical, passage.title,
                                     passage.chunk_id, rank)
        return sorted(seen.values(), key=lambda e: -e.score)[:limit]

