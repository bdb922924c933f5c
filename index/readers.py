"""Turn a corpus file into the exact text that citations point into, plus its metadata.

Citations are character spans, so the text returned here is the reference every span is checked against:
plain-text files are decoded byte-exact (no newline translation); HTML, PDF and Word files are reduced to their
visible text (index/pdf_text.py for PDFs; a Word file's paragraphs and table rows in reading order). PDF pages keep
their place: `page_starts` holds the offset in `text` where each page begins, and `page_at` turns a span's start
into its 1-based page. A file the assistant cannot use raises `UnusableDocument` with a reason a user can act on;
it never crashes an index run.

Example:
    >>> from pathlib import Path
    >>> doc = read_document(Path("seeds/000_ba464c03508296b8.txt"), Path("seeds"))  # doctest: +SKIP
    >>> doc.title  # doctest: +SKIP
    'Joint call by US and Russia for ceasefire in Syria'
"""

from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

SUPPORTED_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx"})
MAX_FILE_BYTES = 50 * 1024 * 1024  # larger files are almost always data dumps, not documents to cite

# Only the first lines of a news article or web page carry its title and date.
_HEADER_LINES = 10
_MONTHS = "january february march april may june july august september october november december".split()
_MONTH_RE = "(" + "|".join(m.capitalize() for m in _MONTHS) + r")"
_DATE_PATTERNS = (
    re.compile(_MONTH_RE + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})"),  # February 3, 2014
    re.compile(r"(\d{1,2})(?:st|nd|rd|th)?\s+" + _MONTH_RE + r",?\s+(\d{4})"),  # 13th January, 2014
    re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"),  # 2014-01-13
)


class UnusableDocument(Exception):
    """The file cannot be indexed; the message says why (binary, empty, no text layer...)."""


@dataclass(frozen=True)
class SourceDocument:
    """A document as the assistant cites it: `text` is what every (start, end) span indexes into."""

    name: str  # path relative to the corpus folder, with forward slashes: the `doc` of a citation
    path: Path
    text: str
    content_hash: str  # sha256 of the file's bytes: unchanged bytes never cost a re-embedding
    title: str | None = None
    date: str | None = None  # ISO date when the text states one near the top
    notes: tuple[str, ...] = field(default=())  # non-fatal remarks, e.g. "decoded as cp1252"
    page_starts: tuple[int, ...] = field(default=())  # where each page begins in `text`; empty: no pages
    file_stat: tuple[int, int] | None = None  # the file's size and modification time (ns) when it was hashed


def page_at(page_starts: tuple[int, ...] | list[int], offset: int) -> int | None:
    """The 1-based page holding character `offset`, or None for a document without pages.

    >>> page_at((0, 120, 250), 130)
    2
    """
    return bisect.bisect_right(page_starts, offset) or 1 if page_starts else None


def read_document(path: Path, corpus_root: Path) -> SourceDocument:
    """Read one file into a `SourceDocument`, or raise `UnusableDocument` saying why it cannot be used."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnusableDocument(f"unsupported file type {suffix or '(none)'}; supported: "
                               + ", ".join(sorted(SUPPORTED_SUFFIXES)))
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise UnusableDocument(f"file is {size / 2**20:.0f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit")
        data = path.read_bytes()
    except OSError as exc:
        raise UnusableDocument(f"cannot read file: {exc.strerror or exc}") from exc
    if not data.strip():
        raise UnusableDocument("file is empty")
    notes: list[str] = []
    page_starts: tuple[int, ...] = ()
    title: str | None = None
    if suffix == ".pdf":
        from index.pdf_text import PdfUnreadable, pdf_text

        try:
            pdf = pdf_text(data)
        except PdfUnreadable as exc:
            raise UnusableDocument(str(exc)) from exc
        text, page_starts, title = pdf.text, pdf.page_starts, pdf.title
        notes.extend(pdf.notes)
    elif suffix == ".docx":
        text, title = _docx_text(data)
    else:
        decoded, encoding = _decode(data)
        if encoding != "utf-8":
            notes.append(f"not UTF-8; decoded as {encoding}")
        text = _html_text(decoded) if suffix in (".html", ".htm") else decoded
        if suffix in (".html", ".htm"):
            title = _html_title(decoded)
    if not text.strip():
        raise UnusableDocument("no text found in the document")
    name = document_name(str(path), str(corpus_root))
    header = _header_lines(text)
    if not title:
        title = _guess_title(header, markdown=suffix in (".md", ".markdown"))
    return SourceDocument(name=name, path=path, text=text, content_hash=hashlib.sha256(data).hexdigest(),
                          title=title, date=_find_date(header), notes=tuple(notes), page_starts=page_starts)


def document_name(path: str, root: str) -> str:
    """A document's name, the `doc` of its citations: its path under the folder `root` with forward slashes, or its
    file name when `root` does not hold it."""
    return name_under(path, root) or Path(path).name


def name_under(path: str, root: str) -> str | None:
    """`path` relative to the folder `root` (absolute POSIX path strings), or None when `root` does not hold it.
    Strings, not `Path` objects: a large corpus names every file at each index run."""
    prefix = root.rstrip("/") + "/"
    return path[len(prefix):] if path.startswith(prefix) else None


def _decode(data: bytes) -> tuple[str, str]:
    """Decode text bytes; refuse binary data rather than index garbage."""
    if b"\x00" in data[:8192]:
        raise UnusableDocument("looks like a binary file (NUL bytes), not text")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    text = data.decode("cp1252", errors="replace")
    control = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\t\n\r\f")
    if control > 0.05 * min(len(text), 8192) or text.count("\ufffd") > 0.05 * len(text):
        raise UnusableDocument("looks like a binary file (not decodable as text)")
    return text, "cp1252"


def _html_text(markup: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "head"]):
        tag.decompose()
    text = soup.get_text("\n")
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def _html_title(markup: str) -> str | None:
    match = re.search(r"<title[^>]*>(.*?)</title>", markup, flags=re.IGNORECASE | re.DOTALL)
    return re.sub(r"\s+", " ", match.group(1)).strip() or None if match else None


def _docx_text(data: bytes) -> tuple[str, str | None]:
    """A Word file's paragraphs and tables in reading order, one line each (a table row is one line, its cells
    joined by " | "), and its title: the document property, else the first Title or Heading paragraph."""
    import io
    import zipfile

    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise UnusableDocument(f"cannot open Word file: {type(exc).__name__}: {exc}") from exc
    lines: list[str] = []
    heading: str | None = None
    for element in document.element.body.iterchildren():
        tag = element.tag.rsplit("}", 1)[-1]
        if tag == "p":
            paragraph = Paragraph(element, document)
            line = " ".join(paragraph.text.split())
            style = paragraph.style.name if paragraph.style is not None else ""
            if line and heading is None and style.startswith(("Title", "Heading")):
                heading = line
            lines.append(line)
        elif tag == "tbl":
            for row in Table(element, document).rows:
                cells: list[str] = []
                for cell in row.cells:
                    text = " ".join(cell.text.split())
                    if text and (not cells or cells[-1] != text):  # a merged cell repeats across its grid columns
                        cells.append(text)
                lines.append(" | ".join(cells))
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    title = " ".join((document.core_properties.title or "").split()) or heading
    return (text + "\n" if text else ""), title


def _header_lines(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[:_HEADER_LINES]


def _guess_title(header: list[str], markdown: bool) -> str | None:
    """A headline: a markdown heading, else the longest short line without sentence punctuation near the top."""
    if markdown:
        for line in header:
            if line.startswith("#"):
                return line.lstrip("#").strip() or None
    candidates = [line for line in header
                  if 3 <= len(line.split()) <= 20 and not line.endswith((".", "?", "!", ":", ";", ","))
                  and not any(p.search(line) for p in _DATE_PATTERNS)
                  and not re.search(r"\bsince \d{4}\b", line, flags=re.IGNORECASE)]  # site taglines
    return max(candidates, key=len) if candidates else (header[0][:120] if header else None)


def _find_date(header: list[str]) -> str | None:
    for line in header:
        for pattern in _DATE_PATTERNS:
            match = pattern.search(line)
            if match:
                parsed = _to_iso(match.groups())
                if parsed:
                    return parsed
    return None


def _to_iso(groups: tuple[str, ...]) -> str | None:
    try:
        if groups[0].isdigit() and len(groups[0]) == 4:
            year, month, day = int(groups[0]), int(groups[1]), int(groups[2])
        elif groups[0].isdigit():
            day, month, year = int(groups[0]), _MONTHS.index(groups[1].lower()) + 1, int(groups[2])
        else:
            month, day, year = _MONTHS.index(groups[0].lower()) + 1, int(groups[1]), int(groups[2])
        return date(year, month, day).isoformat()
    except ValueError:
        return None
