"""The abstention stage's own checks: the LLM's Yes/No on the cited sentence, and the ranking model's signal at
question time (toy models; what they give on real data is in docs/BENCHMARKS.md)."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np

from assistant.answering import AnswerStage
from assistant.deciding import Decider
from assistant.evidence import Evidence
from assistant.llm.base import LLMError
from assistant.types import Answer, Citation


def test_the_support_probe_reads_yes_against_no_from_the_first_token() -> None:
    from assistant.prompts import support_messages
    from assistant.support import support_probability

    class FirstToken:
        """An LLM whose reply's first token is "Yes" with probability 0.6 and "No" with 0.2."""

        def stream_chat(self, chat: Any, **options: Any) -> Any:
            self.chat, self.options = chat, options
            top = [{"token": "Yes", "logprob": math.log(0.6)}, {"token": "No", "logprob": math.log(0.2)}]
            raw = {"choices": [{"logprobs": {"content": [{"token": "Yes", "logprob": math.log(0.6),
                                                          "top_logprobs": top}]}}]}
            yield type("Delta", (), {"raw": raw, "delta": "Yes"})()

    llm = FirstToken()
    yes = support_probability(llm, "When did the bridge open?", "It opened in 1932 [at last].", "1932")
    assert math.isclose(yes, 0.75)
    assert llm.options["max_tokens"] == 1
    asked = support_messages("When did the bridge open?", "It opened in 1932 [at last].", "1932")
    assert asked[0]["role"] == "system" and "Yes or No" in asked[0]["content"]
    assert "Sentence: It opened in 1932 (at last)." in asked[1]["content"]  # quoted as data: no brackets
    assert "Proposed answer: 1932" in asked[1]["content"]


def test_a_failed_check_leaves_the_signal_out_and_says_so() -> None:
    class Broken:
        def stream_chat(self, chat: Any, **options: Any) -> Any:
            raise LLMError("the endpoint went away")

    stage = AnswerStage(SimpleNamespace(llm=Broken()), decider=None)  # type: ignore[arg-type]
    cited = Citation(id=1, doc="d", start=0, end=18, quote="It opened in 1932.", score=0.5)
    answer = Answer(answer="1932 [1]", short_answer="1932", abstained=False, question="q", standalone_question="q",
                    mode="llm", notes=[], citations=[cited])
    stage.check_support(answer, "When did the bridge open?")
    assert "support_yes" not in answer.signals and "check of the cited sentence failed" in answer.notes[-1]


class Axes:
    """An embedding model that maps each known text to a fixed unit vector."""

    vectors = {"question": [1.0, 0.0, 0.0], "the whole sentence, and a clause": [0.6, 0.8, 0.0],
               "a clause": [0.9, 0.0, 0.43588989]}

    def get_query_embedding(self, text: str) -> list[float]:
        return self.vectors[text]

    def get_text_embedding_batch(self, texts: list[str]) -> list[list[float]]:
        return [self.vectors[t] for t in texts]


def test_the_ranking_model_at_question_time_reads_the_cited_sentence_and_its_best_clause() -> None:
    cited = [Evidence(doc="d", start=0, end=31, text="the whole sentence, and a clause", score=0.5, semantic=0.5,
                      lexical=0.5, title="", chunk_id="c", passage_rank=0)]
    decider = Decider(SimpleNamespace(ranking_model=Axes(), settings=SimpleNamespace(ranking_at_index=False)))
    signals = decider.ranking_at_question("question", cited, (0.7, "a clause"))
    assert np.isclose(signals["ranking_cited"], 0.6) and np.isclose(signals["ranking_clause"], 0.9)
    assert decider.ranking_at_question("question", cited, None) == {"ranking_cited": signals["ranking_cited"],
                                                                    "ranking_clause": signals["ranking_cited"]}
    # With its vectors in the index, those give the signals (assistant.abstention.answer_signals): nothing here.
    indexed = Decider(SimpleNamespace(ranking_model=Axes(), settings=SimpleNamespace(ranking_at_index=True)))
    assert indexed.ranking_at_question("question", cited, (0.7, "a clause")) == {}
