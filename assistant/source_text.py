"""The text a document's citation spans index into, for showing a cited passage in its context.

A citation is a character span of the document as it was indexed. The file is read once per version (cached by
path, size and modification time) and used while its bytes are the ones indexed (same sha256). When the file
changed, vanished or can no longer be read, its indexed passages are laid at their own spans instead (the gaps
between passages as spaces): every cited span still shows exactly, with a note saying why the rest may be missing.

Example:
    >>> texts = SourceTexts()
    >>> texts.from_passages([(0, 5, "Alpha"), (10, 14, "Beta")])
    'Alpha     Beta'
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from index.indexer import file_sha256
from index.readers import read_document

CHANGED_NOTE = "the file changed or vanished since it was indexed: shown from the index, which keeps the cited passages"


@dataclass(frozen=True)
class SourceText:
    text: str
    note: str = ""  # why the text is the index's rather than the file's, when it is
    path: str | None = None  # the file, when `text` was read from it (its bytes are the ones indexed)


class SourceTexts:
    """A thread-safe cache of documents' texts, keyed by file path, size and modification time."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[tuple[int, int], SourceText]] = {}
        self._lock = threading.Lock()

    def get(self, path: str | None, indexed_hash: str, passages: Callable[[], Iterable[tuple[int, int, str]]]
            ) -> SourceText:
        """The text of the file at `path` if its bytes hash to `indexed_hash`, else the indexed `passages`
        ((start, end, text) triples) laid at their spans, with a note."""
        file = Path(path) if path else None
        try:
            if file is None:
                raise FileNotFoundError("no file recorded")
            stat = file.stat()
            version = (stat.st_size, stat.st_mtime_ns)
            with self._lock:
                cached = self._cache.get(str(file))
            if cached is not None and cached[0] == version:
                return cached[1]
            if file_sha256(file) == indexed_hash:
                found = SourceText(read_document(file, file.parent).text, path=str(file))
            else:
                found = SourceText(self.from_passages(passages()), CHANGED_NOTE)
            with self._lock:
                self._cache[str(file)] = (version, found)
            return found
        except Exception:  # noqa: BLE001  (vanished, unreadable, no longer parseable: the index still has the text)
            return SourceText(self.from_passages(passages()), CHANGED_NOTE)

    @staticmethod
    def from_passages(passages: Iterable[tuple[int, int, str]]) -> str:
        """A text holding each passage at its own span; characters no passage covers are spaces."""
        chars: list[str] = []
        for start, end, text in sorted(passages):
            if len(chars) < end:
                chars.extend(" " * (end - len(chars)))
            chars[start:end] = text
        return "".join(chars)
