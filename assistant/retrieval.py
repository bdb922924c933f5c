"""Hybrid retrieval: dense vectors from Chroma and BM25 over the same live chunks, fused by reciprocal rank.

Dense search finds paraphrases, BM25 finds rare names and numbers; neither alone ranks well enough (with
MiniLM, "Where was Geneva II held?" puts the Montreux chunk second under either), so both candidate lists are
fused with reciprocal-rank fusion, which needs no score calibration between the two. Both read only the chunks
of the committed manifest, so a concurrent index run never shows a half-built corpus; the BM25 index is
rebuilt when the manifest generation changes.

Example:
    >>> retriever = HybridRetriever(store, embed_model, settings)  # doctest: +SKIP
    >>> [p.doc for p in retriever.retrieve("Where was Geneva II held?")][:1]  # doctest: +SKIP
    ['000_ba464c03508296b8.txt']
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assistant.text import TermStats
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
        self.manifest = Manifest()
        self.term_stats = TermStats()

    def refresh(self) -> Manifest:
        """Re-read the manifest; rebuild BM25 only when a new index generation was committed."""
        manifest = self.store.manifest()
        with self._lock:
            if manifest.generation != self._generation:
                self._rebuild(manifest)
            return self.manifest

    def _rebuild(self, manifest: Manifest) -> None:
        from llama_index.core.schema import TextNode

        keys = manifest.doc_keys()
        data = self.store.chunks(keys)
        nodes = {}
        for chunk_id, text, meta in zip(data["ids"], data["documents"], data["metadatas"], strict=True):
            meta = {k: v for k, v in meta.items() if not k.startswith("_")}
            nodes[chunk_id] = TextNode(id_=chunk_id, text=text, metadata=meta,
                                       excluded_embed_metadata_keys=[k for k in meta if k != "title"])
        self._nodes, self._keys, self.manifest = nodes, keys, manifest
        self.term_stats = TermStats(node.text for node in nodes.values())
        self._bm25 = _build_bm25(list(nodes.values()), self.settings.candidate_k) if nodes else None
        self._generation = manifest.generation

    def retrieve(self, query: str, top_k: int | None = None) -> list[Passage]:
        """The `top_k` best passages for `query`, best first (empty when the index is empty)."""
        self.refresh()
        with self._lock:
            keys, bm25, nodes = self._keys, self._bm25, self._nodes
        if not keys:
            return []
        dense = self._dense(query, keys)
        lexical = _bm25_search(bm25, query) if bm25 is not None else []
        fused = reciprocal_rank_fusion({"dense": [i for i, _ in dense], "bm25": [i for i, _ in lexical]},
                                       k=self.settings.rrf_k)
        dense_scores, lexical_scores = dict(dense), dict(lexical)
        passages = []
        for chunk_id, score in sorted(fused.items(), key=lambda kv: -kv[1]):
            node = nodes.get(chunk_id)
            if node is None:  # committed after our snapshot: skip rather than mix generations
                continue
            meta = node.metadata
            passages.append(Passage(
                chunk_id=chunk_id, doc=meta["doc"], start=int(meta["start"]), end=int(meta["end"]), text=node.text,
                title=meta.get("title", ""), date=meta.get("date", ""), score=score,
                dense=dense_scores.get(chunk_id), lexical=lexical_scores.get(chunk_id),
                ranks={name: ranked.index(chunk_id) + 1 for name, ranked in
                       (("dense", [i for i, _ in dense]), ("bm25", [i for i, _ in lexical])) if chunk_id in ranked}))
        return passages[: top_k or self.settings.top_k]

    def _dense(self, query: str, keys: list[str]) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) from Chroma, restricted to the live document keys."""
        from llama_index.core.vector_stores import FilterOperator, MetadataFilter, MetadataFilters, VectorStoreQuery
        from llama_index.vector_stores.chroma import ChromaVectorStore

        vector_store = ChromaVectorStore(chroma_collection=self.store.collection)
        query_obj = VectorStoreQuery(
            query_embedding=self.embed_model.get_query_embedding(query),
            similarity_top_k=min(self.settings.candidate_k, max(1, len(self._nodes))),
            filters=MetadataFilters(filters=[MetadataFilter(key="doc_key", value=keys, operator=FilterOperator.IN)]))
        result = vector_store.query(query_obj)
        # llama-index reports exp(-distance); Chroma's cosine distance is 1 - cos, so cos = 1 + ln(score).
        return [(node_id, 1.0 + math.log(max(sim, 1e-12)))
                for node_id, sim in zip(result.ids or [], result.similarities or [], strict=True)]


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
