"""Uploads into the corpus folder: names made safe, sizes bounded, never written outside the folder, never
overwriting; and a removed document's file moved to the trash, not deleted.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import unicodedata
import uuid
from pathlib import Path

from index.indexer import file_sha256

# What the upload box accepts: the formats the indexer reads (index.readers.SUPPORTED_SUFFIXES).
UPLOAD_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_NAME_CHARS = 100


class UploadError(ValueError):
    """An uploaded file was refused; the message says why in terms the user can act on."""


def safe_upload_name(name: str) -> str:
    """A file name that is safe to create inside the corpus folder, or `UploadError`.

    Any directory part (either slash) is dropped, so `../../evil.txt` becomes `evil.txt`; characters other than
    letters, digits, `-`, `_` and `.` become `_`; a leading dot is removed (hidden files are not indexed); the
    extension must be one the indexer reads.
    """
    base = unicodedata.normalize("NFKC", re.split(r"[\\/]", name or "")[-1]).strip().lstrip(".")
    stem, suffix = os.path.splitext(base)
    suffix = suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise UploadError(f"{base or 'file'}: unsupported file type {suffix or '(none)'}; "
                          f"upload {', '.join(UPLOAD_SUFFIXES)}")
    stem = re.sub(r"[^\w.\-]+", "_", stem, flags=re.UNICODE)
    stem = re.sub(r"_{2,}", "_", stem).strip("._-")[:MAX_NAME_CHARS] or "document"
    return stem + suffix


def check_upload_size(path: Path, max_bytes: int = MAX_UPLOAD_BYTES) -> int:
    """The file's size in bytes, or `UploadError` when it is empty or over the limit."""
    size = path.stat().st_size
    if size == 0:
        raise UploadError(f"{path.name}: the file is empty")
    if size > max_bytes:
        raise UploadError(f"{path.name}: {size / 2**20:.1f} MB is over the {max_bytes / 2**20:.0f} MB upload limit")
    return size


def inside_folder(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _same_content(digest: str, corpus_dir: Path) -> str | None:
    """The name of a corpus file with these exact bytes, if any (uploading it again would add nothing)."""
    for existing in sorted(corpus_dir.iterdir()):
        if existing.is_file() and not existing.name.startswith(".") and file_sha256(existing) == digest:
            return existing.name
    return None


def _link_unique(temp: Path, corpus_dir: Path, name: str) -> Path:
    """Give the staged file its final name; if taken, `name-2.txt`, `name-3.txt`... (never overwrites)."""
    stem, suffix = os.path.splitext(name)
    for n in range(1, 1000):
        target = corpus_dir / (name if n == 1 else f"{stem}-{n}{suffix}")
        if not inside_folder(target, corpus_dir):
            raise UploadError(f"{name}: refusing to write outside the corpus folder")
        try:
            os.link(temp, target)  # atomic, and fails rather than replacing an existing file
            return target
        except FileExistsError:
            continue
    raise UploadError(f"{name}: too many files with this name")


def save_upload(source: Path, original_name: str, corpus_dir: Path, max_bytes: int = MAX_UPLOAD_BYTES,
                max_chunks: int | None = None, chunk_words: int = 180) -> tuple[Path, str, int]:
    """Copy one uploaded file into the corpus folder; returns (saved path, note for the user, the passages it will
    make, about).

    Checks, in order: extension, size, readable content (the indexer's own reader, so a binary file named
    `.txt` or a PDF without text is refused now rather than silently skipped later), the indexing budget
    (`max_chunks` passages of `chunk_words` words: what this upload may still cost), and duplicates. The file
    is staged under a hidden name inside the corpus folder, then hard-linked to its final name, so a half-written
    file is never indexed and an existing file is never replaced.
    """
    from index.readers import UnusableDocument, read_document

    name = safe_upload_name(original_name)
    check_upload_size(source, max_bytes)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    temp = corpus_dir / f".upload-{uuid.uuid4().hex}{Path(name).suffix}"
    try:
        temp.write_bytes(source.read_bytes())
        try:
            text = read_document(temp, corpus_dir).text
        except UnusableDocument as exc:
            raise UploadError(f"{name}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001  (a malformed file may break its parser any way)
            raise UploadError(f"{name}: could not be read ({type(exc).__name__}: {exc})") from exc
        chunks = max(1, len(text.split()) // max(1, chunk_words) + 1)
        if max_chunks is not None and chunks > max_chunks:
            raise UploadError(f"{name}: about {chunks:,} passages to index, over what one upload may add "
                              f"({max_chunks:,} left of the upload budget, setting max_upload_chunks); add it "
                              "from the command line (`assistant index PATH`) or split it")
        duplicate = _same_content(file_sha256(temp), corpus_dir)
        if duplicate is not None:
            raise UploadError(f"{name}: the corpus already has this exact file as {duplicate}")
        target = _link_unique(temp, corpus_dir, name)
    finally:
        temp.unlink(missing_ok=True)
    note = f"saved as {target.name} (a different {name} already exists)" if target.name != name else ""
    return target, note, chunks


def remove_document_file(doc: str, corpus_dir: Path, trash_dir: Path) -> Path:
    """Move a document's file from the corpus folder into `trash_dir/<time>/` (only from there: anything resolving
    outside is refused); returns where it went, from where it can be moved back."""
    if not doc:
        raise UploadError("choose a document to remove")
    target = corpus_dir / doc
    if not inside_folder(target, corpus_dir) or target.resolve() == corpus_dir.resolve():
        raise UploadError(f"{doc}: not a file in the corpus folder")
    if not target.is_file():
        raise UploadError(f"{doc}: no such file in the corpus folder (already removed?)")
    kept = trash_dir / time.strftime("%Y%m%d-%H%M%S") / doc
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(target), str(kept))
    return kept


