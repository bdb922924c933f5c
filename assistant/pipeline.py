"""The assistant: one object that the CLI, the web UI and the evaluation all call.

`Assistant.stream` reads as the data path, one step per block:

1. clean the question (assistant/question.py) and make a follow-up standalone (assistant/conversation.py);
2. answer questions about the documents themselves from their headers and text (assistant/direct.py);
3. route and retrieve: hybrid candidates, only the document the question names if it names one
   (assistant/sources.py), reranked by their sentences (assistant/evidence.py);
4. select the evidence sentences the answer reads;
5. answer: the LLM with `[n]` marks, asked again where its reply cannot stand, or the best sentence in fast mode
   (assistant/answering.py); verify every mark and locate the exact span (assistant/grounding.py);
6. decide: keep the answer or abstain (assistant/deciding.py), and give each citation its page.

The answer-repair rules the steps apply are named in one registry (assistant/rules/). Models, the index and the
calibration are the `Components` (assistant/components.py), loaded once, lazily, and shared; the object is safe to
use from several threads (the web UI's queue).

Example:
    >>> from assistant import Assistant, load_settings
    >>> bot = Assistant(load_settings(overrides={"mode": "fast"}))  # doctest: +SKIP
    >>> bot.ask("Where will the talks take place?").citations[0].doc  # doctest: +SKIP
    '000_ba464c03508296b8.txt'
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from assistant.answering import AnswerStage
from assistant.calibration import load_passage_scorer
from assistant.components import Components
from assistant.conversation import Turn, rewrite
from assistant.deciding import Decider
from assistant.direct import DirectAnswers
from assistant.evidence import Evidence, EvidenceRanker, RankedEvidence, prompt_evidence
from assistant.llm.base import LLMError
from assistant.llm.gguf import ModelIntegrityError
from assistant.question import QuestionError, as_turns, clean_question
from assistant.replies import generate_text
from assistant.retrieval import Passage
from assistant.rules import Rules
from assistant.rules.evidence import without_other_speakers
from assistant.sources import (
    HEADER_CHARS,
    document_at,
    names_document,
    position_named,
    split_source,
    without_collection,
)
from assistant.types import Answer
from index.embeddings import return_freed_memory

REWRITE_MAX_TOKENS = 48

__all__ = ["Assistant", "QuestionError", "Selection"]


class Selection(NamedTuple):
    """What the answer reads: the ranked evidence, the question it was ranked for, the sentences that may be read
    (best first) and the prompt's sentences among them."""

    ranked: RankedEvidence
    query: str
    candidates: list[Evidence]
    evidence: list[Evidence]


class Assistant(Components):
    """Question answering with verified, span-exact citations over the indexed corpus."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ranker = EvidenceRanker(load_passage_scorer(self.settings))
        self.decider = Decider(self)
        self.answers = AnswerStage(self, self.decider)
        self.direct = DirectAnswers(self, self.decider)

    def ask(self, question: str, history: Sequence[dict[str, Any]] | Sequence[Turn] | None = None,
            mode: str | None = None, top_k: int | None = None) -> Answer:
        """Answer one question (with the conversation so far, if any); never raises on a bad answer, only on
        unusable input (`QuestionError`) or a missing index (`StoreError`)."""
        answer = None
        for event in self.stream(question, history, mode=mode, top_k=top_k):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def stream(self, question: str, history: Sequence[dict[str, Any]] | Sequence[Turn] | None = None,
               mode: str | None = None, top_k: int | None = None) -> Iterator[str | Answer]:
        """Yield text as the LLM writes it, then the final, verified `Answer` (always last)."""
        started, timings = time.perf_counter(), {}
        mode = mode or self.settings.mode
        if mode not in ("llm", "fast"):
            raise QuestionError(f"unknown answer mode {mode!r}; use 'llm' or 'fast'")
        rules = Rules(self.settings.disabled_rule_set)

        # 1. Clean the question, and make a follow-up standalone (the LLM rewrites it; a rule does without one).
        text, notes = clean_question(question, self.settings.max_question_chars)
        turns = as_turns(history)
        t0, failures = time.perf_counter(), []
        standalone = rewrite(text, turns, self._rewriter(failures) if mode == "llm" else None)
        if failures:
            notes.append(f"the LLM failed ({failures[0]}): the follow-up was read by rule")
        timings["rewrite_ms"] = (time.perf_counter() - t0) * 1000
        base = {"question": text, "standalone_question": standalone, "mode": mode, "notes": notes}

        # 2. A question about the documents themselves is answered from their headers and text.
        direct = self.direct.first_direct(base, standalone, text, turns)
        if direct is not None:
            direct.timings_ms = timings | {"total_ms": (time.perf_counter() - started) * 1000}
            yield self._with_pages(direct)
            return

        # 3-4. Route, retrieve and select the sentences the answer reads; the passages holding them are offered
        # beside an abstention.
        ranked, query, candidates, evidence = self.select_evidence(standalone, rules, notes, timings)
        passages = passages_read(ranked.passages, evidence)[: top_k or self.settings.top_k]

        # 5-6. Answer, verify and decide; with nothing to read, abstain and say why.
        if not evidence or ranked.best_score < self.thresholds.get(mode, 0.0):
            if not evidence and not self.retriever.refresh().docs:
                notes.append("the index holds no documents: put files in the corpus folder and run `assistant index`")
            elif ranked.sentences and not candidates:
                notes.append("every sentence found reports someone else's words than those asked for")
            answer = self.decider.abstain(base, passages)
        elif mode == "fast":
            answer = self.answers.fast_answer(base, ranked, evidence, query, passages, rules)
        else:
            t0 = time.perf_counter()
            try:
                reply = yield from self.answers.llm_reply(query, evidence, notes, rules)
                answer = self.answers.llm_answer(base, ranked, reply, query, passages, rules)
            except (LLMError, ModelIntegrityError) as exc:
                # No LLM, no written answer; the best cited sentence still is one (fast mode's answer and decision).
                notes.append(f"the LLM failed ({exc}): answered in fast mode, with the best cited sentence")
                answer = self.answers.fast_answer(base, ranked, evidence, query, passages, rules)
                answer.mode = "fast"
            timings["generate_ms"] = (time.perf_counter() - t0) * 1000
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        answer.timings_ms = timings
        answer.rules = list(rules.fired)
        return_freed_memory()  # the embedding buffers of this question's shapes (index/embeddings.py)
        yield self._with_pages(answer)

    # -- the steps ------------------------------------------------------------------------------------------------
    def select_evidence(self, standalone: str, rules: Rules, notes: list[str] | None = None,
                        timings: dict[str, float] | None = None) -> Selection:
        """Steps 3 and 4 of `stream` for a standalone question: its ranked evidence (`_route`), the question it was
        ranked for, the ranked sentences the answer may read (less those reporting another speaker's words than
        the one asked about) and the prompt's sentences among them. Notes and timings go to the lists given."""
        ranked, query = self._route(standalone, notes if notes is not None else [],
                                    timings if timings is not None else {}, rules)
        candidates = without_other_speakers(ranked.sentences, query, rules)
        return Selection(ranked, query, candidates, self.prompt_evidence(candidates))

    def _route(self, standalone: str, notes: list[str], timings: dict[str, float], rules: Rules
               ) -> tuple[RankedEvidence, str]:
        """The ranked evidence for the question and the question it was ranked for: without words that only name
        all the documents, and, when it names its source ("..., according to the January 13 article?"), that
        document's passages ranked for the question without the qualifier, whose words would otherwise pull up
        sentences about dates and outlets. A name every candidate has picks nothing out: the question stays whole."""
        searched = without_collection(standalone)
        if searched != standalone:
            notes.append(f"words that only name all the documents were left out: read as {searched!r}")
        ranked, step_timings = self.evidence(searched)
        query, source = split_source(searched)
        named = self._documents_named(source, ranked.passages) if source else set()
        if rules.check("named_source", lambda: named and named != {p.doc for p in ranked.passages}):
            ranked, narrowed = self.evidence(query, candidates=[p for p in ranked.passages if p.doc in named])
            step_timings = {k: v + narrowed[k] for k, v in step_timings.items()}
            notes.append(f"the question names its source ({source!r}): only {', '.join(sorted(named))} was read")
        else:
            query = searched
        timings.update(step_timings)
        return ranked, query

    def evidence(self, question: str, candidates: list[Passage] | None = None
                 ) -> tuple[RankedEvidence, dict[str, float]]:
        """Retrieve candidates and rank their sentences; timings of both steps.

        `candidates`: passages already retrieved (for a question naming its source: with the name, which finds
        that document) to rank for `question` instead of retrieving again.
        """
        t0 = time.perf_counter()
        retriever = self.retriever
        if candidates is None:
            vector, candidates = retriever.candidates(question)
        else:
            vector = np.asarray(self.embed_model.get_query_embedding(question), dtype=np.float32)
        t1 = time.perf_counter()
        cross = None
        if self.cross_encoder is not None:
            from assistant.rerank import cross_scores

            cross = cross_scores(self.cross_encoder, question, candidates)
        ranking = (np.asarray(self.ranking_model.get_query_embedding(question), dtype=np.float32)
                   if self.settings.index_ranking_model and candidates else None)
        ranked = self._ranker.rank(question, vector, candidates, retriever.term_stats, cross, ranking)
        t2 = time.perf_counter()
        return ranked, {"retrieve_ms": (t1 - t0) * 1000, "evidence_ms": (t2 - t1) * 1000}

    def retrieve(self, question: str, top_k: int | None = None) -> list[Passage]:
        """The ranked passages the answer step reads (for evaluation of retrieval and for inspection)."""
        text, _ = clean_question(question, self.settings.max_question_chars)
        return self.evidence(text)[0].passages[: top_k or self.settings.top_k]

    def prompt_evidence(self, sentences: list[Evidence]) -> list[Evidence]:
        """The ranked sentences the answer is drawn from (the LLM's numbered prompt), as the settings bound them."""
        return prompt_evidence(sentences, self.settings.evidence_sentences, self.settings.evidence_min_sentences,
                               self.settings.evidence_relative_score)

    def _documents_named(self, source: str, passages: list[Passage]) -> set[str]:
        """The candidate documents whose header (title, first chunk, date) names `source`, or that its place names
        ("the second article" by name, "the latest article" by date, as the documents are listed)."""
        manifest = self.retriever.refresh().docs
        position = position_named(source)
        if position is not None:
            doc = document_at(position, {name: entry.date or "" for name, entry in manifest.items()})
            return {doc} & {p.doc for p in passages} if doc else set()
        named = set()
        for doc in dict.fromkeys(p.doc for p in passages):
            entry = manifest.get(doc)
            if entry is None:  # removed since the passages were retrieved
                continue
            header = self.retriever.opening(doc)[:HEADER_CHARS]
            if names_document(source, f"{entry.title or ''}\n{header}", entry.date):
                named.add(doc)
        return named

    def _rewriter(self, failures: list[str]) -> Any:
        """The LLM's rewrite of a follow-up; on an LLM error, none ("" is no usable rewrite, so the rule's stands)
        and the error in `failures`."""
        def generate(messages: list[dict[str, str]]) -> str:
            try:
                return generate_text(self.llm, messages, REWRITE_MAX_TOKENS)
            except (LLMError, ModelIntegrityError) as exc:
                failures.append(str(exc))
                return ""
        return generate

    def _with_pages(self, answer: Answer) -> Answer:
        """`answer` with the page of every cited and related span set (PDFs; None for documents without pages)."""
        for citation in [*answer.citations, *answer.related]:
            citation.page = self.retriever.page_of(citation.chunk_id, citation.start)
        return answer


def passages_read(passages: list[Passage], evidence: Sequence[Evidence]) -> list[Passage]:
    """`passages` reordered as the answer read them: those holding its evidence sentences first, in the sentences'
    order (the sentence ranking the answer used), then the rest in passage order."""
    first_read = {}
    for rank, sentence in enumerate(evidence):
        first_read.setdefault(sentence.chunk_id, rank)
    return sorted(passages, key=lambda p: first_read.get(p.chunk_id, len(evidence)))
