"""Nothing a user does, and no file in their folder, loses their index: each test counts the chunks of every other
document before and after, and checks the message and the exit code a user sees."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings
from assistant.retrieval import HybridRetriever
from index.indexer import Indexer
from index.lexical import lexical_folder
from index.store import CorpusStore
from tests.conftest import REPO, SEED_DOC_A, SEED_DOC_B, SEEDS, make_settings
from tests.pdf_maker import write_bomb_pdf, write_pdf

QUESTION = "Where was Geneva II held?"


def live_chunks(settings: Settings) -> dict[str, set[str]]:
    """doc name -> ids of its live chunks (those of the committed manifest)."""
    store = CorpusStore.open(settings)
    keys = store.manifest().doc_keys()
    data = store.collection.get(include=["metadatas"])
    out: dict[str, set[str]] = {}
    for chunk_id, meta in zip(data["ids"], data["metadatas"], strict=True):
        if f"{meta['doc']}@{meta['doc_hash']}" in keys or meta.get("doc_key") in keys:
            out.setdefault(meta["doc"], set()).add(chunk_id)
    return out


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ASSISTANT_CORPUS_DIR": str(settings.corpus_dir), "ASSISTANT_DATA_DIR": str(settings.data_dir),
           "ASSISTANT_RANKING_EMBED_MODEL": "none", "HF_HUB_OFFLINE": "1", "ASSISTANT_NO_PROGRESS": "1"}
    return subprocess.run([sys.executable, "-m", "assistant", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def seed_index(tmp_path_factory: pytest.TempPathFactory, embed_model: Any) -> Settings:
    settings = make_settings(tmp_path_factory.mktemp("safety"), mode="fast")
    Indexer(settings, embed_model=embed_model).run()
    return settings


@pytest.fixture()
def copy(seed_index: Settings, tmp_path: Path) -> Settings:
    """A private copy of the seed corpus and its index."""
    shutil.copytree(seed_index.corpus_dir, tmp_path / "corpus")
    shutil.copytree(seed_index.resolved_store_dir, tmp_path / "data" / "store")
    return make_settings(tmp_path, corpus=tmp_path / "corpus", mode="fast")


def test_indexing_one_path_adds_it_and_keeps_every_other_document(copy: Settings, embed_model: Any,
                                                                   tmp_path: Path) -> None:
    before = live_chunks(copy)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "note.txt").write_text("Quarterly note\n\nThe orchard harvest was moved to the first week of May.\n")
    report = Indexer(copy, embed_model=embed_model).run([outside / "note.txt"])
    assert report.added == ["note.txt"] and not report.removed
    after = live_chunks(copy)
    assert after[SEED_DOC_A] == before[SEED_DOC_A] and after[SEED_DOC_B] == before[SEED_DOC_B]
    # A file of the corpus folder named on its own is the same document as when the folder is indexed.
    again = Indexer(copy, embed_model=embed_model).run([copy.corpus_dir / SEED_DOC_A])
    assert not again.changed and SEED_DOC_A in again.unchanged and "note.txt" in again.unchanged
    # --prune makes the index hold exactly the paths named.
    pruned = Indexer(copy, embed_model=embed_model).run([copy.corpus_dir], prune=True)
    assert pruned.removed == ["note.txt"] and live_chunks(copy) == before


def test_remove_takes_a_document_out_and_keeps_its_file(copy: Settings) -> None:
    before = live_chunks(copy)
    result = run_cli(copy, "remove", SEED_DOC_B)
    assert result.returncode == 0, result.stderr
    assert f"removed  {SEED_DOC_B}" in result.stdout and "1 removed" in result.stdout
    assert live_chunks(copy) == {SEED_DOC_A: before[SEED_DOC_A]}
    assert (copy.corpus_dir / SEED_DOC_B).is_file()
    unknown = run_cli(copy, "remove", "no-such.txt")
    assert unknown.returncode == 1 and "skipped  no-such.txt: not in the index" in unknown.stdout


@pytest.mark.parametrize("emptied", ["empty", "missing"])
def test_an_empty_or_missing_corpus_folder_never_empties_the_index(copy: Settings, emptied: str) -> None:
    before = live_chunks(copy)
    if emptied == "empty":
        for path in copy.corpus_dir.iterdir():
            path.unlink()
    else:
        shutil.rmtree(copy.corpus_dir)
    result = run_cli(copy, "index")
    state = "holds no indexable document" if emptied == "empty" else "does not exist"
    assert result.returncode == 1
    assert f"{state}: indexing it would remove all 2 documents from the index, which is left as it was" in result.stderr
    assert "--force" in result.stderr
    assert live_chunks(copy) == before
    if emptied == "empty":
        forced = run_cli(copy, "index", "--force")
        assert forced.returncode == 0 and "2 removed" in forced.stdout and live_chunks(copy) == {}


def test_bad_files_are_skipped_one_by_one_and_lose_nothing(copy: Settings, embed_model: Any) -> None:
    from assistant.pipeline import Assistant

    before = live_chunks(copy)
    write_bomb_pdf(copy.corpus_dir / "bomb.pdf")
    (copy.corpus_dir / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n")
    odd_name = os.fsencode(copy.corpus_dir) + b"/caf\xe9.txt"  # a Latin-1 name: not valid UTF-8
    with open(odd_name, "wb") as handle:
        handle.write(b"A note about the harbour.\n")
    write_pdf(copy.corpus_dir / "good.pdf", ["Harbour bulletin", "The ferry to the island leaves at noon."])
    bot = Assistant(copy, embed_model=embed_model)
    report = bot.index()
    skipped = dict(report.skipped)
    assert "decompresses past the safety limit" in skipped["bomb.pdf"]
    assert skipped["broken.pdf"].startswith("cannot parse PDF")
    assert any("not valid UTF-8" in reason for name, reason in report.skipped if name.startswith("caf"))
    assert report.added == ["good.pdf"]
    after = live_chunks(copy)
    assert after[SEED_DOC_A] == before[SEED_DOC_A] and after[SEED_DOC_B] == before[SEED_DOC_B]
    answer = bot.ask("When does the ferry to the island leave?")
    assert not answer.abstained and answer.citations[0].doc == "good.pdf"


def test_rebuild_drops_only_its_own_collection(copy: Settings, embed_model: Any) -> None:
    other = make_settings(copy.data_dir.parent, corpus=copy.corpus_dir, collection="other", mode="fast")
    Indexer(other, embed_model=embed_model).run()
    other_before = live_chunks(other)
    HybridRetriever(CorpusStore.open(copy), embed_model, copy).refresh()  # this machine's lexical index of each
    folders = {s.collection: lexical_folder(s, CorpusStore.open(s)) for s in (copy, other)}
    assert all(folder.is_dir() for folder in folders.values())
    report = Indexer(copy, embed_model=embed_model).run(rebuild=True)
    assert sorted(report.added) == [SEED_DOC_A, SEED_DOC_B]
    assert live_chunks(other) == other_before  # the collection beside it is untouched
    # This machine's lexical index of the dropped collection goes with it; the other's stays.
    assert not folders[copy.collection].exists() and folders[other.collection].is_dir()
    assert lexical_folder(copy, CorpusStore.open(copy)).is_dir()


def test_a_cited_file_deleted_after_indexing_still_shows_its_passage(tmp_path: Path, embed_model: Any) -> None:
    from assistant.pipeline import Assistant

    bot = Assistant(make_settings(tmp_path, mode="fast"), embed_model=embed_model)
    bot.index()
    copy = bot.settings
    answer = bot.ask(QUESTION)
    citation = answer.citations[0]
    (copy.corpus_dir / citation.doc).unlink()
    source = bot.source_document(citation.doc)
    assert source.text[citation.start:citation.end] == citation.quote
    assert "changed or vanished" in source.note
    again = bot.ask(QUESTION)  # the answer comes from the index, as before
    assert again.short_answer == answer.short_answer and again.citations[0].quote == citation.quote


def test_an_index_run_by_another_process_is_seen_by_a_running_assistant(copy: Settings, embed_model: Any) -> None:
    from assistant.pipeline import Assistant

    bot = Assistant(copy, embed_model=embed_model)  # as the web UI: one client for its whole life
    assert bot.ask(QUESTION).citations
    (copy.corpus_dir / "ferry.txt").write_text("Ferry bulletin\n\nThe ferry to the island leaves at noon daily.\n")
    result = run_cli(copy, "index")  # a terminal beside it
    assert result.returncode == 0 and "1 added" in result.stdout, result.stderr
    answer = bot.ask("When does the ferry to the island leave?")
    assert not answer.abstained and answer.citations[0].doc == "ferry.txt"
    assert bot.ask(QUESTION).citations[0].doc == SEED_DOC_A


def test_evaluation_never_touches_the_users_index(copy: Settings, embed_model: Any, tmp_path: Path) -> None:
    from assistant.evaluation.runner import evaluate

    before = live_chunks(copy)
    manifest = CorpusStore.open(copy).manifest()
    other = tmp_path / "other-corpus"
    other.mkdir()
    shutil.copy(SEEDS / SEED_DOC_A, other / SEED_DOC_A)
    pairs = tmp_path / "pairs.json"
    pairs.write_text(json.dumps({"questions": [{"q": QUESTION, "any": ["Montreux"], "docs": [SEED_DOC_A]}]}))
    settings = make_settings(tmp_path, corpus=other, mode="fast", data_dir=copy.data_dir)
    run = evaluate([pairs], settings, embed_model=embed_model, progress=False)
    assert run.primary.summary["passed"] == 1
    assert live_chunks(copy) == before and CorpusStore.open(copy).manifest() == manifest
