"""Write tiny, valid PDF files for tests (no PDF library in the dependencies can write text PDFs)."""

from __future__ import annotations

from pathlib import Path


def write_pdf(path: Path, lines: list[str]) -> Path:
    """A one-page PDF whose text layer holds `lines` (empty list: a page with no text, like a scan)."""
    return write_pages_pdf(path, [lines])


def write_pages_pdf(path: Path, pages: list[list[str]], header: str = "", footer: str = "") -> Path:
    """A PDF of `pages`, each a list of text lines (an empty list: a page with no text layer). `header` is drawn at
    the top and `footer` at the bottom of every page, with "{page}" and "{pages}" filled in ("Page {page} of
    {pages}"): running furniture a reader must leave out."""
    count = len(pages)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(count))
    font = 3 + 2 * count
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids.encode(), count)]
    for number, lines in enumerate(pages, start=1):
        ops: list[str] = []
        if lines:
            if header:
                ops.append(f"BT /F1 9 Tf 72 760 Td ({_escape(header.format(page=number, pages=count))}) Tj ET")
            ops += ["BT", "/F1 11 Tf", "72 720 Td", "14 TL"]
            ops += [f"({_escape(line)}) Tj T*" for line in lines]
            ops.append("ET")
            if footer:
                ops.append(f"BT /F1 9 Tf 280 40 Td ({_escape(footer.format(page=number, pages=count))}) Tj ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                       b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (4 + 2 * (number - 1), font))
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    return _write(path, objects)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def write_bomb_pdf(path: Path, megabytes: int = 100) -> Path:
    """A small PDF whose page content is a Flate stream that inflates to `megabytes` MiB: a decompression bomb."""
    import zlib

    stream = zlib.compress(b"BT /F1 12 Tf 72 720 Td (boom) Tj ET\n" + b" " * (megabytes << 20), 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return _write(path, objects)


def _write(path: Path, objects: list[bytes]) -> Path:
    """The PDF file of `objects` (numbered from 1, the first the catalog), with its cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path
