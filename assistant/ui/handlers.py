"""The page's event handlers: chat (streamed), the `/ask` API, uploads, removal, retry and cancel of index runs.
Each is made for one `Service` and reads or writes only what its session passes in.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.types import Answer
from assistant.ui.render import (
    answer_markdown,
    documents_html,
    escape_markdown,
    notice_html,
    pending_sources_html,
    sources_html,
    status_html,
    streaming_markdown,
)
from assistant.ui.service import Service
from assistant.ui.uploads import UploadError, remove_document_file, save_upload
from index.indexer import PROGRESS_UNITS

log = logging.getLogger(__name__)


ChatOutputs = tuple[list[dict[str, Any]], list[dict[str, str]], str, str, dict[str, Any] | None]


def _remember(history: list[dict[str, str]], answer: Answer) -> list[dict[str, str]]:
    """The session history after this answer: the standalone question and the short answer, as the CLI keeps."""
    return [*history, {"role": "user", "content": answer.standalone_question or answer.question},
            {"role": "assistant", "content": answer.short_answer or answer.answer}]


def _clean_history(history: Any) -> list[dict[str, str]]:
    """Only well-formed `{"role", "content"}` text messages from user or assistant (API input is untrusted)."""
    if not isinstance(history, list):
        return []
    return [{"role": m["role"], "content": m["content"]} for m in history
            if isinstance(m, dict) and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str)]


def make_chat_handler(service: Service) -> Callable[..., Iterator[ChatOutputs]]:
    """The chat's submit handler: streams deltas, then the verified answer and its sources."""
    from assistant.pipeline import QuestionError

    def respond(question: str, chat: list[dict[str, Any]] | None, history: list[dict[str, str]] | None,
                mode: str, top_k: float) -> Iterator[ChatOutputs]:
        chat, history = list(chat or []), list(history or [])
        if not (question or "").strip():
            yield chat, history, gr.skip(), "", gr.skip()
            return
        chat += [{"role": "user", "content": escape_markdown(question)},
                 {"role": "assistant", "content": "_Reading the documents…_"}]
        yield chat, history, pending_sources_html("Finding the passages that answer this…"), "", None
        if not service.ready.is_set():
            chat[-1] = {"role": "assistant", "content": "_Waiting for the index to be built…_"}
            yield chat, history, pending_sources_html(service.status.message), "", None
        try:
            service.wait_ready()
            buffer = ""
            for event in service.assistant.stream(question, history, mode=mode, top_k=int(top_k)):
                if isinstance(event, str):
                    buffer += event
                    chat[-1] = {"role": "assistant", "content": streaming_markdown(buffer)}
                    yield chat, history, gr.skip(), "", gr.skip()
                    continue
                chat[-1] = {"role": "assistant", "content": answer_markdown(event)}
                sources = sources_html(event, service.assistant.source_document, service.settings.corpus_dir)
                yield chat, _remember(history, event), sources, "", event.to_json()
        except (QuestionError, gr.Error) as exc:
            chat[-1] = {"role": "assistant", "content": "⚠️ " + escape_markdown(str(exc))}
            yield chat, history, sources_html(None), "", None
        except Exception as exc:  # never leave the user with a spinner: say what failed, keep the log
            log.exception("question failed")
            chat[-1] = {"role": "assistant", "content": "⚠️ Something went wrong while answering: "
                        + escape_markdown(f"{type(exc).__name__}: {exc}")}
            yield chat, history, sources_html(None), "", None

    return respond


def make_api_handler(service: Service) -> Callable[..., dict[str, Any]]:
    """The `/ask` endpoint: one question (plus optional chat history) in, `Answer.to_json()` out."""
    from assistant.pipeline import QuestionError

    def ask(question: str, history: list[dict[str, str]] | None = None, mode: str | None = None,
            top_k: int | None = None) -> dict[str, Any]:
        """Answer a question about the documents, with span-exact citations.

        history: earlier messages, [{"role": "user"|"assistant", "content": str}, ...] (optional).
        mode: "llm" (generative, cited) or "fast" (extractive); default: the server's setting.
        top_k: passages to read (default: the server's setting).
        Returns Answer.to_json(): question, standalone_question, answer, short_answer, abstained,
        citations [{id, doc, start, end, quote, score, title, chunk_id}], related, timings_ms, mode, notes.
        """
        service.wait_ready()
        try:
            answer = service.assistant.ask(question, _clean_history(history), mode=mode or None,
                                           top_k=int(top_k) if top_k else None)
        except QuestionError as exc:
            raise gr.Error(str(exc)) from exc
        return answer.to_json()

    return ask


def _progress_reporter(progress: gr.Progress) -> Callable[[int, int, str], None]:
    """An index progress callback that drives the page's progress bar and prints to the console."""

    def report(done: int, total: int, stage: str) -> None:
        if not total:
            return
        unit = PROGRESS_UNITS.get(stage, "items")
        print(f"[assistant] indexing: {stage} {done}/{total} {unit}", file=sys.stderr, flush=True)
        progress((done, total), desc=f"Indexing: {stage}", unit=unit)

    return report


def _index_message(report: Any) -> list[str]:
    lines = [f"Index updated: {report.summary()}"]
    lines += [f"Could not index {name}: {reason}" for name, reason in report.skipped]
    return lines


def index_failure(service: Service) -> str:
    """Why the last index run did not finish, and what still holds."""
    return f"Indexing did not finish: {service.index_error}. The previous index still answers; use Retry indexing."


def _corpus_outputs(service: Service, messages: list[str], kind: str = "ok") -> tuple[str, str, Any, Any]:
    docs = service.documents()
    choices = [d["doc"] for d in docs]
    return (documents_html(docs), notice_html(messages, kind), gr.update(choices=choices, value=None),
            status_html(service.status))


def _refresh_summary(service: Service) -> None:
    """After a corpus change, the status line's document count (a startup warning is kept)."""
    if service.status.stage == "ready":
        service.status.message = "Ready. " + service.corpus_summary()


def make_upload_handler(service: Service) -> Callable[..., tuple[Any, ...]]:
    """Save uploaded files into the corpus folder, then index incrementally with progress."""

    def upload(files: list[str] | None, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        service.wait_ready()
        messages: list[str] = []
        saved = 0
        budget = service.settings.max_upload_chunks
        for item in files or []:
            path = Path(item)
            try:
                target, note, chunks = save_upload(path, path.name, service.settings.corpus_dir, max_chunks=budget,
                                                   chunk_words=service.settings.chunk_words)
                saved += 1
                budget -= chunks
                messages.append(f"Added {target.name}" + (f" ({note})" if note else ""))
            except (UploadError, OSError) as exc:
                messages.append(f"Refused {exc}" if isinstance(exc, UploadError) else f"Could not save: {exc}")
        kind = "ok" if saved else "error"
        if saved:
            messages, kind = _run_index_with_messages(service, progress, messages, kind)
        _refresh_summary(service)
        return (*_corpus_outputs(service, messages, kind), None)

    return upload


def make_remove_handler(service: Service) -> Callable[..., tuple[Any, ...]]:
    """Delete a document's file from the corpus folder, then re-index so it stops being cited."""

    def remove(doc: str | None, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        service.wait_ready()
        try:
            kept = remove_document_file(doc or "", service.settings.corpus_dir, service.settings.data_dir / "trash")
        except (UploadError, OSError) as exc:
            return _corpus_outputs(service, [str(exc)], "error")
        messages, kind = _run_index_with_messages(
            service, progress, [f"Removed {doc} (its file was moved to {kept}: move it back to restore it)"], "ok")
        _refresh_summary(service)
        return _corpus_outputs(service, messages, kind)

    return remove


def _run_index_with_messages(service: Service, progress: gr.Progress, messages: list[str], kind: str
                             ) -> tuple[list[str], str]:
    """Index after a corpus change: the report's lines, or why it failed (the previous index still answers)."""
    try:
        return [*messages, *_index_message(service.run_index(_progress_reporter(progress)))], kind
    except Exception as exc:  # noqa: BLE001  (shown, never fatal: the last good index keeps answering)
        log.warning("indexing failed: %s", exc)
        return [*messages, index_failure(service)], "error"


def make_retry_handler(service: Service) -> Callable[..., tuple[Any, ...]]:
    """Run the index again (after a failed or cancelled run)."""

    def retry(progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        service.wait_ready()
        messages, kind = _run_index_with_messages(service, progress, [], "ok")
        _refresh_summary(service)
        return _corpus_outputs(service, messages, kind)

    return retry


def make_cancel_handler(service: Service) -> Callable[[], str]:
    """Ask the index run in progress to stop at its next group of passages."""

    def cancel() -> str:
        if not service.index_lock.locked():
            return notice_html(["No indexing is running."])
        service.cancel.set()
        return notice_html(["Cancelling: the run stops after its current group of passages."])

    return cancel
