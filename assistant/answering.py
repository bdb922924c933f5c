"""Answering: the evidence sentences turned into a cited answer, by the LLM or (fast mode) by extraction.

LLM mode (`llm_reply`, then `llm_answer`): the model reads the numbered sentences and replies with a phrase and a
`[n]` mark, streamed as it writes; it is asked again where the reply cannot stand (it refuses, only repeats the
question, or reads a sentence that misleads the question: assistant/rules/reply.py), at most `max_llm_calls`
times. The reply is verified and located in the source (assistant/grounding.py), shaped (assistant/rules/shape.py)
and handed to the `Decider` with its signals; when the abstention model reads it, the LLM is asked last whether the
cited sentence says the answer (one token, assistant/support.py), unless neither reply could change the decision.
When no phrase of the reply is supported, the best evidence sentence stands in. Fast mode (`fast_answer`): the best
sentence, with the phrase of the kind the question asks for.

Example:
    >>> stage = AnswerStage(assistant, Decider(assistant))  # doctest: +SKIP
    >>> stage.fast_answer(base, ranked, evidence, question, passages, Rules()).citations[0].quote  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.abstention import answer_signals
from assistant.deciding import Decider
from assistant.evidence import Evidence, RankedEvidence, header_labels
from assistant.grounding import (
    NOT_FOUND_RE,
    check_reply,
    locate,
    longest_shared_run,
    marks_of,
    parse_reply,
    short_answer_from,
    supports,
    to_citations,
)
from assistant.llm.base import LLMError
from assistant.replies import (
    ANSWER_MAX_TOKENS,
    REFUSAL_TOKENS,
    Generation,
    ask_again,
    echoes_question,
    names_as_asked,
    stream_reply,
)
from assistant.retrieval import Passage
from assistant.rules import Rules
from assistant.rules.reply import misread_sentence, possessive_mismatch, sentence_stands_in
from assistant.rules.shape import (
    ASKS_WHAT_WAS_SAID,
    OFFERS_CHOICE,
    bare_phrase,
)
from assistant.rules.widen import widened_span
from assistant.support import support_probability
from assistant.text import STOP_WORDS, expected_answer_type, typed_phrase, words
from assistant.types import Answer

SUPPORT_NOT_ASKED = ("the LLM's check of the cited sentence was not asked: no reply in the range it takes could "
                     "have changed the decision")


@dataclass
class Reply:
    """The LLM's reply to the answer prompt once asked again where needed (`AnswerStage.llm_reply`): what the
    answer and its abstention signals are built from."""

    generation: Generation  # the reply the answer is read from
    evidence: list[Evidence]  # the prompt's sentences it was given (less one found to mislead the question)
    refusal: float  # the probability that the model refused, from its first reply to that prompt
    reasked: bool  # the reply came from asking again with refusals banned
    first_phrase: str  # the phrase replied before a misleading sentence was taken out (`Decider.decide` reads it)
    misleading: Evidence | None  # the sentence found to mislead the question, when one was
    calls: int = 1  # how many times the LLM was asked for it (`max_llm_calls` bounds them)


class AnswerStage:
    """Builds the answer of one question; reads the models of `models` (an `Assistant`'s components) and decides
    with `decider`. Stateless otherwise, so safe to share between threads."""

    def __init__(self, models: Any, decider: Decider) -> None:
        self.models = models
        self.decider = decider

    def llm_reply(self, query: str, evidence: list[Evidence], notes: list[str], rules: Rules
                   ) -> Generator[str, None, Reply]:
        """Ask the LLM the answer prompt, streaming what a user may see, and ask again where its reply cannot
        stand as it is: it refuses (asked with refusals banned, for the abstention model to judge) or reads a
        sentence that misleads this question (asked without it), while `max_llm_calls` allows. Returns the reply
        the answer is built from; `notes` gets why it was asked again. A reply that only repeats the question is
        not asked again: the sentence it cited is shown (`echo_shows_sentence`), then asked about alone
        (`sentence_alone`).
        """
        model = self.models.abstention.get("llm")
        messages = answer_messages(query, evidence)
        generation = Generation()
        yield from stream_reply(self.models.llm, messages, ANSWER_MAX_TOKENS, generation, stop_after_mark=True)
        refusal = generation.refusal_probability
        reasked = False
        can_ban = self.can_ban
        calls, budget = 1, self.models.settings.max_llm_calls
        if calls < budget and rules.check("reask_refusal", lambda: generation.text_starts_refusal() and can_ban and (
                model is not None or refusal < self.models.thresholds["refusal"])):
            # The model leans to NOT FOUND, but that alone does not settle it: ask again with the refusal
            # tokens banned and let the abstention model judge the phrase it gives (the prompt is cached, so
            # this costs only the few answer tokens).
            generation, reasked, calls = Generation(), True, calls + 1
            yield from stream_reply(self.models.llm, messages, ANSWER_MAX_TOKENS, generation, banned=REFUSAL_TOKENS,
                                   stop_after_mark=True)
        first_phrase = parse_reply(generation.text)[0]
        misread = misread_sentence(generation.text, evidence, query, rules)
        misleading = misread[0] if misread else None
        if misread is not None:
            # "Carl Olsen" for "Who is the mayor of Norden?", from "The mayor of Norden's harbour board Carl
            # Olsen": the question's words are there, but the phrase names the holder of something Norden owns
            # (assistant/rules/reply.py). "mayor of Norden" for "Who is Ada Brook?" from a sentence that names
            # Brook further on: the words describe someone else. That sentence misleads this question: ask once
            # more without it (a new prompt: one more answer's time, on these rare cases), and let the answer and
            # its signals come from that reply. With no other sentence, no phrase stands and the sentence itself
            # is shown (it is true as written).
            sentence, why = misread
            again = len(evidence) > 1 and calls < budget
            notes.append(f"the model answered {parse_reply(generation.text)[0]!r} from a sentence {why}"
                         + ("; asked again without that sentence" if again else ""))
            if not again:
                generation.text = ""
            else:
                evidence = [e for e in evidence if e is not sentence]
                messages = answer_messages(query, evidence)
                generation, reasked, calls = Generation(), False, calls + 1
                for _ in stream_reply(self.models.llm, messages, ANSWER_MAX_TOKENS, generation, stop_after_mark=True):
                    pass
                refusal = generation.refusal_probability
        return Reply(generation, evidence, refusal, reasked, first_phrase, misleading, calls)

    def llm_answer(self, base: dict[str, Any], ranked: RankedEvidence, reply: Reply, query: str,
                    passages: list[Passage], rules: Rules) -> Answer:
        """The LLM's reply as the verified, cited answer, or the abstention the calibrated model decides on; the
        best evidence sentence stands in when no phrase of the reply is supported."""
        model = self.models.abstention.get("llm")
        generation, evidence, refusal = reply.generation, reply.evidence, reply.refusal
        reasked, first_phrase, misleading = reply.reasked, reply.first_phrase, reply.misleading
        if model is None and refusal >= self.models.thresholds["refusal"]:
            answer = self.decider.abstain(base, passages)
        else:
            answer = self.generative(base, generation.text, evidence, query, rules)
            fallback = answer is None
            if answer is None:
                # The model gave no phrase a sentence supports, or refused anyway: long-form questions ("how
                # did she get her powers") do that to a model told to answer in a few words. The best
                # evidence sentence, cited, is then the answer, if the abstention check lets it stand.
                answer = self.extractive(base, evidence, query, rules)
                answer.notes.append("the model gave no supported short answer: the best evidence sentence "
                                    "is shown")
            # The signals read the cited sentence that best matches the question (a header answer also cites
            # the line the question named; otherwise there is one mark).
            cited = cited_evidence(answer, evidence)
            best_clause = self.decider.best_clause(ranked, cited[:1])
            clause_semantic, ranking_clause = self.decider.clause_semantic(ranked, cited[:1], best_clause)
            answer.signals = answer_signals(query, ranked, evidence, cited[:1], refusal=refusal,
                                            reasked=reasked, fallback=fallback,
                                            tokens=generation.token_logprobs,
                                            clause_semantic=clause_semantic, ranking_clause=ranking_clause,
                                            window_semantic=self.decider.window_semantic(
                                                ranked, cited[:1], answer.short_answer))
            answer.signals.update(self.decider.ranking_at_question(query, cited[:1], best_clause))
            # A model that reads the LLM's own check of the final answer ("support_yes") judges after the short
            # answer is settled (below); the decision rules come first either way.
            checks_support = model is not None and "support_yes" in model.features
            answer = self.decider.decide(answer, None if checks_support else model, base, passages, rules,
                                         set_aside=first_phrase if fallback else "")
            if reply.calls < self.models.settings.max_llm_calls and rules.check(
                    "sentence_alone", lambda: sentence_stands_in(answer, cited, misleading, fallback)):
                # A sentence stands in for the model's reply: its replies only repeated the question, or none
                # stood. Asked about that one sentence alone, with nothing else to distract it, the model names
                # the words that answer far more often (on 29 such SQuAD answers, word F1 0.25 -> 0.36 as
                # replied; "2001" for "... according to what year's census?"). One short prompt on a few
                # percent of questions; the decision above stands (the signals were read on the answer as it
                # was, as calibrated), only the short answer may change. Failing that, the words of the reply
                # that was set aside, as the sentence says them.
                alone = (ask_again(self.models.llm, answer_messages(query, cited[:1]), REFUSAL_TOKENS).text
                         if self.can_ban else "")
                if misread_sentence(alone, cited[:1], query, rules) is not None:
                    alone = ""  # a name for what the question's subject owns: the sentence stays the answer
                if not self.show_model_words(answer, alone, cited[:1], query, rules) and fallback:
                    self.show_model_words(answer, generation.text, cited[:1], query, rules)
            if checks_support and not answer.abstained:
                if model.settled_without(answer.signals, "support_yes"):
                    # No value the check takes would change the decision: not asked, the answer sooner.
                    answer.notes.append(SUPPORT_NOT_ASKED)
                else:
                    self.check_support(answer, base["standalone_question"])
                answer = self.decider.judge(answer, model, base, passages)
        answer.refusal_probability = round(refusal, 4)
        return answer

    def check_support(self, answer: Answer, question: str) -> None:
        """Ask the LLM whether the first cited sentence says that the short answer answers `question`
        (assistant/support.py) and put its probability of "Yes" into the answer's signals as "support_yes"; on an
        LLM error the signal stays out (the abstention model reads its mean) and a note says so. One short prompt
        and one generated token; not an answer attempt, so `max_llm_calls` does not bound it."""
        try:
            answer.signals["support_yes"] = (support_probability(self.models.llm, question,
                                                                 answer.citations[0].quote, answer.short_answer)
                                             if answer.citations else 0.0)
        except LLMError as exc:
            answer.notes.append(f"the LLM's check of the cited sentence failed ({exc})")

    @property
    def can_ban(self) -> bool:
        """Whether the LLM takes banned token texts (llama.cpp's text logit bias), which asking again needs."""
        return bool(getattr(self.models.llm, "accepts_text_logit_bias", False))

    def fast_answer(self, base: dict[str, Any], ranked: RankedEvidence, evidence: list[Evidence], query: str,
                     passages: list[Passage], rules: Rules) -> Answer:
        """Fast mode's answer: the best evidence sentence (`_extractive`), kept or abstained on by the fast-mode
        abstention model."""
        answer = self.extractive(base, evidence, query, rules)
        # No clause scores here: embedding a long sentence's clauses costs more than the rest of a fast answer,
        # and the fast abstention model did not gain from them (docs/BENCHMARKS.md).
        answer.signals = answer_signals(query, ranked, evidence, cited_evidence(answer, evidence)[:1])
        return self.decider.decide(answer, self.models.abstention.get("fast"), base, passages, rules)

    def extractive(self, base: dict[str, Any], evidence: list[Evidence], question: str, rules: Rules) -> Answer:
        """Fast mode: the best evidence sentence, cited, as the answer.

        Its short answer is the phrase of the kind the question asks for (a date for "when", a place for
        "where"...) found in that sentence, or the whole sentence when the question names no kind.
        """
        best, typed = evidence[0], self.typed_answer(evidence[0], question, rules)
        if typed is None and len(evidence) > 1:
            # The best sentence answers for what the question's subject owns ("The mayor of Norden's harbour
            # board Carl Olsen ..." for "Who is the mayor of Norden?"): the next one.
            best, typed = evidence[1], self.typed_answer(evidence[1], question, rules)
        citations = to_citations([best])
        return Answer(answer=f"{best.text} {marks_of(citations)}", short_answer=typed or best.text, abstained=False,
                      citations=citations, **base)

    @staticmethod
    def typed_answer(sentence: Evidence, question: str, rules: Rules) -> str | None:
        """The phrase of the kind the question asks for in `sentence`, or the whole sentence when it names none;
        None when that phrase names the holder of something the question's subject owns (`possessive_mismatch`)."""
        span = typed_phrase(expected_answer_type(question), sentence.text, question)
        phrase = sentence.text[span[0]:span[1]] if span else sentence.text
        misleads = rules.apply("misread_possessive", possessive_mismatch, phrase, sentence.text, question)
        return None if misleads else phrase

    def generative(self, base: dict[str, Any], reply: str, evidence: list[Evidence], question: str, rules: Rules
                    ) -> Answer | None:
        """The model's reply as a verified, cited answer; None when it is a refusal or no mark is supported."""
        checked = check_reply(reply, evidence)
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
        short = bare_phrase(located, checked.supported, question, rules)
        if rules.check("echo_shows_sentence", lambda: echoes_question(located, question)
                         and not OFFERS_CHOICE.search(question) and names_as_asked(located, question)):
            # "Brook said" for "What did Brook say?": the model found the sentence but not the words. The sentence
            # it cited is the answer (a choice: "north or south?" -> "south", and a name made of a question word,
            # "ARTS" for "which channel ... arts programming?", excepted); `Decider.decide` still abstains if that
            # sentence only restates the question too, and `sentence_alone` may then find the words in it.
            located = short = checked.supported[0].text.strip()
            base["notes"].append("the model's reply only repeated the question: the sentence it cited is shown")
        elif rules.check("statement_for_said", lambda: ASKS_WHAT_WAS_SAID.search(question)):
            # "What did he say about the budget?" -> "urgent need": the words are right but a reader asking
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
    def show_model_words(answer: Answer, reply: str, shown: Sequence[Evidence], question: str, rules: Rules) -> bool:
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
        short = bare_phrase(shown[0].text[start:end], shown, question, rules)
        if not (set(words(short)) - STOP_WORDS) or echoes_question(short, question) or short == answer.short_answer:
            return False  # only the question's words, or joining words
        answer.short_answer = short
        answer.notes.append(f"its short answer is the model's reply {phrase!r} as that sentence says it")
        return True


def cited_evidence(answer: Answer, evidence: Sequence[Evidence]) -> list[Evidence]:
    """The evidence sentences the answer cites, best-scored first."""
    return sorted((e for c in answer.citations for e in evidence if (e.doc, e.start) == (c.doc, c.start)),
                  key=lambda e: -e.score)


def answer_messages(question: str, evidence: list[Evidence]) -> list[dict[str, str]]:
    """The answer prompt (prompts/answer.*) for `question` over the numbered `evidence` sentences."""
    from assistant.prompts import answer_messages as messages

    return messages(question, [e.text for e in evidence], header_labels(evidence))
