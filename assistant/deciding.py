"""Deciding: keep an answer or abstain, and the signals the decision reads that need a model at answer time.

`Decider.decide` abstains when a decision rule says the answer does not answer (assistant/rules/decide.py), else
when the fitted abstention model (assistant/abstention.py) puts the probability that the corpus answers below its
threshold. `abstain` is the one refusal, with the closest passages as related (never as support).
`clause_semantic`, `window_semantic` and `ranking_at_question` embed a few words of the cited sentence (LLM mode only).

Example:
    >>> decider = Decider(assistant)  # doctest: +SKIP
    >>> decider.abstain({"question": "q", "standalone_question": "q", "mode": "llm", "notes": []}, []).answer
    'The documents do not answer this question.'  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from assistant.abstention import AbstentionModel
from assistant.evidence import Evidence, RankedEvidence
from assistant.retrieval import Passage
from assistant.rules import Rules
from assistant.rules.decide import names_none_of_them, restates_question
from assistant.text import answer_window, clauses
from assistant.types import REFUSAL, Answer, Citation


class Decider:
    """Answer or abstain; reads the models of `models` (an `Assistant`'s components), stateless otherwise."""

    def __init__(self, models: Any) -> None:
        self.models = models

    def decide(self, answer: Answer, model: AbstentionModel | None, base: dict[str, Any],
                passages: list[Passage], rules: Rules, set_aside: str = "") -> Answer:
        """Keep `answer`, or abstain when it only restates the question, names none of the things a "Which ...?"
        asks for, or the calibrated abstention model judges that the corpus does not answer.

        `set_aside`: the model's first reply, when no reply of it stood and a sentence is shown instead. If that
        reply named none of the things asked for ("Eleven states" for "Which eleven states ...?"), the model read
        the evidence as saying only that there were some, and the sentence shown says no more.
        """
        if rules.check("restated_line", lambda: restates_question(answer, base["standalone_question"])):
            # "Who wrote the article "Harbour plans approved"?" answered with that headline: the line the question
            # quotes matches it best, but says nothing the question does not. No other sentence was better, so
            # the documents do not answer.
            result = self.abstain(base, passages)
            result.notes.append("the best matching line only repeats the question's own words")
            result.signals = answer.signals
            return result
        vague = next((phrase for phrase in (answer.short_answer, set_aside)
                      if phrase and names_none_of_them(phrase, base["standalone_question"])), None
                     ) if rules.on("names_none") else None
        if vague:
            rules.mark("names_none")
            # "top officials" for "Which city officials did the mayor meet?": the source says there were some, and
            # the question asks which. An answer naming none of them does not answer.
            result = self.abstain(base, passages)
            result.notes.append(f"the documents only say {vague!r}: they name none of them")
            result.signals = answer.signals
            return result
        return self.judge(answer, model, base, passages)

    def judge(self, answer: Answer, model: AbstentionModel | None, base: dict[str, Any], passages: list[Passage]
              ) -> Answer:
        """Keep `answer` or abstain by the calibrated abstention model alone (no model: keep it), its confidence
        set."""
        if model is None:
            return answer
        confidence = model.p_answerable(answer.signals)
        result = self.abstain(base, passages) if confidence < model.threshold else answer
        result.signals, result.confidence = answer.signals, round(confidence, 4)
        return result

    def abstain(self, base: dict[str, Any], passages: list[Passage]) -> Answer:
        """The fixed refusal, with the closest passages offered as related (not as support)."""
        related = [Citation(id=i, doc=p.doc, start=p.start, end=p.end, quote=p.text, score=p.score, title=p.title,
                            chunk_id=p.chunk_id) for i, p in enumerate(passages[:3], start=1)]
        return Answer(answer=REFUSAL, short_answer="", abstained=True, citations=[], related=related, **base)

    def best_clause(self, ranked: RankedEvidence, cited: Sequence[Evidence]) -> tuple[float, str] | None:
        """The clause (or two adjacent clauses) of the cited sentence that the question matches best by the main
        model, with its cosine; None for a sentence of one clause."""
        return self.best_match(self.models.embed_model, ranked.query_vector, clauses(cited[0].text) if cited else [])

    def clause_semantic(self, ranked: RankedEvidence, cited: Sequence[Evidence],
                         best: tuple[float, str] | None = None) -> tuple[float | None, float | None]:
        """The question's best cosine with a clause (or two adjacent clauses) of the cited sentence (`best`, found
        here when not given), and the ranking model's cosine with that clause (None without the ranking model's
        question vector); (None, None) for a sentence of one clause, whose vectors from indexing already say it.

        A question matches a long answer sentence at a lower cosine than the clause that answers it (in one case
        0.24 for the 40-word sentence, 0.41 for its clause "that has killed 130,000 people"). Embedding the clauses
        of one sentence costs 50-150 ms, a few percent of an LLM answer; fast mode does without. The ranking model
        embeds only the clause found best: all of them cost it about 230 ms more per answer (median).
        """
        best = best or self.best_clause(ranked, cited)
        if best is None:
            return None, None
        if ranked.ranking_vector is None:
            return best[0], None
        by_ranking = self.best_match(self.models.ranking_model, ranked.ranking_vector, [best[1]])
        return best[0], by_ranking[0] if by_ranking else None

    def ranking_at_question(self, question: str, cited: Sequence[Evidence], best: tuple[float, str] | None
                            ) -> dict[str, float]:
        """With the ranking model used at question time only (`ranking_at_index` off), the signals its stored
        vectors give otherwise: its cosine of the question with the cited sentence ("ranking_cited") and the larger
        of that and its cosine with the clause the main model found best (`best`): "ranking_clause". Two or three
        short embeddings (about 0.1 s on 2 cores); empty otherwise."""
        model = self.models.ranking_model if not self.models.settings.ranking_at_index else None
        if model is None or not cited:
            return {}
        texts = [cited[0].text, *([best[1]] if best else [])]
        found = cosines(model, np.asarray(model.get_query_embedding(question), dtype=np.float32), texts)
        return {"ranking_cited": float(found[0]), "ranking_clause": float(np.max(found))}

    def window_semantic(self, ranked: RankedEvidence, cited: Sequence[Evidence], phrase: str) -> float | None:
        """The question's cosine with the words around the answer phrase in the cited sentence (`answer_window`);
        None when the phrase is not in it or is most of it. One short embedding, 10-20 ms; LLM mode only."""
        window = answer_window(cited[0].text, phrase) if cited else None
        best = self.best_match(self.models.embed_model, ranked.query_vector, [window] if window else [])
        return best[0] if best else None

    @staticmethod
    def best_match(model: Any, query_vector: np.ndarray | None, texts: Sequence[str]) -> tuple[float, str] | None:
        """The question's (`query_vector`, by `model`) best cosine with one of `texts`, and that text; None for no
        texts (or no question vector)."""
        if not texts or query_vector is None:
            return None
        found = cosines(model, query_vector, texts)
        best = int(np.argmax(found))
        return float(found[best]), texts[best]


def cosines(model: Any, query_vector: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    """The cosine of `query_vector` with each of `texts` as `model` embeds them (one batch)."""
    vectors = np.asarray(model.get_text_embedding_batch(list(texts)), dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors @ (query_vector / max(float(np.linalg.norm(query_vector)), 1e-12))
