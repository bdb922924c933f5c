"""A corpus that grows does not grow what a process holds or reads: the lexical index follows the store from the
documents changed, and the store's live filter, not a list of every document, hides what is not committed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings
from assistant.retrieval import HybridRetriever
from index.indexer import Indexer
from index.lexical import LexicalIndex
from index.store import CorpusStore, StoreError
from tests.conftest import make_settings

TEXTS = {
    "a": ["The harbour of Norden opened in spring.", "Ferries leave Norden twice a day."],
    "b": ["Brook is a village known for its mill.", "The mill at Brook grinds rye."],
    "c": ["Alder hosts a lantern festival each winter."],
}


def indexed(tmp_path: Path, embed_model: Any, *names: str) -> Settings:
    """Settings of a fresh corpus of the named toy texts (one file each), indexed in fast mode."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in names:
        (corpus / f"{name}.txt").write_text(" ".join(TEXTS[name]), encoding="utf-8")
    settings = make_settings(tmp_path, corpus=corpus, mode="fast")
    Indexer(settings, embed_model=embed_model).run()
    return settings


class Fetcher:
    """The store's side of a sync, counting which documents were asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, keys: list[str]) -> list[tuple[str, str, str, str]]:
        self.asked += keys
        return [(f"{key}#{i}", key, "", text) for key in keys for i, text in enumerate(TEXTS[key])]


@pytest.mark.unit
def test_the_lexical_index_catches_up_from_changed_documents_only(tmp_path: Path) -> None:
    first, fetch = LexicalIndex(tmp_path), Fetcher()
    first.sync(1, {"a", "b"}, fetch)
    assert sorted(fetch.asked) == ["a", "b"]
    assert [i for i, _ in first.search("Which mill grinds rye?", 5)][0] == "b#1"
    assert first.term_stats.n == 4 and first.term_stats.df["mill"] == 2

    # Another process on this machine, after a commit that replaced b with c: it reads c alone.
    second, fetch = LexicalIndex(tmp_path), Fetcher()
    second.sync(2, {"a", "c"}, fetch)
    assert fetch.asked == ["c"]
    assert second.search("mill rye", 5) == []
    assert [i for i, _ in second.search("lantern festival", 5)] == ["c#0"]
    assert second.term_stats.n == 3 and "mill" not in second.term_stats.df

    # A restart at the same generation loads what is on disk and reads nothing from the store.
    third, fetch = LexicalIndex(tmp_path), Fetcher()
    third.sync(2, {"a", "c"}, fetch)
    assert fetch.asked == [] and len(third) == 3

    # The words of a phrase in order, as mentions compare them (plural, case), in live documents only.
    assert third.mentioning("ferry leaves NORDEN") == ["a#1"]
    assert third.mentioning("Norden ferries") == [] and third.mentioning("mill") == []


@pytest.mark.unit
def test_the_saved_bm25_scores_as_an_index_built_from_the_words_themselves(tmp_path: Path) -> None:
    import bm25s

    from assistant.text import stemmer

    index, fetch = LexicalIndex(tmp_path), Fetcher()
    index.sync(1, {"a", "b", "c"}, fetch)
    rows = fetch(["a", "b", "c"])
    reference = bm25s.BM25()
    reference.index(bm25s.tokenize([text for *_, text in rows], stopwords="english", stemmer=stemmer(),
                                   show_progress=False), show_progress=False)
    for query in ("Which mill grinds rye?", "ferries from Norden", "lantern festival in winter"):
        tokens = bm25s.tokenize(query, stemmer=stemmer(), return_ids=False, show_progress=False)
        found, scores = reference.retrieve(tokens, k=5, show_progress=False)
        expected = [(rows[int(i)][0], float(s)) for i, s in zip(found[0], scores[0], strict=True) if s > 0.0]
        found_here = index.search(query, 5)
        assert expected and [i for i, _ in found_here] == [i for i, _ in expected]
        assert [score for _, score in found_here] == pytest.approx([score for _, score in expected])


@pytest.mark.unit
def test_a_lexical_folder_of_an_earlier_layout_is_rebuilt_from_the_store(tmp_path: Path) -> None:
    import sqlite3

    LexicalIndex(tmp_path).sync(1, {"a", "b"}, Fetcher())
    with sqlite3.connect(tmp_path / "tokens.sqlite3") as db:  # what a version without the mention table left
        db.execute("DROP TABLE mentions")
        db.execute("DELETE FROM state WHERE key = 'schema'")
    fetch = Fetcher()
    index = LexicalIndex(tmp_path)
    index.sync(1, {"a", "b"}, fetch)
    assert sorted(fetch.asked) == ["a", "b"] and len(index) == 4
    assert index.mentioning("mill") == ["b#0", "b#1"] and index.mentioning("the mill") == ["b#1"]


def test_retired_and_uncommitted_chunks_are_never_found(tmp_path: Path, embed_model: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = indexed(tmp_path, embed_model, "a", "b", "c")
    corpus = settings.corpus_dir
    store = CorpusStore.open(settings)
    assert "$in" not in str(store.live_filter(store.manifest()))  # the filter does not list the documents
    # An exhaustive search for words reads only the chunks that hold them.
    read: list[str] = []
    by_id = CorpusStore.chunks_by_id
    monkeypatch.setattr(CorpusStore, "chunks_by_id", lambda self, ids: read.extend(ids) or by_id(self, ids))
    found, documents = HybridRetriever(store, embed_model, settings).mentioning("mill")
    assert [p.doc for p in found] == ["b.txt"] and documents == 3 and len(read) == len(found)
    monkeypatch.undo()

    # A run that commits the removal of b but dies before deleting b's chunks: b is gone for every reader.
    (corpus / "b.txt").unlink()
    def killed(self: CorpusStore, ids: list[str]) -> None:
        if ids:
            raise OSError("killed")

    monkeypatch.setattr(CorpusStore, "delete_ids", killed)
    with pytest.raises(OSError):
        Indexer(settings, embed_model=embed_model).run()
    monkeypatch.undo()
    retriever = HybridRetriever(CorpusStore.open(settings), embed_model, settings)
    assert retriever.refresh().retired and "b.txt" not in retriever.refresh().docs
    assert {p.doc for p in retriever.retrieve("Which mill grinds rye?", 10)} == {"a.txt", "c.txt"}
    assert retriever.mentioning("mill") == ([], 2)

    # The next run finishes the deletion: every stored chunk is live again, and searches need no filter.
    assert Indexer(settings, embed_model=embed_model).run().chunks_removed == 1
    store = CorpusStore.open(settings)
    assert store.query_filter(store.manifest()) is None
    earlier = HybridRetriever(store, embed_model, settings)  # a reader that will not see the next run start
    earlier.refresh()

    # Chunks a killed run wrote for a file that is then taken away never become live; the next run cleans up.
    (corpus / "d.txt").write_text("Brook's second mill grinds barley.", encoding="utf-8")
    monkeypatch.setattr(Indexer, "_commit", lambda *args: (_ for _ in ()).throw(OSError("killed")))
    with pytest.raises(OSError):
        Indexer(settings, embed_model=embed_model).run()
    monkeypatch.undo()
    killed_run = CorpusStore.open(settings)
    assert killed_run.manifest().pending and killed_run.query_filter(killed_run.manifest()) is not None
    retriever = HybridRetriever(killed_run, embed_model, settings)
    assert "d.txt" not in {p.doc for p in retriever.retrieve("Which mill grinds barley?", 10)}
    # The earlier reader searched without a filter and met d's chunk: it drops what its generation does not hold.
    assert "d.txt" not in {p.doc for p in earlier.retrieve("Which mill grinds barley?", 10)}
    (corpus / "d.txt").unlink()
    report = Indexer(settings, embed_model=embed_model).run()
    store = CorpusStore.open(settings)
    assert not store.manifest().retired and sorted(store.manifest().docs) == ["a.txt", "c.txt"]
    assert {m["doc"] for m in store.collection.get(include=["metadatas"])["metadatas"]} == {"a.txt", "c.txt"}
    assert report.chunks_removed == 1  # d's
    assert store.query_filter(store.manifest()) is None  # all stored chunks live: searches need no filter
    retriever = HybridRetriever(store, embed_model, settings)
    assert {p.doc for p in retriever.retrieve("Which mill grinds barley?", 10)} == {"a.txt", "c.txt"}


def test_a_restarted_reader_answers_without_reading_the_document_list(tmp_path: Path, embed_model: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    settings = indexed(tmp_path, embed_model, "a", "b", "c")
    head = CorpusStore.open(settings)._meta()
    assert "manifest" not in head and head["documents"] == 3 and head["generation"] == 1  # a head, not a list
    HybridRetriever(CorpusStore.open(settings), embed_model, settings).refresh()  # this machine's lexical index

    def listed(self: CorpusStore, live: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("the document list was read")

    monkeypatch.setattr(CorpusStore, "_documents", listed)
    restarted = HybridRetriever(CorpusStore.open(settings), embed_model, settings)
    assert [p.doc for p in restarted.retrieve("Which mill grinds rye?", 1)] == ["b.txt"]
    assert restarted.term_stats.n == head["chunks"]


def test_an_unchanged_re_index_reads_no_file_whose_size_and_time_are_unchanged(
        tmp_path: Path, embed_model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import index.indexer

    settings = indexed(tmp_path, embed_model, "a", "b")
    hashed: list[str] = []
    sha256 = index.indexer.file_sha256
    monkeypatch.setattr(index.indexer, "file_sha256", lambda path: hashed.append(path.name) or sha256(path))
    assert Indexer(settings, embed_model=embed_model).run().unchanged == ["a.txt", "b.txt"] and hashed == []

    # Touched: read and hashed again, still unchanged (and not read at the next run). Rewritten with the same size:
    # read, and updated.
    a, b = settings.corpus_dir / "a.txt", settings.corpus_dir / "b.txt"
    os.utime(a, ns=(a.stat().st_atime_ns, a.stat().st_mtime_ns + 10**9))
    b.write_text(b.read_text(encoding="utf-8").replace("rye", "oat"), encoding="utf-8")
    os.utime(b, ns=(b.stat().st_atime_ns, b.stat().st_mtime_ns + 10**9))
    report = Indexer(settings, embed_model=embed_model).run()
    assert sorted(hashed) == ["a.txt", "b.txt"] and report.unchanged == ["a.txt"] and report.updated == ["b.txt"]
    hashed.clear()
    assert Indexer(settings, embed_model=embed_model).run().updated == [] and hashed == []


def test_document_entries_of_the_earlier_record_layout_are_read_as_they_were(tmp_path: Path, embed_model: Any) -> None:
    """Entries are one packed JSON value per record now; a store whose records hold a key per field (the earlier
    layout) reads the same entries, and its unchanged files are still not read again."""
    import dataclasses
    import json

    settings = indexed(tmp_path, embed_model, "a", "b")
    store = CorpusStore.open(settings)
    before = store.manifest().docs
    records = store._docs_collection().get(include=["metadatas"])
    assert all(set(m) == {"doc_key", "gen", "entry"} for m in records["metadatas"])
    spread = [{**json.loads(m["entry"]), "doc_key": m["doc_key"], "gen": m["gen"]}
              for m in records["metadatas"]]
    store._docs_collection().delete(ids=records["ids"])
    store._docs_collection().add(ids=records["ids"], embeddings=[[1.0]] * len(spread), metadatas=spread)
    def timeless(docs: dict[str, Any]) -> dict[str, Any]:
        return {name: dataclasses.replace(entry, indexed_at=0.0) for name, entry in docs.items()}

    after = CorpusStore.open(settings).manifest().docs
    assert timeless(after) == timeless(before)  # a float in Chroma metadata comes back to within ~1e-7 of itself
    assert all(abs(after[name].indexed_at - entry.indexed_at) < 1e-3 for name, entry in before.items())
    assert Indexer(settings, embed_model=embed_model).run().unchanged == ["a.txt", "b.txt"]

    # An entry this version cannot read (another layout) is a clear error that names the fix, not a traceback.
    store._docs_collection().update(ids=records["ids"][:1], metadatas=[{"entry": "{not json"}])
    with pytest.raises(StoreError, match="rebuild"):
        CorpusStore.open(settings).manifest().docs  # noqa: B018  (reading the list is the act under test)


def test_a_store_made_before_stamps_is_read_and_updated_by_its_document_keys(tmp_path: Path, embed_model: Any
                                                                             ) -> None:
    from index.store import _metadata

    settings = indexed(tmp_path, embed_model, "a", "b")
    corpus = settings.corpus_dir
    # What an older version left: the whole manifest in the collection's metadata, no stamps read.
    store = CorpusStore.open(settings)
    manifest, meta = store.manifest(), store._meta()
    store.collection.modify(metadata=_metadata(meta["embed_model"], meta["embed_dim"], manifest))
    store = CorpusStore.open(settings)
    assert not store.stamped and sorted(store.manifest().docs) == ["a.txt", "b.txt"]
    assert "$in" in str(store.live_filter(store.manifest()))

    (corpus / "b.txt").unlink()
    (corpus / "c.txt").write_text(" ".join(TEXTS["c"]), encoding="utf-8")
    report = Indexer(settings, embed_model=embed_model).run()
    assert report.added == ["c.txt"] and report.removed == ["b.txt"] and report.chunks_removed == 1
    retriever = HybridRetriever(CorpusStore.open(settings), embed_model, settings)
    assert sorted(retriever.refresh().docs) == ["a.txt", "c.txt"]
    assert [p.doc for p in retriever.retrieve("lantern festival", 1)] == ["c.txt"]
    assert "b.txt" not in {p.doc for p in retriever.retrieve("Which mill grinds rye?", 10)}


def test_a_run_over_more_documents_than_a_filter_holds_commits_and_cleans_up(
        tmp_path: Path, embed_model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store filter lists at most `BATCH` document keys (SQLite takes a bounded number of variables; a run over
    tens of thousands of documents failed at its commit): here BATCH is 1 and a run adding three documents is killed
    before its commit, one of them is deleted, and it runs again: it reuses what was stored, deletes what it does not
    keep, and commits."""
    import chromadb.api.models.Collection as collection_module

    import index.store

    def longest_list(where: Any) -> int:
        if isinstance(where, dict):
            return max([len(v) if isinstance(v, list) and k in ("$in", "$nin") else longest_list(v)
                        for k, v in where.items()] or [0])
        return max([longest_list(w) for w in where] or [0]) if isinstance(where, list) else 0

    for method in ("get", "delete"):
        original = getattr(collection_module.Collection, method)

        def bounded(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            assert longest_list(kwargs.get("where")) <= 1, kwargs.get("where")
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(collection_module.Collection, method, bounded)
    monkeypatch.setattr(index.store, "BATCH", 1)

    settings = indexed(tmp_path, embed_model, "a")
    for name in ("b", "c"):
        (settings.corpus_dir / f"{name}.txt").write_text(" ".join(TEXTS[name]), encoding="utf-8")
    (settings.corpus_dir / "d.txt").write_text("The tower of Alder was rebuilt in stone.", encoding="utf-8")
    killed = Indexer(settings, embed_model=embed_model)
    monkeypatch.setattr(killed, "_commit", lambda *args: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        killed.run()
    (settings.corpus_dir / "d.txt").unlink()  # its stored chunks are now nobody's
    report = Indexer(settings, embed_model=embed_model).run()
    assert report.added == ["b.txt", "c.txt"] and report.chunks_reused > 0
    store = CorpusStore.open(settings)
    assert sorted(store.manifest().docs) == ["a.txt", "b.txt", "c.txt"]
    assert store.count() == sum(entry.chunks for entry in store.manifest().docs.values())  # c's chunks deleted


def test_a_read_that_may_match_very_many_records_is_read_in_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    import index.store

    class Records:
        """A collection of five records whose reads count how many they return at most."""

        def __init__(self) -> None:
            self.largest = 0

        def get(self, where: Any, include: list[str], limit: int, offset: int) -> dict[str, Any]:
            ids = [f"r{i}" for i in range(5)][offset:offset + limit]
            self.largest = max(self.largest, len(ids))
            return {"ids": ids, "metadatas": [{"n": i} for i in ids]}

    monkeypatch.setattr(index.store, "PAGE", 2)
    records = Records()
    read = index.store._get_paged(records, None, ["metadatas"])
    assert read["ids"] == ["r0", "r1", "r2", "r3", "r4"] and [m["n"] for m in read["metadatas"]] == read["ids"]
    assert records.largest == 2


def test_retired_documents_too_many_for_a_filter_are_dropped_by_the_reader(tmp_path: Path, embed_model: Any,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that retires more documents than a filter lists (FILTER_KEYS, 500; here none) and dies before deleting
    their chunks: readers filter by generation alone and still never show a retired document."""
    import index.store

    settings = indexed(tmp_path, embed_model, "a", "b", "c")
    (settings.corpus_dir / "b.txt").unlink()
    monkeypatch.setattr(CorpusStore, "delete_ids", lambda self, ids: (_ for _ in ()).throw(OSError("killed")))
    with pytest.raises(OSError):
        Indexer(settings, embed_model=embed_model).run()
    monkeypatch.undo()
    monkeypatch.setattr(index.store, "FILTER_KEYS", 0)
    store = CorpusStore.open(settings)
    manifest = store.manifest()
    assert manifest.retired and "$nin" not in str(store.query_filter(manifest))  # the filter lists no key
    assert sorted(manifest.docs) == ["a.txt", "c.txt"]
    retriever = HybridRetriever(store, embed_model, settings)
    assert {p.doc for p in retriever.retrieve("Which mill grinds rye?", 10)} == {"a.txt", "c.txt"}
    assert {p.doc for p in retriever.openings()} == {"a.txt", "c.txt"}
    assert retriever.mentioning("mill") == ([], 2)
    assert Indexer(settings, embed_model=embed_model).run().chunks_removed == 1  # the next run cleans up
    assert not CorpusStore.open(settings).manifest().retired
