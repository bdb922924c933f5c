"""The page itself (`build_app`) and how it is served (`launch`, `serve`, with the exposure check)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import gradio as gr

from assistant.config import BUNDLED_CORPUS
from assistant.ui.handlers import (
    index_failure,
    make_api_handler,
    make_cancel_handler,
    make_chat_handler,
    make_remove_handler,
    make_retry_handler,
    make_upload_handler,
)
from assistant.ui.render import documents_html, escape_html, notice_html, sources_html, status_html
from assistant.ui.service import Service
from assistant.ui.uploads import MAX_UPLOAD_BYTES, UPLOAD_SUFFIXES

if TYPE_CHECKING:
    from assistant.config import Settings
    from assistant.pipeline import Assistant


APP_TITLE = "Cited Assistant"
# Example questions under the chat: those about any corpus, then those about the bundled articles (`seeds/`), which
# are shown only when the corpus folder holds them (asked of other documents they would only be abstained).
GENERAL_EXAMPLES = ("What are the documents about?", "Summarize the first document.")
SEED_EXAMPLES = (
    "Where was Geneva II held?",
    "Who met Kerry in Paris?",
    "What did Lavrov say about Iran?",
    "Who won the 2014 FIFA World Cup?",
)
# Questions run a few at a time (the models share 2 cores); corpus changes run one at a time.
ANSWER_CONCURRENCY = 4


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


def example_questions(settings: Settings) -> list[str]:
    """The example questions for the chat: the general ones, and those about the bundled articles when the corpus
    folder holds every one of them, byte for byte (the bundled folder or a copy of it)."""
    seeds = sorted(BUNDLED_CORPUS.glob("*.txt"))
    corpus = settings.corpus_dir
    bundled = bool(seeds) and all((corpus / seed.name).is_file()
                                  and (corpus / seed.name).read_bytes() == seed.read_bytes() for seed in seeds)
    return [*GENERAL_EXAMPLES, *(SEED_EXAMPLES if bundled else ())]


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
                examples=[{"text": q} for q in example_questions(settings)])
            with gr.Row(equal_height=True):
                question = gr.Textbox(placeholder="Ask a question about the documents…", show_label=False,
                                      scale=6, max_lines=4, elem_id="question", autofocus=True, container=False)
                send = gr.Button("Ask", variant="primary", scale=0, min_width=90, elem_id="ask-button")
                clear = gr.Button("Clear", variant="secondary", scale=0, min_width=80, elem_id="clear-button")
            with gr.Accordion("Answer settings", open=False, elem_id="answer-settings"):
                mode = gr.Radio(mode_choices(settings), value=settings.mode, label="Answer mode",
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
    from index.embeddings import bound_kernel_cache

    login = check_exposure(host, share, settings.auth)
    bound_kernel_cache()  # an answering process: memory flat over many questions
    print(f"[assistant] starting the web UI on http://{host}:{port} (corpus: {settings.corpus_dir})",
          file=sys.stderr, flush=True)
    launch(build_app(Assistant(settings)), host=host, port=port, share=share, block=True, auth=login)


def mode_choices(settings: Settings) -> list[tuple[str, str]]:
    if settings.llm_endpoint:
        llm_label = f"LLM via your endpoint ({settings.llm_endpoint_model} at {settings.llm_endpoint})"
    else:
        llm_label = "LLM: a written answer, every claim cited (slower)"
    return [(llm_label, "llm"), ("Fast: the best cited sentence, no LLM", "fast")]
