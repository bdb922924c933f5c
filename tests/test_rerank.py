"""The optional cross-encoder reranker: loaded from a path, and its scores decide the passage order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assistant.rerank import RerankerError, load_cross_encoder
from tests.conftest import make_settings, sibling


class KeywordCrossEncoder:
    """Stands in for a cross-encoder: a high logit for passages that contain a keyword."""

    def __init__(self, keyword: str) -> None:
        self.keyword = keyword
        self.calls = 0

    def predict(self, pairs: list[tuple[str, str]], **_: Any) -> list[float]:
        self.calls += 1
        return [8.0 if self.keyword in text else -8.0 for _, text in pairs]


def test_cross_encoder_scores_decide_the_passage_order(seed_assistant) -> None:  # noqa: ANN001
    question = "Where was Geneva II held?"
    plain = seed_assistant.retrieve(question)
    assert len(plain) > 1
    keyword = plain[-1].text[:40]  # the passage ranked last without the cross-encoder
    assert keyword not in plain[0].text
    fake = KeywordCrossEncoder(keyword)
    bot = sibling(seed_assistant, cross_encoder=fake)
    reranked = bot.retrieve(question)
    assert fake.calls == 1
    assert keyword in reranked[0].text and reranked[0].cross == 8.0


def test_a_cross_encoder_folder_loads_and_scores(tmp_path: Path, embed_model: Any) -> None:
    from sentence_transformers import CrossEncoder

    from assistant.rerank import cross_scores
    from assistant.retrieval import Passage
    from index.embeddings import resolve_embed_model

    # A cross-encoder built from the packaged MiniLM (untrained head): enough to prove loading by path works.
    folder = tmp_path / "cross-encoder"
    CrossEncoder(resolve_embed_model("packaged:all-MiniLM-L6-v2"), num_labels=1, device="cpu").save(str(folder))
    model = load_cross_encoder(str(folder))
    passages = [Passage(chunk_id=str(i), doc="d", start=0, end=5, text=t) for i, t in enumerate(["Montreux", "Paris"])]
    scores = cross_scores(model, "Where was Geneva II held?", passages)
    assert len(scores) == 2 and all(isinstance(s, float) for s in scores)


def test_a_missing_cross_encoder_is_a_clear_error(tmp_path: Path) -> None:
    from assistant.pipeline import Assistant

    bot = Assistant(make_settings(tmp_path, reranker=str(tmp_path / "no-such-model")))
    with pytest.raises(RerankerError, match="cannot load the cross-encoder reranker"):
        _ = bot.cross_encoder


def test_every_passage_feature_has_a_fitted_weight() -> None:
    from assistant.evidence import RERANK_WEIGHTS, passage_features
    from assistant.retrieval import Passage
    from assistant.text import TermStats, content_terms

    text = "Kerry met Lavrov in Paris. They spoke about Iran."
    passage = Passage(chunk_id="c", doc="d", start=0, end=len(text), text=text, title="Kerry in Paris", dense=0.5,
                      lexical=3.0, ranks={"dense": 2})
    sentences = [(0, 26, 0.6, 0.5, 0.55, False), (27, len(text), 0.4, 0.2, 0.3, False)]
    stats = TermStats([text, "Another text about Geneva."])
    features = passage_features(passage, sentences, content_terms("Who met Lavrov in Paris?"), stats, 6.0)
    assert set(features) == set(RERANK_WEIGHTS)
    assert features["dense_rank"] == 0.5 and features["bm25_rank"] == 0.01 and features["bm25"] == 0.5
    assert 0.0 < features["title"] <= 1.0 and features["best"] == 0.55


def test_the_ranking_model_s_cosines_move_the_passage_it_prefers_first() -> None:
    """Two passages alike in every other respect: the one the ranking model finds closer to the question ranks
    first, and its features carry a weight each; without the ranking model's question vector nothing changes."""
    import numpy as np

    from assistant.evidence import RANKING_MODEL_WEIGHTS, EvidenceRanker
    from assistant.retrieval import Passage
    from assistant.text import TermStats

    text = "The talks opened in January."
    axes = np.eye(4, dtype=np.float32)

    def passage(doc: str, axis: int) -> Passage:
        return Passage(chunk_id=doc, doc=doc, start=0, end=len(text), text=text, dense=0.5, lexical=2.0,
                       ranks={"dense": 1, "bm25": 1}, sentences=[(0, len(text))], ranking_vector=axes[axis],
                       ranking_sentence_vectors=axes[axis:axis + 1])

    stats = TermStats([text])
    question = "When did the talks open?"
    ranker = EvidenceRanker()
    assert [p.doc for p in ranker.rank(question, None, [passage("a", 0), passage("b", 1)], stats).passages] == \
        ["a", "b"]
    ranked = ranker.rank(question, None, [passage("a", 0), passage("b", 1)], stats, ranking_vector=axes[1])
    assert [p.doc for p in ranked.passages] == ["b", "a"]
    assert ranked.sentences[0].doc == "b"
    assert RANKING_MODEL_WEIGHTS["ranking_dense"] > 0 and RANKING_MODEL_WEIGHTS["ranking_best"] > 0


def test_the_ranking_model_orders_passages_but_leaves_sentence_scores_as_they_were() -> None:
    """What a passage lends its sentences is its score by the default features: the ranking model's larger fitted
    weights would otherwise let a passage outvote its sentences (the Paris sentence for "Where was Geneva II
    held?"), and which sentences the LLM reads would move with a model meant only to order passages."""
    import numpy as np

    from assistant.evidence import EvidenceRanker
    from assistant.retrieval import Passage
    from assistant.text import TermStats

    texts = ["Delegates met in Paris on Monday.", "The Geneva II talks begin in Montreux next month."]
    axes = np.eye(4, dtype=np.float32)

    def passage(i: int) -> Passage:
        return Passage(chunk_id=str(i), doc=str(i), start=0, end=len(texts[i]), text=texts[i], dense=0.3 + 0.2 * i,
                       lexical=1.0 + i, ranks={"dense": 2 - i, "bm25": 2 - i}, sentences=[(0, len(texts[i]))],
                       sentence_vectors=axes[i:i + 1], ranking_vector=axes[i],
                       ranking_sentence_vectors=axes[i:i + 1])

    stats = TermStats(texts)
    question = "Where were the Geneva II talks held?"
    ranker = EvidenceRanker()
    without = ranker.rank(question, axes[1], [passage(0), passage(1)], stats)
    with_model = ranker.rank(question, axes[1], [passage(0), passage(1)], stats, ranking_vector=axes[0])
    assert [p.doc for p in without.passages] == ["1", "0"]
    assert [p.doc for p in with_model.passages] == ["0", "1"]  # the ranking model prefers the Paris passage
    assert {s.doc: round(s.score, 9) for s in with_model.sentences} == \
        {s.doc: round(s.score, 9) for s in without.sentences}
    assert with_model.sentences[0].doc == "1"  # the Montreux sentence is still the best evidence


def test_with_a_ranking_model_abstention_reads_its_cosines_with_the_cited_sentence_and_passage() -> None:
    """The evidence score no longer carries the ranking model's judgement, so the abstention signals do: its cosine
    with the cited sentence (not the passage's best), with its best clause, and with that sentence's passage; none
    without the model."""
    import numpy as np

    from assistant.abstention import answer_signals
    from assistant.evidence import EvidenceRanker
    from assistant.retrieval import Passage
    from assistant.text import TermStats

    text = "The talks opened in January. They were held in Montreux."
    axes = np.eye(4, dtype=np.float32)
    ranking_sentences = np.stack([axes[0], 0.6 * axes[1] + 0.8 * axes[2]])
    passage = Passage(chunk_id="c", doc="d", start=100, end=100 + len(text), text=text, dense=0.5, lexical=2.0,
                      ranks={"dense": 1, "bm25": 1}, sentences=[(0, 28), (29, len(text))],
                      sentence_vectors=np.stack([axes[3], axes[1]]), ranking_vector=0.8 * axes[1] + 0.6 * axes[3],
                      ranking_sentence_vectors=ranking_sentences)
    stats = TermStats([text])
    question = "Where were the talks held?"
    ranked = EvidenceRanker().rank(question, axes[1], [passage], stats, ranking_vector=axes[1])
    cited = [ev for ev in ranked.sentences if "Montreux" in ev.text]
    signals = answer_signals(question, ranked, ranked.sentences, cited)
    assert signals["ranking_passage"] == pytest.approx(0.8) and signals["ranking_cited"] == pytest.approx(0.6)
    assert signals["ranking_clause"] == pytest.approx(0.6)  # no clause measured: the sentence's own cosine
    assert answer_signals(question, ranked, ranked.sentences, cited, ranking_clause=0.9)["ranking_clause"] == 0.9
    plain = EvidenceRanker().rank(question, axes[1], [passage], stats)
    assert "ranking_cited" not in answer_signals(question, plain, plain.sentences, plain.sentences[:1])
