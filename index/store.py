"""The Chroma collection that holds the chunks, and the manifest that says which of them are live.

Chunks of a document are stored under its `doc_key` (`name@sha256`), stamped with the generation of the index run
that wrote them (`gen`). Each document's entry (hash, chunk count, title, date, path) is a record of a sibling
collection (`<collection>.docs`), stamped the same way; the collection's own metadata holds the manifest's head: the
committed generation, the documents it retired, and counts, small whatever the corpus, and replaced in one write at
the end of an index run (the commit point). A reader reads the head per question and the document list only when it
needs it, once per generation. Readers only look at chunks of the
committed generation or older, less the documents the last commit retired and has not deleted yet (a list as long
as one run's changes, not as the corpus), so a run that is killed, or still in progress, never shows a half-built
index: questions see the old corpus until the new one is committed, then the new one. A store made before chunks
carried stamps keeps its manifest whole in the collection's metadata and is read by its list of live document keys.

The collection metadata also records the embedding model and its dimension: a store built with another model
is refused with a clear message instead of returning meaningless neighbours.

Example:
    >>> store = CorpusStore.open(settings, create=False)  # doctest: +SKIP
    >>> sorted(store.manifest().docs)  # doctest: +SKIP
    ['000_ba464c03508296b8.txt', '004_e31eb55d49d7f6ac.txt']
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.config import Settings

SCHEMA_VERSION = 3  # 2: chunks carry their sentence spans and vectors; 3: sentences split with punkt's English model
REBUILD_COMMAND = "assistant index --rebuild"
DOCS_SUFFIX = ".docs"  # the documents' collection is named after the chunks' one with this suffix
BATCH = 500  # ids or keys per request: a filter listing more would pass SQLite more variables than it takes
# Records per read when a read may match very many: embedded Chroma fetches the matched records' metadata with one
# SQL variable each, and fails past SQLite's limit (32,766) with "too many SQL variables".
PAGE = 30_000
# The most retired document keys a reader's filter lists: past it (a run that replaces most of a large corpus) the
# filter selects by generation alone, and readers drop the retired documents' records themselves (`_live_where`).
FILTER_KEYS = BATCH


class StoreError(RuntimeError):
    """The index cannot be used as it is; the message names the command that fixes it."""


def doc_key(name: str, digest: str) -> str:
    """The key the chunks and the entry of one version of a document are stored under (`name@sha256`)."""
    return f"{name}@{digest}"


def chunk_prefix(name: str, digest: str) -> str:
    """What the ids of one document version's chunks start with (`index.chunking.chunk_id`: prefix-NNNNN)."""
    return hashlib.sha1(f"{name}\0{digest}".encode()).hexdigest()[:16]


def key_prefix(key: str) -> str:
    """`chunk_prefix` of a document key (`doc_key`: name@digest)."""
    return chunk_prefix(*key.rsplit("@", 1))


def prefix_of(chunk_id: str) -> str:
    """The document-version part of a chunk id (`chunk_prefix`)."""
    return chunk_id.split("-", 1)[0]


@dataclass
class DocEntry:
    """One live document: enough to list it, find its chunks and detect a change."""

    hash: str
    chunks: int
    title: str | None = None
    date: str | None = None
    indexed_at: float = 0.0
    path: str | None = None  # absolute path at index time, for showing surrounding text
    # The file's size and modification time (ns) when it was hashed: a file whose size and time are both unchanged
    # is taken as unchanged without reading it again, as git's index does (touching a file makes it read again).
    size: int | None = None
    mtime_ns: int | None = None


class Manifest:
    """The committed state of the index: which documents (and so which chunks) are live.

    `docs` may be given, or read on first use by `loader` (a store's document list, read only when asked for)."""

    def __init__(self, docs: dict[str, DocEntry] | None = None, generation: int = 0, retired: list[str] | None = None,
                 loader: Callable[[], dict[str, DocEntry]] | None = None, counts: tuple[int, int] | None = None,
                 pending: bool = False, stamped: bool = False) -> None:
        self._docs, self._loader = docs, loader
        self.stamped = stamped  # read from a store whose chunks carry their generation (and whose head is small)
        self.generation = generation
        self.pending = pending  # an index run may have written chunks it has not committed (it runs, or was killed)
        self.retired = list(retired or [])  # doc keys taken out by a commit whose chunks may remain
        self._counts = counts  # (documents, chunks) as committed, when known without the list

    @property
    def docs(self) -> dict[str, DocEntry]:
        if self._docs is None:
            self._docs = self._loader() if self._loader is not None else {}
        return self._docs

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Manifest) and (self.generation, self.retired, self.docs) == (
            other.generation, other.retired, other.docs)

    def __repr__(self) -> str:
        return f"Manifest(generation={self.generation}, retired={self.retired}, docs={self.docs})"

    def counts(self) -> tuple[int, int]:
        """(live documents, live chunks), without reading the document list where the head records them."""
        if self._counts is None:
            self._counts = (len(self.docs), sum(entry.chunks for entry in self.docs.values()))
        return self._counts

    def doc_keys(self, names: Collection[str] | None = None) -> list[str]:
        """The `doc_key` of every live document (of `names` only, when given), by name."""
        return [doc_key(name, entry.hash) for name, entry in sorted(self.docs.items())
                if names is None or name in names]

    def to_json(self) -> str:
        return json.dumps({"generation": self.generation, "docs": {k: asdict(v) for k, v in self.docs.items()},
                           "retired": self.retired}, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | None) -> Manifest:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(docs={k: DocEntry(**v) for k, v in data.get("docs", {}).items()},
                   generation=int(data.get("generation", 0)), retired=list(data.get("retired", [])))


def _client(settings: Settings, create: bool) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        from urllib.parse import urlparse

        url = urlparse(settings.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise StoreError(f"chroma_url {settings.chroma_url!r} is not an http(s)://HOST:PORT address")
        try:
            return chromadb.HttpClient(host=url.hostname, port=url.port or (443 if url.scheme == "https" else 8000),
                                       ssl=url.scheme == "https", settings=chroma_settings)
        except Exception as exc:  # chromadb raises plain ValueError/ConnectionError subclasses here
            raise StoreError(_unreachable(settings.chroma_url, exc)) from exc
    path: Path = settings.resolved_store_dir
    database = path / "chroma.sqlite3"
    try:
        if path.exists() and not path.is_dir():
            raise StoreError(f"the index location {path} is a file, not a folder; move that file away (or set "
                             "store_dir to another folder), then run `assistant index`")
        present = database.is_file()
    except PermissionError as exc:  # a folder on the way cannot be read: say so, not "no index found"
        raise StoreError(f"the index at {path} is not readable ({exc.strerror}); fix its permissions or set "
                         "store_dir to another folder") from exc
    if present and not os.access(database, os.R_OK | os.W_OK):
        raise StoreError(f"the index at {path} is not readable/writable (permission denied on {database.name}); "
                         "fix its permissions or set store_dir to another folder")
    if not create and not present:
        raise StoreError(f"no index found at {path}; build it with `assistant index`")
    try:
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except PermissionError as exc:
        raise StoreError(f"the index at {path} is not readable/writable ({exc}); fix its permissions or set "
                         "store_dir to another folder") from exc
    except Exception as exc:
        forget_cached_client(path)
        raise StoreError(f"the index at {path} cannot be opened ({exc}); it may be damaged: rebuild it with "
                         f"`{REBUILD_COMMAND}`") from exc


def _unreachable(url: str, exc: BaseException) -> str:
    return (f"cannot reach the Chroma server at {url} ({exc}); start it (`chroma run --path DIR --host HOST "
            "--port PORT`) or fix chroma_url")


def _is_connection_error(exc: BaseException) -> bool:
    """True for a network failure talking to a Chroma server (not for an error the server reported)."""
    import httpx

    return isinstance(exc, httpx.TransportError | ConnectionError) or "Could not connect" in str(exc)


def forget_cached_client(path: Path) -> None:
    """Drop this process's cached Chroma system for the embedded store at `path`; the next open starts afresh.

    chromadb keeps one system per folder for the life of the process. After a failed open that system is
    half-started, and every later open in the same process (the web UI, a retry after a rebuild) would fail
    with an unrelated internal error instead of the real cause. Clients already open keep working.
    """
    with contextlib.suppress(Exception):
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient._identifier_to_system.pop(str(path), None)


class CorpusStore:
    """A Chroma collection of chunks plus its manifest; the only code that talks to Chroma directly."""

    def __init__(self, settings: Settings, client: Any, collection: Any) -> None:
        self.settings = settings
        self.client = client
        self.collection = collection
        self._docs: Any = None  # the documents' collection, opened when first needed

    @classmethod
    def open(cls, settings: Settings, create: bool = False, embed_model: str | None = None,
             embed_dim: int | None = None, ranking: tuple[str, int] | None = None) -> CorpusStore:
        """Open the collection; with `create`, make it when missing. Refuses a store built with another model."""
        client = _client(settings, create)
        try:
            collection = client.get_collection(settings.collection, embedding_function=None)
        except Exception as exc:
            if settings.chroma_url and _is_connection_error(exc):
                raise StoreError(_unreachable(settings.chroma_url, exc)) from exc
            if not create:
                where = settings.chroma_url or settings.resolved_store_dir
                if "does not exist" in str(exc) or "not found" in str(exc).lower():
                    raise StoreError(f"no index found in {where} (collection {settings.collection!r}); build it "
                                     "with `assistant index`") from exc
                raise StoreError(f"the index in {where} cannot be read ({exc}); rebuild it with "
                                 f"`{REBUILD_COMMAND}`") from exc
            # No default embedding function: Chroma would otherwise try to download its own ONNX model.
            collection = client.get_or_create_collection(
                settings.collection, embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata=_metadata(embed_model, embed_dim, Manifest(), ranking, stamped=True))
        store = cls(settings, client, collection)
        store.check_model(embed_model, embed_dim)
        return store

    # -- metadata -----------------------------------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        # Re-read every time: another writer (thread, or process via a server) may have committed since.
        try:
            fresh = self.client.get_collection(self.settings.collection, embedding_function=None)
        except Exception as exc:
            if self.settings.chroma_url and _is_connection_error(exc):
                raise StoreError(_unreachable(self.settings.chroma_url, exc)) from exc
            raise StoreError(f"the index collection {self.settings.collection!r} disappeared ({exc}); rebuild it "
                             f"with `{REBUILD_COMMAND}`") from exc
        self.collection = fresh
        return dict(fresh.metadata or {})

    @property
    def embed_model(self) -> str | None:
        return self._meta().get("embed_model")

    @property
    def embed_dim(self) -> int | None:
        dim = self._meta().get("embed_dim")
        return int(dim) if dim else None

    @property
    def ranking_model(self) -> tuple[str, int] | None:
        """(name, dimension) of the second embedding model whose vectors the chunks carry for ranking, if any."""
        meta = self._meta()
        name, dim = meta.get("ranking_model"), meta.get("ranking_dim")
        return (str(name), int(dim)) if name and dim else None

    def check_ranking_model(self, wanted: str | None, exact: bool) -> None:
        """Refuse a store whose chunks lack the ranking model's vectors the settings ask for (`wanted`: the settings'
        `index_ranking_model`); with `exact` (an index run, which adds chunks) also one that carries another's or some
        the settings do not ask for, so that the chunks of one store never differ in what vectors they carry."""
        stored = self.ranking_model
        stored_name = stored[0] if stored else None
        if stored_name == (wanted or None) or (not wanted and not exact):
            return
        if wanted:
            built = (f"with the vectors of ranking model {stored_name!r}" if stored_name
                     else "without a ranking model's vectors")
            keep = (f"set `ranking_embed_model = {stored_name!r}`" if stored_name
                    else "set `ranking_at_index = false`")
            raise StoreError(f"the index was built {built} but the settings ask for those of {wanted!r} "
                             f"(`ranking_at_index`); rebuild it with `{REBUILD_COMMAND}`, or {keep} to use it as built")
        raise StoreError(f"the index was built with ranking model {stored_name!r} (its vectors in the index) but the "
                         "settings ask for none in the index; set `ranking_at_index = true` and "
                         f"`ranking_embed_model = {stored_name!r}`, or rebuild it with `{REBUILD_COMMAND}`")

    def check_model(self, embed_model: str | None, embed_dim: int | None) -> None:
        """Refuse to mix vectors of two models: the store remembers which one built it."""
        meta = self._meta()
        if int(meta.get("schema", SCHEMA_VERSION)) != SCHEMA_VERSION:
            raise StoreError(f"the index was built by an incompatible version (schema {meta.get('schema')}); "
                             f"rebuild it with `{REBUILD_COMMAND}`")
        stored_model, stored_dim = meta.get("embed_model"), meta.get("embed_dim")
        if embed_model and stored_model and stored_model != embed_model:
            raise StoreError(f"the index was built with embedding model {stored_model!r} ({stored_dim}-dim) but the "
                             f"settings ask for {embed_model!r}; use that model or rebuild with `{REBUILD_COMMAND}`")
        if embed_dim and stored_dim and int(stored_dim) != embed_dim:
            raise StoreError(f"the index holds {stored_dim}-dim vectors but the model gives {embed_dim}-dim ones; "
                             f"rebuild with `{REBUILD_COMMAND}`")

    def manifest(self) -> Manifest:
        """The committed manifest (fresh from the store); its document list is read when first asked for."""
        meta = self._meta()
        try:
            if not meta.get("stamped"):
                return Manifest.from_json(meta.get("manifest"))
            generation, retired = int(meta.get("generation", 0)), list(json.loads(meta.get("retired") or "[]"))
            return Manifest(generation=generation, retired=retired, loader=lambda: self._documents(generation, retired),
                            counts=(int(meta.get("documents", 0)), int(meta.get("chunks", 0))),
                            pending=bool(meta.get("pending")), stamped=True)
        except (ValueError, TypeError) as exc:
            raise StoreError(f"the index manifest is damaged ({exc}); rebuild with `{REBUILD_COMMAND}`") from exc

    def _docs_collection(self) -> Any:
        """The sibling collection of document entries (one record per document, made on first use)."""
        if self._docs is None:
            self._docs = self.client.get_or_create_collection(f"{self.settings.collection}{DOCS_SUFFIX}",
                                                              embedding_function=None)
        return self._docs

    def _documents(self, generation: int, retired: Sequence[str] = ()) -> dict[str, DocEntry]:
        """The entries committed by `generation` or before, less those of the `retired` document keys.

        Read whole and filtered here: a filter in the read costs Chroma more than the few records it leaves out
        (those of a run not yet committed, and retired ones)."""
        found = _get_paged(self._docs_collection(), None, ["metadatas"])
        hidden = set(retired)
        try:
            return dict(_doc_entry(m) for m in found["metadatas"]
                        if int(m.get("gen", 0)) <= generation and m.get("doc_key") not in hidden)
        except (KeyError, ValueError, TypeError) as exc:  # json's errors are ValueErrors
            raise StoreError(f"the index's document list cannot be read ({type(exc).__name__}: {exc}; written by "
                             f"another version?); rebuild with `{REBUILD_COMMAND}`") from exc

    def write_documents(self, entries: dict[str, DocEntry], generation: int) -> None:
        """Store the entries of the documents a run indexed, stamped with the generation it will commit (before
        the commit: readers of older generations do not see them)."""
        if not entries or not self.stamped:
            return
        keys = [doc_key(name, entry.hash) for name, entry in entries.items()]
        metadatas = [{"doc_key": key, "gen": generation, "entry": _packed_entry(name, entry)}
                     for (name, entry), key in zip(entries.items(), keys, strict=True)]
        for i in range(0, len(keys), BATCH):
            self._docs_collection().upsert(ids=keys[i:i + BATCH], embeddings=[[1.0]] * len(keys[i:i + BATCH]),
                                           metadatas=metadatas[i:i + BATCH])

    def refresh_file_stats(self, stats: dict[str, tuple[str, int, int]]) -> None:
        """Record, for live documents whose content is the same (name -> (hash, size, mtime_ns)), the size and
        modification time their file has now (a touched or copied file), so that the next run need not read it
        again. Only those entries change: no generation, no chunk. A store of the earlier layout (its document
        list in the head) keeps them as they were until its next commit."""
        if not stats or not self.stamped:
            return
        named = sorted(stats.items())
        for i in range(0, len(named), BATCH):
            self._docs_collection().update(ids=[doc_key(name, digest) for name, (digest, _, _) in named[i:i + BATCH]],
                                           metadatas=[{"size": size, "mtime_ns": mtime_ns}
                                                      for _, (_, size, mtime_ns) in named[i:i + BATCH]])

    def delete_retired(self, doc_keys: list[str]) -> int:
        """Delete the chunks and entries of documents a commit retired; how many chunks."""
        ids = self.chunk_ids_of(doc_keys)
        self.delete_ids(ids)
        if doc_keys and self.stamped:
            for i in range(0, len(doc_keys), BATCH):
                self._docs_collection().delete(where={"doc_key": {"$in": doc_keys[i:i + BATCH]}})
        return len(ids)

    def commit(self, manifest: Manifest, embed_model: str, embed_dim: int,
               ranking: tuple[str, int] | None = None, pending: bool = False, lapsed: bool = False) -> None:
        """Make `manifest` the live state in one metadata write (the commit point of an index run); `pending`
        tells readers, before a run writes its first chunk, that chunks they must not see may appear (and other
        machines' runs that this run holds the index, `lease_holder`); `lapsed` writes the mark as already lapsed
        (a run that gives up)."""
        meta = _metadata(embed_model, embed_dim, manifest, ranking, self.stamped, pending)
        if lapsed:
            meta["updated_at"] = 0.0
        self.collection.modify(metadata=meta)

    @property
    def stamped(self) -> bool:
        """Whether every chunk carries the generation that wrote it (stores made by this version)."""
        return bool(self._meta().get("stamped"))

    @staticmethod
    def live_filter(manifest: Manifest) -> dict[str, Any]:
        """The `where` that selects the chunks of `manifest`'s live documents: by generation, of a size that does
        not grow with the corpus; for a store without stamps, by the list of live document keys."""
        if not manifest.stamped:
            return {"doc_key": {"$in": manifest.doc_keys()}}
        return _live_where(manifest.generation, manifest.retired)

    @staticmethod
    def query_filter(manifest: Manifest) -> dict[str, Any] | None:
        """The `where` a nearest-neighbour search needs: none when every stored chunk is live (no run pending,
        nothing retired), which keeps the search as fast as the vector index itself; `live_filter`'s otherwise."""
        if manifest.stamped and not manifest.pending and not manifest.retired:
            return None
        return CorpusStore.live_filter(manifest)

    def delete_uncommitted(self, generation: int, keeping: list[str]) -> int:
        """Delete chunks written after `generation` (by a run that did not commit) except those of `keeping`,
        which the run about to commit wrote or reuses; how many. Stores without stamps keep theirs (their readers
        filter by document keys).

        The documents kept are told apart by their chunk ids' prefix (`index.chunking.chunk_id`), not by a filter
        listing them: a run over tens of thousands of documents would pass SQLite more variables than it takes."""
        if not self.stamped:
            return 0
        newer = {"gen": {"$gt": generation}}
        kept_keys = set(keeping)
        kept_prefixes = {key_prefix(key) for key in kept_keys}
        ids = [i for i in self.collection.get(where=newer, include=[])["ids"] if prefix_of(i) not in kept_prefixes]
        self.delete_ids(ids)
        entries = [key for key in self._docs_collection().get(where=newer, include=[])["ids"] if key not in kept_keys]
        for i in range(0, len(entries), BATCH):
            self._docs_collection().delete(ids=entries[i:i + BATCH])
        return len(ids)

    def chunk_ids_of(self, doc_keys: list[str]) -> list[str]:
        """The ids of the chunks of `doc_keys` (asked in batches: a filter holds a bounded number of keys)."""
        return [chunk_id for i in range(0, len(doc_keys), BATCH) for chunk_id in
                self.collection.get(where={"doc_key": {"$in": doc_keys[i:i + BATCH]}}, include=[])["ids"]]

    # -- chunks -------------------------------------------------------------------------------------------------
    def existing_ids(self, ids: list[str]) -> set[str]:
        """Which of `ids` are already stored (lets a rerun after a crash skip re-embedding)."""
        found: set[str] = set()
        for i in range(0, len(ids), BATCH):
            found.update(self.collection.get(ids=ids[i:i + BATCH], include=[])["ids"])
        return found

    def upsert_chunks(self, ids: list[str], embeddings: list[list[float]], texts: list[str],
                      metadatas: list[dict[str, Any]]) -> None:
        """Store chunks with their vectors (upsert: re-adding after a killed run is harmless)."""
        self.collection.upsert(ids=ids, embeddings=embeddings, documents=texts, metadatas=metadatas)

    def query(self, vector: list[float], k: int, live: dict[str, Any] | None) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the `k` nearest chunks matching `live` (`query_filter`'s where)."""
        result = self.collection.query(query_embeddings=[vector], n_results=k, include=["distances"], where=live)
        # The collection uses cosine space: distance = 1 - cosine similarity.
        return [(i, 1.0 - float(d)) for i, d in zip(result["ids"][0], result["distances"][0], strict=True)]

    def delete_ids(self, ids: list[str]) -> None:
        for i in range(0, len(ids), BATCH):
            self.collection.delete(ids=ids[i:i + BATCH])

    def orphan_ids(self, live_keys: list[str]) -> list[str]:
        """Chunks whose document is not live: left by a killed run or by a replaced/removed file."""
        where = {"doc_key": {"$nin": live_keys}} if live_keys else None
        return list(self.collection.get(where=where, include=[])["ids"])

    def chunks(self, doc_keys: list[str], where: dict[str, Any] | None = None) -> dict[str, Any]:
        """Texts and metadata of the chunks of `doc_keys` (and matching `where`, when given)."""
        if not doc_keys:
            return {"ids": [], "documents": [], "metadatas": []}
        of_docs: dict[str, Any] = {"doc_key": {"$in": doc_keys}}
        return self.collection.get(where={"$and": [of_docs, where]} if where else of_docs,
                                   include=["documents", "metadatas"])

    def chunks_where(self, where: dict[str, Any]) -> dict[str, Any]:
        """Texts and metadata of the chunks matching `where` (e.g. `live_filter`'s, and more)."""
        return _get_paged(self.collection, where, ["documents", "metadatas"])

    def chunks_by_id(self, ids: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """chunk id -> (text, metadata) of those of `ids` still stored (one read for a question's candidates)."""
        if not ids:
            return {}
        found = self.collection.get(ids=ids, include=["documents", "metadatas"])
        return {i: (text, dict(meta or {})) for i, text, meta in
                zip(found["ids"], found["documents"], found["metadatas"], strict=True)}

    def count(self) -> int:
        return int(self.collection.count())

    def lease_holder(self) -> str | None:
        """The writer of another index run that holds this index's lease, or None (free, lapsed, or ours).

        A run that will write chunks marks the head `pending` with its writer and renews the mark while it writes
        (`index.indexer`); on a shared Chroma server this keeps runs from several machines apart, as the local
        writer lock does on one machine. A mark not renewed for `LEASE_SECONDS`, or left by a process of this host
        that no longer runs, has lapsed: that run was killed, and the next one cleans up after it."""
        head = self._meta()
        writer = str(head.get("writer") or "")
        if not head.get("pending") or not writer or writer == WRITER:
            return None
        if time.time() - float(head.get("updated_at") or 0.0) >= LEASE_SECONDS:
            return None
        host, _, rest = writer.partition(":")
        pid = rest.partition(":")[0]
        if host == socket.gethostname() and pid.isdigit() and not _process_alive(int(pid)):
            return None
        return writer

    def holds_lease(self, generation: int) -> bool:
        """Whether the head still carries this process's pending mark on `generation` (no other run took over)."""
        head = self._meta()
        return bool(head.get("pending")) and head.get("writer") == WRITER and \
            int(head.get("generation") or 0) == generation

    def committed_elsewhere(self) -> bool:
        """Whether the last commit was made by another process (its writes are not in this process's view of an
        embedded store until it is opened again)."""
        writer = self._meta().get("writer")
        return bool(writer) and writer != WRITER

    def reopen(self) -> None:
        """Open the embedded store afresh, so that chunks another process wrote are found (a server needs no
        reopening: every client sees its writes)."""
        if self.settings.chroma_url:
            return
        forget_cached_client(self.settings.resolved_store_dir)
        self.client = _client(self.settings, create=False)
        self.collection = self.client.get_collection(self.settings.collection, embedding_function=None)
        self._docs = None

    def drop(self) -> None:
        """Delete the whole collection and its documents' collection (used by `--rebuild`)."""
        self.client.delete_collection(self.settings.collection)
        with contextlib.suppress(Exception):  # a store without stamps has none
            self.client.delete_collection(f"{self.settings.collection}{DOCS_SUFFIX}")


# This process, as written beside each commit: a process that reads a commit by another one knows that its own
# embedded Chroma client (which caches the vector index in memory) must be opened again to see the new chunks.
WRITER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
# How long an index run's pending mark holds others off without being renewed (a run renews it every
# `index.indexer.RENEW_SECONDS` while it writes): past it, the run is taken for killed.
LEASE_SECONDS = 600.0


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _int_or_none(value: Any) -> int | None:
    return int(value) if value is not None else None


# A document's entry is stored as one JSON metadata value beside the two keys filters use: Chroma reads metadata one
# row per key, and ten keys a record made reading a large corpus's entries about seven times slower.
def _packed_entry(name: str, entry: DocEntry) -> str:
    return json.dumps({k: v for k, v in {**asdict(entry), "name": name}.items() if v is not None},
                      separators=(",", ":"))


def _doc_entry(metadata: dict[str, Any]) -> tuple[str, DocEntry]:
    """(name, entry) of a document record: its packed entry, where the file stats recorded since override; records
    written before entries were packed hold every field as a key of its own."""
    fields = {**json.loads(metadata["entry"]), **metadata} if "entry" in metadata else metadata
    return str(fields["name"]), DocEntry(
        hash=str(fields["hash"]), chunks=int(fields["chunks"]), title=fields.get("title"), date=fields.get("date"),
        indexed_at=float(fields.get("indexed_at") or 0.0), path=fields.get("path"),
        size=_int_or_none(fields.get("size")), mtime_ns=_int_or_none(fields.get("mtime_ns")))


def _get_paged(collection: Any, where: dict[str, Any] | None, include: list[str]) -> dict[str, Any]:
    """`collection.get(where=..., include=...)` read `PAGE` records at a time, joined (ids and the included fields)."""
    out: dict[str, list[Any]] = {"ids": [], **{field: [] for field in include}}
    offset = 0
    while True:
        page = collection.get(where=where, include=include, limit=PAGE, offset=offset)
        for field in out:
            out[field].extend(page[field] or [])
        if len(page["ids"]) < PAGE:
            return out
        offset += PAGE


def _live_where(generation: int, retired: list[str]) -> dict[str, Any]:
    """The chunks (or document entries) of `generation` or older, less those of the `retired` document keys when
    they are at most `FILTER_KEYS`; a longer list is left out (each key is one SQL variable), and whoever reads with
    this filter drops those records (by their `doc_key`, or a chunk by its id's prefix, `retired_prefixes`)."""
    committed: dict[str, Any] = {"gen": {"$lte": generation}}
    if not retired or len(retired) > FILTER_KEYS:
        return committed
    return {"$and": [committed, {"doc_key": {"$nin": retired}}]}


def retired_prefixes(retired: Sequence[str]) -> frozenset[str]:
    """The chunk-id prefixes of the `retired` document keys that a reader's filter leaves out (`_live_where`):
    empty when the filter lists them all."""
    if len(retired) <= FILTER_KEYS:
        return frozenset()
    return frozenset(key_prefix(key) for key in retired)


def _metadata(embed_model: str | None, embed_dim: int | None, manifest: Manifest,
              ranking: tuple[str, int] | None = None, stamped: bool = False, pending: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"schema": SCHEMA_VERSION, "updated_at": time.time(), "writer": WRITER,
                            "generation": manifest.generation}
    if stamped:  # the head only: the documents are records of their own collection
        documents, chunks = manifest.counts()
        meta.update(stamped=True, retired=json.dumps(manifest.retired), documents=documents, chunks=chunks,
                    pending=pending)
    else:
        meta["manifest"] = manifest.to_json()
    if ranking:
        meta["ranking_model"], meta["ranking_dim"] = ranking
    if embed_model:
        meta["embed_model"] = embed_model
    if embed_dim:
        meta["embed_dim"] = embed_dim
    return meta
