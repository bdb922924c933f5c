"""Score every sentence of the candidate passages, rerank the passages by their evidence, pick the best sentences.

Factoid questions are answered by one sentence, so a passage is as good as its best sentence. Each sentence gets
a score mixing meaning (cosine between the question and the sentence vector stored at index time) and the
IDF-weighted share of the question's words it contains (names and numbers matter more than meaning here); a
passage's score is a fitted weighted sum of its best sentence, its best two-sentence window (for answers that
straddle a boundary), its overlap with the question as a whole and in its title, and its dense and BM25 scores and
ranks. On SQuAD-even (1,023 paragraphs, all 5,397 questions) this lifts recall@1 of the gold paragraph from 0.72
(rank fusion alone) to 0.836 (recall@5 0.966) at no model cost, since the sentence vectors were computed when indexing.
With `ranking_at_index`, a second embedding model (`ranking_embed_model`, all-mpnet-base-v2) adds its cosines with the
passage and its best sentence, from vectors also stored when indexing: recall@1 0.8497, recall@5 0.974 with the
linear weights below, 0.855 / 0.976 with the learned score that replaces them (`assistant.passage_scorer`). It is off
by default: those vectors cost about eight times the main model's indexing time.

The LLM then reads only the few best sentences, numbered, so an answer costs seconds, and each `[n]` mark maps to
an exact span. Overlapping chunks yield the same sentence twice; it is kept once.

Example:
    >>> ranked = EvidenceRanker().rank(question, query_vector, passages, term_stats)  # doctest: +SKIP
    >>> ranked.sentences[0].text  # doctest: +SKIP
    'The talks are due to begin in Turin on May 2.'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from assistant.passage_scorer import PassageScorer
from assistant.retrieval import Passage
from assistant.text import (
    TermStats,
    expected_answer_type,
    has_answer_type,
    is_bare_quotation,
    lexical_overlap,
    query_terms,
    typed_phrase,
)

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
# With the ranking model (`ranking_embed_model`, on by default), two more features: its cosine with the passage and
# with the passage's best sentence by it. All twelve weights are fitted together, the same way, by
# `python -m bench.fit_ranker` (recall@1 on the fit /
# held-out half 0.839 / 0.860, against 0.826 / 0.845 for the ten above without it); the ten above are not reused,
# since the new features take over much of what the default model's cosines said.
RANKING_MODEL_WEIGHTS = {
    "best": 1.0,
    "best_semantic": -0.51,  # negative: the ranking model's sentence cosine says it better; this corrects overlap
    "best_lexical": 0.302,
    "window": 0.277,
    "dense": -0.054,
    "bm25": 0.177,
    "whole": 0.47,
    "title": 0.052,
    "dense_rank": 0.175,
    "bm25_rank": 0.117,
    "ranking_dense": 1.855,  # the ranking model's cosine with the passage
    "ranking_best": 1.795,  # its cosine with the passage's best sentence
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
# score outweighed the sentence's own and put a "meeting held in Paris" sentence above the one naming where the
# talks asked about were held. The score lent is the one by the default features (`RERANK_WEIGHTS`)
# even when a ranking model orders the passages: its fitted weights make passages differ more, and lent to
# sentences that let the passage outvote the sentence again (SQuAD-500 with the LLM, EM/F1 57.8/65.5 with its
# score lent, 60.0/67.0 with the default's; docs/BENCHMARKS.md).
PASSAGE_WEIGHT = 0.5
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
    role: str = ""  # for a line of a document's header: "headline", "date line" or "header line" (outlet, byline)


@dataclass
class RankedEvidence:
    """Passages reordered by evidence, and their sentences, best first."""

    passages: list[Passage] = field(default_factory=list)
    sentences: list[Evidence] = field(default_factory=list)
    query_vector: np.ndarray | None = None  # the question's vector they were scored against
    ranking_vector: np.ndarray | None = None  # its vector by the ranking model, when one ordered the passages

    @property
    def best_score(self) -> float:
        return self.sentences[0].score if self.sentences else 0.0


class EvidenceRanker:
    """Stateless and thread-safe: all inputs come with the call, and the optional learned passage score
    (`assistant.passage_scorer`) is read-only. Without one, or when it does not fit the features (no ranking
    model), passages are scored by the linear weights (`ranking_weights`)."""

    def __init__(self, scorer: PassageScorer | None = None) -> None:
        self.scorer = scorer

    def rank(self, question: str, query_vector: np.ndarray | None, passages: list[Passage],
             stats: TermStats, cross_scores: Sequence[float] | None = None,
             ranking_vector: np.ndarray | None = None) -> RankedEvidence:
        """Rerank `passages` by their evidence and return them with their sentences, best first.

        `cross_scores`: a cross-encoder's logits for (question, passage), one per passage, when one is configured.
        `ranking_vector`: the question's vector by the ranking model, when one is configured (`ranking_weights`).
        """
        if not passages:
            return RankedEvidence()
        scored = self.features(question, query_vector, passages, stats, ranking_vector)
        weights = ranking_weights(scored[0][1])
        learned = self.scorer if self.scorer is not None and self.scorer.applies(scored[0][1]) else None
        scale = sum(RERANK_WEIGHTS.values())
        per_passage: list[tuple[Passage, float, list[tuple[int, int, float, float, float, bool]]]] = []
        for i, (passage, (sentences, features)) in enumerate(zip(passages, scored, strict=True)):
            passage.rerank = (learned.score(features) if learned is not None
                              else sum(weights[name] * value for name, value in features.items()))
            # What the passage lends its sentences: its score by the default features alone (see PASSAGE_WEIGHT).
            lent = sum(RERANK_WEIGHTS[name] * features[name] for name in RERANK_WEIGHTS)
            if cross_scores is not None:
                passage.cross = cross_scores[i]
                judged = CROSS_ENCODER_WEIGHT / (1.0 + math.exp(-max(-60.0, min(60.0, cross_scores[i]))))
                passage.rerank += judged
                lent += judged
            per_passage.append((passage, lent / scale, sentences))
        per_passage.sort(key=lambda item: -(item[0].rerank or 0.0))
        seen: dict[tuple[str, int], Evidence] = {}
        for rank, (passage, lent, sentences) in enumerate(per_passage):
            roles = header_roles(passage)
            for i, (s, e, semantic, lexical, score, typed) in enumerate(sentences):
                total = (1 - PASSAGE_WEIGHT) * score + PASSAGE_WEIGHT * lent
                key = (passage.doc, passage.start + s)  # the sentence itself, whatever context it is shown with
                prior = seen.get(key)
                shown = quote_context(passage, i)
                if prior is None or prior.score < total:
                    ev = Evidence(passage.doc, passage.start + shown, passage.start + e, passage.text[shown:e], total,
                                  semantic, lexical, passage.title, passage.chunk_id, rank, typed, roles.get(s, ""))
                    seen[key] = _widened(ev, prior.start, prior.text) if prior is not None else ev
                else:
                    _widened(prior, passage.start + shown, passage.text[shown:e])
        return RankedEvidence(passages=[p for p, _, _ in per_passage],
                              sentences=sorted(seen.values(), key=lambda ev: -ev.score), query_vector=query_vector,
                              ranking_vector=ranking_vector if "ranking_dense" in scored[0][1] else None)


    def features(self, question: str, query_vector: np.ndarray | None, passages: list[Passage], stats: TermStats,
                 ranking_vector: np.ndarray | None = None
                 ) -> list[tuple[list[tuple[int, int, float, float, float, bool]], dict[str, float]]]:
        """Per passage: its sentence scores (`_sentence_scores`) and the features its score weighs
        (`passage_features`, plus `ranking_features` when the ranking model's vectors are there for every
        passage); what `rank` combines and `bench/fit_ranker.py` fits the weights on."""
        q_terms = query_terms(question)
        kind = expected_answer_type(question)
        best_bm25 = max((p.lexical or 0.0) for p in passages) or 1.0
        by_ranking_model = ranking_vector is not None and all(
            p.ranking_vector is not None and p.ranking_sentence_vectors is not None
            and len(p.ranking_sentence_vectors) == len(p.sentences) for p in passages)
        out = []
        for passage in passages:
            sentences = _sentence_scores(passage, query_vector, q_terms, stats, question, kind)
            features = passage_features(passage, sentences, q_terms, stats, best_bm25)
            if by_ranking_model:
                features.update(ranking_features(passage, ranking_vector))
            out.append((sentences, features))
        return out


def found_evidence(passage: Passage, start: int, end: int, role: str = "") -> Evidence:
    """The text at start:end of `passage` (spans relative to it) as evidence in document coordinates, trimmed of
    the spaces and line break around it (quote == source[start:end]). Scored 1: it was found by a rule (a header
    line, a searched word), not ranked against a question."""
    text = passage.text[start:end]
    lead = len(text) - len(text.lstrip())
    text = text.strip()
    begin = passage.start + start + lead
    return Evidence(doc=passage.doc, start=begin, end=begin + len(text), text=text, score=1.0, semantic=1.0,
                    lexical=1.0, title=passage.title, chunk_id=passage.chunk_id, passage_rank=0, role=role)


def _widened(ev: Evidence, start: int, text: str) -> Evidence:
    """`ev` shown from `start` (with `text`, the document from there to its end) when that starts earlier: one chunk
    may hold a quotation's context that another chunk, ranked better, cuts off."""
    if start < ev.start:
        ev.start, ev.text = start, text
    return ev


def quote_context(passage: Passage, index: int) -> int:
    """Where the evidence for the passage's sentence `index` starts (relative to the passage): at the sentence
    before it when the sentence is a bare quotation ('“His departure is inevitable.”'), whose speaker that
    sentence names; at the sentence itself otherwise.

    The sentence is still scored on its own words; only what the reader sees, and the cited span, grow. The
    cited span stays the document's own characters, so "Who said ...?" gets the speaker with a span that shows
    both the attribution and the words. SQuAD-even has one bare quotation in 5,266 sentences, ClapNQ none.
    """
    start, end = passage.sentences[index]
    if index == 0 or not is_bare_quotation(passage.text[start:end]):
        return start
    return passage.sentences[index - 1][0]


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


def ranking_features(passage: Passage, ranking_vector: np.ndarray) -> dict[str, float]:
    """The ranking model's cosines with the passage and with its best sentence (vectors stored when indexing)."""
    return {"ranking_dense": float(passage.ranking_vector @ ranking_vector),
            "ranking_best": float(np.max(passage.ranking_sentence_vectors @ ranking_vector))}


def ranking_cosines(ranked: RankedEvidence, ev: Evidence) -> dict[str, float]:
    """The ranking model's cosines of the question with `ev`'s passage and with `ev`'s sentence; empty without a
    ranking model. What a sentence lends to abstention beyond its evidence score, which no longer carries them."""
    if ranked.ranking_vector is None:
        return {}
    passage = next((p for p in ranked.passages if p.chunk_id == ev.chunk_id), None)
    if passage is None or passage.ranking_vector is None or passage.ranking_sentence_vectors is None:
        return {}
    whole = float(passage.ranking_vector @ ranked.ranking_vector)
    index = next((i for i, (_, e) in enumerate(passage.sentences) if passage.start + e == ev.end), None)
    vectors = passage.ranking_sentence_vectors
    sentence = float(vectors[index] @ ranked.ranking_vector) if index is not None and index < len(vectors) else whole
    return {"ranking_passage": whole, "ranking_cited": sentence}


def ranking_weights(features: dict[str, float]) -> dict[str, float]:
    """The passage-score weights for this set of features: with the ranking model's or without."""
    return RANKING_MODEL_WEIGHTS if "ranking_dense" in features else RERANK_WEIGHTS


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


# A header line is short: a headline, an outlet's name, a date line or a byline, never a sentence of the body.
HEADER_MAX_WORDS = 15


def header_roles(passage: Passage) -> dict[int, str]:
    """The role of each line of the document's header (span start within the passage -> role), when the passage
    opens its document: the short lines before the first sentence of the body.

    "What is the date of the article ...?" or "Which outlet published ...?" ask about these lines, and a small
    model cannot tell a headline from an outlet's name or a date line from an event date unless told which is
    which: the prompt shows the role beside the line ("(date line of article 1) Monday 13th January, 2014",
    `header_labels`).
    """
    if passage.chunk != 0:
        return {}
    roles: dict[int, str] = {}
    for s, e in passage.sentences:
        line = passage.text[s:e].strip()
        if not line or "\n" in line or len(line.split()) > HEADER_MAX_WORDS or line.endswith(_SENTENCE_END):
            break
        if passage.title and line == passage.title.strip():
            roles[s] = "headline"
        elif typed_phrase("date", line, "") is not None:
            roles[s] = "date line"
        else:
            roles[s] = "header line"
    return roles


def header_lines(passage: Passage) -> list[Evidence]:
    """The header lines of a document's opening passage (`header_roles`), in order, each as evidence with its role
    and document coordinates; [] for a passage that is not an opening."""
    roles = header_roles(passage)
    return [found_evidence(passage, s, e, roles[s]) for s, e in passage.sentences if s in roles]


# How a sentence of running text ends (a header line has no such end): full stop, question, exclamation, quote.
_SENTENCE_END = (".", "?", "!", ":", ";", "\u201d", '"', "'")


def header_block(chosen: list[Evidence], sentences: list[Evidence]) -> list[Evidence]:
    """The header lines of the documents whose header `chosen` cites, that `chosen` lacks, in document order.

    A header is read as a whole: the headline beside its date line and outlet answers "the date of the article
    <headline>" or "the headline of the article dated ...", which neither line answers alone. Header lines are a
    few words each, so the whole block costs a few prompt tokens.
    """
    docs = {ev.doc for ev in chosen if ev.role}
    have = {(ev.doc, ev.start) for ev in chosen}
    extra = [ev for ev in sentences if ev.role and ev.doc in docs and (ev.doc, ev.start) not in have]
    return sorted(extra, key=lambda ev: (ev.doc, ev.start))


def header_labels(evidence: list[Evidence]) -> list[str]:
    """Per sentence, its header role tied to its document ("headline of article 2"), or "" for body text: with
    two articles' headers in one prompt, "the date of the article <headline>" needs to know which lines go
    together. Articles are numbered in the order their header lines first appear."""
    articles: dict[str, int] = {}
    labels = []
    for ev in evidence:
        if ev.role:
            number = articles.setdefault(ev.doc, len(articles) + 1)
            labels.append(f"{ev.role} of article {number}")
        else:
            labels.append("")
    return labels


# How far past the prompt's sentences to look for one of the asked kind (a date for "when"...): the next few
# ranks only, so an off-topic sentence does not get in just for holding a date.
TYPED_LOOKAHEAD = 3


def prompt_evidence(sentences: list[Evidence], count: int, least: int | None = None,
                    relative: float = 0.0) -> list[Evidence]:
    """The best sentences for the prompt: the first `least` (default: `count`), then the next ones up to `count`
    while they score at least `relative` times the best; plus the best one of the next few that holds the kind of
    phrase the question asks for (`Evidence.typed`, set by the ranker) when none of them does.

    Every prompt sentence costs ~0.1 s of answer time, and one far below the best rarely holds the answer: on
    1,000 SQuAD-even questions, 2 to 6 sentences cut at 0.7 of the best held the gold answer as often as a fixed 5
    (0.933 vs 0.930) with 14 % fewer words (`python bench/prompt_size.py`).
    "When was the article published?" is answered by a date line that scores low on meaning and word overlap;
    ranked sixth, it would miss a five-sentence prompt that holds no date at all. One extra sentence in that
    case costs ~0.1 s. When a chosen sentence is a line of a document's header, the rest of that header comes
    too (`header_block`). A sentence whose words another document already gave, better ranked, is left out (copies
    of one text, a boilerplate paragraph): the reader learns nothing from it twice, and it would take the place of
    a sentence that says something else.
    """
    unique = first_of_each_text(sentences)
    kept = min(count, least if least is not None else count)
    best = unique[0].score if unique else 0.0
    while kept < min(count, len(unique)) and unique[kept].score >= relative * best:
        kept += 1
    chosen = unique[:kept]
    if not any(ev.typed for ev in chosen):
        extra = next((ev for ev in unique[kept:kept + TYPED_LOOKAHEAD] if ev.typed), None)
        chosen = chosen + [extra] if extra is not None else chosen
    return without_repeats(chosen) + header_block(chosen, sentences)


def first_of_each_text(sentences: list[Evidence]) -> list[Evidence]:
    """`sentences` less those whose text (case and spacing aside) an earlier one has, in order."""
    seen: set[str] = set()
    out = []
    for ev in sentences:
        text = " ".join(ev.text.split()).casefold()
        if text not in seen:
            seen.add(text)
            out.append(ev)
    return out


def without_repeats(chosen: list[Evidence]) -> list[Evidence]:
    """`chosen` less any sentence that another one already shows (a quotation's context, `quote_context`); the
    one that shows it takes the better rank of the two, so the reader sees each sentence once, where it ranked."""
    def inside(inner: Evidence, outer: Evidence) -> bool:
        return (inner.doc == outer.doc and outer.start <= inner.start and inner.end <= outer.end
                and (outer.start, outer.end) != (inner.start, inner.end))

    out: list[Evidence] = []
    for ev in chosen:
        shown = next((other for other in chosen if inside(ev, other)), ev)
        if shown not in out:
            out.append(shown)
    return out
