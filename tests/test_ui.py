"""The web UI end to end: one real app per module (real models, real Chroma, a temporary copy of the seeds),
driven through `gradio_client` as an API user would, plus unit tests of the upload and escaping helpers.

The app runs in the default (LLM) mode, so `/ask` without a mode exercises the generative path; tests that are
not about the LLM pass `mode="fast"` to stay quick on 2 cores.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # gradio_client's Client() otherwise reaches for the hub
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from conftest import make_settings  # noqa: E402

import assistant  # noqa: E402,F401  (offline switches)
from assistant.types import REFUSAL, Answer, Citation  # noqa: E402
from assistant.ui import (  # noqa: E402
    MAX_UPLOAD_BYTES,
    UploadError,
    answer_markdown,
    documents_html,
    escape_markdown,
    remove_document_file,
    safe_upload_name,
    save_upload,
    sources_html,
)

# gradio's queue calls a pandas option pandas 3 deprecates: noise, not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:::gradio.queueing")

DOC_A = "000_ba464c03508296b8.txt"
XSS_TEXT = ("Quillfeather incident report\n\nThe Quillfeather test page embedded the markup <script>alert(1)</script> "
            "and the tag <img src=x onerror=alert(1)> in its text.\n\nThe Quillfeather archive opened in 1931.\n")
SCRIPT_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
IMG_ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_exact(path: Path) -> str:
    """A .txt document exactly as citation spans index it (no newline translation)."""
    return path.read_bytes().decode("utf-8")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, embed_model: Any) -> Iterator[SimpleNamespace]:
    """One running app (default LLM mode) over a private copy of the seeds, on a free loopback port."""
    from assistant.pipeline import Assistant
    from assistant.ui import build_app, launch

    tmp = tmp_path_factory.mktemp("ui")
    settings = make_settings(tmp)
    corpus = settings.corpus_dir
    demo = build_app(Assistant(settings, embed_model=embed_model))
    url = launch(demo, host="127.0.0.1", port=free_port(), block=False)
    service = demo.service  # type: ignore[attr-defined]
    assert service.ready.wait(600), "index build did not finish"
    assert service.status.stage != "error", service.status.error
    yield SimpleNamespace(url=url, demo=demo, service=service, corpus=corpus)
    demo.close()


def client(url: str) -> Any:
    from gradio_client import Client

    return Client(url, verbose=False)


def ask(app: SimpleNamespace, question: str, history: list[dict[str, str]] | None = None,
        mode: str | None = None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"api_name": "/ask"}
    if history is not None:
        kwargs["history"] = history
    if mode is not None:
        kwargs["mode"] = mode
    return client(app.url).predict(question, **kwargs)


# -- the /ask API ---------------------------------------------------------------------------------------------
def test_ask_llm_mode_cites_montreux_exactly(app: SimpleNamespace) -> None:
    """Default (LLM) mode through the public API: the answer, and a span that is exactly the file's text."""
    from gradio_client import Client

    result = Client(app.url, verbose=False).predict("Where was Geneva II held?", api_name="/ask")
    assert set(result) == set(Answer(question="", answer="", short_answer="", abstained=False).to_json())
    assert result["mode"] == "llm"
    assert "Montreux" in result["short_answer"] or "Montreux" in result["answer"]
    assert not result["abstained"]
    text = read_exact(app.corpus / DOC_A)
    cited = [c for c in result["citations"] if c["doc"] == DOC_A]
    assert cited, result["citations"]
    for c in cited:
        assert c["quote"] == text[c["start"]:c["end"]]
    assert any("Montreux" in c["quote"] for c in cited)


def test_follow_up_uses_the_given_history(app: SimpleNamespace) -> None:
    """'What did he say about Iran?' after 'Who met Kerry in Paris?' resolves to Lavrov and cites his words.

    Runs in LLM mode: the rule-based rewrite of fast mode carries the whole previous sentence into retrieval.
    """
    first = ask(app, "Who met Kerry in Paris?")
    assert "Lavrov" in first["answer"]
    history = [{"role": "user", "content": "Who met Kerry in Paris?"},
               {"role": "assistant", "content": first["answer"]}]
    follow = ask(app, "What did he say about Iran?", history=history)
    assert "Lavrov" in follow["standalone_question"]
    quotes = [c["quote"] for c in follow["citations"]]
    assert any("Iran" in q and "absolutely apparent need" in q for q in quotes), quotes
    for c in follow["citations"]:
        assert c["quote"] == read_exact(app.corpus / c["doc"])[c["start"]:c["end"]]


def test_ask_abstains_with_related_passages(app: SimpleNamespace) -> None:
    result = ask(app, "Who won the 2014 FIFA World Cup?", mode="fast")
    assert result["abstained"] and result["answer"] == REFUSAL
    assert result["citations"] == []
    assert result["related"], "an abstention offers its closest passages"


def test_ask_rejects_an_empty_question(app: SimpleNamespace) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="empty"):
        ask(app, "   ", mode="fast")


# -- the chat endpoint: per-session history, rendered sources ---------------------------------------------------
def chat(session: Any, question: str, mode: str = "fast") -> tuple[list[Any], str, dict[str, Any]]:
    """One chat turn in a gradio_client session (its history lives server-side in that session's gr.State)."""
    messages, sources, _textbox, details = session.predict(question, [], mode, 5, api_name="/chat")
    return messages, sources, details


def test_chat_sessions_keep_their_own_history(app: SimpleNamespace) -> None:
    """Two users asking at the same time: each follow-up is rewritten from that user's own previous turn.

    Each first question carries a name found nowhere else, so a follow-up rewritten from the wrong session's
    history would show the other user's name (or neither).
    """
    users = {"Zephyrine": "Who met Kerry in Paris? (asked by Zephyrine)",
             "Oberon": "Where was Geneva II held? (asked by Oberon)"}
    results: dict[str, dict[str, Any]] = {}
    errors: list[BaseException] = []

    def run(name: str) -> None:
        session = client(app.url)
        try:
            chat(session, users[name])
            results[name] = chat(session, "What about them?")[2]
        except BaseException as exc:  # re-raised below in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(name,)) for name in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not errors, errors
    for name in users:
        other = next(n for n in users if n != name)
        standalone = results[name]["standalone_question"]
        assert name in standalone and other not in standalone, (name, standalone)


def test_xss_document_is_cited_and_shown_escaped(app: SimpleNamespace, tmp_path: Path) -> None:
    """A document carrying script and onerror markup is uploaded, indexed, cited, and rendered inert."""
    upload = tmp_path / "quillfeather.txt"
    upload.write_text(XSS_TEXT, encoding="utf-8")
    saved, _, _ = save_upload(upload, upload.name, app.corpus)
    app.service.run_index()
    assert saved.name in {d["doc"] for d in app.service.documents()}

    messages, sources, details = chat(client(app.url), "What markup did the Quillfeather test page embed?")
    assert any(c["doc"] == saved.name for c in details["citations"]), details
    assert SCRIPT_ESCAPED in sources and IMG_ESCAPED in sources
    assert "<script" not in sources and "<img" not in sources
    assert "<mark>" in sources
    bubble = messages[-1]["content"][0]["text"]
    assert "<script" not in bubble and "<img" not in bubble


def test_documents_panel_lists_the_corpus(app: SimpleNamespace) -> None:
    docs = app.service.documents()
    assert DOC_A in {d["doc"] for d in docs}
    table = documents_html(docs)
    assert DOC_A in table and "Joint call by US and Russia" in table


def test_remove_document_moves_it_to_the_trash_and_reindexes(app: SimpleNamespace, tmp_path: Path) -> None:
    upload = tmp_path / "temporary note.md"
    upload.write_text("# Temporary note\n\nThe Brindlewick bridge is painted green.\n", encoding="utf-8")
    saved, _, _ = save_upload(upload, upload.name, app.corpus)
    assert saved.name == "temporary_note.md"
    app.service.run_index()
    assert saved.name in {d["doc"] for d in app.service.documents()}
    kept = remove_document_file(saved.name, app.corpus, tmp_path / "trash")
    app.service.run_index()
    assert not saved.exists() and kept.read_text(encoding="utf-8").startswith("# Temporary note")
    assert kept.is_relative_to(tmp_path / "trash")
    assert saved.name not in {d["doc"] for d in app.service.documents()}


# -- upload validation (helpers, no app needed) -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["payload.exe", "notes", "archive.tar.gz", "script.js", "page.html.sh", ".txt",
                                  "....txt"])
def test_upload_refuses_unsupported_types(name: str) -> None:
    with pytest.raises(UploadError, match="unsupported file type"):
        safe_upload_name(name)


@pytest.mark.parametrize(("name", "expected"), [
    ("../../evil.txt", "evil.txt"),
    ("..\\..\\windows\\evil.md", "evil.md"),
    ("/etc/passwd.txt", "passwd.txt"),
    (".bashrc.txt", "bashrc.txt"),
    ("My Report (final).PDF", "My_Report_final.pdf"),
    ("<script>.html", "script.html"),
    ("-_.md", "document.md"),
])
def test_upload_names_are_sanitised(name: str, expected: str) -> None:
    assert safe_upload_name(name) == expected


def test_path_traversal_upload_stays_in_the_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "a" / "b" / "corpus"
    corpus.mkdir(parents=True)
    source = tmp_path / "upload.bin"
    source.write_text("Evil text that wants to escape.\n", encoding="utf-8")
    saved, _, _ = save_upload(source, "../../evil.txt", corpus)
    assert saved == corpus / "evil.txt" and saved.read_text(encoding="utf-8").startswith("Evil")
    assert not (tmp_path / "a" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert [p.name for p in corpus.iterdir()] == ["evil.txt"], "no staging file is left behind"


def test_oversize_upload_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    with big.open("wb") as handle:
        handle.truncate(MAX_UPLOAD_BYTES + 1)  # sparse: costs no disk
    corpus = tmp_path / "corpus"
    with pytest.raises(UploadError, match="over the 20 MB upload limit"):
        save_upload(big, "big.txt", corpus)
    assert not corpus.exists() or not any(corpus.iterdir())


def test_empty_binary_and_duplicate_uploads_are_refused(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(UploadError, match="empty"):
        save_upload(empty, "empty.txt", corpus)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\x00\x01\x02binary" * 100)
    with pytest.raises(UploadError, match="binary"):
        save_upload(binary, "binary.txt", corpus)
    doc = tmp_path / "doc.txt"
    doc.write_text("Some text about the Brindlewick bridge.\n", encoding="utf-8")
    save_upload(doc, "doc.txt", corpus)
    with pytest.raises(UploadError, match="already has this exact file as doc.txt"):
        save_upload(doc, "copy.txt", corpus)
    assert sorted(p.name for p in corpus.iterdir()) == ["doc.txt"]


def test_same_name_different_content_never_overwrites(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    first, second = tmp_path / "one.txt", tmp_path / "two.txt"
    first.write_text("First version of the notes.\n", encoding="utf-8")
    second.write_text("Second, different notes.\n", encoding="utf-8")
    saved_one, note_one, _ = save_upload(first, "notes.txt", corpus)
    saved_two, note_two, _ = save_upload(second, "notes.txt", corpus)
    assert (saved_one.name, note_one) == ("notes.txt", "")
    assert saved_two.name == "notes-2.txt" and "already exists" in note_two
    assert saved_one.read_text(encoding="utf-8").startswith("First")


def test_remove_refuses_paths_outside_the_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    outside = tmp_path / "keep.txt"
    outside.write_text("keep me\n", encoding="utf-8")
    for name in ("../keep.txt", str(outside), "", ".", "missing.txt"):
        with pytest.raises(UploadError):
            remove_document_file(name, corpus, tmp_path / "trash")
    assert outside.exists()


def test_an_upload_over_the_indexing_budget_is_refused(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    long = tmp_path / "long.txt"
    long.write_text("The orchard notes. " * 2000 + "\n", encoding="utf-8")  # 6,000 words: about 34 passages
    with pytest.raises(UploadError, match="about 34 passages to index, over what one upload may add"):
        save_upload(long, "long.txt", corpus, max_chunks=20)
    assert not corpus.exists() or not any(corpus.iterdir())
    assert save_upload(long, "long.txt", corpus, max_chunks=40)[2] == 34


# -- escaping (helpers) -------------------------------------------------------------------------------------------
def test_rendering_escapes_documents_and_questions() -> None:
    text = "Intro.\n\n" + XSS_TEXT
    start = text.index("The Quillfeather test page")
    end = text.index("in its text.") + len("in its text.")
    cite = Citation(id=1, doc="<b>doc</b>.txt", start=start, end=end, quote=text[start:end], score=0.9,
                    title="<img src=x onerror=alert(2)>")
    answer = Answer(question="<script>alert(3)</script>?", answer=text[start:end] + " [1]",
                    short_answer=text[start:end], abstained=False, citations=[cite],
                    standalone_question="<script>alert(3)</script> (context)")
    html_out = sources_html(answer, lambda doc: text)
    assert SCRIPT_ESCAPED in html_out and IMG_ESCAPED in html_out
    assert "&lt;b&gt;doc&lt;/b&gt;.txt" in html_out and "&lt;img src=x onerror=alert(2)&gt;" in html_out
    assert "<script" not in html_out and "<img" not in html_out and "<b>" not in html_out
    bubble = answer_markdown(answer)
    assert "<script" not in bubble and "<img" not in bubble
    assert '<sup class="cite-mark">[1]</sup>' in bubble
    assert escape_markdown("*bold* [x](javascript:alert(1))") == \
        "\\*bold\\* \\[x\\]\\(javascript:alert\\(1\\)\\)"


def test_example_questions_about_the_bundled_articles_only_for_the_bundled_corpus(tmp_path: Path) -> None:
    from assistant.config import BUNDLED_CORPUS
    from assistant.ui.page import GENERAL_EXAMPLES, SEED_EXAMPLES, example_questions

    assert example_questions(make_settings(tmp_path, corpus=BUNDLED_CORPUS)) == [*GENERAL_EXAMPLES, *SEED_EXAMPLES]
    copy = make_settings(tmp_path)  # a copy of the bundled articles
    assert example_questions(copy) == [*GENERAL_EXAMPLES, *SEED_EXAMPLES]
    changed = next(copy.corpus_dir.glob("*.txt"))
    changed.write_text(changed.read_text(encoding="utf-8") + "\nOne more line.\n", encoding="utf-8")
    assert example_questions(copy) == list(GENERAL_EXAMPLES)  # other documents: only questions any corpus answers
    own = tmp_path / "own"
    own.mkdir()
    (own / "notes.txt").write_text("A note.\n", encoding="utf-8")
    assert example_questions(make_settings(tmp_path, corpus=own)) == list(GENERAL_EXAMPLES)


def test_abstention_sources_are_labelled_related() -> None:
    related = Citation(id=1, doc="a.txt", start=0, end=20, quote="Some <i>nearby</i> text", score=0.1)
    answer = Answer(question="q", answer=REFUSAL, short_answer="", abstained=True, related=[related])
    html_out = sources_html(answer, lambda doc: "")
    assert "Related passages" in html_out and "not evidence" in html_out
    assert "<mark>" not in html_out and "&lt;i&gt;nearby&lt;/i&gt;" in html_out
    assert "related" in answer_markdown(answer)


def test_changed_document_falls_back_to_the_quote() -> None:
    cite = Citation(id=1, doc="a.txt", start=0, end=5, quote="Hello", score=0.5)
    answer = Answer(question="q", answer="Hello [1]", short_answer="Hello", abstained=False, citations=[cite])
    assert "<mark>Hello</mark>" in sources_html(answer, lambda doc: "Changed text")
    assert "has changed" in sources_html(answer, lambda doc: "Changed text")
