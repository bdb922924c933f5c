"""Hybrid retrieval: dense vectors from Chroma and BM25 over the same live chunks, fused by reciprocal rank.

Dense search finds paraphrases, BM25 finds rare names and numbers; neither alone ranks well enough (a question
naming an event by its numeral finds the chunk that says where it was held second under either), so both candidate
lists are fused with reciprocal-rank fusion, which needs no score calibration between the two. Both read only the chunks
of the committed manifest, so a concurrent index run never shows a half-built corpus; the BM25 index is
rebuilt when the manifest generation changes.

Example:
    >>> retriever = HybridRetriever(store, embed_model, settings)  # doctest: +SKIP
    >>> [p.doc for p in retriever.retrieve("Where will the talks take place?")][:1]  # doctest: +SKIP
    ['000_ba464c03508296b8.txt']
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.text import TermStats
from index.chunking import page_of, unpack_spans, unpack_vectors
from index.store import CorpusStore, Manifest

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

    def __init__(self, store: CorpusStore, embed_model: Any, settings: Settings) -> None:
        self.store = store
        self.embed_model = embed_model
        self.settings = settings
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._keys: list[str] = []
        self._bm25: Any = None
        self._nodes: dict[str, Any] = {}
        self._openings: dict[str, Any] = {}  # document -> its first chunk's node
        self._dim = 0
        self._ranking_dim = 0  # the ranking model's vector size; 0 when none is configured (its vectors unread)
        self.manifest = Manifest()
        self.term_stats = TermStats()

    def refresh(self) -> Manifest:
        """Re-read the manifest; rebuild BM25 only when a new index generation was committed (and open the store
        again when another process committed it)."""
        manifest = self.store.manifest()
        with self._lock:
            if manifest.generation != self._generation:
                if self._generation is not None and self.store.committed_elsewhere():
                    self.store.reopen()  # another process committed: this process's view of the vectors is stale
                self._rebuild(manifest)
            return self.manifest

    def _rebuild(self, manifest: Manifest) -> None:
        from llama_index.core.schema import TextNode

        keys = manifest.doc_keys()
        data = self.store.chunks(keys)
        nodes = {}
        for chunk_id, text, meta in zip(data["ids"], data["documents"], data["metadatas"], strict=True):
            nodes[chunk_id] = TextNode(id_=chunk_id, text=text, metadata=meta,
                                       excluded_embed_metadata_keys=[k for k in meta if k != "title"],
                                       excluded_llm_metadata_keys=list(meta))
        openings = {node.metadata["doc"]: node for node in nodes.values() if int(node.metadata.get("chunk", -1)) == 0}
        self._nodes, self._keys, self._openings, self.manifest = nodes, keys, openings, manifest
        self._dim = int(self.store.embed_dim or 0)
        ranking = self.store.ranking_model if self.settings.ranking_embed_model else None
        self._ranking_dim = ranking[1] if ranking else 0
        self.term_stats = TermStats(node.text for node in nodes.values())
        self._bm25 = _build_bm25(list(nodes.values()), self.settings.candidate_k) if nodes else None
        self._generation = manifest.generation

    def opening(self, doc: str) -> str:
        """The first chunk's text of a document as of the last `refresh` (where its header is: title, outlet, date
        line), or "" when it is not in the index. Held in memory, so naming a document never re-reads its file."""
        with self._lock:
            node = self._openings.get(doc)
        return node.text if node is not None and int(node.metadata.get("start", -1)) == 0 else ""

    def page_of(self, chunk_id: str, offset: int) -> int | None:
        """The 1-based page of character `offset` of the document of chunk `chunk_id`, or None (a document
        without pages, or a chunk no longer in the index)."""
        with self._lock:
            node = self._nodes.get(chunk_id)
        return page_of(node.metadata, offset) if node is not None else None

    def openings(self) -> list[Passage]:
        """Every live document's first chunk (its header: headline, outlet, date line), by document name; the
        answer to questions about the documents as a whole (`assistant.overview`)."""
        self.refresh()
        with self._lock:
            nodes = sorted(self._openings.items())
        # No sentence vectors (dim 0): header lines are read by role, not scored, and a large corpus has many.
        return [_passage(node, 0.0, None, None, {}, 0) for _, node in nodes]

    def chunks(self, docs: Collection[str] | None = None) -> list[Passage]:
        """Every live chunk (of `docs` only, when given), in document order (without sentence vectors): what an
        exhaustive search of the corpus reads (`assistant.mentions`), or a document's lead (`assistant.summary`)."""
        self.refresh()
        with self._lock:
            nodes = [node for node in self._nodes.values() if docs is None or node.metadata["doc"] in docs]
        passages = [_passage(node, 0.0, None, None, {}, 0) for node in nodes]
        return sorted(passages, key=lambda p: (p.doc, p.start))

    def candidates(self, query: str) -> tuple[np.ndarray | None, list[Passage]]:
        """The query vector and up to `candidate_k` fused candidates, best first (empty when the index is)."""
        self.refresh()
        with self._lock:
            keys, bm25, nodes, dim, ranking_dim = self._keys, self._bm25, self._nodes, self._dim, self._ranking_dim
        if not keys:
            return None, []
        vector = np.asarray(self.embed_model.get_query_embedding(query), dtype=np.float32)
        k = min(self.settings.candidate_k, len(nodes))
        dense = self.store.query(vector.tolist(), k, keys)
        lexical = _bm25_search(bm25, query) if bm25 is not None else []
        rankings = {"dense": [i for i, _ in dense], "bm25": [i for i, _ in lexical]}
        fused = reciprocal_rank_fusion(rankings, k=self.settings.rrf_k)
        dense_scores, lexical_scores = dict(dense), dict(lexical)
        passages = []
        for chunk_id, score in sorted(fused.items(), key=lambda kv: -kv[1])[:k]:
            node = nodes.get(chunk_id)
            if node is None:  # committed after our snapshot: skip rather than mix generations
                continue
            passages.append(_passage(node, score, dense_scores.get(chunk_id), lexical_scores.get(chunk_id),
                                     {name: ranked.index(chunk_id) + 1 for name, ranked in rankings.items()
                                      if chunk_id in ranked}, dim, ranking_dim))
        return vector, passages

    def retrieve(self, query: str, top_k: int | None = None) -> list[Passage]:
        """The `top_k` best fused passages (before evidence reranking), best first."""
        return self.candidates(query)[1][: top_k or self.settings.top_k]


def _passage(node: Any, score: float, dense: float | None, lexical: float | None, ranks: dict[str, int],
             dim: int, ranking_dim: int = 0) -> Passage:
    meta = node.metadata
    sentences = unpack_spans(meta.get("sents", "")) or [(0, len(node.text))]
    vectors = unpack_vectors(meta["svec"], dim) if meta.get("svec") and dim else None
    ranked = ranking_dim and meta.get("rvec") and meta.get("rsvec")
    ranking_vector = unpack_vectors(meta["rvec"], ranking_dim)[0] if ranked else None
    ranking_sentences = unpack_vectors(meta["rsvec"], ranking_dim) if ranked else None
    return Passage(chunk_id=node.node_id, doc=meta["doc"], start=int(meta["start"]), end=int(meta["end"]),
                   text=node.text, title=meta.get("title", ""), date=meta.get("date", ""), score=score, dense=dense,
                   lexical=lexical, ranks=ranks, sentences=sentences, sentence_vectors=vectors,
                   ranking_vector=ranking_vector, ranking_sentence_vectors=ranking_sentences,
                   chunk=int(meta.get("chunk", -1)))


def _build_bm25(nodes: list[Any], top_k: int) -> Any:
    import Stemmer
    from llama_index.retrievers.bm25 import BM25Retriever

    return BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=min(top_k, len(nodes)),
                                       stemmer=Stemmer.Stemmer("english"), language="english")


def _bm25_search(bm25: Any, query: str) -> list[tuple[str, float]]:
    try:
        results = bm25.retrieve(query)
    except (ValueError, IndexError):  # a query made only of stop words / punctuation has no terms
        return []
    return [(r.node.node_id, float(r.score or 0.0)) for r in results if (r.score or 0.0) > 0.0]
