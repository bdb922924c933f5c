"""Real documents: PDF pages in every citation, running headers left out, Word files in reading order, and the
source viewer's rendered page with the cited lines marked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import make_settings

from assistant.page_view import find_quote, render_page
from index.chunking import SpanSentenceSplitter, page_of
from index.pdf_text import drop_furniture, reflow, running_lines
from index.readers import UnusableDocument, page_at, read_document
from tests.documents import (
    GULLROCK_SENTENCE,
    REPORT_HEADER,
    write_keepers_docx,
    write_report_pdf,
)
from tests.pdf_maker import write_pages_pdf


# -- text rules, on toy lines ---------------------------------------------------------------------------------
def test_wrapped_lines_join_into_paragraphs_and_line_end_hyphens_join_words() -> None:
    lines = ["A first paragraph runs over the full width of the page and then it con-",
             "tinues on the next line to its end.",
             "Heading",
             "A second paragraph starts here and is long enough to fill the page width too,",
             "then it stops."]
    assert reflow(lines) == ("A first paragraph runs over the full width of the page and then it continues on the "
                             "next line to its end.\nHeading\nA second paragraph starts here and is long enough to "
                             "fill the page width too, then it stops.")


def test_running_headers_and_page_numbers_go_but_edge_lines_with_other_numbers_stay() -> None:
    pages = [["Alpha Report", f"Body text on topic {'ABCD'[n - 1]}.", f"Total {n * 37}", f"Page {n} of 4"]
             for n in (1, 2, 3, 4)]
    running = running_lines(pages)
    assert [drop_furniture(lines, running) for lines in pages][2] == ["Body text on topic C.", "Total 111"]
    assert running_lines(pages[:2]) == set()  # two pages cannot tell furniture from content
    assert drop_furniture(["7", "A line.", "- 8 -"], set()) == ["A line."]  # bare page numbers at the edges


def test_a_quote_is_found_on_a_page_by_its_letters_whatever_the_line_breaks() -> None:
    page = "Heading\r\nThe tower was re-\r\nbuilt in 1887 by a local engineer.\r\nMore text."
    first, last = find_quote(page, "The tower was rebuilt in 1887 by a local engineer.")
    assert page[first:last + 1] == "The tower was re-\r\nbuilt in 1887 by a local engineer"
    assert find_quote(page, "Nothing like this is on the page at all.") is None


def test_chunks_carry_their_page_and_the_page_of_any_offset_follows() -> None:
    from llama_index.core.schema import Document

    text = "One. Two.\n\nThree. Four.\n\nFive.\n"
    nodes = SpanSentenceSplitter(max_words=2, overlap_sentences=0).get_nodes_from_documents(
        [Document(text=text, metadata={"doc": "d.pdf", "doc_hash": "h", "page_starts": "0,11,25"})])
    for node in nodes:
        for offset in range(node.metadata["start"], node.metadata["end"]):
            assert page_of(node.metadata, offset) == page_at((0, 11, 25), offset)
    assert {page_of(n.metadata, n.metadata["start"]) for n in nodes} == {1, 2, 3}
    assert page_of({"doc": "a.txt"}, 5) is None


# -- readers ----------------------------------------------------------------------------------------------------
def test_a_pdf_reads_page_by_page_without_its_running_header_and_footer(tmp_path: Path) -> None:
    doc = read_document(write_report_pdf(tmp_path / "report.pdf"), tmp_path)
    assert len(doc.page_starts) == 4
    assert REPORT_HEADER not in doc.text and "Page 3 of 4" not in doc.text and "of 4" not in doc.text
    start = doc.text.index(GULLROCK_SENTENCE)  # one sentence again: wrapped lines and "com-/pletion" joined
    assert page_at(doc.page_starts, start) == 3
    assert page_at(doc.page_starts, doc.text.index("Harbour dues rose")) == 4
    assert doc.title == "Harbour overview"


def test_a_pdf_title_property_wins_and_blank_pages_are_noted(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    path = write_pages_pdf(tmp_path / "scan-mix.pdf", [["A page with text on it."], []])
    writer = PdfWriter(clone_from=PdfReader(path))
    writer.add_metadata({"/Title": "Mixed scan"})
    writer.write(path)
    doc = read_document(path, tmp_path)
    assert doc.title == "Mixed scan"
    assert doc.notes == ("1 of 2 pages have no text layer (scanned?) and are not searchable: page 2",)


def test_a_scanned_pdf_is_refused_saying_there_is_no_ocr(tmp_path: Path) -> None:
    with pytest.raises(UnusableDocument, match="no text layer .*does not run OCR"):
        read_document(write_pages_pdf(tmp_path / "scan.pdf", [[], []]), tmp_path)


def test_a_word_file_reads_paragraphs_and_table_rows_in_order_with_its_title(tmp_path: Path) -> None:
    doc = read_document(write_keepers_docx(tmp_path / "keepers.docx"), tmp_path)
    assert doc.title == "Keepers of the Marrowby lights"
    assert doc.text == ("Lighthouse keepers\nEach lighthouse of the Marrowby coast has one keeper, listed below.\n"
                        "Lighthouse | Keeper\nGullrock | Brannoc Teague\nSaltmere Point | Ysolde Quarrie\n"
                        "The keepers meet every March in the harbour office.\n")
    assert doc.page_starts == ()


def test_a_broken_word_file_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "broken.docx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UnusableDocument, match="cannot open Word file"):
        read_document(path, tmp_path)


# -- the page viewer --------------------------------------------------------------------------------------------
def test_the_cited_lines_are_boxed_on_the_rendered_page(tmp_path: Path) -> None:
    pdf = write_report_pdf(tmp_path / "report.pdf")
    view = render_page(pdf, 3, GULLROCK_SENTENCE)
    assert view.png.startswith(b"\x89PNG") and view.width >= 600
    assert len(view.boxes) == 3  # the sentence covers three lines of page 3
    for left, top, width, height in view.boxes:
        assert 0.05 < left < 0.2 and 0.0 < top < 0.3 and 0 < width <= 0.9 and 0 < height < 0.05
    assert render_page(pdf, 2, GULLROCK_SENTENCE).boxes == []  # not on page 2: the page, no boxes
    with pytest.raises(ValueError, match="has 4 pages"):
        render_page(pdf, 9, GULLROCK_SENTENCE)


# -- end to end: real models, a real store ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def paged(tmp_path_factory: pytest.TempPathFactory, embed_model: Any) -> Any:
    from assistant.pipeline import Assistant

    tmp = tmp_path_factory.mktemp("paged")
    corpus = tmp / "corpus"
    corpus.mkdir()
    write_report_pdf(corpus / "report.pdf")
    write_keepers_docx(corpus / "keepers.docx")
    bot = Assistant(make_settings(tmp, corpus, mode="fast"), embed_model=embed_model)
    report = bot.index()
    assert sorted(report.added) == ["keepers.docx", "report.pdf"], report
    return bot


def test_a_pdf_answer_cites_its_page_with_an_exact_quote(paged: Any) -> None:
    answer = paged.ask("Who rebuilt the lighthouse on Gullrock Island?")
    assert not answer.abstained and "Varnholm" in answer.answer
    cited = answer.citations[0]
    assert (cited.doc, cited.page) == ("report.pdf", 3)
    assert paged.source_text("report.pdf")[cited.start:cited.end] == cited.quote
    data = json.loads(json.dumps(answer.to_json()))
    assert data["citations"][0]["page"] == 3
    chunks = paged.retriever.chunks({"report.pdf"})
    assert chunks and not any(REPORT_HEADER in c.text or "Page 2 of 4" in c.text for c in chunks)


def test_a_word_table_answer_cites_its_row_without_a_page(paged: Any) -> None:
    from assistant.cli import format_answer

    answer = paged.ask("Who is the keeper of Saltmere Point?")
    assert not answer.abstained and "Ysolde Quarrie" in answer.answer
    cited = answer.citations[0]
    assert cited.doc == "keepers.docx" and cited.page is None
    assert paged.source_text("keepers.docx")[cited.start:cited.end] == cited.quote
    assert "keepers.docx [" in format_answer(answer)


def test_the_sources_panel_names_the_page_and_shows_it_with_the_cited_lines(paged: Any) -> None:
    from assistant.cli import format_answer
    from assistant.ui import sources_html

    answer = paged.ask("Who rebuilt the lighthouse on Gullrock Island?")
    panel = sources_html(answer, paged.source_document, paged.settings.corpus_dir)
    assert "report.pdf, p. 3" in panel and "Show page 3" in panel
    assert panel.count('class="cite-highlight"') == 3 and "data:image/png;base64," in panel
    assert 'class="src-download"' in panel and "report.pdf" in panel
    assert "report.pdf, p. 3 [" in format_answer(answer)
    assert 'class="src-download"' not in sources_html(answer, paged.source_document, None)  # nothing served
