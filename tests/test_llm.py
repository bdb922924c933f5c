"""Tests of the LLM component: packaged GGUF assembly, the local xllamacpp model, the OpenAI-compatible client.

The real packaged model is assembled into the project's cache (`.data/cache`, shared with the app, so only
the first run pays ~6 s) and loaded once per session. The OpenAI-compatible client is tested against the
OpenAI-compatible HTTP server that xllamacpp's engine serves on loopback, so no fake server is needed.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from llama_index.core.llms import ChatMessage

from assistant.config import PACKAGED_LLM, PROJECT_ROOT, Settings, load_settings
from assistant.llm import LLMError, LocalGGUFLLM, OpenAICompatibleLLM, load_llm, resolve_gguf
from assistant.llm import gguf as gguf_mod
from assistant.llm.openai_compat import chat_completions_url

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CONTEXT_QUESTION = [
    ChatMessage(role="system", content="Answer the question from the context only."),
    ChatMessage(role="user", content="Context: The Geneva II talks will be held in Montreux.\n"
                                     "Question: Where will the talks be held? Answer in a few words."),
]


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def model_path(settings: Settings) -> Path:
    return resolve_gguf(PACKAGED_LLM, settings.cache_dir)


@pytest.fixture(scope="session")
def llm(model_path: Path, settings: Settings) -> LocalGGUFLLM:
    return LocalGGUFLLM(model_path, n_ctx=settings.llm_context, n_threads=settings.llm_threads, max_tokens=16)


# --- packaged GGUF -------------------------------------------------------------------------------------
def test_packaged_model_has_pinned_size_and_sha256(model_path: Path) -> None:
    pinned = gguf_mod.PACKAGED_GGUFS[gguf_mod.DEFAULT_PACKAGED_GGUF]
    assert model_path.stat().st_size == pinned.size == 1_117_320_768
    digest = hashlib.sha256()
    with model_path.open("rb") as fh:
        while chunk := fh.read(8 << 20):
            digest.update(chunk)
    assert digest.hexdigest() == pinned.sha256


def test_warm_resolve_trusts_marker(model_path: Path, settings: Settings) -> None:
    started = time.perf_counter()
    assert resolve_gguf(PACKAGED_LLM, settings.cache_dir) == model_path
    assert time.perf_counter() - started < 0.5  # no re-hash of 1 GB


def test_resolve_gguf_rejects_missing_unknown_and_non_gguf(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found"):
        resolve_gguf(str(tmp_path / "missing.gguf"), tmp_path)
    with pytest.raises(ValueError, match="unknown packaged model"):
        resolve_gguf("packaged:no-such-model", tmp_path)
    not_gguf = tmp_path / "fake.gguf"
    not_gguf.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a GGUF"):
        resolve_gguf(str(not_gguf), tmp_path)


def test_resolve_gguf_accepts_any_gguf_path(model_path: Path, tmp_path: Path) -> None:
    assert resolve_gguf(str(model_path), tmp_path) == model_path


@pytest.fixture
def fake_packaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[gguf_mod.PackagedGGUF]:
    """A tiny three-part 'packaged model' whose part modules live in tmp_path."""
    parts = [b"GGUF" + bytes(range(256)) * 40, b"second part" * 500, b"third" * 321]
    for i, data in enumerate(parts, start=1):
        pkg = tmp_path / "site" / f"fakepart{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "data" / "part.bin").write_bytes(data)
        (pkg / "__init__.py").write_text(textwrap.dedent("""
            import os
            def get_part_path():
                return os.path.join(os.path.dirname(__file__), "data", "part.bin")
        """))
    whole = b"".join(parts)
    fake = gguf_mod.PackagedGGUF(name="fake", modules=("fakepart1", "fakepart2", "fakepart3"),
                                 requirements=("fake-part1==1", "fake-part2==1", "fake-part3==1"),
                                 size=len(whole), sha256=hashlib.sha256(whole).hexdigest())
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setitem(gguf_mod.PACKAGED_GGUFS, "fake", fake)
    yield fake


def test_assembly_verifies_and_marks(fake_packaged: gguf_mod.PackagedGGUF, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = gguf_mod.assemble_packaged_gguf(cache, "fake")
    assert path.read_bytes()[:4] == b"GGUF" and path.stat().st_size == fake_packaged.size
    assert (cache / "fake.gguf.sha256").is_file()
    assert not list(cache.glob("*.tmp"))
    # A damaged cache file of the right size is detected (marker no longer matches) and rebuilt.
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    assert gguf_mod.assemble_packaged_gguf(cache, "fake").read_bytes()[100] != data[100]


def test_assembly_hash_mismatch_names_packages(fake_packaged: gguf_mod.PackagedGGUF, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = gguf_mod.PackagedGGUF(**{**fake_packaged.__dict__, "sha256": "0" * 64})
    monkeypatch.setitem(gguf_mod.PACKAGED_GGUFS, "fake", wrong)
    with pytest.raises(gguf_mod.ModelIntegrityError, match="fake-part1==1 fake-part2==1 fake-part3==1"):
        gguf_mod.assemble_packaged_gguf(tmp_path / "cache", "fake")
    assert not (tmp_path / "cache" / "fake.gguf").exists()
    assert not list((tmp_path / "cache").glob("*.tmp"))


def test_concurrent_processes_assemble_one_whole_file(fake_packaged: gguf_mod.PackagedGGUF,
                                                      tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(tmp_path / "site")!r}, {str(PROJECT_ROOT)!r}]
        from assistant.llm import gguf
        gguf.PACKAGED_GGUFS["fake"] = gguf.PackagedGGUF(**{fake_packaged.__dict__!r})
        print(gguf.assemble_packaged_gguf(__import__("pathlib").Path({str(cache)!r}), "fake"))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    outputs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert set(outputs) == {str(cache / "fake.gguf")}
    assert hashlib.sha256((cache / "fake.gguf").read_bytes()).hexdigest() == fake_packaged.sha256
    assert not list(cache.glob("*.tmp"))


# --- local model ---------------------------------------------------------------------------------------
def test_chat_answers_from_context(llm: LocalGGUFLLM) -> None:
    response = llm.chat(CONTEXT_QUESTION)
    assert "Montreux" in response.message.content
    assert response.additional_kwargs["usage"]["completion_tokens"] <= 16


def test_stream_chat_streams_the_same_text(llm: LocalGGUFLLM) -> None:
    whole = llm.chat(CONTEXT_QUESTION).message.content
    chunks = list(llm.stream_chat(CONTEXT_QUESTION))
    pieces = [c.delta for c in chunks if c.delta]
    assert len(pieces) > 1
    assert "".join(pieces) == whole == chunks[-1].message.content


def test_complete_and_stream_complete(llm: LocalGGUFLLM) -> None:
    prompt = "What is the capital of France? Answer with one word."
    text = llm.complete(prompt, max_tokens=8).text
    assert "Paris" in text
    assert "".join(c.delta or "" for c in llm.stream_complete(prompt, max_tokens=8)) == text


def test_closing_a_stream_early_stops_generation(llm: LocalGGUFLLM) -> None:
    stream = llm.stream_chat([ChatMessage(role="user", content="Count from 1 to 100.")], max_tokens=200)
    next(stream)
    stream.close()
    started = time.perf_counter()
    response = llm.complete("Say OK.", max_tokens=3)
    timings = response.additional_kwargs["timings"]
    queued_ms = (time.perf_counter() - started) * 1000 - timings["prompt_ms"] - timings["predicted_ms"]
    # Had the abandoned request kept counting, this one would have queued ~200 tokens behind it. Compared
    # with this call's own per-token time, so the check holds on a busy machine too.
    assert queued_ms < 20 * timings["predicted_per_token_ms"]


def test_stop_sequences(llm: LocalGGUFLLM) -> None:
    text = llm.complete("Count from 1 to 10, separated by commas.", stop=["5"]).text
    assert "4" in text and "5" not in text


def test_prompt_over_context_is_a_clear_error(llm: LocalGGUFLLM) -> None:
    too_long = "word " * 3000
    with pytest.raises(LLMError, match="context size"):
        llm.complete(too_long)
    with pytest.raises(LLMError, match="context size"):
        list(llm.stream_complete(too_long))


def test_load_llm_reuses_the_loaded_engine(llm: LocalGGUFLLM, settings: Settings) -> None:
    started = time.perf_counter()
    again = load_llm(settings)
    assert isinstance(again, LocalGGUFLLM)
    assert again._engine is llm._engine  # same model, same settings: not loaded twice
    assert time.perf_counter() - started < 1


def test_load_llm_with_endpoint_builds_http_client(settings: Settings) -> None:
    remote = load_llm(Settings(**{**settings.__dict__, "llm_endpoint": "http://127.0.0.1:11434/v1",
                                  "llm_endpoint_model": "qwen"}))
    assert isinstance(remote, OpenAICompatibleLLM)
    assert remote.url == "http://127.0.0.1:11434/v1/chat/completions" and remote.model == "qwen"


# --- OpenAI-compatible endpoint ------------------------------------------------------------------------
def test_chat_completions_url_forms() -> None:
    assert chat_completions_url("http://h:1/v1") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("http://h:1/") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("https://h/api/v1/chat/completions") == "https://h/api/v1/chat/completions"
    with pytest.raises(ValueError, match="http"):
        chat_completions_url("localhost:11434")


@pytest.fixture(scope="session")
def endpoint_llm(llm: LocalGGUFLLM) -> OpenAICompatibleLLM:
    return OpenAICompatibleLLM(base_url=llm.http_address + "/v1", model="local", api_key=llm.http_api_key,
                               max_tokens=16, timeout=60)


def test_endpoint_chat_and_stream(endpoint_llm: OpenAICompatibleLLM) -> None:
    whole = endpoint_llm.chat(CONTEXT_QUESTION).message.content
    assert "Montreux" in whole
    pieces = [c.delta for c in endpoint_llm.stream_chat(CONTEXT_QUESTION) if c.delta]
    assert len(pieces) > 1 and "".join(pieces) == whole


def test_endpoint_non_200_names_url_and_status(llm: LocalGGUFLLM) -> None:
    bad_key = OpenAICompatibleLLM(base_url=llm.http_address, api_key="wrong", max_tokens=4)
    with pytest.raises(LLMError, match=r"127\.0\.0\.1.*HTTP 401"):
        bad_key.chat(CONTEXT_QUESTION)
    with pytest.raises(LLMError, match="HTTP 401"):
        bad_key.stream_chat(CONTEXT_QUESTION)


def test_endpoint_unreachable_names_url() -> None:
    with socket.socket() as sock:  # a loopback port that was free a moment ago and now refuses
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = OpenAICompatibleLLM(base_url=f"http://127.0.0.1:{port}/v1", timeout=5)
    with pytest.raises(LLMError, match=f"cannot reach LLM endpoint http://127.0.0.1:{port}/v1/chat"):
        closed.chat(CONTEXT_QUESTION)
    with pytest.raises(LLMError, match="cannot reach"):
        list(closed.stream_chat(CONTEXT_QUESTION))
