"""The `assistant` command end to end, as a user runs it: a real subprocess, real models, a real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, SEED_DOC_A, make_settings


def run_cli(*args: str, settings: Any, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ASSISTANT_CORPUS_DIR": str(settings.corpus_dir), "ASSISTANT_DATA_DIR": str(settings.data_dir),
           "HF_HUB_OFFLINE": "1", "ASSISTANT_NO_PROGRESS": "1"}
    return subprocess.run([sys.executable, "-m", "assistant", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def cli_settings(tmp_path_factory: pytest.TempPathFactory) -> Any:
    settings = make_settings(tmp_path_factory.mktemp("cli"))
    result = run_cli("index", settings=settings)
    assert result.returncode == 0, result.stderr
    assert "2 added" in result.stdout
    return settings


def test_ask_json_answers_montreux_with_an_exact_citation(cli_settings: Any) -> None:
    result = run_cli("ask", "Where was Geneva II held?", "--json", settings=cli_settings)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert set(answer) >= {"question", "answer", "short_answer", "abstained", "citations", "timings_ms",
                           "standalone_question"}
    assert not answer["abstained"]
    assert "montreux" in answer["short_answer"].lower()
    assert "[1]" in answer["answer"]
    citation = answer["citations"][0]
    assert citation["id"] == 1 and citation["doc"] == SEED_DOC_A
    source = (cli_settings.corpus_dir / SEED_DOC_A).read_bytes().decode("utf-8")
    assert citation["quote"] == source[citation["start"]:citation["end"]]
    assert "Montreux" in citation["quote"]


def test_second_index_run_reports_no_change_quickly(cli_settings: Any) -> None:
    started = time.perf_counter()
    result = run_cli("index", "--json", settings=cli_settings)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["changed"] is False and len(report["unchanged"]) == 2
    # Not a timing assertion on the run itself (benchmarks measure speed); it guards against the regression
    # of re-embedding an unchanged corpus, which would take the model load plus embedding (tens of seconds).
    assert report["seconds"] < 10, elapsed


def test_clear_errors_for_bad_input(cli_settings: Any, tmp_path: Path) -> None:
    empty = run_cli("ask", "   ", "--mode", "fast", settings=cli_settings)
    assert empty.returncode == 2 and "question is empty" in empty.stderr
    missing = run_cli("ask", "Where?", "--mode", "fast", "--data-dir", str(tmp_path / "none"), settings=cli_settings)
    assert missing.returncode == 1 and "assistant index" in missing.stderr
    chat = run_cli("chat", "--data-dir", str(tmp_path / "none"), settings=cli_settings)
    assert chat.returncode == 1 and "assistant index" in chat.stderr and "Loading models" not in chat.stderr
    assert "Traceback" not in missing.stderr + empty.stderr + chat.stderr


def test_errors_a_user_can_act_on_get_one_line_and_an_exit_code_others_propagate() -> None:
    from assistant.cli import EXIT_FAILURE, EXIT_USAGE, _exit_code
    from assistant.config import ConfigError
    from assistant.question import QuestionError
    from index.store import StoreError

    assert _exit_code(QuestionError("empty")) == _exit_code(ConfigError("bad")) == EXIT_USAGE
    assert _exit_code(StoreError("none")) == _exit_code(FileNotFoundError("x")) == EXIT_FAILURE
    assert _exit_code(RuntimeError("a bug")) is None  # a bug keeps its traceback


def test_answering_commands_bound_the_kernel_cache_index_runs_keep_it_and_a_users_value_wins(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant import cli
    from index.embeddings import KERNEL_CACHE_VARIABLES

    for command in cli.COMMANDS:
        monkeypatch.setitem(cli.COMMANDS, command, lambda args, settings: 0)
    for variable in KERNEL_CACHE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    assert cli.main(["index"]) == 0 and not set(KERNEL_CACHE_VARIABLES) & set(os.environ)
    assert cli.main(["ask", "Where is the meeting?"]) == 0
    assert [os.environ[variable] for variable in KERNEL_CACHE_VARIABLES] == ["64", "64"]
    monkeypatch.setenv(KERNEL_CACHE_VARIABLES[0], "512")
    assert cli.main(["chat"]) == 0 and os.environ[KERNEL_CACHE_VARIABLES[0]] == "512"
