"""An index run killed with SIGKILL halfway through a larger corpus loses nothing.

The previous index (built from a smaller corpus) still answers, exactly as before, after the run dies; the next
run completes the job, reusing the chunks the killed run had already stored instead of embedding them again.
The corpus is 200 real SQuAD v1.1 paragraphs (see ../shared/eval/README.md), one `.txt` file each: enough for
several write groups, small enough to embed in well under a minute on two cores.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings
from index.indexer import WRITE_GROUP
from tests.conftest import REPO, make_settings

EVAL_DIR = Path(os.environ.get("ASSISTANT_EVAL_DIR") or REPO.parent / "shared" / "eval")
SQUAD = EVAL_DIR / "squad_v1.1_dev" / "squad-dev-v1.1-even-articles.json"
SMALL, LARGE = 12, 200  # paragraphs in the previous index / in the corpus of the killed run (~3 write groups)
PROGRESS = re.compile(r"embedding: (\d+)/(\d+) chunks")

pytestmark = pytest.mark.skipif(not SQUAD.is_file(), reason=f"SQuAD evaluation data not found at {SQUAD}")


def squad_paragraphs(count: int) -> list[dict[str, Any]]:
    """The first `count` paragraphs of the SQuAD file: context and its questions."""
    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    return [p for article in data["data"] for p in article["paragraphs"]][:count]


def write_corpus(folder: Path, paragraphs: list[dict[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, paragraph in enumerate(paragraphs):
        (folder / f"squad_{i:04d}.txt").write_text(paragraph["context"] + "\n", encoding="utf-8")


def cli_env(settings: Settings) -> dict[str, str]:
    env = {**os.environ, "ASSISTANT_CORPUS_DIR": str(settings.corpus_dir),
           "ASSISTANT_DATA_DIR": str(settings.data_dir), "ASSISTANT_MODE": "fast", "HF_HUB_OFFLINE": "1"}
    env.pop("ASSISTANT_NO_PROGRESS", None)  # the test watches the plain progress lines on stderr
    return env


def reopen_from_disk(settings: Settings) -> None:
    """Forget this process's cached handle on the store: another process wrote it since we opened it."""
    from index.store import forget_cached_client

    forget_cached_client(settings.resolved_store_dir)


def test_sigkill_midway_keeps_the_old_index_and_the_next_run_completes(tmp_path: Path, embed_model: Any) -> None:
    from assistant.pipeline import Assistant
    from index.indexer import Indexer
    from index.store import CorpusStore

    paragraphs = squad_paragraphs(LARGE)
    corpus = tmp_path / "corpus"
    write_corpus(corpus, paragraphs[:SMALL])
    settings = make_settings(tmp_path, corpus=corpus, mode="fast")

    # The previous index: the small corpus, and a question it answers correctly (gold answer, gold file).
    bot = Assistant(settings, embed_model=embed_model)
    assert len(bot.index().added) == SMALL
    probe = find_answered_question(bot, paragraphs[:SMALL])
    assert probe is not None, "fast mode answered none of the small corpus' questions"
    question, expected_answer, expected_doc = probe
    reopen_from_disk(settings)

    # The larger corpus, indexed by `assistant index` in another process, killed halfway through embedding.
    write_corpus(corpus, paragraphs)
    progress = index_and_kill_halfway(settings)
    done, total = progress[-1]
    assert WRITE_GROUP <= done < total, progress  # killed partway: some groups stored, not all

    # The previous index still answers, exactly as before the crash (a fresh client reads the store from disk).
    assert len(CorpusStore.open(settings).manifest().docs) == SMALL  # the killed run committed nothing
    answer = Assistant(settings, embed_model=embed_model).ask(question)
    assert not answer.abstained
    assert (answer.answer, answer.citations[0].doc) == (expected_answer, expected_doc)
    reopen_from_disk(settings)

    # The next run completes the job, reusing the chunks the killed run stored instead of embedding them again.
    report = Indexer(settings, embed_model=embed_model).run()
    assert len(report.added) == LARGE - SMALL and len(report.unchanged) == SMALL and not report.skipped
    assert report.chunks_reused >= done - WRITE_GROUP  # what the killed run stored was not embedded again
    assert "reused from an interrupted run" in report.summary()
    store = CorpusStore.open(settings)
    assert sorted(store.manifest().docs) == [f"squad_{i:04d}.txt" for i in range(LARGE)]
    assert store.count() == report.chunks_total  # no orphan chunks left behind by the killed run

    # The whole corpus answers: the old question, and one about a paragraph only the new run indexed.
    again = Assistant(settings, embed_model=embed_model)
    assert again.ask(question).answer == expected_answer
    late = paragraphs[LARGE - 1]["qas"][0]["question"]
    assert f"squad_{LARGE - 1:04d}.txt" in [p.doc for p in again.retrieve(late)]


def find_answered_question(bot: Any, paragraphs: list[dict[str, Any]]) -> tuple[str, str, str] | None:
    """(question, answer, cited file) of the first question fast mode answers with its gold text and file."""
    for i, paragraph in enumerate(paragraphs):
        for qa in paragraph["qas"]:
            answer = bot.ask(qa["question"])
            gold = [a["text"] for a in qa["answers"]]
            if not answer.abstained and answer.citations[0].doc == f"squad_{i:04d}.txt" \
                    and any(g in answer.answer for g in gold):
                return qa["question"], answer.answer, answer.citations[0].doc
    return None


def index_and_kill_halfway(settings: Settings) -> list[tuple[int, int]]:
    """Run `assistant index` in a subprocess and SIGKILL it once half its chunks are stored; its progress."""
    run = subprocess.Popen([sys.executable, "-m", "assistant", "index"], cwd=REPO, env=cli_env(settings),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    progress: list[tuple[int, int]] = []
    lines: list[str] = []
    halfway = threading.Event()

    def watch() -> None:
        assert run.stderr is not None
        for line in run.stderr:
            lines.append(line)
            match = PROGRESS.search(line)
            if match:
                progress.append((int(match.group(1)), int(match.group(2))))
                if progress[-1][1] / 2 <= progress[-1][0] < progress[-1][1]:
                    halfway.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        assert halfway.wait(timeout=240), "the index run never got halfway:\n" + "".join(lines)
        run.send_signal(signal.SIGKILL)  # it is now embedding the next group
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    watcher.join(timeout=10)
    assert run.returncode == -signal.SIGKILL, "".join(lines)
    return progress
