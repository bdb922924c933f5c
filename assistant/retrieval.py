"""Hybrid retrieval: dense vectors from Chroma and BM25 over the same live chunks, fused by reciprocal rank.

Dense search finds paraphrases, BM25 finds rare names and numbers; neither alone ranks well enough (a question
naming an event by its numeral finds the chunk that says where it was held second under either), so both candidate
lists are fused with reciprocal-rank fusion, which needs no score calibration between the two. Both read only the chunks
of the committed manifest, so a concurrent index run never shows a half-built corpus. No chunk is held in memory: the
BM25 index lives on local disk (`index/lexical.py`) and follows the committed generation from the documents changed,
and only a question's candidates are read from the store.

Example:
    >>> retriever = HybridRetriever(store, embed_model, settings)  # doctest: +SKIP
    >>> [p.doc for p in retriever.retrieve("Where will the talks take place?")][:1]  # doctest: +SKIP
    ['000_ba464c03508296b8.txt']
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.text import TermStats
from index.chunking import page_of, unpack_spans, unpack_vectors
from index.lexical import LexicalIndex, lexical_folder, store_fetcher
from index.store import CorpusStore, Manifest, prefix_of, retired_prefixes

FETCH_IDS = 500  # chunk ids read from the store at a time
# How many times `candidate_k` a nearest-neighbour search asks for while retired chunks it cannot filter out are stored
# (`HybridRetriever._unlisted`): a replaced document's old chunks sit next to its new ones.
UNLISTED_FETCH = 3

if TYPE_CHECKING:
    from assistant.config import Settings


@dataclass
class Passage:
    """A retrieved chunk: its exact place in the source and how each retriever ranked it."""

    chunk_id: str
    doc: str
    start: int
    end: int
    text: str
    title: str = ""
    date: str = ""
    score: float = 0.0  # fused score (RRF)
    dense: float | None = None  # cosine similarity, when the dense retriever returned it
    lexical: float | None = None  # BM25 score, when BM25 returned it
    ranks: dict[str, int] = field(default_factory=dict)
    sentences: list[tuple[int, int]] = field(default_factory=list)  # spans relative to `text`
    sentence_vectors: Any = None  # numpy rows aligned with `sentences` (decoded from the chunk's metadata)
    ranking_vector: Any = None  # the chunk's vector by the ranking model, when one is set (`ranking_embed_model`)
    ranking_sentence_vectors: Any = None  # and of its sentences, rows aligned with `sentences`
    rerank: float | None = None  # evidence-based score set by assistant.evidence (None before reranking)
    cross: float | None = None  # the configured cross-encoder's score (logit), when one is configured
    chunk: int = -1  # ordinal of the chunk in its document (0: the document's opening, where its header is)


def reciprocal_rank_fusion(rankings: dict[str, Sequence[str]], k: int = 60,
                           weights: dict[str, float] | None = None) -> dict[str, float]:
    """Fuse ranked id lists: score(id) = sum_r w_r / (k + rank_r(id)), ranks from 1 (Cormack et al., 2009)."""
    fused: dict[str, float] = {}
    for name, ranked in rankings.items():
        weight = (weights or {}).get(name, 1.0)
        for rank, item in enumerate(ranked, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return fused


class HybridRetriever:
    """Dense + BM25 retrieval over the live chunks of one store; safe to share between threads."""

    METADATA_CACHE = 4096  # chunks whose metadata (page breaks) is kept for citing pages without another read

    def __init__(self, store: CorpusStore, embed_model: Any, settings: Settings) -> None:
        self.store = store
        self.embed_model = embed_model
        self.settings = settings
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._documents = 0
        self._live: dict[str, Any] = {}  # the store's filter for the chunks of the committed generation
        self._search_filter: dict[str, Any] | None = None  # what a nearest-neighbour search filters by (or nothing)
        self._hidden: tuple[int, frozenset[str]] | None = None
        self._unlisted: frozenset[str] = frozenset()
        self._chunk_count = 0
        self.lexical = LexicalIndex(lexical_folder(settings, store))
        self._openings: dict[str, str] = {}  # document -> its first chunk's text, read once per generation
        self._metadata: OrderedDict[str, dict[str, Any]] = OrderedDict()  # recently read chunks' metadata
        self._dim = 0
        self._ranking_dim = 0  # the ranking model's vector size; 0 when none is configured (its vectors unread)
        self.manifest = Manifest()

    @property
    def term_stats(self) -> TermStats:
        """Document frequencies of terms over the live chunks (kept with the lexical index)."""
        return self.lexical.term_stats

    def refresh(self) -> Manifest:
        """Re-read the manifest; bring the lexical index to a newly committed generation (and open the store again
        when another process committed it)."""
        manifest = self.store.manifest()
        with self._lock:
            if manifest.generation != self._generation:
                if self._generation is not None and self.store.committed_elsewhere():
                    self.store.reopen()  # another process committed: this process's view of the vectors is stale
                self._rebuild(manifest)
            return self.manifest

    def _rebuild(self, manifest: Manifest) -> None:
        # The document list is read only when the lexical index is behind (or someone asks for it later).
        self.lexical.sync(manifest.generation, lambda: set(manifest.doc_keys()), store_fetcher(self.store))
        self._live, self.manifest = self.store.live_filter(manifest), manifest
        self._search_filter = self.store.query_filter(manifest)
        # What a search without a filter may still meet, in the moment before this process sees a new commit: chunks
        # of a later generation, or of documents this one retired. They are dropped from the candidates.
        self._hidden = (manifest.generation, frozenset(manifest.retired)) if manifest.stamped else None
        # Retired documents too many for the search's filter to list (a run replacing most of a large corpus, until
        # its clean-up ends): their chunks are dropped by id prefix from a larger nearest-neighbour list.
        self._unlisted = retired_prefixes(manifest.retired) if manifest.stamped else frozenset()
        self._documents, self._chunk_count = manifest.counts()
        self._openings, self._metadata = {}, OrderedDict()
        self._dim = int(self.store.embed_dim or 0)
        ranking = self.store.ranking_model if self.settings.index_ranking_model else None
        self._ranking_dim = ranking[1] if ranking else 0
        self._generation = manifest.generation

    def _keys_of(self, docs: Collection[str] | None) -> list[str]:
        with self._lock:
            manifest = self.manifest
        return manifest.doc_keys(docs)

    def opening(self, doc: str) -> str:
        """The first chunk's text of a document (where its header is: title, outlet, date line), or "" when it is
        not in the index; read from the store once per index generation."""
        with self._lock:
            if doc in self._openings:
                return self._openings[doc]
        keys = self._keys_of({doc})
        data = self.store.chunks(keys, where={"chunk": 0}) if keys else {"documents": [], "metadatas": []}
        text = next((t for t, m in zip(data["documents"], data["metadatas"], strict=True)
                     if int(m.get("start", -1)) == 0), "")
        with self._lock:
            self._openings[doc] = text
        return text

    def page_of(self, chunk_id: str, offset: int) -> int | None:
        """The 1-based page of character `offset` of the document of chunk `chunk_id`, or None (a document
        without pages, or a chunk no longer in the index)."""
        with self._lock:
            meta = self._metadata.get(chunk_id)
        if meta is None:
            found = self.store.chunks_by_id([chunk_id])
            if chunk_id not in found:
                return None
            meta = found[chunk_id][1]
        return page_of(meta, offset)

    def openings(self) -> list[Passage]:
        """Every live document's first chunk (its header: headline, outlet, date line), by document name; the
        answer to questions about the documents as a whole (`assistant.overview`)."""
        self.refresh()
        with self._lock:
            live, hidden = self._live, self._hidden
        data = self.store.chunks_where({"$and": [live, {"chunk": 0}]})
        # No sentence vectors (dim 0): header lines are read by role, not scored, and a large corpus has many.
        passages = [_passage(i, t, m, 0.0, None, None, {}, 0)
                    for i, t, m in zip(data["ids"], data["documents"], data["metadatas"], strict=True)
                    if not _unseen(m, hidden)]
        return sorted(passages, key=lambda p: p.doc)

    def chunks(self, docs: Collection[str]) -> list[Passage]:
        """Every live chunk of `docs`, in document order (without sentence vectors): a document's lead
        (`assistant.summary`), or its text once the file changed (`assistant.source_text`)."""
        self.refresh()
        data = self.store.chunks(self._keys_of(docs))
        passages = [_passage(i, t, m, 0.0, None, None, {}, 0)
                    for i, t, m in zip(data["ids"], data["documents"], data["metadatas"], strict=True)]
        return sorted(passages, key=lambda p: (p.doc, p.start))

    def mentioning(self, phrase: str) -> tuple[list[Passage], int]:
        """The live chunks whose words hold those of `phrase` in order (`text.mention_keys`: case, plural, number
        form and accents aside), in document order and without sentence vectors, and the number of live documents:
        what an exhaustive "is X mentioned?" search reads (`assistant.mentions`). The lexical index's full-text
        table finds them; only those are read from the store."""
        self.refresh()
        with self._lock:
            manifest, hidden, documents = self.manifest, self._hidden, self._documents
        ids = self.lexical.mentioning(phrase)
        live = None if hidden is not None else set(manifest.doc_keys())  # a store made before stamps
        passages = []
        for i in range(0, len(ids), FETCH_IDS):
            for chunk_id, (text, meta) in self.store.chunks_by_id(ids[i:i + FETCH_IDS]).items():
                if (live is not None and meta.get("doc_key") not in live) or _unseen(meta, hidden):
                    continue
                passages.append(_passage(chunk_id, text, meta, 0.0, None, None, {}, 0))
        return sorted(passages, key=lambda p: (p.doc, p.start)), documents

    def candidates(self, query: str) -> tuple[np.ndarray | None, list[Passage]]:
        """The query vector and up to `candidate_k` fused candidates, best first (empty when the index is)."""
        self.refresh()
        with self._lock:
            documents, live, count, hidden = self._documents, self._search_filter, self._chunk_count, self._hidden
            unlisted = self._unlisted
            dim, ranking_dim = self._dim, self._ranking_dim
        if not documents or not count:
            return None, []
        vector = np.asarray(self.embed_model.get_query_embedding(query), dtype=np.float32)
        k = min(self.settings.candidate_k, count)
        dense = self.store.query(vector.tolist(), k * UNLISTED_FETCH if unlisted else k, live)
        dense = [(chunk_id, cosine) for chunk_id, cosine in dense if prefix_of(chunk_id) not in unlisted][:k]
        lexical = self.lexical.search(query, k)
        rankings = {"dense": [i for i, _ in dense], "bm25": [i for i, _ in lexical]}
        fused = reciprocal_rank_fusion(rankings, k=self.settings.rrf_k)
        dense_scores, lexical_scores = dict(dense), dict(lexical)
        best = sorted(fused.items(), key=lambda kv: -kv[1])[:k]
        stored = self.store.chunks_by_id([chunk_id for chunk_id, _ in best])
        passages = []
        for chunk_id, score in best:
            if chunk_id not in stored:  # removed by a commit after our snapshot: skip rather than mix generations
                continue
            text, meta = stored[chunk_id]
            if _unseen(meta, hidden):
                continue
            passages.append(_passage(chunk_id, text, meta, score, dense_scores.get(chunk_id),
                                     lexical_scores.get(chunk_id),
                                     {name: ranked.index(chunk_id) + 1 for name, ranked in rankings.items()
                                      if chunk_id in ranked}, dim, ranking_dim))
        self._remember(stored)
        return vector, passages

    def _remember(self, stored: dict[str, tuple[str, dict[str, Any]]]) -> None:
        with self._lock:
            for chunk_id, (_, meta) in stored.items():
                self._metadata[chunk_id] = meta
                self._metadata.move_to_end(chunk_id)
            while len(self._metadata) > self.METADATA_CACHE:
                self._metadata.popitem(last=False)

    def retrieve(self, query: str, top_k: int | None = None) -> list[Passage]:
        """The `top_k` best fused passages (before evidence reranking), best first."""
        return self.candidates(query)[1][: top_k or self.settings.top_k]


def _unseen(meta: dict[str, Any], hidden: tuple[int, frozenset[str]] | None) -> bool:
    """Whether a stored chunk is not committed, or retired, as of the generation this process reads (`hidden`:
    that generation and the documents it retired; None for a store made before stamps, filtered otherwise)."""
    return hidden is not None and (int(meta.get("gen", 0)) > hidden[0] or meta.get("doc_key") in hidden[1])


def _passage(chunk_id: str, text: str, meta: dict[str, Any], score: float, dense: float | None,
             lexical: float | None, ranks: dict[str, int], dim: int, ranking_dim: int = 0) -> Passage:
    sentences = unpack_spans(meta.get("sents", "")) or [(0, len(text))]
    vectors = unpack_vectors(meta["svec"], dim) if meta.get("svec") and dim else None
    ranked = ranking_dim and meta.get("rvec") and meta.get("rsvec")
    ranking_vector = unpack_vectors(meta["rvec"], ranking_dim)[0] if ranked else None
    ranking_sentences = unpack_vectors(meta["rsvec"], ranking_dim) if ranked else None
    return Passage(chunk_id=chunk_id, doc=meta["doc"], start=int(meta["start"]), end=int(meta["end"]),
                   text=text, title=meta.get("title", ""), date=meta.get("date", ""), score=score, dense=dense,
                   lexical=lexical, ranks=ranks, sentences=sentences, sentence_vectors=vectors,
                   ranking_vector=ranking_vector, ranking_sentence_vectors=ranking_sentences,
                   chunk=int(meta.get("chunk", -1)))
