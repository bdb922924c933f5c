"""Embedding a group in length order: rows come back in the order given, and a repeated text is embedded once."""

from __future__ import annotations

import numpy as np

from index.embeddings import embed_in_length_order


class CountingModel:
    """A stand-in embedding model: a text's vector is its length and first letter's code; it records what it saw."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def get_text_embedding_batch(self, texts: list[str]) -> list[list[float]]:
        self.seen.extend(texts)
        return [[float(len(t)), float(ord(t[0]))] for t in texts]


def test_rows_follow_the_given_order_and_repeated_texts_are_embedded_once() -> None:
    model = CountingModel()
    texts = ["a longer sentence", "b", "a longer sentence", "cc"]
    vectors = embed_in_length_order(model, texts)
    assert vectors.dtype == np.float32
    assert vectors.tolist() == [[17.0, 97.0], [1.0, 98.0], [17.0, 97.0], [2.0, 99.0]]
    assert model.seen == ["b", "cc", "a longer sentence"]  # shortest first, each text once


def test_an_empty_group_gives_no_rows() -> None:
    assert len(embed_in_length_order(CountingModel(), [])) == 0
