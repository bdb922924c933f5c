"""Sentence-aware chunking that keeps every chunk's exact character span in its source text.

A citation must point at the very characters it quotes, so chunks are never rebuilt from tokens: each chunk is
`source[start:end]` for a span made of whole sentences (punkt, the tokenizer llama-index bundles), packed by
paragraph up to a word budget, with a sentence of overlap so a fact split across a boundary is still retrievable.
Page boilerplate ("Leave a comment", site taglines) is left out of the chunks by skipping its span, which keeps
every other span exact.

Example:
    >>> spans = sentence_spans("Alder met Brook. They spoke in Paris.")
    >>> spans
    [(0, 16), (17, 37)]
"""

from __future__ import annotations

import base64
import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.node_parser import NodeParser
from llama_index.core.schema import BaseNode, Document, MetadataMode, NodeRelationship, TextNode

from index.readers import page_at
from index.store import chunk_prefix, doc_key

# Lines that are page furniture rather than content. Kept short and literal on purpose: a false positive would
# hide a real sentence from retrieval, a false negative only costs a little noise.
BOILERPLATE_LINES = (
    re.compile(r"^(leave a (comment|reply)|comments?|share( this)?|clear|advertisement|read more|"
               r"related( articles| posts)?|subscribe( now)?|print|email|tweet|click here.*)\W*$", re.IGNORECASE),
    re.compile(r"^[\w .,'&-]{0,60}\bsince (19|20)\d\d\W*$", re.IGNORECASE),  # "Creating new perspectives since 2009"
    re.compile(r"^(copyright|©|\(c\)).{0,120}$", re.IGNORECASE),
)

# Metadata stored with every chunk. Only the title is embedded with the text: it names the subject, which helps
# retrieval; paths, hashes and offsets would only add noise to the vector.
EMBEDDED_METADATA = ("title",)


@dataclass(frozen=True)
class Chunk:
    """One chunk: `text == source[start:end]`."""

    start: int
    end: int
    text: str


# Abbreviations that punkt's English model lacks but Wikipedia and news write mid-sentence ("circles, i.e. its soft
# power"). Others ("etc.") end sentences as often as not and are left to punkt.
EXTRA_ABBREVIATIONS = ("i.e", "e.g", "cf", "viz", "approx")


@lru_cache(maxsize=1)
def _punkt() -> Any:
    """punkt with its trained English model: its abbreviations ("Mr.", "U.S.", "D.C.", "p.m.", "Jr.", "v.") do not
    end a sentence. llama-index bundles that model but builds its own splitter untrained, which cut "It was the
    third-most watched U.S." from "broadcast ever." (255 of the 5,266 sentences it made of the SQuAD-even passages
    were such pieces). The model is looked up on nltk's path, then where llama-index keeps it; never downloaded."""
    import llama_index.core
    import nltk
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer, load_punkt_params

    bundled = str(Path(llama_index.core.__file__).parent / "_static" / "nltk_cache")
    if bundled not in nltk.data.path:
        nltk.data.path.append(bundled)  # as llama-index itself does; nltk reads model files only on its path
    try:
        params = load_punkt_params(nltk.data.find("tokenizers/punkt_tab/english/"))
    except (LookupError, OSError):
        params = PunktParameters()  # no model anywhere: the abbreviations below only
    params.abbrev_types.update(EXTRA_ABBREVIATIONS)
    return PunktSentenceTokenizer(train_text=params)


def is_boilerplate(line: str) -> bool:
    """True for a line that is page furniture (comment prompts, taglines, copyright notices)."""
    stripped = line.strip()
    return bool(stripped) and any(pattern.match(stripped) for pattern in BOILERPLATE_LINES)


def paragraph_spans(text: str, skip_boilerplate: bool = True) -> list[tuple[int, int]]:
    """Spans of the non-empty lines of `text`, trimmed of surrounding whitespace."""
    spans = []
    for match in re.finditer(r"[^\n]+", text):
        line = match.group()
        if not line.strip() or (skip_boilerplate and is_boilerplate(line)):
            continue
        lead = len(line) - len(line.lstrip())
        spans.append((match.start() + lead, match.start() + len(line.rstrip())))
    return spans


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Exact spans of the sentences of `text[start:end]`, in `text` coordinates; lines are hard boundaries."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for p_start, p_end in paragraph_spans(text[start:end], skip_boilerplate=False):
        paragraph = text[start + p_start:start + p_end]
        for s_start, s_end in _punkt().span_tokenize(paragraph):
            spans.append((start + p_start + s_start, start + p_start + s_end))
    return spans


def _split_long(text: str, span: tuple[int, int], max_words: int) -> list[tuple[int, int]]:
    """Cut a sentence longer than the budget at word boundaries, so no chunk silently overflows the encoder."""
    words = list(re.finditer(r"\S+", text[span[0]:span[1]]))
    if len(words) <= max_words:
        return [span]
    pieces = []
    for i in range(0, len(words), max_words):
        group = words[i:i + max_words]
        pieces.append((span[0] + group[0].start(), span[0] + group[-1].end()))
    return pieces


def _word_count(text: str, span: tuple[int, int]) -> int:
    return len(text[span[0]:span[1]].split())


def chunk_text(text: str, max_words: int = 180, overlap_sentences: int = 1) -> list[Chunk]:
    """Pack whole sentences into chunks of at most `max_words`, preferring paragraph boundaries.

    A chunk never crosses skipped boilerplate, and the last `overlap_sentences` sentences of a chunk open the
    next one (only when the chunk ended inside a paragraph or the paragraph was short, to keep context).
    """
    chunks: list[Chunk] = []
    current: list[tuple[int, int]] = []
    words = 0

    def flush() -> None:
        nonlocal current, words
        if current:
            start, end = current[0][0], current[-1][1]
            chunks.append(Chunk(start, end, text[start:end]))
        keep = current[-overlap_sentences:] if overlap_sentences and len(current) > overlap_sentences else []
        current, words = keep, sum(_word_count(text, s) for s in keep)

    for p_start, p_end in paragraph_spans(text):
        sentences = [piece for s in sentence_spans(text, p_start, p_end) for piece in _split_long(text, s, max_words)]
        p_words = sum(_word_count(text, s) for s in sentences)
        if current and words + p_words > max_words:
            flush()
        for sentence in sentences:
            n = _word_count(text, sentence)
            if current and words + n > max_words:
                flush()
                if words + n > max_words:  # the overlap itself would overflow the budget: start fresh
                    current, words = [], 0
            current.append(sentence)
            words += n
    if current and (not chunks or current[-1][1] > chunks[-1].end):
        start, end = current[0][0], current[-1][1]
        chunks.append(Chunk(start, end, text[start:end]))
    return chunks


def chunk_id(doc_name: str, content_hash: str, index: int) -> str:
    """A stable id: the same file content always yields the same ids, so re-adding is idempotent."""
    return f"{chunk_prefix(doc_name, content_hash)}-{index:05d}"


class SpanSentenceSplitter(NodeParser):
    """A llama-index node parser producing `TextNode`s whose text is exactly `document.text[start:end]`.

    The document's metadata must carry `doc` (file name) and `doc_hash`; each node gets `start`, `end`,
    `chunk` (ordinal) and `doc_key` (`doc@hash`, the unit the index manifest commits) besides them. A document
    with pages carries `page_starts` (`pack_offsets` of where each page begins); its nodes get `page` (the page
    their start is on) and `page_breaks` (where later pages begin inside them) instead: see `page_of`.
    """

    max_words: int = 180
    overlap_sentences: int = 1

    def _parse_nodes(self, nodes: Sequence[BaseNode], show_progress: bool = False, **kwargs: Any) -> list[BaseNode]:
        out: list[BaseNode] = []
        for document in nodes:
            text = document.get_content(metadata_mode=MetadataMode.NONE)
            meta = dict(document.metadata)
            page_starts = unpack_offsets(meta.pop("page_starts", ""))
            for i, chunk in enumerate(chunk_text(text, self.max_words, self.overlap_sentences)):
                node_meta = {**meta, "start": chunk.start, "end": chunk.end, "chunk": i,
                             "doc_key": doc_key(meta["doc"], meta["doc_hash"])}
                if page_starts:
                    node_meta["page"] = page_at(page_starts, chunk.start)
                    inside = page_starts[bisect.bisect_right(page_starts, chunk.start):
                                         bisect.bisect_left(page_starts, chunk.end)]
                    node_meta["page_breaks"] = pack_offsets(inside)
                node = TextNode(
                    id_=chunk_id(meta["doc"], meta["doc_hash"], i), text=chunk.text, metadata=node_meta,
                    start_char_idx=chunk.start, end_char_idx=chunk.end,
                    excluded_embed_metadata_keys=[k for k in node_meta if k not in EMBEDDED_METADATA],
                    excluded_llm_metadata_keys=[k for k in node_meta if k not in EMBEDDED_METADATA],
                    relationships={NodeRelationship.SOURCE: document.as_related_node_info()},
                )
                out.append(node)
        return out

    def _postprocess_parsed_nodes(self, nodes: list[BaseNode], parent_doc_map: dict[str, Document]) -> list[BaseNode]:
        # The base class re-finds each chunk with str.find, which can land on an earlier duplicate passage;
        # our spans are already exact, so keep them.
        return nodes


def pack_spans(spans: Sequence[tuple[int, int]]) -> str:
    """Sentence spans as compact text for Chroma metadata (which holds only scalars)."""
    return ";".join(f"{s},{e}" for s, e in spans)


def unpack_spans(packed: str) -> list[tuple[int, int]]:
    """Inverse of `pack_spans`."""
    return [tuple(int(x) for x in part.split(",")) for part in packed.split(";") if part]  # type: ignore[misc]


def pack_offsets(offsets: Sequence[int]) -> str:
    """Character offsets as compact text for Chroma metadata: "0,812,1630"."""
    return ",".join(str(offset) for offset in offsets)


def unpack_offsets(packed: str) -> list[int]:
    """Inverse of `pack_offsets`."""
    return [int(x) for x in packed.split(",") if x]


def page_of(metadata: dict[str, Any], offset: int) -> int | None:
    """The 1-based page of character `offset` (document coordinates) inside the chunk with `metadata`; None for a
    document without pages.

    >>> page_of({"page": 4, "page_breaks": "900,1800"}, 1000)
    5
    """
    if metadata.get("page") is None:
        return None
    return int(metadata["page"]) + bisect.bisect_right(unpack_offsets(metadata.get("page_breaks", "")), offset)


def pack_vectors(vectors: np.ndarray) -> str:
    """Sentence vectors as base64 float16: half the bytes, and cosine scores change by < 1e-3."""
    return base64.b64encode(np.asarray(vectors, dtype=np.float16).tobytes()).decode("ascii")


def unpack_vectors(packed: str, dim: int) -> np.ndarray:
    """Inverse of `pack_vectors`, as float32 rows."""
    return np.frombuffer(base64.b64decode(packed), dtype=np.float16).reshape(-1, dim).astype(np.float32)
