"""Bring the Chroma index in step with the corpus folder, doing only the work that changed.

One run: list the files -> hash their bytes -> compare with the committed manifest -> read, chunk and embed only
new or changed documents (chunks already stored by a killed earlier run are reused) -> commit the new manifest in
one write -> delete the chunks nobody points at any more.

What a run may remove: indexing the corpus folder makes the index hold its files (a file deleted from the folder
leaves the index); indexing named paths adds or updates those files and leaves every other document as it is
(`prune` makes the index hold exactly those paths); `remove` takes named documents out. No run empties a non-empty
index unless told to (`force`): a missing or empty folder is far more often a typo or an unmounted disk than a
wish. One unreadable file is one skipped file, whatever goes wrong with it.

Unchanged files are hashed, never parsed or embedded, so a second run on an unchanged corpus costs about a second;
a run killed at any point leaves the previous index answering, and the next run finishes the job.

Runs are serialised by a lock file: Chroma is thread-safe but not process-safe, so there is one writer at a
time (for several machines, point every process at a Chroma server).

Example:
    >>> report = Indexer(settings).run()  # doctest: +SKIP
    >>> print(report.summary())  # doctest: +SKIP
    2 added, 0 updated, 0 removed, 0 unchanged, 0 skipped; +8 chunks, -0 chunks in 1.4 s
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from index.chunking import SpanSentenceSplitter, pack_offsets, pack_spans, pack_vectors, sentence_spans
from index.embeddings import (
    embed_in_length_order,
    embedding_dimension,
    load_configured_embedding,
    return_freed_memory,
)
from index.lexical import LexicalIndex, lexical_folder, store_fetcher
from index.readers import (
    SUPPORTED_SUFFIXES,
    SourceDocument,
    UnusableDocument,
    document_name,
    name_under,
    read_document,
)
from index.store import LEASE_SECONDS, CorpusStore, DocEntry, Manifest, StoreError, doc_key

if TYPE_CHECKING:
    from assistant.config import Settings

Planned = TypeVar("Planned")  # what an index run plans against the stored head (`_plan_under_lease`)

ProgressCallback = Callable[[int, int, str], None]  # (done, total, stage)
PROGRESS_UNITS = {"reading": "files", "embedding": "chunks"}  # what each stage counts
# Embedding and writing in groups bounds memory on big corpora and gives the progress bar a steady pace; each
# stored group survives a killed run (the next run reuses it), so a kill loses at most one group's embedding.
WRITE_GROUP = 64
# Every this many groups the run hands the embedding batches' freed buffers back to the system
# (`index.embeddings.return_freed_memory`). 50,002 chunks, Intel Xeon, batches padded to their longest text: never,
# peak 5.3 GB at 53.1 chunks/s; every 8 groups, 3.5 GB at 49.5; every group, 2.3 GB at 47.0 (the pages handed back
# are faulted in again). Padded to multiples of 16 tokens: every 8 groups, 1.8 GB at 50.9; never, 2.0 GB at 47.1.
GROUPS_PER_MEMORY_RETURN = 8
# An index run that writes chunks holds a lease on the index (`CorpusStore.lease_holder`): it renews its mark this
# often while it writes, and a run from another machine that finds the mark waits, polling this often. A claim is
# looked at again after CLAIM_SETTLE_SECONDS, so that of two runs of two machines that marked in the same moment,
# both see the one mark that stayed.
RENEW_SECONDS = 60.0
LEASE_POLL_SECONDS = 5.0
CLAIM_SETTLE_SECONDS = 1.0


@dataclass
class IndexReport:
    """What an index run changed, in terms a user can check."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (file, remark) for indexed files
    chunks_added: int = 0
    chunks_reused: int = 0  # of chunks_added: already stored (by a killed earlier run), not embedded again
    chunks_removed: int = 0
    chunks_total: int = 0
    seconds: float = 0.0
    generation: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.chunks_removed)

    def summary(self) -> str:
        """One line for humans: counts and time."""
        reused = f" ({self.chunks_reused} reused from an interrupted run)" if self.chunks_reused else ""
        empty = "; the index is empty: put documents in the corpus folder and index again" \
            if not self.chunks_total else ""
        return (f"{len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} removed, "
                f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped; +{self.chunks_added} chunks{reused}, "
                f"-{self.chunks_removed} chunks ({self.chunks_total} live) in {self.seconds:.1f} s{empty}")

    def to_dict(self) -> dict[str, Any]:
        return {"added": self.added, "updated": self.updated, "removed": self.removed,
                "unchanged": self.unchanged, "skipped": [{"file": f, "reason": r} for f, r in self.skipped],
                "notes": [{"file": f, "note": n} for f, n in self.notes], "chunks_added": self.chunks_added,
                "chunks_reused": self.chunks_reused,
                "chunks_removed": self.chunks_removed, "chunks_total": self.chunks_total,
                "seconds": round(self.seconds, 3), "generation": self.generation, "changed": self.changed}


class IndexRefused(RuntimeError):
    """An index run that would lose the user's index without being told to; the message says how to go on."""


class CorpusFile(NamedTuple):
    """A file to index: where it is, the folder it is named under, and its document name (`document_name`)."""

    path: Path
    root: Path
    name: str


def discover(roots: Sequence[Path], corpus_dir: Path | None = None) -> list[CorpusFile]:
    """Every corpus file under the roots, sorted by name; hidden files and folders are ignored and symbolic links
    to folders are not followed.

    A file inside `corpus_dir` is named relative to it, however it was given, so that naming a file of the corpus
    folder updates the same document that indexing the folder does. The walk works on path strings (`os.scandir`):
    a folder of tens of thousands of files is listed and named in well under a second."""
    found: dict[str, CorpusFile] = {}
    corpus = corpus_dir.resolve() if corpus_dir is not None else None

    def add(path: str, root: str) -> None:
        if path in found:
            return
        in_corpus = name_under(path, str(corpus)) if corpus is not None else None
        if corpus is not None and in_corpus is not None:
            found[path] = CorpusFile(Path(path), corpus, in_corpus)
        else:
            found[path] = CorpusFile(Path(path), Path(root), document_name(path, root))

    for given in roots:
        root = given.resolve()
        if root.is_file():
            add(str(root), str(root.parent))
            continue
        if not root.is_dir():
            raise FileNotFoundError(f"corpus path not found: {root}")
        for path in _walk_files(str(root)):
            add(path, str(root))
    return sorted(found.values(), key=lambda file: file.name)


def _walk_files(folder: str) -> Iterator[str]:
    """Every regular file (or link to one) under `folder`, depth first; names starting with "." are skipped."""
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:
        return  # an unreadable folder holds nothing we can index
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _walk_files(entry.path)
        elif entry.is_file():
            yield entry.path


def file_sha256(path: Path) -> str:
    """Hash of the file's bytes: the identity of a document version."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def writer_lock(settings: Settings) -> Iterator[None]:
    """Hold the single-writer lock for this store (blocks, telling the user, while another run holds it)."""
    lock_path = settings.data_dir / f"index-{settings.collection}.lock"
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        handle = lock_path.open("a+")
    except PermissionError as exc:
        raise StoreError(f"cannot write in the data folder {settings.data_dir} ({exc.strerror}); fix its permissions "
                         "or set data_dir to another folder") from exc
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another index run to finish (lock {lock_path})", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Indexer:
    """Incremental, crash-safe indexing of a corpus into the configured Chroma collection."""

    def __init__(self, settings: Settings, embed_model: Any | None = None, ranking_model: Any | None = None) -> None:
        self.settings = settings
        self._embed_model = embed_model  # loaded lazily: an unchanged corpus never pays for the model
        self._ranking_model = ranking_model  # used only when the index carries its vectors (`index_ranking_model`)
        self._claimed: int | None = None  # the generation this run's lease is on (a Chroma server), while it holds one
        self._renewed = 0.0
        self._restat: dict[str, tuple[str, int, int]] = {}  # see `_plan`

    @property
    def embed_model(self) -> Any:
        if self._embed_model is None:
            self._embed_model = load_configured_embedding(self.settings.embed_model, self.settings)
        return self._embed_model

    @property
    def loaded_models(self) -> tuple[Any | None, Any | None]:
        """The embedding and ranking models as far as they were loaded (None when not needed yet)."""
        return self._embed_model, self._ranking_model

    @property
    def ranking_model(self) -> Any | None:
        """The second embedding model whose vectors the chunks carry for ranking (`index_ranking_model`), or None."""
        if not self.settings.index_ranking_model:
            return None
        if self._ranking_model is None:
            self._ranking_model = load_configured_embedding(self.settings.index_ranking_model, self.settings)
        return self._ranking_model

    def _ranking(self, store: CorpusStore | None = None) -> tuple[str, int] | None:
        """(name, dimension) of the ranking model as the store records it."""
        if not self.settings.index_ranking_model:
            return None
        stored = store.ranking_model if store is not None else None
        return stored or (self.settings.index_ranking_model, embedding_dim(self.ranking_model))

    def run(self, paths: Sequence[Path] | None = None, rebuild: bool = False,
            progress: ProgressCallback | None = None, prune: bool = False, force: bool = False) -> IndexReport:
        """Bring the index in step with the corpus folder, or add/update the files under `paths` (the other
        documents stay; with `prune`, the index holds exactly those paths).

        Raises `IndexRefused` (the index untouched) when the run would leave a non-empty index empty, unless
        `force`; `FileNotFoundError` for a named path that does not exist.
        """
        started = time.perf_counter()
        syncing = not paths or prune
        corpus = self.settings.corpus_dir
        missing = not paths and not corpus.is_dir()
        files = [] if missing else discover([Path(p) for p in paths] if paths else [corpus], corpus)
        with writer_lock(self.settings):
            if rebuild:
                self._drop_collection()
            if missing and not self._holds_documents():
                raise FileNotFoundError(f"corpus path not found: {corpus.resolve()}")
            store = self._open_store()

            def plan(old: Manifest) -> tuple[tuple[IndexReport, list[str], list[SourceDocument]], bool, bool]:
                report = IndexReport()
                wanted, to_index = self._plan(files, old, report, progress)
                if not syncing:  # named paths add and update; every other document stays
                    wanted += [name for name in old.docs if name not in wanted]
                if old.docs and not wanted and not force:
                    where = ", ".join(str(p) for p in paths) if paths else str(corpus)
                    state = "does not exist" if missing else "holds no indexable document"
                    raise IndexRefused(f"{where} {state}: indexing it would remove all {len(old.docs)} documents "
                                       "from the index, which is left as it was; check the path, or pass --force to "
                                       "empty the index")
                changes = bool(to_index) or bool(set(old.docs) - set(wanted))
                return (report, wanted, to_index), changes, bool(to_index)

            old, (report, wanted, to_index), changes = self._plan_under_lease(store, plan)
            with self._released_on_failure(store, old):
                new_docs = self._embed_and_store(store, to_index, report, progress, old.generation + 1,
                                                 lambda: self._renew(store, old))
                self._commit(store, old, wanted, new_docs, report)
            if changes or not self.settings.chroma_url:  # on a server, only a run that held the lease writes
                store.refresh_file_stats({n: stat for n, stat in self._restat.items() if n in wanted})
        report.seconds = time.perf_counter() - started
        return report

    def remove(self, names: Sequence[str]) -> IndexReport:
        """Take the named documents out of the index (their files are not touched). A name is a document's name
        as the index lists it, or the path of its file; names not in the index are reported as skipped."""
        started = time.perf_counter()
        with writer_lock(self.settings):
            store = self._open_store()

            def plan(old: Manifest) -> tuple[tuple[IndexReport, set[str]], bool, bool]:
                report = IndexReport()
                by_path = {str(Path(e.path).resolve()): n for n, e in old.docs.items() if e.path}
                gone = set()
                for name in names:
                    doc = name if name in old.docs else by_path.get(str(Path(name).resolve()))
                    if doc is None:
                        report.skipped.append((name, "not in the index"))
                    else:
                        gone.add(doc)
                return (report, gone), bool(gone), False

            old, (report, gone), _ = self._plan_under_lease(store, plan)
            with self._released_on_failure(store, old):
                self._commit(store, old, [n for n in old.docs if n not in gone], {}, report)
        report.seconds = time.perf_counter() - started
        return report

    # -- the lease that keeps runs of several machines apart on a shared Chroma server ------------------------------
    def _plan_under_lease(self, store: CorpusStore, plan: Callable[[Manifest], tuple[Planned, bool, bool]]
                          ) -> tuple[Manifest, Planned, bool]:
        """The stored head, `plan(head)`'s result and whether it changes the index, with this run holding the lease
        when it does (a head that is not stamped yet needs none). `plan` returns (its result, whether it changes
        the index, whether it writes chunks); it is made again against the new head when another machine's mark
        took the head in the same moment. Readers filter out what this run writes until it commits; other
        machines' runs wait."""
        self._claimed = None
        while True:  # until this run needs no lease, or holds it
            self._wait_for_lease(store)
            old = store.manifest()
            planned, changes, writes_chunks = plan(old)
            if not (changes and old.stamped) or self._claim(store, old, writes_chunks):
                return old, planned, changes

    @contextlib.contextmanager
    def _released_on_failure(self, store: CorpusStore, old: Manifest) -> Iterator[None]:
        """Let this run's lease lapse at once if the block fails or is cancelled before its commit."""
        try:
            yield
        except BaseException:
            self._release(store, old)
            raise

    def _wait_for_lease(self, store: CorpusStore) -> None:
        """Wait while another machine's index run holds the index (until it commits, or its lease lapses). Runs on
        one machine are kept apart by the local writer lock already."""
        told = False
        while self.settings.chroma_url and (holder := store.lease_holder()) is not None:
            if not told:
                print(f"waiting for the index run of {holder} to finish (if it was killed, its claim lapses "
                      f"{LEASE_SECONDS:.0f} s after it last renewed it)", file=sys.stderr)
                told = True
            time.sleep(LEASE_POLL_SECONDS)

    def _claim(self, store: CorpusStore, old: Manifest, writes_chunks: bool) -> bool:
        """Mark the head pending before this run changes anything; False when another machine's mark took its
        place in the same moment (wait, plan again). Without chunks to write and without a server, no mark."""
        if not writes_chunks and not self.settings.chroma_url:
            return True
        store.commit(old, *self._model(store), pending=True)
        old.pending = True  # the head as stored now
        if self.settings.chroma_url:  # other machines write the same head
            time.sleep(CLAIM_SETTLE_SECONDS)
            if not store.holds_lease(old.generation):
                return False
            self._claimed, self._renewed = old.generation, time.monotonic()
        return True

    def _renew(self, store: CorpusStore, old: Manifest, force: bool = False) -> None:
        """Renew this run's lease (every RENEW_SECONDS, or now with `force`); IndexRefused when another run took
        the index over meanwhile (this run's chunks stay uncommitted: that run or the next removes them)."""
        if self._claimed is None or (not force and time.monotonic() - self._renewed < RENEW_SECONDS):
            return
        if not store.holds_lease(self._claimed):
            self._claimed = None
            raise IndexRefused("another index run took this index over while this one was writing (this run's "
                               f"claim had not been renewed for {LEASE_SECONDS:.0f} s); the index is as that run "
                               "leaves it: run again to bring it in step")
        store.commit(old, *self._model(store), pending=True)
        self._renewed = time.monotonic()

    def _release(self, store: CorpusStore, old: Manifest) -> None:
        """After a run that failed or was cancelled before its commit: let its lease lapse at once (the mark stays,
        so the next run removes what this one wrote). Best effort: the lease lapses by itself anyway."""
        if self._claimed is not None:
            with contextlib.suppress(Exception):
                if store.holds_lease(self._claimed):
                    store.commit(old, *self._model(store), pending=True, lapsed=True)
        self._claimed = None

    def _commit(self, store: CorpusStore, old: Manifest, wanted: list[str], new_docs: dict[str, DocEntry],
                report: IndexReport) -> None:
        """Commit the manifest of `wanted` documents (new entries from `new_docs`, the rest as they were), then
        delete the chunks nobody points at; the report's removed, totals and generation.

        In order, so that a kill at any point leaves the old or the new index, never half: chunks a killed earlier
        run left and this one does not take up are deleted (readers never saw them); the manifest is committed with
        the documents it takes out listed as retired (readers skip their chunks at once); their chunks and entries
        are deleted; the manifest is written again with nothing retired."""
        manifest = Manifest(docs={**{n: old.docs[n] for n in wanted if n in old.docs}, **new_docs},
                            generation=old.generation + (1 if (new_docs or set(old.docs) - set(wanted)) else 0))
        report.removed = sorted(set(old.docs) - set(wanted))
        unchanged = set(report.unchanged)
        report.unchanged = sorted(unchanged | {n for n in wanted if n in old.docs and n not in new_docs})
        live_keys = manifest.doc_keys()
        # Only a run that marked the head pending can have left chunks (it marks before its first write).
        keeping = [doc_key(n, e.hash) for n, e in new_docs.items()]
        removed = store.delete_uncommitted(old.generation, keeping) if old.pending else 0
        manifest.retired = sorted((set(old.doc_keys()) | set(old.retired)) - set(live_keys))
        model = self._model(store)
        self._renew(store, old, force=True)  # still this run's: no other run took over
        store.write_documents(new_docs, manifest.generation)
        if manifest.generation != old.generation or manifest.retired != old.retired or old.pending:
            # While retired chunks remain, a leased head stays marked: no other machine's run starts in between.
            store.commit(manifest, *model, pending=bool(manifest.retired) and self._claimed is not None)
        self._claimed = None
        if old.stamped:
            removed += store.delete_retired(manifest.retired)
        else:
            orphans = store.orphan_ids(live_keys)
            store.delete_ids(orphans)
            removed += len(orphans)
        if manifest.retired:
            manifest.retired = []
            store.commit(manifest, *model)
        report.chunks_removed = removed
        if manifest.generation != old.generation:
            self._update_lexical(store, manifest)
        report.chunks_total = sum(entry.chunks for entry in manifest.docs.values())
        report.generation = manifest.generation

    def _model(self, store: CorpusStore) -> tuple[str, int, tuple[str, int] | None]:
        """What every commit records of the models: the embedding model, its dimension, the ranking model."""
        return self.settings.embed_model, self._dimension(store), self._ranking(store)

    def _update_lexical(self, store: CorpusStore, manifest: Manifest) -> None:
        """Bring this machine's lexical index to the committed generation from the documents just changed, so that
        the next question does not wait for it. The index is committed already: a failure here only leaves the work
        to the first reader."""
        try:
            LexicalIndex(lexical_folder(self.settings, store)).sync(manifest.generation, set(manifest.doc_keys()),
                                                                    store_fetcher(store))
        except Exception as exc:  # noqa: BLE001
            print(f"the lexical index was not updated ({type(exc).__name__}: {exc}); the first question will",
                  file=sys.stderr)

    # -- steps ------------------------------------------------------------------------------------------------
    def _open_store(self) -> CorpusStore:
        try:
            store = CorpusStore.open(self.settings, create=False)
        except StoreError as exc:
            if "no index found" not in str(exc):
                raise
            store = CorpusStore.open(self.settings, create=True, embed_model=self.settings.embed_model,
                                     embed_dim=embedding_dim(self.embed_model), ranking=self._ranking())
        store.check_model(self.settings.embed_model, None)
        store.check_ranking_model(self.settings.index_ranking_model, exact=True)
        return store

    def _holds_documents(self) -> bool:
        """Whether the index exists and lists documents (without creating a store)."""
        try:
            return bool(CorpusStore.open(self.settings, create=False).manifest().docs)
        except StoreError:
            return False

    def _drop_collection(self) -> None:
        """Delete this index's collection only (and this machine's lexical index of it): other collections in the
        same store stay. A store folder that cannot be opened at all (damaged) is moved aside, never deleted, and a
        new one is made in its place."""
        try:
            store = CorpusStore.open(self.settings, create=False)
            lexical = lexical_folder(self.settings, store)
            store.drop()
            shutil.rmtree(lexical, ignore_errors=True)  # a process still reading it rebuilds it at its next sync
            return
        except StoreError as exc:
            if "no index found" in str(exc) or self.settings.chroma_url:
                return
        except Exception:  # noqa: BLE001  (a damaged store raises whatever its database does)
            if self.settings.chroma_url:
                raise
        folder = self.settings.resolved_store_dir
        if folder.exists():
            from chromadb.api.shared_system_client import SharedSystemClient

            SharedSystemClient.clear_system_cache()  # forget handles on the files about to move
            aside = folder.with_name(f"{folder.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
            folder.rename(aside)
            print(f"the store in {folder} could not be opened: moved aside to {aside}", file=sys.stderr)

    def _dimension(self, store: CorpusStore) -> int:
        stored = store._meta().get("embed_dim")
        return int(stored) if stored else embedding_dim(self.embed_model)

    def _plan(self, files: list[CorpusFile], old: Manifest, report: IndexReport,
              progress: ProgressCallback | None = None) -> tuple[list[str], list[SourceDocument]]:
        """Decide per file: unchanged (the size and modification time it was hashed with, or else its hash,
        match), to index (new/changed), or skipped (with the reason);
        `progress` hears ("reading", files done, files) before each file is read."""
        wanted: list[str] = []
        to_index: list[SourceDocument] = []
        seen_hashes: dict[str, str] = {}
        self._restat = {}  # unchanged files whose size or time moved (touched, copied): recorded after the run
        # Files already indexed go first (stable, so otherwise by name): a copy of an indexed file is then the
        # duplicate, and never evicts the original from the index, whatever their names.
        files = sorted(files, key=lambda file: file.name not in old.docs)
        for number, (path, root, name) in enumerate(files):
            if progress is not None:
                progress(number, len(files), "reading")
            if not _valid_name(name):
                report.skipped.append((name.encode("utf-8", "backslashreplace").decode("ascii", "replace"),
                                       "its file name is not valid UTF-8: rename the file"))
                continue
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                report.skipped.append((name, f"unsupported file type {path.suffix or '(none)'}"))
                continue
            entry = old.docs.get(name)
            try:
                stat = path.stat()
                file_stat = (stat.st_size, stat.st_mtime_ns)
                # Same size and modification time as when it was hashed: the same bytes, not read again.
                same_file = entry is not None and (entry.size, entry.mtime_ns) == file_stat
                digest = entry.hash if entry is not None and same_file else file_sha256(path)
            except OSError as exc:
                report.skipped.append((name, f"cannot read file: {exc.strerror or exc}"))
                continue
            if digest in seen_hashes:
                report.skipped.append((name, f"duplicate of {seen_hashes[digest]} (same content)"))
                continue
            if entry is not None and entry.hash == digest:
                seen_hashes[digest] = name
                wanted.append(name)
                report.unchanged.append(name)
                if not same_file:
                    self._restat[name] = (digest, *file_stat)
                continue
            try:
                document = read_document(path, root)
            except UnusableDocument as exc:
                report.skipped.append((name, str(exc)))
                continue
            except Exception as exc:  # noqa: BLE001  (a malformed file may break its parser any way: skip it alone)
                report.skipped.append((name, f"could not be read ({type(exc).__name__}: {exc})"))
                continue
            document = dataclasses.replace(document, name=name, path=path, content_hash=digest, file_stat=file_stat)
            seen_hashes[digest] = name
            wanted.append(name)
            to_index.append(document)
            (report.updated if entry is not None else report.added).append(name)
            report.notes.extend((name, note) for note in document.notes)
        if progress is not None and files:
            progress(len(files), len(files), "reading")
        return wanted, to_index

    def _embed_and_store(self, store: CorpusStore, documents: list[SourceDocument], report: IndexReport,
                         progress: ProgressCallback | None, generation: int,
                         renew: Callable[[], None] = lambda: None) -> dict[str, DocEntry]:
        """Chunk, embed (skipping chunks a killed run already stored) and write, stamped with the `generation` the
        run will commit, calling `renew` after each group; returns the new manifest entries."""
        from llama_index.core.schema import Document

        splitter = SpanSentenceSplitter(max_words=self.settings.chunk_words,
                                        overlap_sentences=self.settings.chunk_overlap_sentences)
        entries: dict[str, DocEntry] = {}
        nodes: list[Any] = []
        for doc in documents:
            meta = {"doc": doc.name, "doc_hash": doc.content_hash, "title": doc.title or "", "date": doc.date or ""}
            if doc.page_starts:
                meta["page_starts"] = pack_offsets(doc.page_starts)
            try:
                doc_nodes = splitter.get_nodes_from_documents(
                    [Document(id_=doc_key(doc.name, doc.content_hash), text=doc.text, metadata=meta)])
            except Exception as exc:  # noqa: BLE001  (one document that cannot be chunked is skipped alone)
                _skip(report, doc.name, f"could not be split into passages ({type(exc).__name__}: {exc})")
                continue
            if not doc_nodes:
                _skip(report, doc.name, "no indexable text after removing page boilerplate")
                continue
            size, mtime_ns = doc.file_stat or (None, None)
            entries[doc.name] = DocEntry(hash=doc.content_hash, chunks=len(doc_nodes), title=doc.title,
                                         date=doc.date, indexed_at=time.time(), path=str(doc.path.resolve()),
                                         size=size, mtime_ns=mtime_ns)
            nodes.extend(doc_nodes)
        already = store.existing_ids([node.node_id for node in nodes])
        pending = [node for node in nodes if node.node_id not in already]
        bar = _progress_bar(len(pending), progress)
        failed: set[str] = set()
        for i in range(0, len(pending), WRITE_GROUP):
            group = pending[i:i + WRITE_GROUP]
            try:
                self._write_group(store, group, generation)
            except StoreError:
                raise  # the store itself is unusable: nothing to skip around
            except Exception:  # noqa: BLE001  (find the document that breaks the batch, write the others)
                for doc in dict.fromkeys(node.metadata["doc"] for node in group):
                    try:
                        self._write_group(store, [node for node in group if node.metadata["doc"] == doc], generation)
                    except StoreError:
                        raise
                    except Exception as exc:  # noqa: BLE001
                        failed.add(doc)
                        _skip(report, doc, f"could not be embedded ({type(exc).__name__}: {exc})")
            bar(min(i + WRITE_GROUP, len(pending)))
            if (i // WRITE_GROUP) % GROUPS_PER_MEMORY_RETURN == GROUPS_PER_MEMORY_RETURN - 1:
                return_freed_memory()
            renew()
        for doc in failed:
            entries.pop(doc, None)
        kept = [node for node in nodes if node.metadata["doc"] not in failed]
        report.chunks_added = len(kept)
        report.chunks_reused = len([node for node in kept if node.node_id in already])
        return entries


    def _write_group(self, store: CorpusStore, group: list[Any], generation: int) -> None:
        """Embed chunks and their sentences in one batch; sentence vectors travel in the chunk's metadata.

        Storing them with the chunk makes them part of the same atomic write, and lets a question score every
        candidate sentence without running the model over them (the cost that would dominate fast mode).
        """
        sentence_spans_per_chunk = [sentence_spans(node.text) for node in group]
        chunk_inputs = [node.get_content(metadata_mode="embed") for node in group]
        sentence_inputs = [node.text[s:e] for node, spans in zip(group, sentence_spans_per_chunk, strict=True)
                           for s, e in spans]
        vectors = embed_in_length_order(self.embed_model, chunk_inputs + sentence_inputs)
        chunk_vectors, sentence_vectors = vectors[:len(group)], vectors[len(group):]
        # The ranking model's vectors (when configured) ride along the same way: "rvec" the chunk's, "rsvec" its
        # sentences'; only the evidence ranker reads them, never the dense search.
        ranking = (embed_in_length_order(self.ranking_model, chunk_inputs + sentence_inputs)
                   if self.ranking_model is not None else None)
        if ranking is not None:
            ranking_chunks, ranking_sentences = ranking[:len(group)], ranking[len(group):]
        metadatas, offset = [], 0
        for i, (node, spans) in enumerate(zip(group, sentence_spans_per_chunk, strict=True)):
            meta = {k: v for k, v in node.metadata.items() if v is not None}
            meta["gen"] = generation
            meta["sents"] = pack_spans(spans)
            meta["svec"] = pack_vectors(sentence_vectors[offset:offset + len(spans)])
            if ranking is not None:
                meta["rvec"] = pack_vectors(ranking_chunks[i:i + 1])
                meta["rsvec"] = pack_vectors(ranking_sentences[offset:offset + len(spans)])
            offset += len(spans)
            metadatas.append(meta)
        store.upsert_chunks([node.node_id for node in group], chunk_vectors.tolist(), [node.text for node in group],
                            metadatas)


def _valid_name(name: str) -> bool:
    """Whether a file name can be stored and shown (a name that is not UTF-8 reaches Python as lone surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _skip(report: IndexReport, name: str, reason: str) -> None:
    """Report a document planned for indexing as skipped instead."""
    report.skipped.append((name, reason))
    for bucket in (report.added, report.updated):
        if name in bucket:
            bucket.remove(name)


def embedding_dim(model: Any) -> int:
    return embedding_dimension(model)


def _progress_bar(total: int, callback: ProgressCallback | None) -> Callable[[int], None]:
    """A tqdm bar on long runs in a terminal, and the caller's callback (the web UI) if any."""
    bar = None
    if total >= 4 * WRITE_GROUP and sys.stderr.isatty() and not os.environ.get("ASSISTANT_NO_PROGRESS"):
        from tqdm import tqdm

        bar = tqdm(total=total, unit="chunk", desc="embedding")
    state = {"done": 0}

    def update(done: int) -> None:
        if bar is not None:
            bar.update(done - state["done"])
            if done >= total:
                bar.close()
        state["done"] = done
        if callback is not None:
            callback(done, total, "embedding")

    if callback is not None:
        callback(0, total, "embedding")
    return update
