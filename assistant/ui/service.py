"""The state every session shares: the `Assistant`, the corpus folder, and the startup and indexing progress.
It holds no conversation (histories live in each session's `gr.State`).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import gradio as gr

from index.indexer import PROGRESS_UNITS

if TYPE_CHECKING:
    from assistant.config import Settings
    from assistant.pipeline import Assistant

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 900.0  # how long a question waits for the first index build before giving up


@dataclass
class Status:
    """Startup / indexing progress as the page and the console show it."""

    stage: str = "starting"
    done: int = 0
    total: int = 0
    message: str = "Starting…"
    error: str | None = None
    started: float = field(default_factory=time.time)


class IndexCancelled(RuntimeError):
    """The user cancelled an index run; the previous index still answers."""


class Service:
    """The one object all sessions share: the `Assistant`, the corpus folder and the startup state.

    It holds no conversation: histories live in each session's `gr.State`.
    """

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.settings: Settings = assistant.settings
        self.status = Status()
        self.ready = threading.Event()  # the index is usable
        self.index_lock = threading.Lock()  # one corpus change at a time within this process
        self.cancel = threading.Event()  # set by the Cancel button: the index run in progress stops, nothing lost
        self.index_error: str | None = None  # why the last index run failed (the previous index still answers)
        self._thread: threading.Thread | None = None

    # -- startup ------------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Index the corpus (only what changed) and warm the models, in the background; idempotent."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._startup, name="assistant-startup", daemon=True)
            self._thread.start()

    def _set(self, stage: str, message: str, done: int = 0, total: int = 0) -> None:
        self.status.stage, self.status.message, self.status.done, self.status.total = stage, message, done, total
        print(f"[assistant] {message}", file=sys.stderr, flush=True)

    def _startup(self) -> None:
        try:
            self._set("loading", "Loading the embedding model…")
            _ = self.assistant.embed_model
            self._set("indexing", f"Checking the corpus folder {self.settings.corpus_dir}…")
            report = self.run_index(self._startup_progress)
            summary = f"Index ready: {report.summary()}"
        except Exception as exc:  # the last good index, if there is one, still answers
            log.exception("indexing at startup failed")
            if not self._has_index():
                self.status.error = f"{type(exc).__name__}: {exc}"
                self._set("error", f"Startup failed: {self.status.error}")
                self.ready.set()
                return
            summary = "Serving the last good index (indexing failed: see the Documents tab)"
        self._set("warming", f"{summary}. Loading the answer models…")
        self.ready.set()
        try:
            self.assistant.warm_up()
        except Exception as exc:  # not fatal: fast mode needs no LLM
            log.exception("warm-up failed")
            self.status.error = f"{type(exc).__name__}: {exc}"
            self._set("degraded", f"Ready, but the answer model could not be loaded ({self.status.error}); "
                      "fast mode still works. " + self.corpus_summary())
            return
        self._set("ready", "Ready. " + self.corpus_summary() + (" Indexing failed: see the Documents tab."
                                                                 if self.index_error else ""))
        if self.settings.mode == "llm":
            try:
                self.assistant.prime_prompt_cache()  # the first question then reads only its own evidence
            except Exception:  # not fatal: the first answer reads the whole prompt instead
                log.exception("priming the LLM's prompt cache failed")

    def _startup_progress(self, done: int, total: int, stage: str) -> None:
        if not total:
            return
        unit = PROGRESS_UNITS.get(stage, "items")
        self._set("indexing", f"Indexing the corpus: {stage} {done}/{total} {unit}", done, total)

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Block until the index is usable; raise `gr.Error` if startup failed or takes too long."""
        if not self.ready.wait(timeout):
            raise gr.Error("The index is still being built; try again in a minute.")
        if self.status.stage == "error":
            raise gr.Error(f"The assistant could not start: {self.status.error}")

    # -- corpus ---------------------------------------------------------------------------------------------
    def run_index(self, progress: Callable[[int, int, str], None] | None = None) -> Any:
        """Bring the index in step with the corpus folder (only changed files are embedded).

        Raises what the run raised (IndexRefused, IndexCancelled, a broken store...), after noting it in
        `index_error`; the previous index keeps answering either way. Never empties a non-empty index.
        """
        def checked(done: int, total: int, stage: str) -> None:
            if self.cancel.is_set():
                raise IndexCancelled("indexing was cancelled: the previous index still answers; uploaded files "
                                     "stay in the corpus folder and are indexed by the next run")
            if progress is not None:
                progress(done, total, stage)

        with self.index_lock:
            self.cancel.clear()
            try:
                report = self.assistant.index(progress=checked)
            except Exception as exc:
                self.index_error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, IndexCancelled) else str(exc)
                raise
            self.index_error = None
            return report

    def _has_index(self) -> bool:
        try:
            return bool(self.assistant.documents())
        except Exception:  # noqa: BLE001  (no store, a broken one: no index to serve)
            return False

    def documents(self) -> list[dict[str, Any]]:
        """The indexed documents, or [] before the first index exists."""
        if not self.ready.is_set() or self.status.stage == "error":
            return []
        try:
            return self.assistant.documents()
        except Exception as exc:  # a missing/broken store is reported in the status line instead
            log.warning("cannot list documents: %s", exc)
            return []

    def corpus_summary(self) -> str:
        docs = self.documents()
        passages = sum(int(d.get("chunks") or 0) for d in docs)
        return f"{len(docs)} document{'s' if len(docs) != 1 else ''}, {passages} passages indexed."


