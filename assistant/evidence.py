"""Score every sentence of the candidate passages, rerank the passages by their evidence, pick the best sentences.

Factoid questions are answered by one sentence, so a passage is as good as its best sentence. Each sentence gets
a score mixing meaning (cosine between the question and the sentence vector stored at index time) and the
IDF-weighted share of the question's words it contains (names and numbers matter more than meaning here); a
passage's score is a fitted weighted sum of its best sentence, its best two-sentence window (for answers that
straddle a boundary), its overlap with the question as a whole and in its title, and its dense and BM25 scores and
ranks. On SQuAD-even (1,023 paragraphs, all 5,397 questions) this lifts recall@1 of the gold paragraph from 0.72
(rank fusion alone) to 0.836 (recall@5 0.966) at no model cost, since the sentence vectors were computed when indexing.

The LLM then reads only the few best sentences, numbered, so an answer costs seconds, and each `[n]` mark maps to
an exact span. Overlapping chunks yield the same sentence twice; it is kept once.

Example:
    >>> ranked = EvidenceRanker().rank(question, query_vector, passages, term_stats)  # doctest: +SKIP
    >>> ranked.sentences[0].text  # doctest: +SKIP
    'Kerry and Lavrov called for the ceasefire to start ahead of the Geneva II talks due to begin in Montreux...'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from assistant.retrieval import Passage
from assistant.text import TermStats, content_terms, expected_answer_type, has_answer_type, lexical_overlap

# Inside a sentence, meaning and word overlap count equally (grid search on 600 SQuAD-even questions).
SEMANTIC_WEIGHT = 0.5
# A passage's score is a weighted sum of what is known about it (`passage_features`). The weights were fitted by
# `python -m bench.fit_ranker` (softmax over each question's candidates, gold paragraph as target) on the SQuAD-even
# articles of one hash half and checked on the other: recall@1 0.837 -> 0.845, recall@5 0.956 -> 0.964 on the
# held-out half against the earlier hand-set mix (best + 0.2 window + 0.6 dense + 0.3 BM25). They are scaled so
# that the best sentence weighs 1, which keeps passage scores on the scale sentence scores mix with.
RERANK_WEIGHTS = {
    "best": 1.0,  # the best sentence's combined score (meaning, overlap, answer type)
    "best_semantic": 0.871,  # the best sentence meaning alone: a paraphrase with few shared words
    "best_lexical": 0.162,  # the best sentence word overlap alone
    "window": 0.317,  # the best two-sentence window's word overlap: answers straddling a boundary
    "dense": 0.321,  # the passage's cosine with the question
    "bm25": 0.185,  # the passage's BM25, relative to the best candidate's
    "whole": 0.447,  # word overlap with the whole passage: the question's words spread over sentences
    "title": 0.135,  # word overlap with the title: "Super Bowl 50" questions about the Super Bowl 50 article
    "dense_rank": 0.265,  # 1 / rank in the dense list (0.01 when absent): agreement of both lists
    "bm25_rank": 0.108,  # 1 / rank in the BM25 list
}
# Rank given to a passage missing from one retriever's list: past the end of any candidate list.
ABSENT_RANK = 100
# A configured cross-encoder's probability (sigmoid of its logit) is added with this weight: larger than the spread
# of the fitted passage scores (about 1), so a cross-encoder, being the stronger judge, decides the order. No
# cross-encoder is packaged here to fit it on; see docs/BENCHMARKS.md.
CROSS_ENCODER_WEIGHT = 2.0
# A sentence's evidence score leans on its passage's score too: the same words in a better passage are likelier
# to be the answer. The passage score is divided by the sum of the weights (its value were every feature 1), so
# that it stays on the 0..1 scale of sentence scores whatever the fitted weights: undivided, the fitted passage
# score outweighed the sentence's own and put a "meeting held in Paris" sentence above "talks due to begin in
# Montreux" for "Where was Geneva II held?".
PASSAGE_WEIGHT = 0.5
PASSAGE_SCALE = sum(RERANK_WEIGHTS.values())
# Bonus for a sentence holding a phrase of the kind the question asks for (a date for "when", a place for
# "where"...), beyond the question's own words; see `assistant.text.expected_answer_type`.
ANSWER_TYPE_WEIGHT = 0.1


@dataclass
class Evidence:
    """A candidate sentence with its exact span (document coordinates) and score."""

    doc: str
    start: int
    end: int
    text: str
    score: float
    semantic: float
    lexical: float
    title: str
    chunk_id: str
    passage_rank: int
    typed: bool = False  # holds a phrase of the kind the question asks for (a date for "when"...)


@dataclass
class RankedEvidence:
    """Passages reordered by evidence, and their sentences, best first."""

    passages: list[Passage] = field(default_factory=list)
    sentences: list[Evidence] = field(default_factory=list)

    @property
    def best_score(self) -> float:
        return self.sentences[0].score if self.sentences else 0.0


class EvidenceRanker:
    """Stateless and thread-safe: all inputs come with the call."""

    def rank(self, question: str, query_vector: np.ndarray | None, passages: list[Passage],
             stats: TermStats, cross_scores: Sequence[float] | None = None) -> RankedEvidence:
        """Rerank `passages` by their evidence and return them with their sentences, best first.

        `cross_scores`: a cross-encoder's logits for (question, passage), one per passage, when one is configured.
        """
        if not passages:
            return RankedEvidence()
        scored = self.features(question, query_vector, passages, stats)
        per_passage: list[tuple[Passage, list[tuple[int, int, float, float, float, bool]]]] = []
        for i, (passage, (sentences, features)) in enumerate(zip(passages, scored, strict=True)):
            passage.rerank = sum(RERANK_WEIGHTS[name] * value for name, value in features.items())
            if cross_scores is not None:
                passage.cross = cross_scores[i]
                passage.rerank += CROSS_ENCODER_WEIGHT / (1.0 + math.exp(-max(-60.0, min(60.0, cross_scores[i]))))
            per_passage.append((passage, sentences))
        per_passage.sort(key=lambda item: -(item[0].rerank or 0.0))
        seen: dict[tuple[str, int], Evidence] = {}
        for rank, (passage, sentences) in enumerate(per_passage):
            for s, e, semantic, lexical, score, typed in sentences:
                total = (1 - PASSAGE_WEIGHT) * score + PASSAGE_WEIGHT * (passage.rerank or 0.0) / PASSAGE_SCALE
                key = (passage.doc, passage.start + s)
                if key not in seen or seen[key].score < total:
                    seen[key] = Evidence(passage.doc, passage.start + s, passage.start + e, passage.text[s:e], total,
                                         semantic, lexical, passage.title, passage.chunk_id, rank, typed)
        return RankedEvidence(passages=[p for p, _ in per_passage],
                              sentences=sorted(seen.values(), key=lambda ev: -ev.score))


    def features(self, question: str, query_vector: np.ndarray | None, passages: list[Passage], stats: TermStats
                 ) -> list[tuple[list[tuple[int, int, float, float, float, bool]], dict[str, float]]]:
        """Per passage: its sentence scores (`_sentence_scores`) and the features its score weighs
        (`passage_features`); what `rank` combines and `bench/fit_ranker.py` fits the weights on."""
        q_terms = content_terms(question)
        kind = expected_answer_type(question)
        best_bm25 = max((p.lexical or 0.0) for p in passages) or 1.0
        out = []
        for passage in passages:
            sentences = _sentence_scores(passage, query_vector, q_terms, stats, question, kind)
            out.append((sentences, passage_features(passage, sentences, q_terms, stats, best_bm25)))
        return out


def passage_features(passage: Passage, sentences: list[tuple[int, int, float, float, float, bool]],
                     q_terms: list[str], stats: TermStats, best_bm25: float) -> dict[str, float]:
    """What the passage score weighs (`RERANK_WEIGHTS`), from the passage's sentence scores and retriever ranks."""
    texts = [passage.text[s:e] for s, e, *_ in sentences]
    best_lexical = max(s[3] for s in sentences)
    window = max((lexical_overlap(q_terms, texts[i] + " " + texts[i + 1], stats) for i in range(len(texts) - 1)),
                 default=best_lexical)
    return {
        "best": max(s[4] for s in sentences),
        "best_semantic": max(s[2] for s in sentences),
        "best_lexical": best_lexical,
        "window": window,
        "dense": passage.dense or 0.0,
        "bm25": (passage.lexical or 0.0) / best_bm25,
        "whole": lexical_overlap(q_terms, passage.text, stats),
        "title": lexical_overlap(q_terms, passage.title, stats),
        "dense_rank": 1.0 / passage.ranks.get("dense", ABSENT_RANK),
        "bm25_rank": 1.0 / passage.ranks.get("bm25", ABSENT_RANK),
    }


def _sentence_scores(passage: Passage, query_vector: np.ndarray | None, q_terms: list[str], stats: TermStats,
                     question: str = "", kind: str | None = None
                     ) -> list[tuple[int, int, float, float, float, bool]]:
    """(start, end, semantic, lexical, combined, typed) for each sentence of the passage, spans relative to it."""
    vectors = passage.sentence_vectors
    use_vectors = query_vector is not None and vectors is not None and len(vectors) == len(passage.sentences)
    out = []
    for i, (s, e) in enumerate(passage.sentences):
        semantic = float(vectors[i] @ query_vector) if use_vectors else (passage.dense or 0.0)
        lexical = lexical_overlap(q_terms, passage.text[s:e], stats)
        typed = has_answer_type(kind, passage.text[s:e], question)
        combined = SEMANTIC_WEIGHT * semantic + (1 - SEMANTIC_WEIGHT) * lexical + ANSWER_TYPE_WEIGHT * typed
        out.append((s, e, semantic, lexical, combined, typed))
    return out


# How far past the prompt's sentences to look for one of the asked kind (a date for "when"...): the next few
# ranks only, so an off-topic sentence does not get in just for holding a date.
TYPED_LOOKAHEAD = 3


def prompt_evidence(sentences: list[Evidence], count: int) -> list[Evidence]:
    """The `count` best sentences, plus the best one of the next few that holds the kind of phrase the question
    asks for (`Evidence.typed`, set by the ranker) when none of them does.

    "When was the article published?" is answered by a date line that scores low on meaning and word overlap;
    ranked sixth, it would miss a five-sentence prompt that holds no date at all. One extra sentence in that
    case costs ~0.1 s.
    """
    chosen = sentences[:count]
    if any(ev.typed for ev in chosen):
        return chosen
    extra = next((ev for ev in sentences[count:count + TYPED_LOOKAHEAD] if ev.typed), None)
    return chosen + [extra] if extra is not None else chosen
