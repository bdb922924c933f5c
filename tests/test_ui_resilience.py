"""The web UI keeps serving the last good index whatever an index run does, can cancel a run, and asks for a login
when one is configured. A real app (fast mode) over a real store; the LLM is not needed for any of it."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SEED_DOC_A, make_settings

pytestmark = pytest.mark.filterwarnings("ignore:::gradio.queueing")
QUESTION = "Where was Geneva II held?"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_for(settings: Any, embed_model: Any) -> Any:
    from assistant.pipeline import Assistant
    from assistant.ui import Service

    service = Service(Assistant(settings, embed_model=embed_model))
    service.ready.set()  # as after start-up: these tests drive the index runs themselves
    return service


def test_a_failed_index_at_startup_keeps_the_last_good_index_answering(tmp_path: Path, embed_model: Any) -> None:
    settings = make_settings(tmp_path, mode="fast")
    service = service_for(settings, embed_model)
    service.run_index()
    shutil.rmtree(settings.corpus_dir)  # an unmounted disk: the start-up catch-up must not empty the index
    restarted = service_for(settings, embed_model)
    restarted._startup()
    assert restarted.status.stage == "ready", restarted.status.message
    assert "does not exist" in restarted.index_error and "Indexing failed" in restarted.status.message
    assert len(restarted.documents()) == 2
    assert restarted.assistant.ask(QUESTION).short_answer  # still answers from the last good index


def test_a_cancelled_index_run_leaves_the_previous_index_answering(tmp_path: Path, embed_model: Any) -> None:
    from assistant.ui import IndexCancelled

    settings = make_settings(tmp_path, mode="fast")
    service = service_for(settings, embed_model)
    service.run_index()
    long = "\n\n".join(f"Paragraph {i} of the Wrenfield almanac tells of the harbour and its ferries in spring."
                       for i in range(900))
    (settings.corpus_dir / "almanac.txt").write_text("Wrenfield almanac\n\n" + long + "\n", encoding="utf-8")
    with pytest.raises(IndexCancelled):
        # "Cancel" pressed as soon as embedding starts: the group being written still lands, for the retry to reuse.
        service.run_index(progress=lambda done, total, stage: stage == "embedding" and service.cancel.set())
    assert "cancelled" in service.index_error
    assert {d["doc"] for d in service.documents()} == {SEED_DOC_A, "004_e31eb55d49d7f6ac.txt"}
    assert service.assistant.ask(QUESTION).citations[0].doc == SEED_DOC_A
    report = service.run_index()  # the retry completes the run, reusing what the cancelled one stored
    assert report.added == ["almanac.txt"] and report.chunks_reused > 0 and service.index_error is None


def test_a_login_is_asked_for_when_configured(tmp_path: Path, embed_model: Any) -> None:
    from gradio_client import Client

    from assistant.pipeline import Assistant
    from assistant.ui import build_app, check_exposure, launch

    settings = make_settings(tmp_path, mode="fast", auth="ann:s3cret")
    demo = build_app(Assistant(settings, embed_model=embed_model))
    url = launch(demo, host="127.0.0.1", port=free_port(), block=False,
                 auth=check_exposure("127.0.0.1", False, settings.auth))
    try:
        assert demo.service.ready.wait(600)  # type: ignore[attr-defined]
        with pytest.raises(Exception):  # noqa: B017,PT011  (gradio_client's own error types vary by version)
            Client(url, verbose=False).predict(QUESTION, api_name="/ask")
        answer = Client(url, auth=("ann", "s3cret"), verbose=False).predict(QUESTION, api_name="/ask")
        assert answer["short_answer"] and answer["citations"][0]["doc"] == SEED_DOC_A
    finally:
        demo.close()


class FailingLLM:
    """An LLM backend that is down: every request fails as a dead endpoint's does."""

    accepts_text_logit_bias = True

    def stream_chat(self, chat: Any, **options: Any) -> Any:
        from assistant.llm.base import LLMError

        raise LLMError("http://127.0.0.1:9/v1: connection refused")


def test_with_the_llm_down_a_follow_up_is_read_by_rule_and_answered_in_fast_mode(tmp_path: Path,
                                                                                   embed_model: Any) -> None:
    from assistant.pipeline import Assistant

    bot = Assistant(make_settings(tmp_path, mode="llm"), embed_model=embed_model, llm=FailingLLM())
    bot.index()
    answer = bot.ask("Where will Kerry go after Paris?")
    assert answer.mode == "fast" and "Vatican" in answer.answer and answer.citations
    assert any("the LLM failed (http://127.0.0.1:9/v1: connection refused): answered in fast mode" in note
               for note in answer.notes)
    follow = bot.ask("And after that?", history=[("Where will Kerry go after Paris?", "the Vatican")])
    assert any("the follow-up was read by rule" in note for note in follow.notes)
    assert follow.standalone_question != "And after that?" and "Kuwait" in follow.answer


def test_the_terminal_chat_keeps_its_conversation_when_a_question_fails(tmp_path: Path, embed_model: Any) -> None:
    import os
    import subprocess
    import sys

    from index.indexer import Indexer
    from tests.conftest import REPO

    settings = make_settings(tmp_path, mode="llm", ranking_embed_model="none")
    Indexer(settings, embed_model=embed_model).run()  # the index is not under test here: built in this process
    env = {**os.environ, "ASSISTANT_CORPUS_DIR": str(settings.corpus_dir), "ASSISTANT_DATA_DIR": str(settings.data_dir),
           "ASSISTANT_RANKING_EMBED_MODEL": "none", "ASSISTANT_LLM_ENDPOINT": "http://127.0.0.1:9/v1",
           "HF_HUB_OFFLINE": "1", "ASSISTANT_NO_PROGRESS": "1"}
    chat = subprocess.run([sys.executable, "-m", "assistant", "chat"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300, input="Where will Kerry go after Paris?\nAnd after that?\n\n")
    assert chat.returncode == 0, chat.stderr
    assert "Vatican" in chat.stdout and "Kuwait" in chat.stdout
    assert "answered in fast mode" in chat.stdout
