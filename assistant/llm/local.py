"""Run a GGUF chat model in process with xllamacpp (llama.cpp's own server engine, prebuilt CPU wheel).

`LocalGGUFLLM` is a llama-index LLM whose requests go straight into an in-process `xllamacpp.Server`
through `handle_chat_completions` (OpenAI request/response dicts, the model's own chat template).

What xllamacpp does, and the choices made here because of it:
- Loading: `Server(params)` loads the weights and warms up (~3 s for the 1.5B Q4 model on 2 cores). One
  engine per (file, context, threads) is shared by every `LocalGGUFLLM` in the process, so building the
  LLM twice never loads the model twice; it is freed when no LLM uses it any more.
- Streaming: `handle_chat_completions({..., "stream": True}, callback)` blocks and calls `callback(chunk)`
  in the calling thread for every OpenAI `chat.completion.chunk` dict, as tokens are produced; returning
  True from the callback stops generation. A worker thread runs that call and a queue hands chunks to the
  generator, so `stream_chat` really yields token by token; closing the generator early stops the model.
- Concurrency: the engine is thread safe (it queues requests onto its slots), so no lock is needed. One
  slot (`n_parallel=1`) keeps the whole context for a single request and keeps one prompt cache hot.
- Prompt cache: `cache_prompt` reuses the KV state of the longest common prefix with the previous request,
  and a RAM cache (`cache_ram_mib`) keeps recent prompts; a fixed system prompt keeps that prefix shared.
- Weight repacking: llama.cpp converts quantised weights at load time into layouts for its "extra buffer
  types" (CPU_REPACK, AMX). It is off by default here: our answers are prompt-heavy, and prompts ran faster
  without it on every CPU measured (prebuilt AVX2 wheel: 49 vs 39 tok/s on a 2-core AMD EPYC, 72 vs 66 on a
  2-core Xeon; AVX-512 build: 140 vs 97), while generation gained little or nothing from it (15 vs 15 tok/s
  on the EPYC, 12.8 vs 10.2 on the Xeon); the AMX buffer type crashed in warm-up. `weight_repack=True` turns
  it back on (a workload that writes long answers may prefer it).
- The engine also always serves llama.cpp's HTTP API on a random loopback port. It is locked with a random
  API key (in-process calls do not need it) and exposed as `http_address`/`http_api_key` for tests.
"""

from __future__ import annotations

import os
import queue
import secrets
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from llama_index.core.bridge.pydantic import Field, PrivateAttr

from assistant.llm.base import LLMError, OpenAIStyleLLM

_STREAM_END = object()


class _Engine:
    """One loaded model: the xllamacpp server plus what it was loaded with."""

    def __init__(self, server: Any, api_key: str, load_seconds: float) -> None:
        self.server = server
        self.api_key = api_key
        self.load_seconds = load_seconds


_engines: weakref.WeakValueDictionary[tuple, _Engine] = weakref.WeakValueDictionary()
_engines_lock = threading.Lock()


def _load_engine(model_path: Path, n_ctx: int, n_threads: int, cache_ram_mib: int, verbosity: int,
                 weight_repack: bool) -> _Engine:
    """Load the model, or return the engine already loaded with the same settings in this process."""
    key = (str(model_path), n_ctx, n_threads, cache_ram_mib, weight_repack)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is not None:
            return engine
        import xllamacpp  # deferred: importing assistant.llm must stay cheap

        params = xllamacpp.CommonParams()
        params.model.path = str(model_path)
        params.n_ctx = n_ctx
        params.n_parallel = 1
        params.cpuparams.n_threads = n_threads
        params.cpuparams_batch.n_threads = n_threads
        params.cache_prompt = True
        params.cache_ram_mib = cache_ram_mib
        params.verbosity = verbosity
        params.no_extra_bufts = not weight_repack
        api_key = secrets.token_urlsafe(24)
        params.api_keys = [api_key]
        started = time.perf_counter()
        try:
            server = xllamacpp.Server(params)
        except RuntimeError as exc:
            raise LLMError(f"xllamacpp could not load {model_path} (n_ctx={n_ctx}): {exc}") from exc
        engine = _Engine(server, api_key, time.perf_counter() - started)
        _engines[key] = engine
        return engine


class LocalGGUFLLM(OpenAIStyleLLM):
    """A GGUF chat model run in process by xllamacpp; loads on construction and is reused afterwards.

    Example:
        >>> llm = LocalGGUFLLM(model_path="model.gguf", n_ctx=2048, n_threads=2, max_tokens=96)
        >>> llm.complete("Say hi.").text
    """

    accepts_text_logit_bias: ClassVar[bool] = True  # llama.cpp takes [["token text", bias]]

    model_path: str = Field(description="Path of the GGUF file.")
    n_threads: int = Field(default=2, gt=0, description="CPU threads for prompt and generation.")
    cache_ram_mib: int = Field(default=256, ge=0, description="RAM for llama.cpp's prompt cache (0 = off).")
    verbosity: int = Field(default=1, description="llama.cpp stderr log level: 1 errors, 2 warnings, 3 info.")
    weight_repack: bool = Field(default=False, description="Let llama.cpp repack the weights at load.")

    _engine: _Engine = PrivateAttr()

    def __init__(self, model_path: str | Path, n_ctx: int = 2048, **kwargs: Any) -> None:
        """Validate the path and load the model (or reuse the engine already loaded with these settings)."""
        path = Path(os.path.expanduser(str(model_path))).resolve()
        if not path.is_file():
            raise ValueError(f"GGUF model file not found: {path}")
        super().__init__(model_path=str(path), context_window=n_ctx, **kwargs)
        self._engine = _load_engine(path, self.context_window, self.n_threads, self.cache_ram_mib,
                                    self.verbosity, self.weight_repack)

    @classmethod
    def class_name(cls) -> str:
        """Name llama-index uses when serialising this LLM."""
        return "local_gguf_llm"

    @property
    def n_ctx(self) -> int:
        """Context window the model was loaded with (prompt plus answer, in tokens)."""
        return self.context_window

    @property
    def load_seconds(self) -> float:
        """Seconds the engine took to load the model (an LLM that reused a loaded engine reports that load)."""
        return self._engine.load_seconds

    @property
    def http_address(self) -> str:
        """The engine's loopback OpenAI-compatible HTTP server, e.g. `http://127.0.0.1:41797`."""
        return str(self._engine.server.listening_address)

    @property
    def http_api_key(self) -> str:
        """Bearer key that the engine's HTTP server requires."""
        return self._engine.api_key

    @property
    def _source(self) -> str:
        return f"local model {Path(self.model_path).name}"

    @property
    def _model_name(self) -> str:
        return Path(self.model_path).name

    def _extra_payload(self) -> dict[str, Any]:
        return {"cache_prompt": True}

    def _send(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._engine.server.handle_chat_completions(payload)
        except ValueError as exc:  # xllamacpp rejects malformed requests this way
            raise LLMError(f"{self._source}: invalid request: {exc}") from exc

    def _send_stream(self, payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Run the blocking callback API in a worker thread and yield its chunks as they arrive."""
        chunks: queue.Queue[Any] = queue.Queue()
        stop = threading.Event()

        def on_chunk(chunk: dict[str, Any]) -> bool:
            chunks.put(chunk)
            return stop.is_set()  # True tells llama.cpp to stop generating

        def work() -> None:
            try:
                self._engine.server.handle_chat_completions(payload, on_chunk)
            except BaseException as exc:  # handed to the consumer, never lost in the thread
                chunks.put(exc)
            finally:
                chunks.put(_STREAM_END)

        worker = threading.Thread(target=work, name="xllamacpp-stream", daemon=True)
        worker.start()
        try:
            while (item := chunks.get()) is not _STREAM_END:
                if isinstance(item, BaseException):
                    raise LLMError(f"{self._source}: {item}") from item
                yield item
        finally:
            stop.set()
