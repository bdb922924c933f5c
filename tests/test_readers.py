"""Readers: the exact text citations index into, metadata, and clear refusals for unusable files."""

from pathlib import Path

import pytest

from index.readers import UnusableDocument, document_name, read_document
from tests.conftest import SEED_DOC_A, SEED_DOC_B, SEEDS
from tests.pdf_maker import write_pdf


def test_seed_articles_keep_their_exact_text_title_and_date() -> None:
    a = read_document(SEEDS / SEED_DOC_A, SEEDS)
    b = read_document(SEEDS / SEED_DOC_B, SEEDS)
    assert a.text == (SEEDS / SEED_DOC_A).read_bytes().decode("utf-8")
    assert (a.name, a.title, a.date) == (SEED_DOC_A, "Joint call by US and Russia for ceasefire in Syria", "2014-01-13")
    assert (b.title, b.date) == ("Russia and America discuss local ceasefires in Syria", "2014-02-03")


def test_windows_newlines_are_kept_so_spans_stay_exact(tmp_path: Path) -> None:
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"Title line here\r\n\r\nThe talks are in Montreux.\r\n")
    assert read_document(path, tmp_path).text == "Title line here\r\n\r\nThe talks are in Montreux.\r\n"


def test_markdown_title_and_html_text(tmp_path: Path) -> None:
    md = tmp_path / "notes.md"
    md.write_text("# Meeting notes\n\nKerry met Lavrov.\n", encoding="utf-8")
    assert read_document(md, tmp_path).title == "Meeting notes"
    html = tmp_path / "page.html"
    html.write_text("<html><head><title>Page T</title><script>var x=1;</script></head>"
                    "<body><h1>Heading</h1><p>The talks are in <b>Montreux</b>.</p></body></html>", encoding="utf-8")
    doc = read_document(html, tmp_path)
    assert doc.title == "Page T"
    assert "The talks are in \nMontreux\n." in doc.text or "Montreux" in doc.text
    assert "var x" not in doc.text


def test_pdf_text_layer_is_read(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "memo.pdf", ["The summit was held in Montreux.", "It began on January 22."])
    doc = read_document(pdf, tmp_path)
    assert "Montreux" in doc.text and "January 22" in doc.text


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("empty.txt", b"", "file is empty"),
    ("blank.txt", b"   \n\n  ", "file is empty"),
    ("binary.txt", bytes(range(256)) * 8, "binary"),
    ("data.csv", b"a,b\n1,2\n", "unsupported file type .csv"),
])
def test_unusable_files_are_refused_with_the_reason(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnusableDocument, match=reason):
        read_document(path, tmp_path)


def test_pdf_without_text_layer_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnusableDocument, match="no text layer"):
        read_document(write_pdf(tmp_path / "scan.pdf", []), tmp_path)


def test_non_utf8_text_is_decoded_and_noted(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("Caf\u00e9 talks in Montreux \u2013 agreed.".encode("cp1252"))
    doc = read_document(path, tmp_path)
    assert doc.text == "Caf\u00e9 talks in Montreux \u2013 agreed."
    assert any("not UTF-8" in note for note in doc.notes)


def test_a_document_is_named_by_its_path_under_the_folder_and_never_by_a_look_alike_folder() -> None:
    assert document_name("/corpus/notes/a.txt", "/corpus") == "notes/a.txt"
    assert document_name("/corpus/notes/a.txt", "/corpus/") == "notes/a.txt"
    # "/corpus-old" starts with "/corpus" but is not inside it: the file is named by its own name.
    assert document_name("/corpus-old/a.txt", "/corpus") == "a.txt"
    assert document_name("/elsewhere/b.md", "/corpus") == "b.md"
