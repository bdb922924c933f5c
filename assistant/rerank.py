"""An optional cross-encoder reranker, given by path (or name) in the configuration; off by default.

No cross-encoder is packaged for this offline machine (../shared/MODELS.md), so ranking quality comes from the
fitted evidence features (assistant/evidence.py). A user who has one (a sentence-transformers `CrossEncoder`
folder, e.g. ms-marco-MiniLM-L-6-v2 copied onto the machine) sets `reranker = "/path/to/model"`; its score for
each (question, passage) pair then joins the passage score with a weight that lets it decide the order.

Example:
    >>> model = load_cross_encoder("/models/ms-marco-MiniLM-L-6-v2")  # doctest: +SKIP
    >>> cross_scores(model, "Where will the talks take place?", passages)  # doctest: +SKIP
    [7.9, -3.2, ...]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assistant.retrieval import Passage

# Pairs scored per forward pass: all 20 candidates of a question in one batch.
BATCH_SIZE = 32


class RerankerError(RuntimeError):
    """The configured cross-encoder cannot be loaded; the message says what to fix."""


def load_cross_encoder(spec: str) -> Any:
    """The sentence-transformers CrossEncoder at `spec` (a local folder; a hub name works only where the hub can be
    reached, which this offline setup forbids)."""
    from pathlib import Path

    try:
        from sentence_transformers import CrossEncoder

        return CrossEncoder(str(Path(spec).expanduser()) if Path(spec).expanduser().exists() else spec, device="cpu")
    except Exception as error:  # noqa: BLE001 - any loading failure becomes one clear message
        raise RerankerError(f"cannot load the cross-encoder reranker {spec!r}: {error}. Set `reranker` to a local "
                            "sentence-transformers CrossEncoder folder, or unset it (the default).") from error


def cross_scores(model: Any, question: str, passages: Sequence[Passage]) -> list[float]:
    """The cross-encoder's score (a logit) for each (question, passage) pair, in passage order."""
    if not passages:
        return []
    scores = model.predict([(question, p.text) for p in passages], batch_size=BATCH_SIZE, show_progress_bar=False)
    return [float(s) for s in scores]
