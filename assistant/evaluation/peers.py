"""The peers our pipeline is measured against, on the same corpus, questions and machine.

- `Bm25Peer`: plain BM25 (bm25s, English stop words and Snowball stemmer, as in the bm25s README) over exactly
  the chunks of our index; retrieval only, so it has recall@k and MRR but no answers.
- `NaiveLlamaIndexPeer`: the "naive RAG" most tutorials ship: `SimpleDirectoryReader` over the corpus folder,
  `VectorStoreIndex.from_documents` (default chunking), `index.as_query_engine()` (default retriever, top-2;
  default response synthesis), with our embedding model and our local LLM. Its citations are its source nodes;
  it abstains when its reply says the context does not answer. Its recall@k comes from the same index's
  default retriever asked for 20 nodes (plain dense retrieval).

Both are optional extras: they need only packages the install already has for other reasons (bm25s and
PyStemmer come with llama-index-retrievers-bm25), are imported only when `--compare` asks for them, and are
never used by the assistant at run time.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.evaluation.datasets import EvalItem
from assistant.evaluation.runner import RANK_DEPTH, distinct_docs
from assistant.evaluation.scoring import Prediction

__all__ = ["Bm25Peer", "NaiveLlamaIndexPeer", "default_peers", "said_no_answer"]

# The stock prompt has no refusal sentence; these are the ways a model says the context does not answer.
_NO_ANSWER = re.compile(
    r"\b(not (found|mentioned|stated|specified|provided|available|given|included|contain\w*)|"
    r"(does|do|did) not (say|mention|contain|state|specify|provide|include|answer|have)|no (information|mention)|"
    r"cannot (be )?(answer\w*|determine\w*|find|found)|can't (answer|determine|find)|unable to (answer|determine|find)|"
    r"i don't know|i do not know|empty response)\b", re.IGNORECASE)


def said_no_answer(reply: str) -> bool:
    """Whether a free-form reply declines to answer (how a stock pipeline abstains)."""
    return not reply.strip() or bool(_NO_ANSWER.search(reply))


@dataclass
class Bm25Peer:
    """Plain BM25 over our index's chunks (same units as our retriever), ranking only."""

    assistant: Any
    name: str = "BM25 (bm25s)"
    _chunks: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _model: Any = field(default=None, repr=False)
    _stemmer: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        import bm25s
        import Stemmer

        retriever = self.assistant.retriever
        data = retriever.store.chunks(retriever.refresh().doc_keys())
        self._chunks = [{"doc": meta["doc"], "text": text} for text, meta in zip(data["documents"],
                                                                                data["metadatas"], strict=True)]
        self._stemmer = Stemmer.Stemmer("english")
        tokens = bm25s.tokenize([c["text"] for c in self._chunks], stopwords="en", stemmer=self._stemmer,
                                show_progress=False)
        self._model = bm25s.BM25()
        self._model.index(tokens, show_progress=False)

    def ranked_docs(self, question: str, depth: int = RANK_DEPTH) -> list[str]:
        """Distinct documents of the best `depth` chunks, best first."""
        import bm25s

        tokens = bm25s.tokenize([question], stopwords="en", stemmer=self._stemmer, show_progress=False)
        if not tokens.ids or not tokens.ids[0]:
            return []
        indices, scores = self._model.retrieve(tokens, k=min(depth, len(self._chunks)), show_progress=False)
        return distinct_docs(self._chunks[int(i)]["doc"] for i, s in zip(indices[0], scores[0], strict=True)
                             if s > 0)

    def predict(self, item: EvalItem, history: list[tuple[str, str]]) -> Prediction:
        started = time.perf_counter()
        ranked = self.ranked_docs(item.question)
        wall_ms = (time.perf_counter() - started) * 1000
        return Prediction(ranked_docs=ranked, read_docs=ranked[: self.assistant.settings.top_k],
                          timings_ms={"total_ms": wall_ms}, standalone_question=item.question, answers=False)


@dataclass
class NaiveLlamaIndexPeer:
    """A stock LlamaIndex pipeline with our embedding model and LLM (see the module docstring)."""

    corpus_dir: Path
    embed_model: Any
    llm: Any
    name: str = "LlamaIndex naive (top-2)"
    build_seconds: float = 0.0
    _engine: Any = field(default=None, repr=False)
    _retriever: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        from llama_index.core import SimpleDirectoryReader, VectorStoreIndex

        started = time.perf_counter()
        # exclude_hidden=False: the evaluation corpora live under the hidden `.data/` folder, and the reader's
        # default skips every file whose path has a hidden part (then fails with "No files found").
        documents = SimpleDirectoryReader(str(self.corpus_dir), recursive=True, exclude_hidden=False).load_data()
        index = VectorStoreIndex.from_documents(documents, embed_model=self.embed_model)
        self._engine = index.as_query_engine(llm=self.llm)
        self._retriever = index.as_retriever(similarity_top_k=20)
        self.build_seconds = time.perf_counter() - started

    def _doc(self, node: Any) -> str:
        path = node.metadata.get("file_path")
        if not path:
            return str(node.metadata.get("file_name", ""))
        try:
            return Path(path).resolve().relative_to(Path(self.corpus_dir).resolve()).as_posix()
        except ValueError:
            return Path(path).name

    def _citation(self, number: int, scored: Any) -> dict[str, Any]:
        node = scored.node
        return {"id": number, "doc": self._doc(node), "start": node.start_char_idx, "end": node.end_char_idx,
                "quote": node.get_content(), "score": round(float(scored.score or 0.0), 4)}

    def predict(self, item: EvalItem, history: list[tuple[str, str]]) -> Prediction:
        started = time.perf_counter()
        response = self._engine.query(item.question)
        wall_ms = (time.perf_counter() - started) * 1000
        reply = str(response).strip()
        abstained = said_no_answer(reply)
        sources = list(response.source_nodes or [])
        started = time.perf_counter()
        ranked = distinct_docs(self._doc(n.node) for n in self._retriever.retrieve(item.question))
        rank_ms = (time.perf_counter() - started) * 1000
        return Prediction(answer=reply, short_answer=reply, abstained=abstained,
                          citations=[] if abstained else [self._citation(i, n) for i, n in enumerate(sources, 1)],
                          ranked_docs=ranked, read_docs=distinct_docs(self._doc(n.node) for n in sources),
                          timings_ms={"total_ms": wall_ms, "eval_rank_ms": rank_ms},
                          standalone_question=item.question)


def default_peers(assistant: Any) -> list[Any]:
    """The peers of `assistant eval --compare`: the stock LlamaIndex pipeline, then plain BM25."""
    return [NaiveLlamaIndexPeer(assistant.settings.corpus_dir, assistant.embed_model, assistant.llm),
            Bm25Peer(assistant)]
