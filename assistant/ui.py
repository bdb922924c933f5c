"""The web UI: a chat whose every answer shows the exact passages it cites, plus a corpus manager.

`build_app(assistant)` returns a `gr.Blocks` page with three parts:

- **Chat**: questions stream through `Assistant.stream` (LLM deltas appear as they are written, then the
  verified answer replaces them). The sources panel shows each cited passage in its document, the cited span
  highlighted, more context on demand; a PDF passage names its page and opens as the rendered page with the
  cited lines highlighted; each card links to the original file. An abstention shows its closest passages
  labelled *related*.
- **Documents**: the indexed documents, upload (`.txt .md .html .pdf .docx`, size-limited, name-sanitised, never
  written outside the corpus folder, never overwriting) and removal, each followed by an incremental re-index
  with progress.
- **API**: `POST /ask` (`gradio_client.Client(url).predict(question, api_name="/ask")`) returns exactly
  `Answer.to_json()`.

Why it is built this way:

- Everything a user or a document supplies is escaped before it reaches HTML or Markdown (`escape_html`,
  `escape_markdown`): a document containing `<script>` shows those characters and runs nothing.
- Conversation history lives in a per-session `gr.State`, never in a module global, so concurrent users cannot
  see or steer each other's follow-ups. The only shared object is the `Assistant` (thread-safe) and the corpus.
- The page starts serving at once; the first index build (or the incremental catch-up with the corpus folder)
  and the model warm-up run in a background thread whose progress shows on the console and on the page.

Example:
    >>> from assistant import Assistant, load_settings
    >>> from assistant.ui import build_app, launch
    >>> demo = build_app(Assistant(load_settings()))  # doctest: +SKIP
    >>> url = launch(demo, port=7860, block=False)  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import os
import re
import shutil
import sys
import threading
import time
import unicodedata
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from assistant.source_text import SourceText
from assistant.types import Answer, Citation
from index.indexer import PROGRESS_UNITS

if TYPE_CHECKING:
    from assistant.config import Settings
    from assistant.pipeline import Assistant

log = logging.getLogger(__name__)

APP_TITLE = "Cited Assistant"
EXAMPLE_QUESTIONS = (
    "What are the articles about?",
    "Summarize the second article.",
    "Where was Geneva II held?",
    "Who met Kerry in Paris?",
    "What did Lavrov say about Iran?",
    "Who won the 2014 FIFA World Cup?",
)
# What the upload box accepts: the formats the indexer reads (index.readers.SUPPORTED_SUFFIXES).
UPLOAD_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_NAME_CHARS = 100
# Questions run a few at a time (the models share 2 cores); corpus changes run one at a time.
ANSWER_CONCURRENCY = 4
PASSAGE_CONTEXT_CHARS = 240  # text shown around a cited span in the sources panel
SURROUNDING_CONTEXT_CHARS = 1500  # text shown under "Show surrounding text"
READY_TIMEOUT_S = 900.0  # how long a question waits for the first index build before giving up
_MARK = re.compile(r"\[(\d+)\]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$])")


# -- escaping ---------------------------------------------------------------------------------------------------
def escape_html(text: str) -> str:
    """Text made inert for HTML: `<`, `>`, `&` and quotes become entities, so markup shows as characters."""
    return html.escape(text, quote=True)


def escape_markdown(text: str) -> str:
    """Text made inert for the chat's Markdown renderer: Markdown punctuation is backslash-escaped and HTML
    characters become entities, so the user sees exactly the characters typed or quoted."""
    return escape_html(_MD_SPECIAL.sub(r"\\\1", text)).replace("\n", "  \n")


# -- uploads ----------------------------------------------------------------------------------------------------
class UploadError(ValueError):
    """An uploaded file was refused; the message says why in terms the user can act on."""


def safe_upload_name(name: str) -> str:
    """A file name that is safe to create inside the corpus folder, or `UploadError`.

    Any directory part (either slash) is dropped, so `../../evil.txt` becomes `evil.txt`; characters other than
    letters, digits, `-`, `_` and `.` become `_`; a leading dot is removed (hidden files are not indexed); the
    extension must be one the indexer reads.
    """
    base = unicodedata.normalize("NFKC", re.split(r"[\\/]", name or "")[-1]).strip().lstrip(".")
    stem, suffix = os.path.splitext(base)
    suffix = suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise UploadError(f"{base or 'file'}: unsupported file type {suffix or '(none)'}; "
                          f"upload {', '.join(UPLOAD_SUFFIXES)}")
    stem = re.sub(r"[^\w.\-]+", "_", stem, flags=re.UNICODE)
    stem = re.sub(r"_{2,}", "_", stem).strip("._-")[:MAX_NAME_CHARS] or "document"
    return stem + suffix


def check_upload_size(path: Path, max_bytes: int = MAX_UPLOAD_BYTES) -> int:
    """The file's size in bytes, or `UploadError` when it is empty or over the limit."""
    size = path.stat().st_size
    if size == 0:
        raise UploadError(f"{path.name}: the file is empty")
    if size > max_bytes:
        raise UploadError(f"{path.name}: {size / 2**20:.1f} MB is over the {max_bytes / 2**20:.0f} MB upload limit")
    return size


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _same_content(digest: str, corpus_dir: Path) -> str | None:
    """The name of a corpus file with these exact bytes, if any (uploading it again would add nothing)."""
    for existing in sorted(corpus_dir.iterdir()):
        if existing.is_file() and not existing.name.startswith(".") and _sha256(existing) == digest:
            return existing.name
    return None


def _link_unique(temp: Path, corpus_dir: Path, name: str) -> Path:
    """Give the staged file its final name; if taken, `name-2.txt`, `name-3.txt`... (never overwrites)."""
    stem, suffix = os.path.splitext(name)
    for n in range(1, 1000):
        target = corpus_dir / (name if n == 1 else f"{stem}-{n}{suffix}")
        if not _inside(target, corpus_dir):
            raise UploadError(f"{name}: refusing to write outside the corpus folder")
        try:
            os.link(temp, target)  # atomic, and fails rather than replacing an existing file
            return target
        except FileExistsError:
            continue
    raise UploadError(f"{name}: too many files with this name")


def save_upload(source: Path, original_name: str, corpus_dir: Path, max_bytes: int = MAX_UPLOAD_BYTES,
                max_chunks: int | None = None, chunk_words: int = 180) -> tuple[Path, str, int]:
    """Copy one uploaded file into the corpus folder; returns (saved path, note for the user, the passages it will
    make, about).

    Checks, in order: extension, size, readable content (the indexer's own reader, so a binary file named
    `.txt` or a PDF without text is refused now rather than silently skipped later), the indexing budget
    (`max_chunks` passages of `chunk_words` words: what this upload may still cost), and duplicates. The file
    is staged under a hidden name inside the corpus folder, then hard-linked to its final name, so a half-written
    file is never indexed and an existing file is never replaced.
    """
    from index.readers import UnusableDocument, read_document

    name = safe_upload_name(original_name)
    check_upload_size(source, max_bytes)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    temp = corpus_dir / f".upload-{uuid.uuid4().hex}{Path(name).suffix}"
    try:
        temp.write_bytes(source.read_bytes())
        try:
            text = read_document(temp, corpus_dir).text
        except UnusableDocument as exc:
            raise UploadError(f"{name}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001  (a malformed file may break its parser any way)
            raise UploadError(f"{name}: could not be read ({type(exc).__name__}: {exc})") from exc
        chunks = max(1, len(text.split()) // max(1, chunk_words) + 1)
        if max_chunks is not None and chunks > max_chunks:
            raise UploadError(f"{name}: about {chunks:,} passages to index, over what one upload may add "
                              f"({max_chunks:,} left of the upload budget, setting max_upload_chunks); add it "
                              "from the command line (`assistant index PATH`) or split it")
        duplicate = _same_content(_sha256(temp), corpus_dir)
        if duplicate is not None:
            raise UploadError(f"{name}: the corpus already has this exact file as {duplicate}")
        target = _link_unique(temp, corpus_dir, name)
    finally:
        temp.unlink(missing_ok=True)
    note = f"saved as {target.name} (a different {name} already exists)" if target.name != name else ""
    return target, note, chunks


def remove_document_file(doc: str, corpus_dir: Path, trash_dir: Path) -> Path:
    """Move a document's file from the corpus folder into `trash_dir/<time>/` (only from there: anything resolving
    outside is refused); returns where it went, from where it can be moved back."""
    if not doc:
        raise UploadError("choose a document to remove")
    target = corpus_dir / doc
    if not _inside(target, corpus_dir) or target.resolve() == corpus_dir.resolve():
        raise UploadError(f"{doc}: not a file in the corpus folder")
    if not target.is_file():
        raise UploadError(f"{doc}: no such file in the corpus folder (already removed?)")
    kept = trash_dir / time.strftime("%Y%m%d-%H%M%S") / doc
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(target), str(kept))
    return kept


# -- rendering --------------------------------------------------------------------------------------------------
def answer_markdown(answer: Answer) -> str:
    """The chat bubble for a final answer: escaped text with `[n]` marks styled, plus short notes."""
    parts = []
    last = 0
    for match in _MARK.finditer(answer.answer):
        parts.append(escape_markdown(answer.answer[last:match.start()]))
        parts.append(f'<sup class="cite-mark">[{match.group(1)}]</sup>')
        last = match.end()
    parts.append(escape_markdown(answer.answer[last:]))
    lines = ["".join(parts).strip()]
    if answer.abstained and answer.related:
        lines.append("<small>The closest passages are listed as <em>related</em> in the sources panel; "
                     "they do not answer the question.</small>")
    meta = []
    if answer.standalone_question and answer.standalone_question != answer.question:
        meta.append("Understood as: " + escape_markdown(answer.standalone_question))
    meta.extend(escape_markdown(note) for note in answer.notes)
    if meta:
        lines.append("<small>" + "<br>".join(meta) + "</small>")
    return "\n\n".join(lines)


def streaming_markdown(text: str) -> str:
    """The chat bubble while the LLM writes (raw, unverified text; replaced by the verified answer)."""
    return escape_markdown(text) + " ▍"


def _snap(text: str, lo: int, hi: int, start: int, end: int, whole: bool) -> tuple[int, int]:
    """Cut the window `[lo, hi)` around the span at paragraph breaks (else at spaces), never mid-word.

    `whole=False` keeps only the paragraph(s) holding the span; `whole=True` keeps every whole paragraph that fits
    (a window reaching the document's start or end needs no cut there).
    """
    if whole:
        para_lo = -1 if lo == 0 else text.find("\n\n", lo, start)
        para_hi = -1 if hi == len(text) else text.rfind("\n\n", end, hi)
    else:
        para_lo, para_hi = text.rfind("\n\n", lo, start), text.find("\n\n", end, hi)
    if para_lo != -1:
        lo = para_lo + 2
    elif lo > 0:
        space = text.find(" ", lo, start)
        lo = space + 1 if space != -1 else lo
    if para_hi != -1:
        hi = para_hi
    elif hi < len(text):
        space = text.rfind(" ", end, hi)
        hi = space if space != -1 else hi
    return lo, hi


def highlight_span(text: str, start: int, end: int, radius: int, whole: bool = False) -> str:
    """HTML of `text[start:end]` in a `<mark>`, with up to `radius` characters of escaped context each side
    (see `_snap` for `whole`)."""
    lo, hi = _snap(text, max(0, start - radius), min(len(text), end + radius), start, end, whole)
    before = ("… " if lo > 0 else "") + escape_html(text[lo:start])
    after = escape_html(text[end:hi]) + (" …" if hi < len(text) else "")
    return f"{before}<mark>{escape_html(text[start:end])}</mark>{after}"


def _document_text(source_text: Callable[[str], str | SourceText] | None, doc: str,
                   cache: dict[str, SourceText | None]) -> SourceText | None:
    if source_text is None:
        return None
    if doc not in cache:
        try:
            found = source_text(doc)
            cache[doc] = found if isinstance(found, SourceText) else SourceText(found)
        except Exception as exc:  # noqa: BLE001  (a source panel never costs the user the answer)
            log.warning("cannot read source text of %s: %s", doc, exc)
            cache[doc] = None
    return cache[doc]


def _source_header(number: str, citation: Citation, kind: str) -> str:
    title = escape_html(citation.title or citation.doc)
    meta = f"{escape_html(citation.place())} · characters {citation.start}–{citation.end}"
    return (f'<div class="src-head"><span class="src-num {kind}">{number}</span><div>'
            f'<div class="src-title">{title}</div><div class="src-meta">{meta}</div></div></div>')


def file_link(path: str | None, name: str, served: Path | None) -> str:
    """A link that downloads the original file, when it lies in the folder the web server may serve."""
    if not path or served is None or not _inside(Path(path), served):
        return ""
    url = "gradio_api/file=" + urllib.parse.quote(str(Path(path).resolve()))
    label = escape_html(Path(name).name)
    return f'<a class="src-download" href="{url}" download="{label}" target="_blank">Download {label}</a>'


def page_html(citation: Citation, path: str | None) -> str:
    """The cited PDF page as an image with the cited lines highlighted, folded under "Show page N"."""
    if citation.page is None or not path or Path(path).suffix.lower() != ".pdf":
        return ""
    from assistant.page_view import render_page

    try:
        view = render_page(Path(path), citation.page, citation.quote)
    except Exception as exc:  # noqa: BLE001  (a page that cannot be drawn never costs the user the answer)
        log.warning("cannot render page %s of %s: %s", citation.page, path, exc)
        return ""
    image = base64.b64encode(view.png).decode("ascii")
    marks = "".join(f'<div class="cite-highlight" style="left:{100 * x:.2f}%;top:{100 * y - 0.3:.2f}%;'
                    f'width:{100 * w:.2f}%;height:{100 * h + 0.6:.2f}%"></div>' for x, y, w, h in view.boxes)
    alt = escape_html(f"page {citation.page} of {citation.doc}")
    return (f'<details class="src-page"><summary>Show page {citation.page}</summary>'
            f'<div class="page-view"><img alt="{alt}" src="data:image/png;base64,{image}" width="{view.width}" '
            f'height="{view.height}">{marks}</div></details>')


def citation_card(citation: Citation, source: SourceText | None, served: Path | None = None) -> str:
    """One cited passage: header, the span highlighted in its paragraph, wider context in a `<details>`, the
    rendered page for a PDF and a download link (`source`: the document's text, with a note saying why the text
    around the span may be incomplete, and the file it was read from; `served`: the folder the web server serves
    files from)."""
    text, note, path = (source.text, source.note, source.path) if source is not None else (None, "", None)
    header = _source_header(f"[{citation.id}]", citation, "cited")
    if note:
        header += f'<p class="src-note">{escape_html(note[:1].upper() + note[1:])}.</p>'
    if text is None or text[citation.start:citation.end] != citation.quote:
        body = f'<p class="src-passage"><mark>{escape_html(citation.quote)}</mark></p>'
        note = '<p class="src-note">The document has changed since this answer; showing the quoted span only.</p>'
        return f'<article class="src-card" id="source-{citation.id}">{header}{body}{note}</article>'
    passage = highlight_span(text, citation.start, citation.end, PASSAGE_CONTEXT_CHARS)
    wider = highlight_span(text, citation.start, citation.end, SURROUNDING_CONTEXT_CHARS, whole=True)
    return (f'<article class="src-card" id="source-{citation.id}">{header}'
            f'<p class="src-passage">{passage}</p>'
            f'<details class="src-more"><summary>Show surrounding text</summary>'
            f'<div class="src-context">{wider}</div></details>{page_html(citation, path)}'
            f'{file_link(path, citation.doc, served)}</article>')


def related_card(citation: Citation) -> str:
    """A passage shown on abstention: clearly labelled as related, never highlighted as support."""
    header = _source_header("related", citation, "related")
    quote = " ".join(citation.quote.split())
    short = quote if len(quote) <= 320 else quote[:320].rsplit(" ", 1)[0] + " …"
    more = "" if short == quote else (f'<details class="src-more"><summary>Show the whole passage</summary>'
                                      f'<div class="src-context">{escape_html(citation.quote)}</div></details>')
    return (f'<article class="src-card related">{header}<p class="src-passage">{escape_html(short)}</p>'
            f'{more}</article>')


def sources_html(answer: Answer | None, source_text: Callable[[str], str | SourceText] | None = None,
                 served: Path | None = None) -> str:
    """The sources panel for one answer (safe HTML: every piece of document text is escaped); `served`: the
    folder whose files the web server may send (download links)."""
    if answer is None:
        return ('<div class="sources empty"><div class="sources-title">Sources</div>'
                '<p>Ask a question: the passages each answer cites appear here, the cited words highlighted.</p>'
                '</div>')
    cache: dict[str, SourceText | None] = {}
    if answer.citations:
        found = {c.doc: _document_text(source_text, c.doc, cache) for c in answer.citations}
        cards = "".join(citation_card(c, found[c.doc], served) for c in answer.citations)
        count = len(answer.citations)
        title = f'Sources <span class="sources-count">{count} cited passage{"s" if count != 1 else ""}</span>'
        return f'<div class="sources"><div class="sources-title">{title}</div>{cards}</div>'
    if answer.related:
        cards = "".join(related_card(c) for c in answer.related)
        return ('<div class="sources"><div class="sources-title">Related passages '
                '<span class="sources-count">not evidence for an answer</span></div>'
                '<p class="src-note">No passage answers this question. These were the closest matches.</p>'
                f'{cards}</div>')
    return ('<div class="sources"><div class="sources-title">Sources</div>'
            '<p class="src-note">No passage in the documents matches this question.</p></div>')


def pending_sources_html(message: str) -> str:
    """The sources panel while an answer is being prepared."""
    return (f'<div class="sources empty"><div class="sources-title">Sources</div>'
            f'<p class="src-pending">{escape_html(message)}</p></div>')


def _when(timestamp: float | None) -> str:
    if not timestamp:
        return ""
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def documents_html(documents: Sequence[dict[str, Any]]) -> str:
    """The corpus table (escaped): document, title, date, passages, when indexed."""
    if not documents:
        return '<p class="src-note">No documents indexed yet. Upload some below.</p>'
    rows = "".join(
        f"<tr><td class='doc-name'>{escape_html(d['doc'])}</td><td>{escape_html(d.get('title') or '')}</td>"
        f"<td>{escape_html(d.get('date') or '')}</td><td class='num'>{int(d.get('chunks') or 0)}</td>"
        f"<td>{escape_html(_when(d.get('indexed_at')))}</td></tr>" for d in documents)
    passages = sum(int(d.get("chunks") or 0) for d in documents)
    return (f'<p class="doc-summary">{len(documents)} document{"s" if len(documents) != 1 else ""} · '
            f'{passages} passages indexed</p>'
            '<table class="doc-table"><thead><tr><th>Document</th><th>Title</th><th>Date</th>'
            f'<th class="num">Passages</th><th>Indexed</th></tr></thead><tbody>{rows}</tbody></table>')


# -- shared app state (the corpus and startup progress; no per-user data) ---------------------------------------
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


def status_html(status: Status) -> str:
    """The status line under the title: progress bar while starting, a quiet summary when ready."""
    kind = {"ready": "ok", "degraded": "warn", "error": "error"}.get(status.stage, "busy")
    bar = ""
    if status.stage == "indexing" and status.total:
        pct = int(100 * status.done / max(status.total, 1))
        bar = f'<div class="progress"><div class="progress-fill" style="width:{pct}%"></div></div>'
    return f'<div class="status {kind}"><span class="dot"></span>{escape_html(status.message)}{bar}</div>'


# -- event handlers -----------------------------------------------------------------------------------------
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


def notice_html(messages: Sequence[str], kind: str = "ok") -> str:
    """The Documents tab's notice box (every message escaped); "" for none."""
    items = "".join(f"<li>{escape_html(m)}</li>" for m in messages)
    return f'<ul class="notice {kind}">{items}</ul>' if messages else ""


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


def _mode_choices(settings: Settings) -> list[tuple[str, str]]:
    if settings.llm_endpoint:
        llm_label = f"LLM via your endpoint ({settings.llm_endpoint_model} at {settings.llm_endpoint})"
    else:
        llm_label = "LLM: a written answer, every claim cited (slower)"
    return [(llm_label, "llm"), ("Fast: the best cited sentence, no LLM", "fast")]


# -- the page -------------------------------------------------------------------------------------------------
CSS = """
.gradio-container { width: 100% !important; max-width: 1320px !important; margin: 0 auto !important; }
#app-header h1 { font-size: 1.6rem; font-weight: 600; margin: 0.2rem 0 0; }
#app-header p { margin: 0.15rem 0 0; color: var(--body-text-color-subdued); }
.status { display: flex; align-items: center; gap: 0.5rem; flex-wrap: wrap; font-size: 0.9rem;
          padding: 0.45rem 0.8rem; border-radius: 8px; background: var(--background-fill-secondary); }
.status .dot { width: 8px; height: 8px; border-radius: 50%; background: #f59e0b; flex: none; }
.status.ok .dot { background: #16a34a; } .status.error .dot { background: #dc2626; }
.status.error, .status.warn { color: #b91c1c; }
.progress { flex-basis: 100%; height: 6px; background: var(--border-color-primary); border-radius: 3px; }
.progress-fill { height: 6px; background: var(--color-accent); border-radius: 3px; transition: width .3s; }
.cite-mark { color: var(--color-accent); font-weight: 600; }
.sources { font-size: 0.93rem; }
.sources-title { font-weight: 600; font-size: 1.05rem; margin-bottom: 0.6rem; }
.sources-count { font-weight: 400; font-size: 0.85rem; color: var(--body-text-color-subdued); margin-left: .4rem; }
.sources.empty p, .src-note, .src-pending { color: var(--body-text-color-subdued); }
.src-card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 0.75rem 0.9rem;
            margin-bottom: 0.75rem; background: var(--background-fill-primary); }
.src-card.related { border-style: dashed; }
.src-head { display: flex; gap: 0.6rem; align-items: flex-start; margin-bottom: 0.4rem; }
.src-num { font-weight: 700; font-size: 0.8rem; padding: 0.1rem 0.45rem; border-radius: 6px; flex: none;
           background: var(--color-accent-soft); color: var(--color-accent); }
.src-num.related { background: var(--background-fill-secondary); color: var(--body-text-color-subdued);
                   font-weight: 600; text-transform: uppercase; letter-spacing: .03em; }
.src-title { font-weight: 600; line-height: 1.3; }
.src-meta { font-size: 0.8rem; color: var(--body-text-color-subdued); word-break: break-all; }
.src-passage { margin: 0.3rem 0; line-height: 1.55; }
.src-card mark { background: #fde68a; color: #1f2937; padding: 0 2px; border-radius: 3px; }
.src-more summary { cursor: pointer; font-size: 0.85rem; color: var(--color-accent); margin-top: 0.3rem; }
.src-context { white-space: pre-wrap; line-height: 1.5; font-size: 0.88rem; margin-top: 0.4rem;
               max-height: 360px; overflow-y: auto; padding: 0.5rem 0.6rem; border-radius: 6px;
               background: var(--background-fill-secondary); }
.doc-summary { color: var(--body-text-color-subdued); margin: 0 0 .4rem; }
#documents-table .doc-table { width: 100%; border-collapse: collapse; font-size: 0.9rem; border: none; }
#documents-table .doc-table th, #documents-table .doc-table td {
    text-align: left; padding: 0.45rem 0.6rem; border: none; border-bottom: 1px solid var(--border-color-primary); }
#documents-table .doc-table tr { border: none; }
#documents-table .doc-table th { font-weight: 600; color: var(--body-text-color-subdued); }
#documents-table .doc-table .num { text-align: right; } .doc-name { font-family: var(--font-mono); font-size: 0.82rem; }
.notice { margin: 0.4rem 0; padding: 0.5rem 0.9rem 0.5rem 1.6rem; border-radius: 8px; font-size: 0.9rem;
          background: var(--background-fill-secondary); }
.notice.error { color: #b91c1c; }
.src-page summary, .src-download { cursor: pointer; font-size: 0.85rem; color: var(--color-accent); }
.src-page summary { margin-top: 0.3rem; } .src-download { display: inline-block; margin-top: 0.35rem; }
.page-view { position: relative; margin-top: 0.4rem; border: 1px solid var(--border-color-primary); line-height: 0; }
.page-view img { width: 100%; height: auto; display: block; }
.cite-highlight { position: absolute; background: rgba(250, 204, 21, 0.42); outline: 1px solid rgba(217, 119, 6, .8);
                  border-radius: 2px; pointer-events: none; }
#sources-panel .sources { max-height: 640px; overflow-y: auto; padding-right: 4px; }
"""


def _header() -> str:
    return (f'<div id="app-header"><h1>{APP_TITLE}</h1><p>Answers from your documents only — every answer '
            'cites the exact passage it comes from, or says the documents do not answer.</p></div>')


def _example_text(evt: gr.SelectData) -> str:
    """The text of the example question the user clicked."""
    value = evt.value if isinstance(evt.value, dict) else {}
    return str(value.get("text", ""))


def _build_chat_tab(service: Service) -> None:
    settings = service.settings
    history = gr.State([])  # per session: the conversation the follow-up rewriting sees
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=380):
            chatbot = gr.Chatbot(
                label="Conversation", show_label=False, height=560, elem_id="chatbot", latex_delimiters=[],
                feedback_options=None, buttons=["copy"], layout="bubble", placeholder=(
                    "**Ask about your documents.**  \nEvery answer cites its passages; "
                    "if the documents do not say, the assistant says so."),
                examples=[{"text": q} for q in EXAMPLE_QUESTIONS])
            with gr.Row(equal_height=True):
                question = gr.Textbox(placeholder="Ask a question about the documents…", show_label=False,
                                      scale=6, max_lines=4, elem_id="question", autofocus=True, container=False)
                send = gr.Button("Ask", variant="primary", scale=0, min_width=90, elem_id="ask-button")
                clear = gr.Button("Clear", variant="secondary", scale=0, min_width=80, elem_id="clear-button")
            with gr.Accordion("Answer settings", open=False, elem_id="answer-settings"):
                mode = gr.Radio(_mode_choices(settings), value=settings.mode, label="Answer mode",
                                elem_id="mode")
                top_k = gr.Slider(1, 15, value=settings.top_k, step=1, label="Passages to read (retrieval depth)",
                                  elem_id="top-k")
        with gr.Column(scale=2, min_width=320):
            sources = gr.HTML(sources_html(None), elem_id="sources-panel", padding=False)
            with gr.Accordion("Answer details (JSON)", open=False):
                details = gr.JSON(label="Answer.to_json()", elem_id="answer-json")

    respond = make_chat_handler(service)
    inputs = [question, chatbot, history, mode, top_k]
    outputs = [chatbot, history, sources, question, details]
    common = {"concurrency_id": "answer", "concurrency_limit": ANSWER_CONCURRENCY, "show_progress": "hidden"}
    question.submit(respond, inputs, outputs, api_name="chat", api_visibility="undocumented", **common)
    send.click(respond, inputs, outputs, api_visibility="private", **common)
    chatbot.example_select(_example_text, None, question, queue=False,
                           api_visibility="private").then(respond, inputs, outputs, api_visibility="private",
                                                          **common)
    clear.click(lambda: ([], [], sources_html(None), "", None), None, outputs, queue=False,
                api_visibility="private")


def _build_corpus_tab(service: Service, status: gr.HTML) -> tuple[gr.HTML, gr.Dropdown]:
    folder = escape_html(str(service.settings.corpus_dir))
    gr.HTML(f'<p class="doc-summary">Corpus folder: <code>{folder}</code></p>')
    table = gr.HTML(documents_html([]), elem_id="documents-table")
    notice = gr.HTML("", elem_id="corpus-notice")
    with gr.Row(equal_height=False):
        with gr.Column():
            upload = gr.File(label=f"Add documents ({' '.join(UPLOAD_SUFFIXES)}; up to "
                             f"{MAX_UPLOAD_BYTES // 2**20} MB each)", file_count="multiple",
                             file_types=list(UPLOAD_SUFFIXES), elem_id="upload", height=140)
        with gr.Column():
            chooser = gr.Dropdown([], label="Remove a document", elem_id="remove-choice", interactive=True)
            remove = gr.Button("Remove document and re-index", variant="stop", size="sm", elem_id="remove-button")
            with gr.Row():
                retry = gr.Button("Retry indexing", size="sm", elem_id="retry-button")
                cancel = gr.Button("Cancel indexing", size="sm", elem_id="cancel-button")
    corpus = {"concurrency_id": "corpus", "concurrency_limit": 1, "api_visibility": "private"}
    upload.upload(make_upload_handler(service), [upload], [table, notice, chooser, status, upload], **corpus)
    remove.click(make_remove_handler(service), [chooser], [table, notice, chooser, status], **corpus)
    retry.click(make_retry_handler(service), None, [table, notice, chooser, status], **corpus)
    cancel.click(make_cancel_handler(service), None, [notice], queue=False, api_visibility="private")
    return table, chooser, notice


def build_app(assistant: Assistant) -> gr.Blocks:
    """The whole page for one shared `Assistant`; starts the background index catch-up and warm-up.

    Launch it with `launch(demo, ...)` (which applies the theme and CSS, and enables the queue).
    """
    service = Service(assistant)
    with gr.Blocks(title=APP_TITLE, analytics_enabled=False, fill_width=True) as demo:
        gr.HTML(_header())
        status = gr.HTML(status_html(service.status), elem_id="status")
        timer = gr.Timer(1.0)
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                _build_chat_tab(service)
            with gr.Tab("Documents", id="documents"):
                table, chooser, notice = _build_corpus_tab(service, status)
        gr.api(make_api_handler(service), api_name="ask", concurrency_id="answer",
               concurrency_limit=ANSWER_CONCURRENCY)

        def refresh() -> tuple[Any, ...]:
            docs = service.documents()
            done = service.status.stage in ("ready", "degraded", "error")
            failed = notice_html([index_failure(service)], "error") if service.index_error else gr.skip()
            return (status_html(service.status), documents_html(docs),
                    gr.update(choices=[d["doc"] for d in docs]), gr.Timer(active=not done), failed)

        outputs = [status, table, chooser, timer, notice]
        timer.tick(refresh, None, outputs, queue=False, show_progress="hidden", api_visibility="private")
        demo.load(refresh, None, outputs, queue=False, show_progress="hidden", api_visibility="private")
    demo.service = service  # type: ignore[attr-defined]  (for tests and the launcher)
    service.start()
    return demo


def theme() -> gr.themes.Base:
    """The page theme: Gradio's default (its fonts are served locally, so it works offline), indigo accents."""
    # Gradio's packaged Source Sans Pro SemiBold file holds only ~55 glyphs, so bold text mixed fonts: use the
    # complete Regular and Bold files (600-weight text then renders with Bold).
    font = (gr.themes.LocalFont("Source Sans Pro", weights=(400, 700)), "ui-sans-serif", "system-ui", "sans-serif")
    mono = (gr.themes.LocalFont("IBM Plex Mono", weights=(400, 700)), "ui-monospace", "monospace")
    return gr.themes.Default(primary_hue="indigo", secondary_hue="slate", neutral_hue="slate", font=font,
                             font_mono=mono)


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only."""
    import ipaddress

    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, share: bool, auth: str | None) -> tuple[str, str] | None:
    """The login the page needs: (user, password) from `auth`; None on loopback without one. Listening beyond this
    machine without a login is refused: anyone reaching the page could upload and remove the user's documents."""
    if auth:
        user, password = auth.split(":", 1)
        return user, password
    if share or not is_loopback(host):
        from assistant.config import ConfigError

        where = "--share" if share else f"--host {host}"
        raise ConfigError(f"{where} makes the page reachable from other machines, where anyone could upload and "
                          "remove your documents: pass --auth user:password (or set ASSISTANT_AUTH), or listen on "
                          "127.0.0.1")
    return None


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = 7860, share: bool = False,
           block: bool = True, auth: tuple[str, str] | None = None) -> str:
    """Serve the page with the queue on; returns the local URL (blocks until Ctrl-C when `block`)."""
    demo.queue(default_concurrency_limit=ANSWER_CONCURRENCY, max_size=256)
    service = getattr(demo, "service", None)
    served = [str(service.settings.corpus_dir.resolve())] if service is not None else []  # download links
    _, url, _ = demo.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=not block,
                            auth=auth, allowed_paths=served,
                            theme=theme(), css=CSS, show_error=True, max_file_size=MAX_UPLOAD_BYTES,
                            ssr_mode=False, quiet=not block, footer_links=["api"],
                            run_history=False)
    return url


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, share: bool = False) -> None:
    """Start the web UI: serve at once, catch the index up with the corpus (progress on console and page).
    Raises ConfigError, before anything starts, for a page reachable from other machines without a login."""
    from assistant.pipeline import Assistant

    login = check_exposure(host, share, settings.auth)
    print(f"[assistant] starting the web UI on http://{host}:{port} (corpus: {settings.corpus_dir})",
          file=sys.stderr, flush=True)
    launch(build_app(Assistant(settings)), host=host, port=port, share=share, block=True, auth=login)
