"""Chroma server mode: a real `chroma run` server (from the installed chromadb) behind `--chroma-url`.

The seed corpus is indexed through the server with the `assistant` command, and every fixed question of
tests/data/seed_qa.json gets the same answer and the same citations (doc, start, end) as from the embedded store.
Fast mode is used: it is deterministic, and the store is what is under test, not the LLM.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings
from tests.conftest import REPO, SEED_DOC_A, SEED_DOC_B, make_settings

SEED_QA = REPO / "tests" / "data" / "seed_qa.json"
QUESTION = "Where was Geneva II held?"


def chroma_executable() -> str | None:
    """The `chroma` console script installed with the chromadb package (next to this Python first)."""
    beside = Path(sys.executable).parent / "chroma"
    return str(beside) if beside.is_file() else shutil.which("chroma")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def heartbeat(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


class ChromaServer:
    """A `chroma run` process on a free loopback port; `url` is what `--chroma-url` takes."""

    def __init__(self, path: Path, log: Path) -> None:
        executable = chroma_executable()
        if executable is None:
            pytest.skip("the chroma command of the chromadb package is not installed")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen([executable, "run", "--path", str(path), "--host", "127.0.0.1",
                                             "--port", str(self.port)], stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"chroma server exited with {self.process.returncode}:\n{self.log.read_text()[-2000:]}")
            if heartbeat(self.url):
                return
            time.sleep(0.2)
        pytest.fail(f"chroma server not answering at {self.url} after {timeout} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


@pytest.fixture()
def chroma_server(tmp_path: Path) -> Iterator[ChromaServer]:
    server = ChromaServer(tmp_path / "chroma-server", tmp_path / "chroma-server.log")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
    assert server.process.poll() is not None and not heartbeat(server.url)  # stopped: nothing left running


def seed_questions() -> list[str]:
    return [item["q"] for item in json.loads(SEED_QA.read_text(encoding="utf-8"))["questions"]]


def fast_answers(settings: Settings, embed_model: Any) -> list[dict[str, Any]]:
    """What a user sees for every fixed question: answer text, abstention, and each citation's exact place."""
    from assistant.pipeline import Assistant

    bot = Assistant(settings, embed_model=embed_model)
    out = []
    for question in seed_questions():
        answer = bot.ask(question, mode="fast")
        out.append({"q": question, "answer": answer.answer, "abstained": answer.abstained,
                    "citations": [(c.doc, c.start, c.end) for c in answer.citations]})
    return out


def run_cli(*args: str, settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ASSISTANT_CORPUS_DIR": str(settings.corpus_dir), "ASSISTANT_DATA_DIR": str(settings.data_dir),
           "HF_HUB_OFFLINE": "1", "ASSISTANT_NO_PROGRESS": "1"}
    return subprocess.run([sys.executable, "-m", "assistant", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


def test_server_index_gives_the_same_answers_and_citations_as_embedded(
        chroma_server: ChromaServer, embed_model: Any, tmp_path: Path) -> None:
    from index.indexer import Indexer

    # Through the server: `assistant index --chroma-url URL`, as a user runs it.
    settings = make_settings(tmp_path, chroma_url=chroma_server.url, mode="fast")
    result = run_cli("index", "--json", "--chroma-url", chroma_server.url, settings=settings)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["added"]) == 2 and report["chunks_total"] > 0
    assert not settings.resolved_store_dir.exists()  # nothing went to an embedded store
    assert (tmp_path / "chroma-server" / "chroma.sqlite3").is_file()  # the server holds the data

    # An embedded store of the same two articles, built with the same settings.
    embedded_settings = make_settings(tmp_path / "embedded", mode="fast")
    Indexer(embedded_settings, embed_model=embed_model).run()
    embedded = fast_answers(embedded_settings, embed_model)
    served = fast_answers(settings, embed_model)

    assert sum(not a["abstained"] for a in embedded) >= 30  # a comparison over real answers, not abstentions
    for mine, theirs in zip(served, embedded, strict=True):
        assert mine == theirs, mine["q"]
    first = served[0]
    assert "Montreux" in first["answer"] and first["citations"][0][0] == SEED_DOC_A

    # A second run through the server finds nothing to do (the manifest lives in the server's collection).
    again = Indexer(settings, embed_model=embed_model).run()
    assert not again.changed and len(again.unchanged) == 2


def test_server_going_away_is_a_clear_error_and_loses_nothing(
        chroma_server: ChromaServer, embed_model: Any, tmp_path: Path) -> None:
    from assistant.pipeline import Assistant
    from index.store import StoreError

    settings = make_settings(tmp_path, chroma_url=chroma_server.url, mode="fast")
    bot = Assistant(settings, embed_model=embed_model)
    bot.index()
    assert "Montreux" in bot.ask(QUESTION).answer

    chroma_server.stop()
    with pytest.raises(StoreError, match=rf"cannot reach the Chroma server at {chroma_server.url}.*chroma run"):
        bot.ask(QUESTION)
    with pytest.raises(StoreError, match="cannot reach the Chroma server"):
        Assistant(settings, embed_model=embed_model).ask(QUESTION)

    # The same server folder, started again: everything indexed is still there.
    restarted = ChromaServer(tmp_path / "chroma-server", tmp_path / "chroma-server-2.log")
    try:
        restarted.wait_ready()
        again = make_settings(tmp_path, corpus=settings.corpus_dir, chroma_url=restarted.url, mode="fast")
        answer = Assistant(again, embed_model=embed_model).ask(QUESTION)
        assert "Montreux" in answer.answer and answer.citations[0].doc == SEED_DOC_A
    finally:
        restarted.stop()


SERVING = """
import json, sys
from assistant import Assistant, load_settings
bot = Assistant(load_settings(overrides={"mode": "fast"}))
for line in sys.stdin:
    answer = bot.ask(line.strip())
    print(json.dumps({"abstained": answer.abstained, "answer": answer.answer,
                      "citations": [[c.doc, c.start, c.end] for c in answer.citations]}), flush=True)
"""


def test_two_app_processes_on_one_server_see_the_same_committed_index(
        chroma_server: ChromaServer, tmp_path: Path) -> None:
    """Two machines' worth of processes (each its own data folder, so its own lexical index) share one server: an
    index run by one is seen by the other while it runs, and both cite the same spans."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(REPO / "seeds" / SEED_DOC_B, corpus / SEED_DOC_B)
    first = make_settings(tmp_path / "first", corpus=corpus, chroma_url=chroma_server.url)
    second = make_settings(tmp_path / "second", corpus=corpus, chroma_url=chroma_server.url)
    common = {**os.environ, "HF_HUB_OFFLINE": "1", "ASSISTANT_NO_PROGRESS": "1", "ASSISTANT_CHROMA_URL":
              chroma_server.url, "ASSISTANT_RANKING_EMBED_MODEL": "none", "ASSISTANT_CORPUS_DIR": str(corpus)}

    def env(settings: Settings) -> dict[str, str]:
        return {**common, "ASSISTANT_DATA_DIR": str(settings.data_dir)}

    def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "assistant", *args], cwd=REPO, env=env(settings),
                              capture_output=True, text=True, timeout=300)

    assert cli(first, "index").returncode == 0
    serving = subprocess.Popen([sys.executable, "-c", SERVING], cwd=REPO, env=env(second), text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert serving.stdin is not None and serving.stdout is not None

        def ask_second() -> dict[str, Any]:
            serving.stdin.write(QUESTION + "\n")
            serving.stdin.flush()
            return json.loads(serving.stdout.readline())

        before = ask_second()
        assert all(doc == SEED_DOC_B for doc, _, _ in before["citations"])  # the other article is not indexed yet

        shutil.copy(REPO / "seeds" / SEED_DOC_A, corpus / SEED_DOC_A)
        indexed = cli(first, "index", "--json")
        assert indexed.returncode == 0 and json.loads(indexed.stdout)["added"] == [SEED_DOC_A]

        after = ask_second()  # the running process, on its own machine's lexical index, caught up
        asked = cli(first, "ask", QUESTION, "--json", "--mode", "fast")
        assert asked.returncode == 0, asked.stderr
        mine = json.loads(asked.stdout)
        assert "Montreux" in after["answer"] and after["citations"][0][0] == SEED_DOC_A
        assert after["citations"] == [[c["doc"], c["start"], c["end"]] for c in mine["citations"]]
        assert after["answer"] == mine["answer"]
    finally:
        serving.kill()
        serving.wait(timeout=30)


def test_index_runs_of_two_machines_on_one_server_take_turns(
        chroma_server: ChromaServer, tmp_path: Path, embed_model: Any, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A run finds another machine's run holding the index: it waits until that one commits; a run whose claim was
    taken over (it stalled past the lease) refuses to commit, and the index stays as the other run left it."""
    import threading

    import index.indexer
    import index.store
    from index.indexer import Indexer, IndexRefused
    from index.store import CorpusStore

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(REPO / "seeds" / SEED_DOC_B, corpus / SEED_DOC_B)
    mine = make_settings(tmp_path / "mine", corpus=corpus, chroma_url=chroma_server.url, mode="fast")
    Indexer(mine, embed_model=embed_model).run()
    store = CorpusStore.open(mine)
    head = store._meta()
    monkeypatch.setattr(index.indexer, "LEASE_POLL_SECONDS", 0.05)

    def other_machine_marks() -> None:  # what another machine's run writes when it starts indexing
        store.collection.modify(metadata={**head, "pending": True, "writer": "elsewhere:1:feedbeef",
                                          "updated_at": time.time()})

    # Another machine's run holds the index: this one waits until that one commits.
    other_machine_marks()
    assert store.lease_holder() == "elsewhere:1:feedbeef"
    shutil.copy(REPO / "seeds" / SEED_DOC_A, corpus / SEED_DOC_A)
    commit = threading.Timer(1.0, lambda: store.collection.modify(metadata={**head, "updated_at": time.time()}))
    commit.start()
    started = time.monotonic()
    report = Indexer(mine, embed_model=embed_model).run()
    assert time.monotonic() - started >= 1.0 and report.added == [SEED_DOC_A]
    assert "waiting for the index run of elsewhere:1:feedbeef" in capsys.readouterr().err
    assert store.lease_holder() is None and not store.manifest().pending

    # This run stalls past the lease while writing, and another machine's run takes over: it does not commit.
    generation = store.manifest().generation
    (corpus / "c.txt").write_text("The ferry to Norden leaves at noon.", encoding="utf-8")
    write_group = index.indexer.Indexer._write_group

    def stalled(self: Any, *args: Any) -> None:
        write_group(self, *args)
        store.collection.modify(metadata={**store._meta(), "writer": "elsewhere:2:cafe", "updated_at": time.time()})

    monkeypatch.setattr(index.indexer.Indexer, "_write_group", stalled)
    with pytest.raises(IndexRefused, match="another index run took this index over"):
        Indexer(mine, embed_model=embed_model).run()
    assert store.manifest().generation == generation and "c.txt" not in store.manifest().docs

    # That run was killed in turn: once its lease lapses, the next run takes the index and removes what was left.
    monkeypatch.undo()
    monkeypatch.setattr(index.indexer, "LEASE_POLL_SECONDS", 0.05)
    monkeypatch.setattr(index.store, "LEASE_SECONDS", 0.5)
    report = Indexer(mine, embed_model=embed_model).run()
    assert report.added == ["c.txt"] and store.manifest().generation == generation + 1
    assert sorted(store.manifest().docs) == sorted([SEED_DOC_A, SEED_DOC_B, "c.txt"])
