"""Incremental indexing with the real embedding model and a real Chroma store.

Adding, editing and deleting a file each touch exactly that file's chunks; an unchanged corpus costs nothing;
the store remembers its embedding model and refuses another one.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from index.indexer import Indexer
from index.readers import read_document
from index.store import CorpusStore, StoreError
from tests.conftest import SEED_DOC_A, SEED_DOC_B, make_settings


def live_chunk_ids(settings: Any) -> dict[str, set[str]]:
    """doc name -> ids of its chunks actually stored in Chroma."""
    store = CorpusStore.open(settings)
    data = store.collection.get(include=["metadatas"])
    out: dict[str, set[str]] = {}
    for chunk_id, meta in zip(data["ids"], data["metadatas"], strict=True):
        out.setdefault(meta["doc"], set()).add(chunk_id)
    return out


@pytest.fixture()
def fresh(tmp_path: Path, embed_model: Any) -> tuple[Any, Indexer]:
    settings = make_settings(tmp_path)
    return settings, Indexer(settings, embed_model=embed_model)


def test_first_run_indexes_the_seeds_and_spans_are_exact(fresh: tuple[Any, Indexer]) -> None:
    settings, indexer = fresh
    report = indexer.run()
    assert sorted(report.added) == [SEED_DOC_A, SEED_DOC_B]
    assert report.chunks_added == report.chunks_total > 0
    store = CorpusStore.open(settings)
    data = store.collection.get(include=["documents", "metadatas"])
    assert len(data["ids"]) == report.chunks_total
    for text, meta in zip(data["documents"], data["metadatas"], strict=True):
        source = read_document(settings.corpus_dir / meta["doc"], settings.corpus_dir).text
        assert text == source[meta["start"]:meta["end"]]


def test_second_run_on_unchanged_corpus_changes_nothing(fresh: tuple[Any, Indexer]) -> None:
    settings, indexer = fresh
    indexer.run()
    before = live_chunk_ids(settings)
    report = Indexer(settings).run()  # a new indexer: proves no model is needed when nothing changed
    assert not report.changed
    assert sorted(report.unchanged) == [SEED_DOC_A, SEED_DOC_B]
    assert report.chunks_added == report.chunks_removed == 0
    assert live_chunk_ids(settings) == before


def test_add_edit_delete_touch_only_that_file(fresh: tuple[Any, Indexer]) -> None:
    settings, indexer = fresh
    indexer.run()
    before = live_chunk_ids(settings)

    new_file = settings.corpus_dir / "notes.md"
    new_file.write_text("# Notes\n\nThe delegation flew to Montreux on a Tuesday.\n", encoding="utf-8")
    report = indexer.run()
    assert (report.added, report.updated, report.removed) == (["notes.md"], [], [])
    after_add = live_chunk_ids(settings)
    assert after_add[SEED_DOC_A] == before[SEED_DOC_A] and after_add[SEED_DOC_B] == before[SEED_DOC_B]
    assert len(after_add["notes.md"]) == report.chunks_added == 1

    doc_b = settings.corpus_dir / SEED_DOC_B
    doc_b.write_text(doc_b.read_text(encoding="utf-8") + "\nA late paragraph about Aleppo.\n", encoding="utf-8")
    report = indexer.run()
    assert (report.added, report.updated, report.removed) == ([], [SEED_DOC_B], [])
    after_edit = live_chunk_ids(settings)
    assert after_edit[SEED_DOC_A] == before[SEED_DOC_A]
    assert after_edit["notes.md"] == after_add["notes.md"]
    assert after_edit[SEED_DOC_B].isdisjoint(before[SEED_DOC_B])  # old version's chunks are gone
    assert report.chunks_removed == len(before[SEED_DOC_B])

    new_file.unlink()
    report = indexer.run()
    assert (report.added, report.updated, report.removed) == ([], [], ["notes.md"])
    after_delete = live_chunk_ids(settings)
    assert "notes.md" not in after_delete
    assert after_delete[SEED_DOC_A] == before[SEED_DOC_A]
    assert CorpusStore.open(settings).manifest().docs.keys() == {SEED_DOC_A, SEED_DOC_B}


def test_odd_files_are_skipped_with_reasons_and_lose_nothing(fresh: tuple[Any, Indexer]) -> None:
    settings, indexer = fresh
    shutil.copy(settings.corpus_dir / SEED_DOC_A, settings.corpus_dir / "copy_of_a.txt")
    (settings.corpus_dir / "empty.txt").write_bytes(b"")
    (settings.corpus_dir / "image.txt").write_bytes(bytes(range(256)) * 4)
    (settings.corpus_dir / "table.csv").write_text("a,b\n", encoding="utf-8")
    report = indexer.run()
    reasons = dict(report.skipped)
    assert "duplicate of" in reasons["copy_of_a.txt"]
    assert "empty" in reasons["empty.txt"]
    assert "binary" in reasons["image.txt"]
    assert "unsupported" in reasons["table.csv"]
    assert sorted(report.added) == [SEED_DOC_A, SEED_DOC_B]


def test_store_refuses_another_embedding_model(fresh: tuple[Any, Indexer]) -> None:
    settings, indexer = fresh
    indexer.run()
    with pytest.raises(StoreError, match="built with embedding model .*all-MiniLM.* rebuild"):
        CorpusStore.open(settings).check_model("sentence-transformers/all-mpnet-base-v2", None)
    with pytest.raises(StoreError, match="384-dim"):
        CorpusStore.open(settings).check_model(None, 768)


def test_a_store_split_by_an_older_version_asks_for_a_rebuild(fresh: tuple[Any, Indexer]) -> None:
    """A store whose chunks an older version split into sentences (schema 2 cut "U.S." from its sentence) is
    refused with the command that rebuilds it, and that command makes it answer again."""
    settings, indexer = fresh
    indexer.run()
    store = CorpusStore.open(settings)
    store.collection.modify(metadata={**store.collection.metadata, "schema": 2})
    with pytest.raises(StoreError, match=r"incompatible version \(schema 2\).*assistant index --rebuild"):
        CorpusStore.open(settings).check_model(None, None)
    indexer.run(rebuild=True)
    CorpusStore.open(settings).check_model(None, None)


def test_missing_store_names_the_command_that_builds_it(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with pytest.raises(StoreError, match="assistant index"):
        CorpusStore.open(settings)


def test_rebuild_starts_from_scratch(fresh: tuple[Any, Indexer]) -> None:
    settings, indexer = fresh
    first = indexer.run()
    report = indexer.run(rebuild=True)
    assert sorted(report.added) == [SEED_DOC_A, SEED_DOC_B]
    assert report.chunks_total == first.chunks_total == CorpusStore.open(settings).count()


def test_a_ranking_model_s_vectors_ride_with_the_chunks_and_a_store_without_them_is_refused(
        fresh: tuple[Any, Indexer], tmp_path: Path, embed_model: Any) -> None:
    """With `ranking_embed_model` set and `ranking_at_index` on, every chunk carries that model's vectors (of the chunk
    and of each sentence) and the store records the model; a store built without them is refused with the rebuild
    command rather than ranked half with and half without, and a store built with them still answers settings that do
    not ask for them."""
    import dataclasses

    from assistant.pipeline import Assistant
    from index.chunking import unpack_spans, unpack_vectors

    plain, indexer = fresh
    indexer.run()
    # The packaged MiniLM stands in for the larger model: what is tested is the plumbing, not the model.
    ranked = dataclasses.replace(plain, ranking_embed_model="packaged:all-MiniLM-L6-v2", ranking_at_index=True)
    with_ranking = Indexer(ranked, embed_model=embed_model, ranking_model=embed_model)
    refused = "built without a ranking model.*assistant index --rebuild.*ranking_at_index = false"
    with pytest.raises(StoreError, match=refused):
        with_ranking.run()
    with pytest.raises(StoreError, match=refused):
        Assistant(ranked, embed_model=embed_model, ranking_model=embed_model).retrieve("Where is Montreux?")
    with_ranking.run(rebuild=True)
    store = CorpusStore.open(ranked)
    assert store.ranking_model == ("packaged:all-MiniLM-L6-v2", 384)
    data = store.collection.get(include=["metadatas"])
    for meta in data["metadatas"]:
        assert len(unpack_vectors(meta["rvec"], 384)) == 1
        assert len(unpack_vectors(meta["rsvec"], 384)) == len(unpack_spans(meta["sents"]))
    with pytest.raises(StoreError, match="built with ranking model .* none in the index.*ranking_at_index = true"):
        Indexer(plain, embed_model=embed_model).run()  # adding chunks without its vectors would mix the two

    question = "Where will the Geneva II talks be held?"
    bot = Assistant(ranked, embed_model=embed_model, ranking_model=embed_model)
    passages = bot.retrieve(question)
    assert passages and all(p.ranking_vector is not None for p in passages)
    answer = bot.ask(question, mode="fast")
    assert "Montreux" in answer.answer
    assert {"ranking_passage", "ranking_cited", "ranking_clause"} <= set(answer.signals)  # abstention reads them
    plain_answer = Assistant(plain, embed_model=embed_model).ask(question, mode="fast")
    assert "Montreux" in plain_answer.answer and "ranking_cited" not in plain_answer.signals

    # The default: the ranking model judges answers only, and the index carries none of its vectors.
    judged = dataclasses.replace(ranked, ranking_at_index=False, data_dir=tmp_path / "judged", store_dir=None)
    Indexer(judged, embed_model=embed_model, ranking_model=embed_model).run()
    assert CorpusStore.open(judged).ranking_model is None
    passages = Assistant(judged, embed_model=embed_model, ranking_model=embed_model).retrieve(question)
    assert passages and all(p.ranking_vector is None for p in passages)


def test_the_model_indexing_loaded_answers_the_questions_too(tmp_path: Path) -> None:
    """One copy of each model in memory: the assistant keeps the embedding model its first index run loaded."""
    from assistant.pipeline import Assistant

    bot = Assistant(make_settings(tmp_path))
    bot.index()
    loaded = bot._embed_model
    assert loaded is not None and bot.embed_model is loaded
    assert bot.retrieve("Where will the Geneva II talks be held?")
