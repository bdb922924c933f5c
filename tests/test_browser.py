"""The web UI in a real browser (Debian's Chromium driven by Playwright): ask, see the cited passage highlighted,
upload a document and ask about it, and prove a hostile document runs no script.

Chromium comes from `apt-get install chromium` (never `playwright install`, which downloads); the tests skip
with a reason when it is missing. Screenshots go to `test-output/` (git-ignored) for a human to look at.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from conftest import make_settings  # noqa: E402

import assistant  # noqa: E402,F401  (offline switches)

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "test-output"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ANSWER_TIMEOUT_MS = 120_000
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_DOC = ("Quillfeather incident report\n\nThe Quillfeather test page embedded the markup " + XSS_SCRIPT
           + " and the tag " + XSS_IMG + " in its text.\n\nThe Quillfeather archive opened in 1931.\n")

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium not installed: apt-get install -y chromium"),
    pytest.mark.filterwarnings("ignore:::gradio.queueing"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, embed_model: Any) -> Iterator[SimpleNamespace]:
    """One running app in fast mode (these tests are about the page, not the LLM) over a copy of the seeds."""
    from assistant.pipeline import Assistant
    from assistant.ui import build_app, launch

    tmp = tmp_path_factory.mktemp("browser")
    settings = make_settings(tmp, mode="fast")
    corpus = settings.corpus_dir
    demo = build_app(Assistant(settings, embed_model=embed_model))
    url = launch(demo, host="127.0.0.1", port=free_port(), block=False)
    assert demo.service.ready.wait(600), "index build did not finish"  # type: ignore[attr-defined]
    yield SimpleNamespace(url=url, corpus=corpus, files=tmp)
    demo.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(app: SimpleNamespace, browser: Any) -> Iterator[Any]:
    """A fresh tab (a fresh Gradio session) on the app, with every JavaScript dialog recorded and dismissed."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.dialogs = []
    tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
    tab.goto(app.url)
    tab.wait_for_selector("#question textarea", timeout=60_000)
    tab.wait_for_selector("#status .status.ok", timeout=120_000)
    yield tab
    context.close()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def ask(page: Any, question: str) -> None:
    """Type a question, press Enter, wait until the answer's sources are shown."""
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    page.wait_for_selector("#sources-panel .src-card", timeout=ANSWER_TIMEOUT_MS)


def upload(page: Any, path: Path) -> str:
    """Upload a file on the Documents tab; returns the notice the page shows once it is indexed."""
    page.get_by_role("tab", name="Documents").click()
    page.set_input_files("#upload input[type=file]", str(path))
    page.wait_for_selector("#corpus-notice li", timeout=ANSWER_TIMEOUT_MS)
    return page.inner_text("#corpus-notice")


def test_question_shows_cited_answer_and_highlighted_source(page: Any) -> None:
    ask(page, "Who met Kerry in Paris?")
    bot = page.locator("#chatbot .message.bot").last
    assert "Lavrov" in bot.inner_text()
    assert bot.locator(".cite-mark").first.is_visible()
    assert page.locator("#sources-panel .src-card .src-num").first.inner_text() == "[1]"
    mark = page.locator("#sources-panel .src-passage mark").first
    assert mark.is_visible() and "Lavrov" in mark.inner_text()
    assert "000_ba464c03508296b8.txt" in page.inner_text("#sources-panel")
    page.locator("#sources-panel details summary").first.click()
    assert page.locator("#sources-panel .src-context").first.is_visible()
    screenshot(page, "ui-answer.png")


def test_example_question_and_clear(page: Any) -> None:
    page.get_by_text("Who won the 2014 FIFA World Cup?").click()
    page.wait_for_selector("#sources-panel .src-card.related", timeout=ANSWER_TIMEOUT_MS)
    assert "do not answer" in page.locator("#chatbot .message.bot").last.inner_text()
    assert "Related passages" in page.inner_text("#sources-panel")
    screenshot(page, "ui-abstention.png")
    page.click("#clear-button")
    page.wait_for_selector("#sources-panel .sources.empty")
    assert page.locator("#chatbot .message").count() == 0


def test_the_first_example_lists_the_documents_with_their_cited_headlines(page: Any) -> None:
    page.get_by_text("What are the documents about?").click()
    page.wait_for_selector("#sources-panel .src-card", timeout=ANSWER_TIMEOUT_MS)
    reply = page.locator("#chatbot .message.bot").last.inner_text()
    assert "The index holds 2 documents" in reply and "Russia and America discuss local ceasefires" in reply
    panel = page.inner_text("#sources-panel")
    assert "000_ba464c03508296b8.txt" in panel and "004_e31eb55d49d7f6ac.txt" in panel
    page.click("#clear-button")
    page.wait_for_selector("#sources-panel .sources.empty")


def test_upload_ask_and_remove_a_document(page: Any, app: SimpleNamespace) -> None:
    doc = app.files / "brindlewick bridge.txt"
    doc.write_text("Brindlewick bridge notes\n\nThe Brindlewick bridge in Harrowgate was painted green in 1962.\n",
                   encoding="utf-8")
    notice = upload(page, doc)
    assert "Added brindlewick_bridge.txt" in notice and "1 added" in notice
    assert "brindlewick_bridge.txt" in page.inner_text("#documents-table")
    screenshot(page, "ui-documents.png")
    page.get_by_role("tab", name="Chat").click()
    ask(page, "What colour was the Brindlewick bridge painted?")
    assert "brindlewick_bridge.txt" in page.inner_text("#sources-panel")
    assert "green" in page.locator("#sources-panel mark").first.inner_text()
    assert (app.corpus / "brindlewick_bridge.txt").is_file()

    page.get_by_role("tab", name="Documents").click()
    page.click("#remove-choice input")
    page.get_by_role("option", name="brindlewick_bridge.txt").click()
    page.click("#remove-button")
    page.wait_for_selector("#corpus-notice li:has-text('Removed brindlewick_bridge.txt')", timeout=ANSWER_TIMEOUT_MS)
    assert "1 removed" in page.inner_text("#corpus-notice")
    assert "brindlewick_bridge.txt" not in page.inner_text("#documents-table")
    assert not (app.corpus / "brindlewick_bridge.txt").exists()


def test_hostile_document_runs_no_script(page: Any, app: SimpleNamespace) -> None:
    doc = app.files / "quillfeather.txt"
    doc.write_text(XSS_DOC, encoding="utf-8")
    assert "Added quillfeather.txt" in upload(page, doc)
    page.get_by_role("tab", name="Chat").click()
    ask(page, "What markup did the Quillfeather test page embed? " + XSS_IMG)
    page.wait_for_timeout(1500)  # give any injected handler (img onerror) time to fire
    sources = page.inner_text("#sources-panel")
    assert XSS_SCRIPT in sources and XSS_IMG in sources, sources
    assert XSS_IMG in page.locator("#chatbot .message.user").last.inner_text()
    assert page.locator("#sources-panel script, #sources-panel img, #chatbot .message img").count() == 0
    assert page.dialogs == [], f"a script ran: {page.dialogs}"
    screenshot(page, "ui-xss.png")


def test_a_malformed_pdf_uploaded_with_a_good_file_is_refused_alone(page: Any, app: SimpleNamespace) -> None:
    broken = app.files / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n")
    good = app.files / "wrenfield.txt"
    good.write_text("Wrenfield ferry notes\n\nThe Wrenfield ferry leaves the harbour at half past seven.\n",
                    encoding="utf-8")
    page.get_by_role("tab", name="Documents").click()
    page.set_input_files("#upload input[type=file]", [str(broken), str(good)])
    page.wait_for_selector("#corpus-notice li:has-text('Index updated')", timeout=ANSWER_TIMEOUT_MS)
    notice = page.inner_text("#corpus-notice")
    assert "Refused broken.pdf: cannot parse PDF" in notice and "Added wrenfield.txt" in notice
    assert "wrenfield.txt" in page.inner_text("#documents-table")
    assert "broken.pdf" not in page.inner_text("#documents-table")
    screenshot(page, "ui-bad-upload.png")
    page.get_by_role("tab", name="Chat").click()
    ask(page, "When does the Wrenfield ferry leave the harbour?")
    assert "wrenfield.txt" in page.inner_text("#sources-panel")
    assert "seven" in page.locator("#chatbot .message.bot").last.inner_text()


def test_a_pdf_answer_opens_its_page_with_the_cited_lines_highlighted(page: Any, app: SimpleNamespace) -> None:
    from PIL import Image

    from tests.documents import write_report_pdf

    notice = upload(page, write_report_pdf(app.files / "harbour report.pdf"))
    assert "Added harbour_report.pdf" in notice
    page.get_by_role("tab", name="Chat").click()
    ask(page, "Who rebuilt the lighthouse on Gullrock Island?")
    card = page.locator("#sources-panel .src-card").first
    assert "harbour_report.pdf, p. 3" in card.inner_text()
    card.get_by_text("Show page 3").click()
    view = card.locator(".page-view")
    view.locator("img").wait_for(state="visible")
    highlights = view.locator(".cite-highlight")
    assert highlights.count() == 3 and highlights.first.is_visible()
    view.scroll_into_view_if_needed()
    shot = SCREENSHOTS / "ui-pdf-page.png"
    SCREENSHOTS.mkdir(exist_ok=True)
    view.screenshot(path=str(shot))
    box = highlights.first.bounding_box()
    frame = view.bounding_box()
    image = Image.open(shot).convert("RGB")
    # Inside the first highlight box the page's white shows through the yellow mark.
    x = int(box["x"] - frame["x"] + box["width"] / 2)
    y = int(box["y"] - frame["y"] + box["height"] / 2)
    yellow = [image.getpixel((x + dx, y)) for dx in range(-20, 21, 4)]
    assert any(r > 200 and g > 180 and b < 170 for r, g, b in yellow), yellow
    link = card.locator("a.src-download")
    assert link.get_attribute("download") == "harbour_report.pdf"
    response = page.request.get(app.url.rstrip("/") + "/" + link.get_attribute("href"))
    assert response.ok and response.body().startswith(b"%PDF")
