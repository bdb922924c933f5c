"""A cited PDF page as an image, with the boxes of the cited words, for the source viewer.

The citation's quote is a span of the document's cleaned text (index/pdf_text.py: furniture left out, wrapped
lines and hyphenated words joined), so it is found back on the page by its letters and digits alone, which both
texts share; pdfium (pypdfium2, permissive licence) renders the page and gives each character's box. When the quote
cannot be found on the page (a page whose text layer pdfium reads differently), or the page is rotated, the page is
shown without boxes.

Example:
    >>> view = render_page(Path("report.pdf"), 3, "the cited sentence")  # doctest: +SKIP
    >>> view.boxes  # doctest: +SKIP
    [(0.118, 0.203, 0.61, 0.019)]
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

MAX_IMAGE_WIDTH = 1000  # pixels: sharp in a side panel, small enough to send inline
_PDFIUM_LOCK = threading.Lock()  # pdfium is not thread-safe


@dataclass(frozen=True)
class PageView:
    png: bytes
    width: int  # pixels
    height: int
    boxes: list[tuple[float, float, float, float]]  # (left, top, width, height) as fractions of the page


def render_page(path: Path, page: int, quote: str) -> PageView:
    """Page `page` (1-based) of the PDF at `path` as a PNG, with the line boxes of `quote` on it; ValueError for a
    page the file does not have, OSError/pdfium errors for a file that cannot be opened."""
    stat = path.stat()
    return _render(str(path), stat.st_size, stat.st_mtime_ns, page, quote)


@lru_cache(maxsize=32)
def _render(path: str, _size: int, _mtime: int, page: int, quote: str) -> PageView:
    import pypdfium2 as pdfium

    with _PDFIUM_LOCK:
        pdf = pdfium.PdfDocument(path)
        try:
            if not 1 <= page <= len(pdf):
                raise ValueError(f"{Path(path).name} has {len(pdf)} pages, not a page {page}")
            pdf_page = pdf[page - 1]
            left, bottom, right, top = pdf_page.get_cropbox()
            width, height = right - left, top - bottom
            scale = min(2.0, MAX_IMAGE_WIDTH / max(width, 1.0))
            image = pdf_page.render(scale=scale).to_pil()
            # A rotated page's character boxes are in its unrotated space: it is shown without boxes.
            found = quote_boxes(pdf_page.get_textpage(), quote) if pdf_page.get_rotation() == 0 else []
            boxes = [((x0 - left) / width, (top - y1) / height, (x1 - x0) / width, (y1 - y0) / height)
                     for x0, y0, x1, y1 in found]
        finally:
            pdf.close()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return PageView(png=buffer.getvalue(), width=image.width, height=image.height, boxes=boxes)


def _key(text: str) -> list[tuple[int, str]]:
    """The letters and digits of `text`, lower-cased, with their positions: what two extractions of one page
    agree on."""
    return [(i, ch.lower()) for i, ch in enumerate(text) if ch.isalnum()]


def find_quote(page_text: str, quote: str) -> tuple[int, int] | None:
    """The (first, last) character positions in `page_text` of `quote`, compared by letters and digits only; when
    the whole quote is not on the page (it runs onto the next one), its longest found opening of 20+ letters.

    >>> find_quote("Alpha beta-\\ngamma delta.", "beta gamma")
    (6, 16)
    """
    page = _key(page_text)
    letters = "".join(ch for _, ch in page)
    wanted = "".join(ch for _, ch in _key(quote))
    length = len(wanted)
    while length >= min(20, len(wanted)) and length > 0:
        found = letters.find(wanted[:length])
        if found >= 0:
            return page[found][0], page[found + length - 1][0]
        length = length * 3 // 4
    return None


def quote_boxes(text_page: object, quote: str) -> list[tuple[float, float, float, float]]:
    """Boxes (left, bottom, right, top, in PDF points) of the lines the quote covers on a pdfium text page."""
    import pypdfium2.raw as pdfium_c

    count = text_page.count_chars()  # type: ignore[attr-defined]
    chars = "".join(chr(pdfium_c.FPDFText_GetUnicode(text_page.raw, i) or 32) for i in range(count))  # type: ignore[attr-defined]
    span = find_quote(chars, quote)
    if span is None:
        return []
    lines: list[list[float]] = []
    for i in range(span[0], span[1] + 1):
        if chars[i].isspace():
            continue
        x0, y0, x1, y1 = text_page.get_charbox(i)  # type: ignore[attr-defined]
        if x1 <= x0 or y1 <= y0:
            continue
        line = lines[-1] if lines else None
        if line is not None and y0 < line[3] and y1 > line[1] and x0 >= line[0] - 1:  # same line, further right
            line[:] = [min(line[0], x0), min(line[1], y0), max(line[2], x1), max(line[3], y1)]
        else:
            lines.append([x0, y0, x1, y1])
    return [(x0, y0, x1, y1) for x0, y0, x1, y1 in lines]
