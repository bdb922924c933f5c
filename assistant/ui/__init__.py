"""The web UI: a chat whose every answer shows the exact passages it cites, plus a corpus manager.

One module per job: `page` (the layout, `build_app`, `launch`, `serve`), `handlers` (its events), `render` (what it
shows, escaped), `service` (the state all sessions share), `uploads` (files into the corpus folder, safely).

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

from assistant.ui.page import build_app, check_exposure, is_loopback, launch, serve
from assistant.ui.render import answer_markdown, documents_html, escape_html, escape_markdown, sources_html
from assistant.ui.service import IndexCancelled, Service, Status
from assistant.ui.uploads import (
    MAX_UPLOAD_BYTES,
    UploadError,
    remove_document_file,
    safe_upload_name,
    save_upload,
)

__all__ = ["MAX_UPLOAD_BYTES", "IndexCancelled", "Service", "Status", "UploadError", "answer_markdown",
           "build_app", "check_exposure", "documents_html", "escape_html", "escape_markdown", "is_loopback", "launch",
           "remove_document_file", "safe_upload_name", "save_upload", "serve", "sources_html"]
