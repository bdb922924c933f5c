"""What the page shows, as HTML or Markdown: answers with their marks, source cards with the cited span
highlighted, PDF pages, the documents table and the status line. Everything a user or a document supplies is
escaped first (`escape_html`, `escape_markdown`): a document containing `<script>` shows those characters.
"""

from __future__ import annotations

import base64
import html
import logging
import re
import urllib.parse
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from assistant.source_text import SourceText
from assistant.types import Answer, Citation
from assistant.ui.service import Status
from assistant.ui.uploads import inside_folder

log = logging.getLogger(__name__)

PASSAGE_CONTEXT_CHARS = 240  # text shown around a cited span in the sources panel
SURROUNDING_CONTEXT_CHARS = 1500  # text shown under "Show surrounding text"
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
    if not path or served is None or not inside_folder(Path(path), served):
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


def status_html(status: Status) -> str:
    """The status line under the title: progress bar while starting, a quiet summary when ready."""
    kind = {"ready": "ok", "degraded": "warn", "error": "error"}.get(status.stage, "busy")
    bar = ""
    if status.stage == "indexing" and status.total:
        pct = int(100 * status.done / max(status.total, 1))
        bar = f'<div class="progress"><div class="progress-fill" style="width:{pct}%"></div></div>'
    return f'<div class="status {kind}"><span class="dot"></span>{escape_html(status.message)}{bar}</div>'


def notice_html(messages: Sequence[str], kind: str = "ok") -> str:
    """The Documents tab's notice box (every message escaped); "" for none."""
    items = "".join(f"<li>{escape_html(m)}</li>" for m in messages)
    return f'<ul class="notice {kind}">{items}</ul>' if messages else ""
