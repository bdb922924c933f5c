"""A PDF's text layer as one citable text that remembers where each page begins.

Each page's text (pypdf, which refuses decompression bombs) is cleaned the way a reader sees the page:
- running headers, footers and page numbers are left out: a first or last line of a page that repeats (digits
  aside) on at least half of the pages, or a bare page number ("12", "Page 3 of 40", "- 7 -") at a page's edge;
- a word hyphenated at a line end is joined ("exam-" + "ple" -> "example") and the lines of one paragraph are
  joined with a space, so a sentence wrapped over several lines is one sentence for chunking, search and citation;
  a line clearly shorter than the page's full lines ends its paragraph;
- pages are separated by a blank line, and `page_starts[i]` is the offset where page i+1 begins.

The cleaned text is the document's text: every citation span indexes into it exactly. The source viewer finds a
quote on the rendered page by its letters and digits (assistant/page_view.py), so the cleaning never has to be
undone.

Example:
    >>> reflow(["A sentence that wraps over a line end and a hyph-", "enated word.", "Short heading"])
    'A sentence that wraps over a line end and a hyphenated word.\\nShort heading'
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

EDGE_LINES = 2  # lines at the top and at the bottom of a page that may be running headers or footers
MIN_PAGES_FOR_RUNNING_LINES = 3  # with fewer pages a repeated line is as likely content as furniture
SHORT_LINE = 0.8  # a line shorter than this share of the page's full line length ends its paragraph
_PAGE_NUMBER = re.compile(r"^(?:page\s+)?[-–—(\[]?\s*\d{1,4}\s*[-–—)\]]?(?:\s*(?:of|/)\s*\d{1,4})?$", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^(?:[•▪◦‣*-]\s|\(?\d{1,3}[.)]\s|\(?[a-z][.)]\s)")
_SENTENCE_END = (".", "!", "?", ":", ";", '"', "”", "’", ")")


class PdfUnreadable(Exception):
    """The PDF cannot be read or has no text layer; the message says which."""


@dataclass(frozen=True)
class PdfText:
    text: str
    page_starts: tuple[int, ...]  # where each page begins in `text`, one per page of the file
    notes: tuple[str, ...] = ()
    title: str | None = None  # the document information's title, when the file sets one


def pdf_text(data: bytes) -> PdfText:
    """The cleaned text of a PDF's pages with their offsets; `PdfUnreadable` when there is none to cite."""
    pages, title = page_lines(data)
    running = running_lines(pages)
    bodies = [reflow(drop_furniture(lines, running)) for lines in pages]
    starts, offset = [], 0
    for body in bodies:
        starts.append(offset)
        offset += len(body) + 2
    text = "\n\n".join(bodies)
    if not text.strip():
        raise PdfUnreadable("PDF has no text layer (a scanned image?): skipped, the assistant does not run OCR")
    empty = [str(number) for number, lines in enumerate(pages, start=1) if not any(line.strip() for line in lines)]
    notes = ()
    if empty:
        shown = ", ".join(empty[:10]) + (" …" if len(empty) > 10 else "")
        notes = (f"{len(empty)} of {len(pages)} pages have no text layer (scanned?) and are not searchable: "
                 f"page {shown}",)
    return PdfText(text=text + "\n", page_starts=tuple(starts), notes=notes, title=title)


def page_lines(data: bytes) -> tuple[list[list[str]], str | None]:
    """Each page's text lines as pypdf extracts them (whitespace collapsed), and the file's title if it has one."""
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        texts = [page.extract_text() or "" for page in reader.pages]
        title = " ".join(str((reader.metadata or {}).get("/Title") or "").split()) or None
    except LimitReachedError as exc:  # a decompression bomb, or a stream past pypdf's limits
        raise PdfUnreadable(f"PDF refused: a stream decompresses past the safety limit ({exc})") from exc
    except (PyPdfError, ValueError, KeyError, IndexError, TypeError, AttributeError, OSError, RecursionError) as exc:
        raise PdfUnreadable(f"cannot parse PDF: {type(exc).__name__}: {exc}") from exc
    return [[" ".join(line.split()) for line in text.splitlines() if line.strip()] for text in texts], title


def _edge_key(line: str) -> str:
    """A line as running furniture repeats it: case and digits aside ("Page 3 of 9" ~ "Page 4 of 9")."""
    return re.sub(r"\d+", "#", line.lower())


def running_lines(pages: Sequence[Sequence[str]]) -> set[str]:
    """Keys of the edge lines that run through the document: on at least half of the pages (and at least three),
    either the same line, or the same words with a number that follows the page ("Page 3 of 9", "Report - 12").
    Edge lines that differ only in unrelated numbers ("Total: 40", "Total: 75") are content."""
    if len(pages) < MIN_PAGES_FOR_RUNNING_LINES:
        return set()
    seen: dict[str, list[tuple[int, tuple[int, ...]]]] = {}  # key -> (page, the line's first numbers) per page
    for page, lines in enumerate(pages, start=1):
        for line in {*lines[:EDGE_LINES], *lines[-EDGE_LINES:]}:
            numbers = tuple(int(n) for n in re.findall(r"\d+", line)[:4])
            seen.setdefault(_edge_key(line), []).append((page, numbers))
    needed = max(MIN_PAGES_FOR_RUNNING_LINES, len(pages) / 2)

    def runs(found: list[tuple[int, tuple[int, ...]]]) -> bool:  # each number: fixed, or the page plus a fixed offset
        return all(len({numbers[j] for _, numbers in found}) == 1
                   or len({numbers[j] - page for page, numbers in found}) == 1 for j in range(len(found[0][1])))

    return {key for key, found in seen.items() if len(found) >= needed and runs(found)}


def drop_furniture(lines: Sequence[str], running: set[str]) -> list[str]:
    """The page's lines without running headers/footers and page numbers at its top or bottom."""
    def furniture(line: str) -> bool:
        return _edge_key(line) in running or bool(_PAGE_NUMBER.match(line))

    kept = list(lines)
    for _ in range(EDGE_LINES):
        if kept and furniture(kept[0]):
            kept.pop(0)
        if kept and furniture(kept[-1]):
            kept.pop()
    return kept


def reflow(lines: Sequence[str]) -> str:
    """The page's lines as paragraphs, one per line: wrapped lines joined, line-end hyphens joined."""
    lines = [line for line in lines if line]
    if not lines:
        return ""
    lengths = sorted(len(line) for line in lines)
    # A full line's length: the longest, or on a longer page the 90th percentile (one stray long line aside).
    full = lengths[-1] if len(lengths) < 10 else lengths[int(0.9 * (len(lengths) - 1))]
    out = lines[0]
    for previous, line in zip(lines, lines[1:], strict=False):
        ends = (len(previous) < SHORT_LINE * full and previous.endswith(_SENTENCE_END)) or len(previous) < 0.5 * full
        if ends or _LIST_ITEM.match(line):
            out += "\n" + line
        elif len(previous) > 1 and previous.endswith("-") and previous[-2].isalpha() and line[:1].islower():
            out = out[:-1] + line
        else:
            out += " " + line
    return out
