"""Corpus ingestion: read documents, chunk them with exact character spans, embed them into Chroma.

The data path reads top to bottom: `readers` (file -> exact source text) -> `chunking` (text -> sentence-aware
chunks whose text is source[start:end]) -> `embeddings` (chunks -> vectors) -> `store` (Chroma collection plus an
atomically swapped manifest) -> `indexer` (incremental, content-hash based updates).
"""

from assistant.offline import ensure_offline

ensure_offline()
