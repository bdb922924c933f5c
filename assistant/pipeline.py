"""The assistant: one object that the CLI, the web UI and the evaluation all call.

The data path reads top to bottom: clean the question -> make it standalone (conversation) -> (a request for a
summary is answered from the documents' openings, assistant/summary.py; a question about the documents as a whole
from their headers, assistant/overview.py; whether they mention something, by searching them,
assistant/mentions.py) -> retrieve (hybrid; a cross-encoder when configured; only the document a
question names, assistant/sources.py) -> select evidence sentences -> answer (LLM with `[n]` marks, asked again
where its reply cannot stand as it is, assistant/replies.py; or extractive in fast mode) -> verify citations ->
abstain when nothing supports an answer or the calibrated abstention model (assistant/abstention.py) judges that
the corpus does not answer. Models are loaded once, lazily, and shared; the object is safe to use from several
threads (the web UI's queue).

Example:
    >>> from assistant import Assistant, load_settings
    >>> bot = Assistant(load_settings(overrides={"mode": "fast"}))  # doctest: +SKIP
    >>> bot.ask("Where was Geneva II held?").citations[0].doc  # doctest: +SKIP
    '000_ba464c03508296b8.txt'
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.abstention import AbstentionModel, answer_signals
from assistant.citations import (
    NOT_FOUND_RE,
    answer_the_asked_line,
    asked_header_line,
    check_reply,
    count_alone,
    detached_description,
    locate,
    longest_shared_run,
    marks_of,
    money_for_a_count,
    names_none_of_them,
    parse_reply,
    possessive_mismatch,
    short_answer_from,
    speaker_mismatch,
    supports,
    to_citations,
    widened_span,
    without_open_aside,
)
from assistant.config import Settings, load_settings
from assistant.conversation import Turn, rewrite, strip_marks, turns_from_messages
from assistant.evidence import Evidence, EvidenceRanker, RankedEvidence, header_labels, prompt_evidence
from assistant.headers import asked_header, header_answer
from assistant.llm.base import LLMError
from assistant.llm.gguf import ModelIntegrityError
from assistant.mentions import asked_mention, find_mentions, mention_lines
from assistant.overview import asked_overview, overview_lines
from assistant.passage_scorer import PASSAGE_SCORER_FILE, PassageScorer
from assistant.replies import (
    ANSWER_MAX_TOKENS,
    REFUSAL_TOKENS,
    Generation,
    ask_again,
    echoes_question,
    generate_text,
    names_as_asked,
    only_question_words,
    stream_reply,
)
from assistant.retrieval import HybridRetriever, Passage
from assistant.rules import Rules
from assistant.source_text import SourceText, SourceTexts
from assistant.sources import (
    HEADER_CHARS,
    asks_for_source,
    document_at,
    names_document,
    position_named,
    split_source,
    without_collection,
)
from assistant.summary import asked_summary, chosen_documents, named_by_headline, summary_lines
from assistant.text import (
    STOP_WORDS,
    answer_window,
    asked_speaker,
    clauses,
    expected_answer_type,
    speaks_of_another_topic,
    typed_phrase,
    words,
)
from assistant.types import REFUSAL, Answer, Citation
from index.indexer import Indexer, IndexReport, ProgressCallback
from index.store import CorpusStore

# The abstention calibration of the default models (ranking model included), written by `python -m bench.calibrate`;
# and those kept for other model choices (without a ranking model, `ranking_embed_model = "none"`), tried after it.
CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
OTHER_CALIBRATION_FILES = (Path(__file__).with_name("calibration-without-ranking.json"),)
# Terminal colour codes pasted with a question (ESC [ ... letter): removed whole, not just their ESC byte.
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")
REWRITE_MAX_TOKENS = 48


class QuestionError(ValueError):
    """The question cannot be asked as given (empty after cleaning); the message says why."""


def clean_question(question: str, max_chars: int) -> tuple[str, list[str]]:
    """Strip control characters and extra spaces, truncate overlong input; notes say what was changed."""
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    notes = []
    text = _CONTROL.sub(" ", _ANSI_ESCAPE.sub("", question))
    if text != question:
        notes.append("control characters removed from the question")
    text = " ".join(text.split())
    if not text:
        raise QuestionError("the question is empty; type a question about the documents")
    if len(text) > max_chars:
        notes.append(f"question truncated from {len(text)} to {max_chars} characters")
        text = text[:max_chars].rsplit(" ", 1)[0] or text[:max_chars]
    return text, notes


def load_thresholds(settings: Settings) -> dict[str, float]:
    """Abstention thresholds from the calibration file written by `python -m bench.calibrate`.

    `fast` / `llm`: minimum best-evidence score per mode; `refusal`: the LLM's probability of starting its reply
    with NOT FOUND at or above which the assistant abstains. Scores mean different things for different models,
    so the evidence thresholds apply only to the embedding model (and ranking model, if any) they were fitted on,
    and the refusal threshold only to that LLM; any other model gets the neutral defaults (recalibrate it with
    `python -m bench.calibrate`).
    """
    thresholds = dict(DEFAULT_THRESHOLDS)
    calibration = load_calibration(settings)
    try:
        if calibration:
            thresholds.update({k: float(v) for k, v in calibration["min_evidence_score"].items()})
        refusal = calibration or _read_calibration(CALIBRATION_FILE)
        if not settings.llm_endpoint and _same_model(refusal.get("llm_model"), settings.llm_model):
            thresholds["refusal"] = float(refusal.get("llm_refusal_probability", thresholds["refusal"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    return thresholds


def load_abstention_models(settings: Settings) -> dict[str, AbstentionModel]:
    """The fitted abstention model per mode ("fast", "llm") from the calibration fitted with the configured models
    (its signals mean something else for another embedder or LLM: none is used then, and LLM mode falls back to
    the refusal-probability threshold)."""
    data = load_calibration(settings)
    models: dict[str, AbstentionModel] = {}
    for mode, entry in (data.get("abstention") or {}).items():
        if mode == "llm" and (settings.llm_endpoint or not _same_model(data.get("llm_model"), settings.llm_model)):
            continue
        try:
            models[mode] = AbstentionModel.from_json(entry)
        except (KeyError, TypeError, ValueError):
            continue
    return models


def load_calibration(settings: Settings) -> dict[str, Any]:
    """The calibration fitted with the configured embedding and ranking models: the default file's, else the
    first other file's that matches; {} when none does."""
    for path in (CALIBRATION_FILE, *OTHER_CALIBRATION_FILES):
        data = _read_calibration(path)
        if data and _same_embedders(data, settings):
            return data
    return {}


def _read_calibration(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# Uncalibrated fallbacks: permissive evidence floors (the LLM still refuses on its own) and an even refusal odds.
DEFAULT_THRESHOLDS = {"fast": 0.3, "llm": 0.2, "refusal": 0.5}


def _same_model(calibrated: object, configured: str) -> bool:
    return isinstance(calibrated, str) and calibrated.strip().lower() == configured.strip().lower()


def _same_embedders(calibration: dict[str, Any], settings: Settings) -> bool:
    """Whether the calibration was fitted with the configured embedding model and ranking model (or none): both
    shape the evidence scores its thresholds and abstention models read."""
    ranking = calibration.get("ranking_embed_model")
    return _same_model(calibration.get("embed_model"), settings.embed_model) and (
        _same_model(ranking, settings.ranking_embed_model) if settings.ranking_embed_model else not ranking)


def load_passage_scorer(settings: Settings) -> PassageScorer | None:
    """The learned passage score (`assistant.passage_scorer`) when it was fitted with the configured embedding and
    ranking models; None otherwise (none configured, no file, a damaged one, other models), and the linear weights
    order the passages."""
    data = _read_calibration(PASSAGE_SCORER_FILE)
    if not data or not _same_embedders(data, settings):
        return None
    try:
        return PassageScorer.from_dict(data)
    except (ValueError, KeyError, TypeError):
        return None


@dataclass
class Reply:
    """The LLM's reply to the answer prompt once asked again where needed (`Assistant._llm_reply`): what the
    answer and its abstention signals are built from."""

    generation: Generation  # the reply the answer is read from
    evidence: list[Evidence]  # the prompt's sentences it was given (less one found to mislead the question)
    refusal: float  # the probability that the model refused, from its first reply to that prompt
    reasked: bool  # the reply came from asking again with refusals banned
    first_phrase: str  # the phrase replied before any echo re-ask (`_decide` reads it as set aside)
    misleading: Evidence | None  # the sentence found to mislead the question, when one was
    calls: int = 1  # how many times the LLM was asked for it (`max_llm_calls` bounds them)


class Assistant:
    """Question answering with verified, span-exact citations over the indexed corpus."""

    def __init__(self, settings: Settings | None = None, *, embed_model: Any = None, llm: Any = None,
                 cross_encoder: Any = None, ranking_model: Any = None) -> None:
        self.settings = settings or load_settings()
        self._embed_model = embed_model
        self._llm = llm
        self._retriever: HybridRetriever | None = None
        self._cross_encoder = cross_encoder
        self._ranking_model = ranking_model  # used only when `ranking_embed_model` is set
        self._ranker = EvidenceRanker(load_passage_scorer(self.settings))
        self._sources = SourceTexts()
        self._lock = threading.RLock()
        self.thresholds = load_thresholds(self.settings)
        self.abstention = load_abstention_models(self.settings)

    # -- components (loaded once, on first use) -----------------------------------------------------------------
    @property
    def embed_model(self) -> Any:
        with self._lock:
            if self._embed_model is None:
                from index.embeddings import load_configured_embedding

                self._embed_model = load_configured_embedding(self.settings.embed_model, self.settings)
            return self._embed_model

    @property
    def llm(self) -> Any:
        with self._lock:
            if self._llm is None:
                from assistant.llm import load_llm

                self._llm = load_llm(self.settings)
            return self._llm

    @property
    def cross_encoder(self) -> Any:
        """The configured cross-encoder reranker (None unless `reranker` is set or one was passed in)."""
        with self._lock:
            if self._cross_encoder is None and self.settings.reranker:
                from assistant.rerank import load_cross_encoder

                self._cross_encoder = load_cross_encoder(self.settings.reranker)
            return self._cross_encoder

    @property
    def ranking_model(self) -> Any:
        """The second embedding model whose cosines join the passage score (None unless `ranking_embed_model`)."""
        with self._lock:
            if not self.settings.ranking_embed_model:
                return None
            if self._ranking_model is None:
                from index.embeddings import load_configured_embedding

                self._ranking_model = load_configured_embedding(self.settings.ranking_embed_model, self.settings)
            return self._ranking_model

    @property
    def retriever(self) -> HybridRetriever:
        with self._lock:
            if self._retriever is None:
                store = CorpusStore.open(self.settings, create=False)
                store.check_model(self.settings.embed_model, None)
                store.check_ranking_model(self.settings.ranking_embed_model, exact=False)
                self._retriever = HybridRetriever(store, self.embed_model, self.settings)
            return self._retriever

    def warm_up(self, mode: str | None = None) -> dict[str, float]:
        """Load every model the mode needs and run one tiny query, so the first user question is fast."""
        timings: dict[str, float] = {}
        started = time.perf_counter()
        _ = self.cross_encoder
        for model in (self.embed_model, self.ranking_model):
            if model is not None:  # a model's first pass is slow (~130 ms more for mpnet): not the first question's
                model.get_query_embedding("Where was the meeting held?")
        timings["embed_model_s"] = time.perf_counter() - started
        if (mode or self.settings.mode) == "llm":
            started = time.perf_counter()
            _ = self.llm
            timings["llm_s"] = time.perf_counter() - started
        started = time.perf_counter()
        self.retriever.refresh()
        timings["index_s"] = time.perf_counter() - started
        return timings

    def prime_prompt_cache(self) -> float:
        """Have the LLM read the answer prompt's fixed part (instructions and examples) once, ahead of the first
        question; returns the seconds it took.

        Every answer prompt starts with the same ~330 tokens, which llama.cpp keeps in its prompt cache after the
        first answer. Read at start-up (the UI and the chat do this in the background), they no longer make the
        first question wait ~7 s on 2 cores. Not part of `warm_up`: a one-shot `assistant ask` would only move
        that time from the answer to the load.
        """
        started = time.perf_counter()
        generate_text(self.llm, _answer_messages("", []), max_tokens=1)
        return time.perf_counter() - started

    # -- corpus ---------------------------------------------------------------------------------------------------
    def index(self, paths: Sequence[Path] | None = None, rebuild: bool = False,
              progress: ProgressCallback | None = None, prune: bool = False, force: bool = False) -> IndexReport:
        """Bring the index in step with the corpus folder, or add/update `paths` (see `index.indexer.Indexer.run`:
        named paths never remove other documents, and no run empties a non-empty index unless `force`)."""
        indexer = Indexer(self.settings, embed_model=self._embed_model, ranking_model=self._ranking_model)
        report = indexer.run(paths, rebuild=rebuild, progress=progress, prune=prune, force=force)
        self._adopt(indexer, rebuild)
        return report

    def remove(self, names: Sequence[str]) -> IndexReport:
        """Take documents (by name or file path) out of the index; their files stay (`Indexer.remove`)."""
        indexer = Indexer(self.settings, embed_model=self._embed_model, ranking_model=self._ranking_model)
        report = indexer.remove(names)
        self._adopt(indexer, rebuild=False)
        return report

    def _adopt(self, indexer: Indexer, rebuild: bool) -> None:
        """After an index run: keep the models it loaded, and see the index it committed."""
        with self._lock:
            # Models the indexer had to load serve the questions too: never two copies in memory.
            loaded_embed, loaded_ranking = indexer.loaded_models
            if self._embed_model is None:
                self._embed_model = loaded_embed
            if self._ranking_model is None:
                self._ranking_model = loaded_ranking
            if rebuild:
                self._retriever = None
        if self._retriever is not None:
            self._retriever.refresh()

    def documents(self) -> list[dict[str, Any]]:
        """The live documents: name, title, date, chunks, when indexed."""
        manifest = self.retriever.refresh()
        return [{"doc": name, "title": entry.title, "date": entry.date, "chunks": entry.chunks,
                 "indexed_at": entry.indexed_at} for name, entry in sorted(manifest.docs.items())]

    def source_text(self, doc: str) -> str:
        """The text a document's citation spans index into (for showing a cited passage in context): the file as
        indexed, or, once it changed or vanished, the index's own passages at their spans (`source_document`)."""
        return self.source_document(doc).text

    def source_document(self, doc: str) -> SourceText:
        """A document's text for citations, with a note when it came from the index rather than the file (see
        `assistant.source_text`); KeyError for a document not in the index."""
        entry = self.retriever.refresh().docs.get(doc)
        if entry is None:
            raise KeyError(f"document not in the index: {doc}")
        return self._sources.get(entry.path, entry.hash,
                                 lambda: [(p.start, p.end, p.text) for p in self.retriever.chunks({doc})])

    # -- questions --------------------------------------------------------------------------------------------
    def retrieve(self, question: str, top_k: int | None = None) -> list[Passage]:
        """The ranked passages the answer step reads (for evaluation of retrieval and for inspection)."""
        text, _ = clean_question(question, self.settings.max_question_chars)
        return self._evidence(text)[0].passages[: top_k or self.settings.top_k]

    def prompt_evidence(self, sentences: list[Evidence]) -> list[Evidence]:
        """The ranked sentences the answer is drawn from (the LLM's numbered prompt), as the settings bound them."""
        return prompt_evidence(sentences, self.settings.evidence_sentences, self.settings.evidence_min_sentences,
                               self.settings.evidence_relative_score)

    def _evidence(self, question: str, candidates: list[Passage] | None = None
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
                   if self.ranking_model is not None and candidates else None)
        ranked = self._ranker.rank(question, vector, candidates, retriever.term_stats, cross, ranking)
        t2 = time.perf_counter()
        return ranked, {"retrieve_ms": (t1 - t0) * 1000, "evidence_ms": (t2 - t1) * 1000}

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
        started = time.perf_counter()
        timings: dict[str, float] = {}
        mode = mode or self.settings.mode
        if mode not in ("llm", "fast"):
            raise QuestionError(f"unknown answer mode {mode!r}; use 'llm' or 'fast'")
        text, notes = clean_question(question, self.settings.max_question_chars)
        turns = _as_turns(history)
        rules = Rules(self.settings.disabled_rule_set)

        t0 = time.perf_counter()
        failures: list[str] = []  # the LLM's errors: the rewrite and the answer degrade without it, with a note
        standalone = rewrite(text, turns, self._rewriter(failures) if mode == "llm" else None)
        if failures:
            notes.append(f"the LLM failed ({failures[0]}): the follow-up was read by rule")
        timings["rewrite_ms"] = (time.perf_counter() - t0) * 1000

        base = {"question": text, "standalone_question": standalone, "mode": mode, "notes": notes}
        searched = without_collection(standalone)
        direct = (self._summary(base, standalone, text, turns) or self._overview(base, standalone)
                  or self._header(base, standalone) or self._mentions(base, searched))
        if direct is not None:
            direct.timings_ms = timings | {"total_ms": (time.perf_counter() - started) * 1000}
            yield self._with_pages(direct)
            return

        if searched != standalone:
            notes.append(f"words that only name all the documents were left out: read as {searched!r}")
        ranked, step_timings = self._evidence(searched)
        query, source = split_source(searched)
        named = self._documents_named(source, ranked.passages) if source else set()
        if rules.check("named_source", lambda: named and named != {p.doc for p in ranked.passages}):
            # "..., according to the January 13 article?": read that article only, for the question without the
            # qualifier, whose words would otherwise pull up sentences about dates and outlets. A name that every
            # candidate has ("the Syria article" in a corpus on Syria) picks nothing out: the question stays whole.
            ranked, narrowed = self._evidence(query, candidates=[p for p in ranked.passages if p.doc in named])
            step_timings = {k: v + narrowed[k] for k, v in step_timings.items()}
            notes.append(f"the question names its source ({source!r}): only {', '.join(sorted(named))} was read")
        else:
            query = searched
        timings.update(step_timings)
        # Asked what someone said, a sentence reporting someone else's words cannot answer, however many of the
        # question's words it shares (Kerry's quote "... said Kerry in a joint press conference with Lavrov" for
        # "What did Lavrov say about a ceasefire?"): the sentences after it take its place.
        candidates = ranked.sentences
        if rules.on("skip_other_speaker") and asked_speaker(query) is not None:
            candidates = [s for s in ranked.sentences if not speaker_mismatch(s.text, query)]
            if len(candidates) < len(ranked.sentences):
                rules.mark("skip_other_speaker")
        evidence = self.prompt_evidence(candidates)
        # Offered beside an abstention: the passages of the sentences the answer was drawn from, in their order.
        passages = _passages_read(ranked.passages, evidence)[: top_k or self.settings.top_k]

        if not evidence or ranked.best_score < self.thresholds.get(mode, 0.0):
            if not evidence and not self.retriever.refresh().docs:
                notes.append("the index holds no documents: put files in the corpus folder and run `assistant index`")
            elif ranked.sentences and not candidates:
                notes.append("every sentence found reports someone else's words than those asked for")
            answer = self._abstain(base, passages)
        elif mode == "fast":
            answer = self._fast_answer(base, ranked, evidence, query, passages, rules)
        else:
            t0 = time.perf_counter()
            try:
                reply = yield from self._llm_reply(query, evidence, notes, rules)
                answer = self._llm_answer(base, ranked, reply, query, passages, rules)
            except (LLMError, ModelIntegrityError) as exc:
                # No LLM, no written answer; the best cited sentence still is one (fast mode's answer and decision).
                notes.append(f"the LLM failed ({exc}): answered in fast mode, with the best cited sentence")
                answer = self._fast_answer(base, ranked, evidence, query, passages, rules)
                answer.mode = "fast"
            timings["generate_ms"] = (time.perf_counter() - t0) * 1000
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        answer.timings_ms = timings
        answer.rules = list(rules.fired)
        yield self._with_pages(answer)

    def _with_pages(self, answer: Answer) -> Answer:
        """`answer` with the page of every cited and related span set (PDFs; None for documents without pages)."""
        for citation in [*answer.citations, *answer.related]:
            citation.page = self.retriever.page_of(citation.chunk_id, citation.start)
        return answer

    def _fast_answer(self, base: dict[str, Any], ranked: RankedEvidence, evidence: list[Evidence], query: str,
                     passages: list[Passage], rules: Rules) -> Answer:
        """Fast mode's answer: the best evidence sentence (`_extractive`), kept or abstained on by the fast-mode
        abstention model."""
        answer = self._extractive(base, evidence, query, rules)
        # No clause scores here: embedding a long sentence's clauses costs more than the rest of a fast answer,
        # and the fast abstention model did not gain from them (docs/BENCHMARKS.md).
        answer.signals = answer_signals(query, ranked, evidence, _cited_evidence(answer, evidence)[:1])
        return self._decide(answer, self.abstention.get("fast"), base, passages, rules)

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

    def _llm_reply(self, query: str, evidence: list[Evidence], notes: list[str], rules: Rules
                   ) -> Generator[str, None, Reply]:
        """Ask the LLM the answer prompt, streaming what a user may see, and ask again where its reply cannot
        stand as it is: it refuses (asked with refusals banned, for the abstention model to judge), only repeats
        the question (its words banned) or reads a sentence that misleads this question (asked without it), while
        `max_llm_calls` allows. Returns the reply the answer is built from; `notes` gets why it was asked again.
        """
        model = self.abstention.get("llm")
        messages = _answer_messages(query, evidence)
        generation = Generation()
        yield from stream_reply(self.llm, messages, ANSWER_MAX_TOKENS, generation, stop_after_mark=True)
        refusal = generation.refusal_probability
        reasked = False
        can_ban = self._can_ban
        calls, budget = 1, self.settings.max_llm_calls
        if calls < budget and rules.check("reask_refusal", lambda: generation.text_starts_refusal() and can_ban and (
                model is not None or refusal < self.thresholds["refusal"])):
            # The model leans to NOT FOUND, but that alone does not settle it: ask again with the refusal
            # tokens banned and let the abstention model judge the phrase it gives (the prompt is cached, so
            # this costs only the few answer tokens).
            generation, reasked, calls = Generation(), True, calls + 1
            yield from stream_reply(self.llm, messages, ANSWER_MAX_TOKENS, generation, banned=REFUSAL_TOKENS,
                                   stop_after_mark=True)
        first_phrase = parse_reply(generation.text)[0]
        if calls < budget and rules.check("reask_echo", lambda: can_ban and generation.token_logprobs
                                          and echoes_question(generation.text, query)):
            # "UN" for "Besides the UN, which organisation...": a reply made only of the question's own words
            # tells the user nothing (a model kept from refusing often says that: "Syrian state media" for
            # "Who did Syrian state media quote...?"). Ask once more with its words banned too (prompt cached:
            # a few tokens) and keep the new reply unless it refuses or echoes too. Not streamed: the final
            # answer follows.
            retry = ask_again(self.llm, messages, [*(REFUSAL_TOKENS if reasked else ()), *generation.phrase_tokens()])
            calls += 1
            if (retry.text.strip() and not retry.text_starts_refusal()
                    and not echoes_question(retry.text, query)):
                generation = retry
                notes.append("the model's first reply only repeated the question; asked again")
        misread = self._misread_sentence(generation.text, evidence, query, rules)
        misleading = misread[0] if misread else None
        if misread is not None:
            # "Ahmed Jarba" for "Who is the president of Syria?", from "The president of Syria's opposition
            # National Coalition Ahmed Jarba": the question's words are there, but the phrase names the holder
            # of something Syria owns, and asked again the model names the coalition. "president of Syria"
            # for "Who is Bashar Al-Assad?" from that sentence, which names Assad further on: the words
            # describe someone else. That sentence misleads this question: ask once more without it (a new
            # prompt: one more answer's time, on these rare cases), and let the answer and its signals come
            # from that reply. With no other sentence, no phrase stands and the sentence itself is shown (it
            # is true as written).
            sentence, why = misread
            again = len(evidence) > 1 and calls < budget
            notes.append(f"the model answered {parse_reply(generation.text)[0]!r} from a sentence {why}"
                         + ("; asked again without that sentence" if again else ""))
            if not again:
                generation.text = ""
            else:
                evidence = [e for e in evidence if e is not sentence]
                messages = _answer_messages(query, evidence)
                generation, reasked, calls = Generation(), False, calls + 1
                for _ in stream_reply(self.llm, messages, ANSWER_MAX_TOKENS, generation, stop_after_mark=True):
                    pass
                refusal = generation.refusal_probability
        return Reply(generation, evidence, refusal, reasked, first_phrase, misleading, calls)

    def _llm_answer(self, base: dict[str, Any], ranked: RankedEvidence, reply: Reply, query: str,
                    passages: list[Passage], rules: Rules) -> Answer:
        """The LLM's reply as the verified, cited answer, or the abstention the calibrated model decides on; the
        best evidence sentence stands in when no phrase of the reply is supported."""
        model = self.abstention.get("llm")
        generation, evidence, refusal = reply.generation, reply.evidence, reply.refusal
        reasked, first_phrase, misleading = reply.reasked, reply.first_phrase, reply.misleading
        if model is None and refusal >= self.thresholds["refusal"]:
            answer = self._abstain(base, passages)
        else:
            answer = self._generative(base, generation.text, evidence, query, rules)
            fallback = answer is None
            if answer is None:
                # The model gave no phrase a sentence supports, or refused anyway: long-form questions ("how
                # did she get her powers") do that to a model told to answer in a few words. The best
                # evidence sentence, cited, is then the answer, if the abstention check lets it stand.
                answer = self._extractive(base, evidence, query, rules)
                answer.notes.append("the model gave no supported short answer: the best evidence sentence "
                                    "is shown")
            # The signals read the cited sentence that best matches the question (a header answer also cites
            # the line the question named; otherwise there is one mark).
            cited = _cited_evidence(answer, evidence)
            clause_semantic, ranking_clause = self._clause_semantic(ranked, cited[:1])
            answer.signals = answer_signals(query, ranked, evidence, cited[:1], refusal=refusal,
                                            reasked=reasked, fallback=fallback,
                                            tokens=generation.token_logprobs,
                                            clause_semantic=clause_semantic, ranking_clause=ranking_clause,
                                            window_semantic=self._window_semantic(ranked, cited[:1],
                                                                                  answer.short_answer))
            answer = self._decide(answer, model, base, passages, rules, set_aside=first_phrase if fallback else "")
            if reply.calls < self.settings.max_llm_calls and rules.check(
                    "sentence_alone", lambda: _sentence_stands_in(answer, cited, misleading, fallback)):
                # A sentence stands in for the model's reply: its replies only repeated the question, or none
                # stood. Asked about that one sentence alone, with nothing else to distract it, the model names
                # the words that answer far more often (on 29 such SQuAD answers, word F1 0.25 -> 0.36 as
                # replied; "2001" for "... according to what year's census?"). One short prompt on a few
                # percent of questions; the decision above stands (the signals were read on the answer as it
                # was, as calibrated), only the short answer may change. Failing that, the words of the reply
                # that was set aside, as the sentence says them.
                alone = (ask_again(self.llm, _answer_messages(query, cited[:1]), REFUSAL_TOKENS).text
                         if self._can_ban else "")
                if self._misread_sentence(alone, cited[:1], query, rules) is not None:
                    alone = ""  # a name for what the question's subject owns: the sentence stays the answer
                if not self._show_model_words(answer, alone, cited[:1], query, rules) and fallback:
                    self._show_model_words(answer, generation.text, cited[:1], query, rules)
        answer.refusal_probability = round(refusal, 4)
        return answer

    @property
    def _can_ban(self) -> bool:
        """Whether the LLM takes banned token texts (llama.cpp's text logit bias), which asking again needs."""
        return bool(getattr(self.llm, "accepts_text_logit_bias", False))

    # -- answer builders ----------------------------------------------------------------------------------------
    def _overview(self, base: dict[str, Any], question: str) -> Answer | None:
        """The documents' headlines (or dates), cited, when the question asks about the documents as a whole; None
        for any other question, or an empty index."""
        asked = asked_overview(question)
        openings = self.retriever.openings() if asked else []
        if not openings:
            return None
        text, short, cited = overview_lines(openings, asked)
        base["notes"].append("a question about the documents as a whole: answered from their header lines")
        return Answer(answer=text, short_answer=short, abstained=False, citations=to_citations(cited), **base)

    def _header(self, base: dict[str, Any], question: str) -> Answer | None:
        """The line of one document's header that the question asks for ("the headline of the article dated
        ..."), cited with the line that names the document; the refusal when that header has no such line; None for
        any other question, or when no single document's header names what the question does."""
        asked = asked_header(question)
        if asked is None:
            return None
        found = header_answer(asked, self.retriever.openings())
        if found is None:
            return None
        line, matched, opening = found
        if line is None:
            answer = self._abstain(base, [opening])
            answer.notes.append(f"the header of {opening.doc}, the document the question names, has no {asked[0]}")
            return answer
        base["notes"].append(f"a question about the header of {opening.doc}: answered from its {asked[0]}"
                             + (", beside the line the question names it by" if matched else ""))
        # The line asked for, then the line(s) that name the document as the question does: the reader sees why
        # this document was read.
        citations = to_citations([line, *matched])
        return Answer(answer=f"{line.text} {marks_of(citations)}", short_answer=line.text, abstained=False,
                      citations=citations, **base)

    def _summary(self, base: dict[str, Any], question: str, asked: str = "", turns: Sequence[Turn] = ()
                 ) -> Answer | None:
        """The chosen documents' headlines, date lines and opening sentences, cited, when the question asks for a
        summary of a document or of all; None for any other question, or an empty index.

        A follow-up is read as the user wrote it (`asked`) too: a rewrite may add context words ("Summarize it in
        more detail (Russia America Syria)") or turn it into a question about the content. Its "it" is the document
        the previous answer named by headline.
        """
        request = asked_summary(question)
        follow_up = asked_summary(asked) if turns and asked != question else None
        openings = self.retriever.openings() if (request or follow_up) else []
        named = named_by_headline(turns[-1][1], openings) if follow_up and follow_up.which == "one" else []
        if follow_up is not None and (follow_up.which != "one" or named):
            request = follow_up
        if request is None or not openings:
            return None
        chosen, why_none = (named, "") if request is follow_up and named else chosen_documents(request, openings)
        if request.which == "named" and not chosen and not request.explicit:
            return None  # "What was the Plos Pathogens paper about?": a paper the documents tell of
        if request.which == "named" and not chosen:
            # "the article about prisoner exchanges": no header says it, the text may. The document of the passage
            # that matches those words best is the one meant.
            best = self.retriever.candidates(request.name)[1][:1]
            chosen = [o for o in openings if best and o.doc == best[0].doc]
            if chosen:
                base["notes"].append(f"no document's header names {request.name!r}: the document whose passage "
                                     "matches it best is summarised")
        if not chosen:
            answer = self._abstain(base, [])
            answer.notes.append(why_none)
            return answer
        if request.which == "one" and len(chosen) > 1:
            base["notes"].append("the question names no one document: each is summarised")
        text, short, cited = summary_lines(chosen, self.retriever.chunks({o.doc for o in chosen}),
                                           longer=request.longer)
        base["notes"].append("a summary: each document's headline, date line and opening sentences (news puts the "
                             "essentials first), in the source's own words")
        return Answer(answer=text, short_answer=short, abstained=False, citations=to_citations(cited), **base)

    def _extractive(self, base: dict[str, Any], evidence: list[Evidence], question: str, rules: Rules) -> Answer:
        """Fast mode: the best evidence sentence, cited, as the answer.

        Its short answer is the phrase of the kind the question asks for (a date for "when", a place for
        "where"...) found in that sentence, or the whole sentence when the question names no kind.
        """
        best, typed = evidence[0], self._typed_answer(evidence[0], question, rules)
        if typed is None and len(evidence) > 1:
            # The best sentence answers for what the question's subject owns ("The president of Syria's
            # opposition National Coalition Ahmed Jarba ..." for "Who is the president of Syria?"), or a sum of
            # money to a "how many" question: the next one.
            best, typed = evidence[1], self._typed_answer(evidence[1], question, rules)
        # Asked for an article's headline or date, the best sentence may be another line of that header (the one
        # the question quotes): the line asked for is the answer, and the matched line stays cited beside it.
        line = rules.apply("asked_line", asked_header_line, best, evidence, question)
        if line is not None:
            shown = short = line.text.strip()
            cited = [line, best]
        else:
            shown, short, cited = best.text, typed or best.text, [best]
        citations = to_citations(cited)
        return Answer(answer=f"{shown} {marks_of(citations)}", short_answer=short, abstained=False,
                      citations=citations, **base)

    @staticmethod
    def _typed_answer(sentence: Evidence, question: str, rules: Rules) -> str | None:
        """The phrase of the kind the question asks for in `sentence`, or the whole sentence when it names none;
        None when that phrase names the holder of something the question's subject owns (`possessive_mismatch`)
        or is a sum of money for a count (`money_for_a_count`)."""
        span = typed_phrase(expected_answer_type(question), sentence.text, question)
        phrase = sentence.text[span[0]:span[1]] if span else sentence.text
        misleads = (rules.apply("misread_possessive", possessive_mismatch, phrase, sentence.text, question)
                    or rules.apply("misread_money_count", money_for_a_count, phrase, sentence.text, question))
        return None if misleads else phrase

    def _generative(self, base: dict[str, Any], reply: str, evidence: list[Evidence], question: str, rules: Rules
                    ) -> Answer | None:
        """The model's reply as a verified, cited answer; None when it is a refusal or no mark is supported."""
        checked = rules.transform("asked_line", answer_the_asked_line, check_reply(reply, evidence), evidence,
                                  question)
        if checked.said_not_found or not checked.supported:
            if not checked.said_not_found and checked.phrase:
                base["notes"].append(
                    f"the model answered {checked.phrase!r}, which no passage can show word for word"
                    if checked.phrase.strip(" .!").lower() in ("yes", "no") else
                    f"model answer {checked.phrase!r} dropped: no cited sentence supports it")
            return None
        citations = to_citations(checked.supported)
        marks = marks_of(citations)
        located = short_answer_from(checked.phrase, checked.supported, question, rules)
        short = _bare_phrase(located, checked.supported, question, rules)
        if rules.check("echo_shows_sentence", lambda: echoes_question(located, question)
                         and not OFFERS_CHOICE.search(question) and names_as_asked(located, question)):
            # "Kerry said" for "What did Kerry say?", still after being asked again: the model found the sentence
            # but not the words. The sentence it cited is the answer (a choice: "north or south?" -> "south", and
            # a name made of a question word, "ARTS" for "which channel ... arts programming?", excepted);
            # `_decide` still abstains if that sentence only restates the question too.
            located = short = checked.supported[0].text.strip()
            base["notes"].append("the model's reply only repeated the question: the sentence it cited is shown")
        elif rules.check("statement_for_said", lambda: ASKS_WHAT_WAS_SAID.search(question)):
            # "What did he say about Iran?" -> "absolutely apparent need": the words are right but a reader asking
            # what someone said wants the statement. The answer line shows the cited sentence, which holds the
            # words; the short answer stays the phrase.
            located = checked.supported[0].text.strip()
        # The answer line shows the phrase as the source writes it (whole words, the whole date), like the quote.
        answer = Answer(answer=f"{located} {marks}", short_answer=short, abstained=False,
                        citations=citations, **base)
        if checked.dropped_marks:
            answer.notes.append(f"unsupported citation marks dropped: {checked.dropped_marks}")
        return answer

    @staticmethod
    def _show_model_words(answer: Answer, reply: str, shown: Sequence[Evidence], question: str, rules: Rules) -> bool:
        """Make the short answer of a shown sentence the model's answer words in `reply`, when that sentence backs
        them; whether it did.

        `reply` is the model's answer about that sentence alone, or the reply that was set aside because its mark
        pointed elsewhere, or it had none and its words do not stand together in any sentence ("Christ's life is
        nothing more than an illustration of the Ten Commandments" of "Christ's life, when understood as an
        example, is nothing more than an illustration of the Ten Commandments"). When the sentence holds most of
        those words, the stretch of it that says them (or its longest run of them), less the question's own words,
        is the short answer ("is nothing more than an illustration of the Ten Commandments"), not the whole
        sentence. Only the short answer changes: the answer line still shows the sentence.
        """
        phrase, _ = parse_reply(reply)
        if not shown or not phrase or NOT_FOUND_RE.search(reply) or not supports(phrase, shown[0].text):
            return False
        span = locate(phrase, shown[0].text) or longest_shared_run(phrase, shown[0].text)
        if span is None:
            return False
        start, end = widened_span(shown[0].text, *span, question, rules)
        short = _bare_phrase(shown[0].text[start:end], shown, question, rules)
        if not (set(words(short)) - STOP_WORDS) or echoes_question(short, question) or short == answer.short_answer:
            return False  # only the question's words, or joining words
        answer.short_answer = short
        answer.notes.append(f"its short answer is the model's reply {phrase!r} as that sentence says it")
        return True

    def _mentions(self, base: dict[str, Any], question: str) -> Answer | None:
        """Whether (or where) the documents say the words the question names, by searching every chunk; None for
        any other question, or an empty index."""
        asked = asked_mention(question)
        chunks = self.retriever.chunks() if asked else []
        if not chunks:
            return None
        documents = len({chunk.doc for chunk in chunks})
        text, short, cited = mention_lines(asked, find_mentions(asked.thing, chunks), documents)
        base["notes"].append(f"every indexed passage was searched for the words {asked.thing!r}")
        return Answer(answer=text, short_answer=short, abstained=False, citations=to_citations(cited), **base)

    def _clause_semantic(self, ranked: RankedEvidence, cited: Sequence[Evidence]
                         ) -> tuple[float | None, float | None]:
        """The question's best cosine with a clause (or two adjacent clauses) of the cited sentence, and the ranking
        model's cosine with that clause (None without one); (None, None) for a sentence of one clause, whose
        vectors from indexing already say it.

        "How many people has the Syrian conflict killed?" matches its 40-word answer sentence at 0.24 and the
        clause "that has killed 130,000 people" at 0.41. Embedding the clauses of one sentence costs 50-150 ms, a
        few percent of an LLM answer; fast mode does without. The ranking model embeds only the clause found best:
        all of them cost it about 230 ms more per answer (median, seed pairs).
        """
        best = self._best_match(self.embed_model, ranked.query_vector, clauses(cited[0].text) if cited else [])
        if best is None:
            return None, None
        if ranked.ranking_vector is None:
            return best[0], None
        by_ranking = self._best_match(self.ranking_model, ranked.ranking_vector, [best[1]])
        return best[0], by_ranking[0] if by_ranking else None

    def _window_semantic(self, ranked: RankedEvidence, cited: Sequence[Evidence], phrase: str) -> float | None:
        """The question's cosine with the words around the answer phrase in the cited sentence (`answer_window`);
        None when the phrase is not in it or is most of it. One short embedding, 10-20 ms; LLM mode only."""
        window = answer_window(cited[0].text, phrase) if cited else None
        best = self._best_match(self.embed_model, ranked.query_vector, [window] if window else [])
        return best[0] if best else None

    @staticmethod
    def _best_match(model: Any, query_vector: np.ndarray | None, texts: Sequence[str]) -> tuple[float, str] | None:
        """The question's (`query_vector`, by `model`) best cosine with one of `texts`, and that text; None for no
        texts (or no question vector)."""
        if not texts or query_vector is None:
            return None
        vectors = np.asarray(model.get_text_embedding_batch(list(texts)), dtype=np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        query = query_vector / max(float(np.linalg.norm(query_vector)), 1e-12)
        cosines = vectors @ query
        best = int(np.argmax(cosines))
        return float(cosines[best]), texts[best]

    def _decide(self, answer: Answer, model: AbstentionModel | None, base: dict[str, Any],
                passages: list[Passage], rules: Rules, set_aside: str = "") -> Answer:
        """Keep `answer`, or abstain when it only restates the question, names none of the things a "Which ...?"
        asks for, or the calibrated abstention model judges that the corpus does not answer.

        `set_aside`: the model's first reply, when no reply of it stood and a sentence is shown instead. If that
        reply named none of the things asked for ("Eleven states" for "Which eleven states ...?"), the model read
        the evidence as saying only that there were some, and the sentence shown says no more.
        """
        if rules.check("restated_line", lambda: restates_question(answer, base["standalone_question"])):
            # "Who wrote the article "Joint call by US and Russia ..."?" answered with that headline: the line the
            # question quotes matches it best, but says nothing the question does not. No other sentence was
            # better, so the documents do not answer.
            result = self._abstain(base, passages)
            result.notes.append("the best matching line only repeats the question's own words")
            result.signals = answer.signals
            return result
        vague = next((phrase for phrase in (answer.short_answer, set_aside)
                      if phrase and names_none_of_them(phrase, base["standalone_question"])), None
                     ) if rules.on("names_none") else None
        if vague:
            rules.mark("names_none")
            # "top officials" for "Which Vatican officials did Kerry meet?": the source says there were some, and
            # the question asks which. An answer naming none of them does not answer.
            result = self._abstain(base, passages)
            result.notes.append(f"the documents only say {vague!r}: they name none of them")
            result.signals = answer.signals
            return result
        if model is None:
            return answer
        confidence = model.p_answerable(answer.signals)
        result = self._abstain(base, passages) if confidence < model.threshold else answer
        result.signals, result.confidence = answer.signals, round(confidence, 4)
        return result

    def _abstain(self, base: dict[str, Any], passages: list[Passage]) -> Answer:
        """The fixed refusal, with the closest passages offered as related (not as support)."""
        related = [Citation(id=i, doc=p.doc, start=p.start, end=p.end, quote=p.text, score=p.score, title=p.title,
                            chunk_id=p.chunk_id) for i, p in enumerate(passages[:3], start=1)]
        return Answer(answer=REFUSAL, short_answer="", abstained=True, citations=[], related=related, **base)

    # -- judging the LLM's reply (asking and reading it: assistant/replies.py) -----------------------------------
    @staticmethod
    def _misread_sentence(reply: str, evidence: list[Evidence], question: str, rules: Rules
                          ) -> tuple[Evidence, str] | None:
        """The sentence that supports the reply's phrase, with why, when there the phrase does not answer what
        is asked: it names the holder of something the question's subject owns (`possessive_mismatch`), the
        phrase describes someone other than the person asked about (`detached_description`), it is a sum of money
        for a count (`money_for_a_count`), or the sentence reports words on another topic than the one a "What did
        <Name> say about <topic>?" names (`speaks_of_another_topic`); None otherwise."""
        checked = check_reply(reply, evidence)
        if not checked.supported:
            return None
        sentence = checked.supported[0]
        if rules.apply("misread_possessive", possessive_mismatch, checked.phrase, sentence.text, question):
            return sentence, "where the question's words own something else"
        # The model may reword ("Syria's President" for "president of Syria's ..."): judge the source's words.
        located = short_answer_from(checked.phrase, [sentence], question, Rules(rules.disabled))
        if rules.apply("misread_detached", detached_description, located, sentence.text, question):
            return sentence, "where those words stand apart from the name asked about"
        if rules.apply("misread_money_count", money_for_a_count, located, sentence.text, question):
            return sentence, "where that number is a sum of money, not a count of what is asked"
        if rules.apply("misread_other_topic", speaks_of_another_topic, sentence.text, question):
            return sentence, "that reports words on another topic than the one asked about"
        return None


# "What did Lavrov say about Iran?", "What has Kerry stressed?", "What was said about the talks?": a statement is
# asked for, not a name or a number.
ASKS_WHAT_WAS_SAID = re.compile(
    r"\bwhat\s+(?:(?:did|does|do|has|have|had)\s+(?:\S+\s+){1,6}?(?:say|said|tell|told|stress(?:ed)?|warn(?:ed)?|"
    r"note(?:d)?|state(?:d)?|claim(?:ed)?|announce(?:d)?|add(?:ed)?|argue(?:d)?|insist(?:ed)?|write|written|"
    r"declare(?:d)?|repl(?:y|ied)|respond(?:ed)?|admit(?:ted)?|explain(?:ed)?)|(?:is|was|were|has\s+been)\s+"
    r"(?:said|stated|claimed|announced|written|reported))\b", re.IGNORECASE)
OFFERS_CHOICE = re.compile(r"\bor\b", re.IGNORECASE)  # "Is Wellington in the north or south island?"


def restates_question(answer: Answer, question: str) -> bool:
    """Whether the answer is a whole cited sentence or line made only of the question's words.

    A phrase of question words can answer (a choice: "north or south?" -> "south"), but a whole line cannot: it is
    the thing the question quotes or names, not what it asks about it. Unless the question asks where that line
    is ("Which article is headlined ...?"): then the line's citation is the answer.
    """
    shown = parse_reply(answer.answer)[0]
    return (not answer.abstained and any(shown == c.quote.strip().strip(" .;,") for c in answer.citations)
            and only_question_words(shown, question) and not asks_for_source(question))


def _bare_phrase(located: str, cited: Sequence[Evidence], question: str, rules: Rules) -> str:
    """The short answer of a phrase found in `cited`: without half a bracketed aside, and for "How many ...?" the
    count alone."""
    phrase = rules.transform("drop_open_aside", without_open_aside, located)
    return rules.transform("count_alone", count_alone, phrase, question)


def _sentence_stands_in(answer: Answer, cited: Sequence[Evidence], misleading: Evidence | None,
                        fallback: bool) -> bool:
    """Whether a kept answer shows a whole body sentence in place of the model's words: the best sentence stood in
    for a reply with no supported phrase (`fallback`), or the short answer is the cited sentence itself. A header
    line, or the sentence the model was found to misread, is not asked about again."""
    if answer.abstained or not cited or cited[0].role or cited[0] is misleading:
        return False
    return fallback or answer.short_answer.strip() == cited[0].text.strip()


def _passages_read(passages: list[Passage], evidence: Sequence[Evidence]) -> list[Passage]:
    """`passages` reordered as the answer read them: those holding its evidence sentences first, in the sentences'
    order (the sentence ranking the answer used), then the rest in passage order."""
    first_read = {}
    for rank, sentence in enumerate(evidence):
        first_read.setdefault(sentence.chunk_id, rank)
    return sorted(passages, key=lambda p: first_read.get(p.chunk_id, len(evidence)))


def _cited_evidence(answer: Answer, evidence: Sequence[Evidence]) -> list[Evidence]:
    """The evidence sentences the answer cites, best-scored first."""
    return sorted((e for c in answer.citations for e in evidence if (e.doc, e.start) == (c.doc, c.start)),
                  key=lambda e: -e.score)


def _answer_messages(question: str, evidence: list[Evidence]) -> list[dict[str, str]]:
    from assistant.prompts import answer_messages

    return answer_messages(question, [e.text for e in evidence], header_labels(evidence))


def _as_turns(history: Sequence[dict[str, Any]] | Sequence[Turn] | None) -> list[Turn]:
    if not history:
        return []
    if all(isinstance(item, dict) for item in history):
        return turns_from_messages(history)  # type: ignore[arg-type]
    return [(str(q), strip_marks(str(a))) for q, a in history]  # type: ignore[misc]

