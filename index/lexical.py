"""The lexical (BM25) index of the live chunks, kept on local disk and brought up to date from changes only.

Dense search lives in Chroma; BM25 lives here, in a folder of this machine's data directory: a SQLite table of each
chunk's BM25 tokens and content terms (the terms' document frequencies weigh words in evidence scoring), a full-text
table of each chunk's words as `text.mention_keys` compares them (an exhaustive "is X mentioned?" search reads only
the chunks it finds), and a bm25s index saved beside them for one committed index generation, loaded memory-mapped.
When the store commits a new generation, `sync` removes the chunks of documents no longer live and fetches,
tokenizes and adds only those of documents it has not seen, then rebuilds the BM25 matrix from the table (no chunk
text is kept, and the store is never read whole after the first time). Several processes on one machine share the
folder: one syncs, the others wait and then load its result. Another machine keeps its own folder and catches up the
same way.

Example:
    >>> lexical = LexicalIndex(Path(".data/lexical/chunks"))  # doctest: +SKIP
    >>> lexical.sync(7, {"a.txt@1f2e"}, fetch)  # doctest: +SKIP
    >>> lexical.search("Where will the talks take place?", 20)  # doctest: +SKIP
    [('a.txt@1f2e#0', 3.1)]
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.parts import exclusive_lock
from assistant.text import TermStats, content_terms, mention_keys, stemmer

if TYPE_CHECKING:
    from assistant.config import Settings
    from index.store import CorpusStore

# (chunk id, doc key, title, text) of the chunks of the given document keys.
ChunkFetcher = Callable[[list[str]], Iterable[tuple[str, str, str, str]]]
FETCH_KEYS = 200  # document keys asked of the store at a time
_SEPARATOR = "\x1f"  # between stored tokens and terms (neither holds one)
# The tables' layout: a folder written by another layout is emptied and rebuilt from the store at its next sync.
SCHEMA = "2"


def bm25_text(title: str, text: str) -> str:
    """What BM25 reads of a chunk: its document's title, then its text (the same words the dense vector reads)."""
    return f"title: {title}\n\n{text}" if title else text


def lexical_folder(settings: Settings, store: CorpusStore) -> Path:
    """This machine's lexical index of `store`'s collection: under the data folder, named by the store's place and
    the collection's id (a rebuilt collection has a new id, so its index starts afresh)."""
    place = settings.chroma_url or str(settings.resolved_store_dir.resolve())
    identity = f"{place}|{settings.collection}|{getattr(store.collection, 'id', '')}"
    return settings.data_dir / "lexical" / hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]


def store_fetcher(store: CorpusStore) -> ChunkFetcher:
    """What `LexicalIndex.sync` reads from `store`: the chunks of the document keys it asks for."""
    def fetch(keys: list[str]) -> Iterator[tuple[str, str, str, str]]:
        data = store.chunks(keys)
        for chunk_id, text, meta in zip(data["ids"], data["documents"], data["metadatas"], strict=True):
            yield chunk_id, str(meta["doc_key"]), str(meta.get("title") or ""), text
    return fetch


class LexicalIndex:
    """BM25 search and term statistics over the chunks of one committed generation; thread-safe."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.generation: int | None = None
        self.term_stats = TermStats()
        self._bm25: Any = None
        self._ids: list[str] = []
        self._lock = threading.Lock()

    # -- keeping up with the store ------------------------------------------------------------------------------
    def sync(self, generation: int, live_keys: set[str] | Callable[[], set[str]], fetch: ChunkFetcher) -> None:
        """Make the index that of `generation`, whose live documents are `live_keys` (or what calling it gives,
        called only when needed): load it when this machine already built it, otherwise update the table from
        the documents added and removed since, and rebuild."""
        if self.generation == generation:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.folder / "index"):
            self._check_schema()
            if self._saved_generation() != generation:
                self._update(live_keys() if callable(live_keys) else live_keys, fetch)
                self._save(generation)
            self._load(generation)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.folder / "tokens.sqlite3")
        db.execute("CREATE TABLE IF NOT EXISTS chunks (chunk_id TEXT PRIMARY KEY, doc_key TEXT NOT NULL, "
                   "tokens TEXT NOT NULL)")
        db.execute("CREATE INDEX IF NOT EXISTS chunks_doc ON chunks (doc_key)")
        db.execute("CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        # Row i holds the `mention_keys` of the chunk whose rowid is i in `chunks`.
        db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS mentions USING fts5(keys)")
        return db

    def _check_schema(self) -> None:
        """Empty a folder another layout wrote (its rows are rebuilt from the store), and record this one."""
        with closing(self._connect()) as db, db:
            row = db.execute("SELECT value FROM state WHERE key = 'schema'").fetchone()
            if row is None or row[0] != SCHEMA:
                db.execute("DELETE FROM chunks")
                db.execute("DELETE FROM mentions")
                db.execute("DELETE FROM state")
                db.execute("INSERT INTO state VALUES ('schema', ?)", (SCHEMA,))

    def _saved_generation(self) -> int | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT value FROM state WHERE key = 'generation'").fetchone()
        saved = int(row[0]) if row else None
        return saved if saved is not None and (self.folder / f"bm25-{saved}").is_dir() else None

    def _update(self, live_keys: set[str], fetch: ChunkFetcher) -> None:
        """Drop the rows of documents no longer live; add those of live documents the table lacks."""
        import bm25s

        with closing(self._connect()) as db, db:
            held = {key for (key,) in db.execute("SELECT DISTINCT doc_key FROM chunks")}
            gone = sorted(held - live_keys)
            for key in gone:
                db.execute("DELETE FROM mentions WHERE rowid IN (SELECT rowid FROM chunks WHERE doc_key = ?)", (key,))
                db.execute("DELETE FROM chunks WHERE doc_key = ?", (key,))
            db.execute("DELETE FROM state WHERE key = 'generation'")  # the rows no longer match the saved index
            added = sorted(live_keys - held)
            for i in range(0, len(added), FETCH_KEYS):
                rows = list(fetch(added[i:i + FETCH_KEYS]))
                tokens = bm25s.tokenize([bm25_text(title, text) for _, _, title, text in rows], stopwords="english",
                                        stemmer=stemmer(), return_ids=False, show_progress=False)
                for (chunk_id, key, _, text), words in zip(rows, tokens, strict=True):
                    # A chunk id met again (the same chunk under another key) replaces its earlier rows.
                    db.execute("DELETE FROM mentions WHERE rowid IN (SELECT rowid FROM chunks WHERE chunk_id = ?)",
                               (chunk_id,))
                    db.execute("DELETE FROM chunks WHERE chunk_id = ?", (chunk_id,))
                    cursor = db.execute("INSERT INTO chunks VALUES (?, ?, ?)", (
                        chunk_id, key, " ".join(words) + _SEPARATOR + " ".join(sorted(set(content_terms(text))))))
                    db.execute("INSERT INTO mentions (rowid, keys) VALUES (?, ?)",
                               (cursor.lastrowid, " ".join(mention_keys(text))))

    def _rows(self) -> Iterator[tuple[str, list[str], list[str]]]:
        with closing(self._connect()) as db:
            for chunk_id, stored in db.execute("SELECT chunk_id, tokens FROM chunks ORDER BY chunk_id"):
                words, _, terms = stored.partition(_SEPARATOR)
                yield chunk_id, words.split(), terms.split()

    def _save(self, generation: int) -> None:
        """Build the BM25 matrix and term statistics from the table and save them for `generation` (a folder that
        appears whole, by rename), then record the generation and drop older folders."""
        import bm25s

        # Each chunk's words become ids of one vocabulary as the rows stream by, so the corpus is held as integers,
        # never as every chunk's strings: the rebuild's memory stays a fraction of the table's text
        # (`python -m bench.lexical_rebuild`). bm25s builds the same matrix from the ids and the vocabulary.
        ids, corpus, vocabulary, df = [], [], {}, Counter()
        for chunk_id, words, terms in self._rows():
            ids.append(chunk_id)
            corpus.append([vocabulary.setdefault(word, len(vocabulary)) for word in words])
            df.update(terms)
        target = self.folder / f"bm25-{generation}"
        staging = self.folder / f".bm25-{generation}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        if corpus:
            bm25 = bm25s.BM25()
            bm25.index((corpus, vocabulary), show_progress=False)
            bm25.save(str(staging))
        (staging / "ids.json").write_text(json.dumps(ids), encoding="utf-8")
        (staging / "terms.json").write_text(json.dumps({"n": len(ids), "df": df}), encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        with closing(self._connect()) as db, db:
            db.execute("INSERT OR REPLACE INTO state VALUES ('generation', ?)", (str(generation),))
        for old in self.folder.glob("bm25-*"):
            if old != target:
                shutil.rmtree(old, ignore_errors=True)

    def _load(self, generation: int) -> None:
        import bm25s

        folder = self.folder / f"bm25-{generation}"
        ids = json.loads((folder / "ids.json").read_text("utf-8"))
        terms = json.loads((folder / "terms.json").read_text("utf-8"))
        stats = TermStats()
        stats.n, stats.df = int(terms["n"]), Counter(terms["df"])
        bm25 = bm25s.BM25.load(str(folder), mmap=True) if ids else None
        with self._lock:
            self._bm25, self._ids, self.term_stats, self.generation = bm25, ids, stats, generation

    # -- search -------------------------------------------------------------------------------------------------
    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """(chunk id, BM25 score) of the up to `k` best chunks with a positive score, best first."""
        import bm25s

        with self._lock:
            bm25, ids = self._bm25, self._ids
        if bm25 is None or not ids:
            return []
        tokens = bm25s.tokenize(query, stemmer=stemmer(), return_ids=False, show_progress=False)
        if not tokens or not tokens[0]:
            return []
        try:
            found, scores = bm25.retrieve(tokens, k=min(k, len(ids)), show_progress=False)
        except (ValueError, IndexError):  # no query term is in the vocabulary
            return []
        return [(ids[int(i)], float(s)) for i, s in zip(found[0], scores[0], strict=True) if s > 0.0]

    def mentioning(self, phrase: str) -> list[str]:
        """The ids of the chunks whose words hold those of `phrase` in order, as `text.mention_keys` compares them
        (at most those of the generation last synced on this machine: a caller drops what it does not read)."""
        keys = mention_keys(phrase)
        if not keys or not (self.folder / "tokens.sqlite3").is_file():
            return []
        quoted = '"' + " ".join(keys).replace('"', " ") + '"'
        with closing(self._connect()) as db:
            try:
                found = db.execute("SELECT chunks.chunk_id FROM mentions JOIN chunks ON chunks.rowid = mentions.rowid "
                                   "WHERE mentions MATCH ?", (quoted,)).fetchall()
            except sqlite3.OperationalError:  # a phrase the full-text tokenizer leaves empty
                return []
        return [chunk_id for (chunk_id,) in found]

    def __len__(self) -> int:
        return len(self._ids)
