"""Benchmark helpers whose figures the docs quote: the scale corpus's size, the sorting of answer misses."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import bench.answer_misses as misses
import bench.prompt_size as prompt_size
from assistant.evidence import PASSAGE_WEIGHT, SEMANTIC_WEIGHT, Evidence
from bench.requantize_gguf import parse_map
from bench.scale import write_corpus
from index.chunking import chunk_text

PARAGRAPHS = [
    "The bridge opened in 1932. Its main span is 503 metres long. " * 30,  # long enough for several chunks
    "The festival takes place every July in Lindau.",
    "The museum holds more than 4,000 paintings. It is closed on Mondays.",
]


def test_a_scale_corpus_holds_the_chunks_asked_for_as_the_indexer_cuts_them(tmp_path: Path) -> None:
    files, chunks = write_corpus(tmp_path, PARAGRAPHS, 20, chunk_words=60, overlap_sentences=1)
    written = sorted(tmp_path.rglob("*.txt"))
    assert len(written) == files
    counted = sum(len(chunk_text(path.read_text(encoding="utf-8"), 60, 1)) for path in written)
    assert counted == chunks >= 20
    # The last file written is what reached the size: one file fewer would not hold it.
    last = len(chunk_text(written[-1].read_text(encoding="utf-8"), 60, 1))
    assert chunks - last < 20
    # Past the texts, copies under other names, each opening with its own line (not skipped as duplicates).
    assert any(path.parent.name == "c01" for path in written)
    copies = [p.read_text(encoding="utf-8") for p in written if p.parent.name == "c01"]
    assert all(text.startswith("Copy 1 of text") for text in copies)


ITEM = {"question": "How long is the main span?", "standalone_question": "How long is the main span?",
        "expected": ["503 metres"], "cause": "answer miss", "answerable": True, "correct": False, "abstained": False}


@pytest.mark.parametrize(("cited", "prompt", "ranked", "expected"), [
    ("Its main span is 503 metres long.", [], [], ("wrong words", None)),
    ("The bridge opened in 1932.", ["The bridge opened in 1932.", "Its main span is 503 metres long."], [],
     ("reader's choice", None)),
    ("The bridge opened in 1932.", ["The bridge opened in 1932."],
     ["The bridge opened in 1932.", "It took six years.", "Its main span is 503 metres long."], ("evidence miss", 3)),
    ("The bridge opened in 1932.", ["The bridge opened in 1932."], ["The bridge opened in 1932."],
     ("evidence miss", None)),
])
def test_each_wrong_answer_is_put_under_the_stage_that_lost_it(monkeypatch: pytest.MonkeyPatch, cited: str,
                                                                prompt: list[str], ranked: list[str],
                                                                expected: tuple[str, Any]) -> None:
    monkeypatch.setattr(misses, "prompt_of", lambda bot, question: (prompt, ranked))
    item = {**ITEM, "citations": [{"quote": cited}]}
    assert misses.cause(item, bot=None) == expected  # type: ignore[arg-type]
    assert misses.cause({**item, "cause": "retrieval miss"}, bot=None) == ("retrieval miss", None)  # type: ignore[arg-type]


def test_a_requantisation_map_names_types_or_fails_clearly() -> None:
    import enum

    kinds = enum.Enum("Kinds", ["Q4_K", "Q6_K", "Q8_0"])
    assert parse_map(["Q4_K=Q8_0", "Q6_K=Q8_0"], kinds) == {kinds.Q4_K: kinds.Q8_0, kinds.Q6_K: kinds.Q8_0}
    for bad in ("Q4_K", "Q4K=Q8_0", "Q4_K=Q9"):
        with pytest.raises(SystemExit, match="SOURCE=TARGET"):
            parse_map([bad], kinds)


def _sentence(text: str, score: float, semantic: float) -> Evidence:
    return Evidence(doc="a.txt", start=0, end=len(text), text=text, score=score, semantic=semantic, lexical=0.0,
                    title="", chunk_id="a-0", passage_rank=0)


def test_a_better_meaning_moves_a_sentence_up_by_its_share_of_the_score() -> None:
    kept = _sentence("The river rose in the night.", score=0.60, semantic=0.50)
    paraphrase = _sentence("The flood ruined 2,000 homes.", score=0.55, semantic=0.20)
    rescored = prompt_size.with_meaning([kept, paraphrase], [0.50, 0.80])
    assert [ev.text for ev in rescored] == [paraphrase.text, kept.text]
    shift = (1 - PASSAGE_WEIGHT) * SEMANTIC_WEIGHT * (0.80 - 0.20)
    assert rescored[0].score == pytest.approx(0.55 + shift) and rescored[0].semantic == pytest.approx(0.80)
    assert rescored[1].score == pytest.approx(0.60)  # an unchanged meaning leaves the score as it was
    assert paraphrase.score == 0.55  # the ranked originals are not changed
    with pytest.raises(ValueError, match="1 cosines for 2 sentences"):
        prompt_size.with_meaning([kept, paraphrase], [0.5])


def test_a_long_answer_is_found_by_its_span_and_a_short_one_by_its_words() -> None:
    item = SimpleNamespace(answers=["2,000 homes"], gold_spans=(("a.txt", 10, 40),))
    inside = _sentence("The flood ruined 2,000 homes.", score=0.5, semantic=0.5)
    assert prompt_size.holds_gold(item, [inside])
    elsewhere = Evidence(doc="b.txt", start=10, end=40, text="Nothing here.", score=0.5, semantic=0.5, lexical=0.0,
                         title="", chunk_id="b-0", passage_rank=0)
    assert not prompt_size.holds_gold(item, [elsewhere])
    assert not prompt_size.holds_gold(item, [elsewhere], by_span=True)
    assert prompt_size.holds_gold(item, [_sentence("Water everywhere.", 0.5, 0.5)], by_span=True)  # overlaps 10-40
