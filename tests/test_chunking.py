"""Chunking: every chunk is exactly source[start:end], sentence-aligned, within budget, without boilerplate."""

import random

import pytest

from index.chunking import chunk_text, is_boilerplate, sentence_spans
from index.readers import read_document
from tests.conftest import SEEDS


@pytest.mark.parametrize("name", sorted(p.name for p in SEEDS.glob("*.txt")))
def test_seed_chunks_are_exact_spans_of_the_source(name: str) -> None:
    text = read_document(SEEDS / name, SEEDS).text
    chunks = chunk_text(text, max_words=180, overlap_sentences=1)
    assert len(chunks) >= 2
    for chunk in chunks:
        assert chunk.text == text[chunk.start:chunk.end]
        assert len(chunk.text.split()) <= 180
    covered = "".join(text[c.start:c.end] for c in chunks)
    for sentence_start, sentence_end in sentence_spans(text):
        sentence = text[sentence_start:sentence_end]
        if not is_boilerplate(sentence):
            assert sentence in covered, f"sentence lost by chunking: {sentence!r}"


def test_page_boilerplate_is_left_out_of_chunks() -> None:
    text = read_document(SEEDS / "000_ba464c03508296b8.txt", SEEDS).text
    assert "Leave a comment" in text
    assert all("Leave a comment" not in c.text for c in chunk_text(text))
    other = read_document(SEEDS / "004_e31eb55d49d7f6ac.txt", SEEDS).text
    assert all("Creating new perspectives since 2009" not in c.text for c in chunk_text(other))


def test_sentence_spans_are_exact() -> None:
    text = "Kerry met Lavrov. They spoke in Paris.\n\nMr. Brahimi joined them on Jan. 13. It rained."
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans][:2] == ["Kerry met Lavrov.", "They spoke in Paris."]
    assert all(text[s:e].strip() == text[s:e] for s, e in spans)


def test_an_abbreviation_does_not_end_a_sentence() -> None:
    """A quote cut at "U.S." or "Mr." cites half a sentence and hides the rest from the evidence ranking; a real
    sentence end after an abbreviation-like word still ends it."""
    text = ("It was the third-most watched U.S. broadcast ever. Mr. Brahimi met them in Washington, D.C. at 5 p.m. on "
            "Monday. Its power is felt in cultural circles, i.e. soft power, e.g. films. Wisconsin v. Yoder was "
            "decided in 1972. Kerry met Lavrov.")
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "It was the third-most watched U.S. broadcast ever.",
        "Mr. Brahimi met them in Washington, D.C. at 5 p.m. on Monday.",
        "Its power is felt in cultural circles, i.e. soft power, e.g. films.",
        "Wisconsin v. Yoder was decided in 1972.",
        "Kerry met Lavrov.",
    ]


def test_random_texts_round_trip_exactly() -> None:
    rng = random.Random(7)
    vocabulary = ["Montreux", "talks", "the", "Kerry", "said", "ceasefire", "in", "Syria", "3.5", "U.S."]
    for _ in range(30):
        paragraphs = []
        for _ in range(rng.randint(1, 8)):
            sentences = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 60))) + rng.choice(".?!")
                         for _ in range(rng.randint(1, 6))]
            paragraphs.append(" ".join(sentences))
        text = rng.choice(["\n\n", "\n", "\r\n\r\n"]).join(paragraphs)
        for chunk in chunk_text(text, max_words=40, overlap_sentences=1):
            assert chunk.text == text[chunk.start:chunk.end]
            assert len(chunk.text.split()) <= 40


def test_a_sentence_longer_than_the_budget_is_split_at_words() -> None:
    text = " ".join(f"word{i}" for i in range(500)) + "."
    chunks = chunk_text(text, max_words=100, overlap_sentences=0)
    assert len(chunks) == 5
    assert all(c.text == text[c.start:c.end] for c in chunks)
