"""Tests for the evaluation harness: scoring rules, the runner, the report folder, the peers and `assistant eval`.

Scoring and reporting run on hand-made predictions (no models, instant). The runner, the peers and the command
run the real pipeline in fast mode over a copy of the seeds. The SQuAD and ClapNQ regression floors ask a fixed
50-question sample of each shared set in fast mode (no LLM) and check retrieval and answer figures; their corpora
are indexed once into the pytest cache folder (minutes) and reused by later runs (instant). Tests needing the
shared sets skip when they are absent.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import SEED_DOC_A, SEED_DOC_B, TEST_SETTINGS, make_settings

from assistant.evaluation.datasets import EvalDoc, EvalItem, EvalSet, load_eval_set, sample, sample_corpus
from assistant.evaluation.report import failures_text, results_json, write_report
from assistant.evaluation.runner import (
    AssistantSystem,
    EvalRun,
    index_corpus,
    prepare_corpus,
    run_system,
    source_texts,
)
from assistant.evaluation.scoring import Prediction, score_item, summarize
from assistant.types import REFUSAL

REPO = Path(__file__).resolve().parent.parent
EVAL_DIR = Path(os.environ.get("ASSISTANT_EVAL_DIR", REPO.parent / "shared" / "eval"))
SQUAD_FILE = EVAL_DIR / "squad_v1.1_dev" / "squad-dev-v1.1-even-articles.json"
CLAPNQ_FILES = [EVAL_DIR / "clapnq_dev" / f"clapnq_dev_{side}_even.jsonl" for side in ("answerable", "unanswerable")]
SEED_QA = REPO / "tests" / "data" / "seed_qa.json"
FLOOR_SAMPLE = 50
# The floors' corpora: about a third of SQuAD-even's paragraphs (7 whole articles) and half of ClapNQ-even's passages,
# so that indexing them stays within the suite's time (the whole of SQuAD-even took two minutes of it).
SQUAD_FLOOR_DOCS = 300
CLAPNQ_FLOOR_DOCS = 150


def _item(answers: list[str], docs: list[str], item_id: str = "q1", **kw: Any) -> EvalItem:
    return EvalItem(id=item_id, question="Where?", answers=answers, gold_docs=docs, **kw)


def _cite(doc: str, quote: str = "Montreux", start: int = 0) -> dict[str, Any]:
    return {"id": 1, "doc": doc, "start": start, "end": start + len(quote), "quote": quote, "score": 0.5}


def _pred(answer: str = "Montreux [1]", abstained: bool = False, cites: list[dict[str, Any]] | None = None,
          read: list[str] | None = None, **kw: Any) -> Prediction:
    return Prediction(answer=REFUSAL if abstained else answer, short_answer="" if abstained else answer,
                      abstained=abstained, citations=[] if abstained else (cites or []),
                      ranked_docs=read or ["a.txt"], read_docs=read or ["a.txt"], timings_ms={"total_ms": 10.0},
                      **kw)


# ------------------------------------------------------------------------------------------------- scoring


def test_pairs_answer_is_correct_when_it_holds_any_string_and_cites_a_supporting_doc() -> None:
    result = score_item(_item(["montreux"], ["a.txt"]), _pred(cites=[_cite("a.txt")]), "pairs")
    assert result.correct and result.citations_right == [True] and result.passed and result.cause is None


def test_pairs_failure_causes() -> None:
    item = _item(["Montreux"], ["a.txt"])
    miss = score_item(item, _pred("Geneva [1]", cites=[_cite("b.txt")], read=["b.txt"]), "pairs")
    assert (miss.correct, miss.cause) == (False, "retrieval miss")
    wrong = score_item(item, _pred("Geneva [1]", cites=[_cite("a.txt")]), "pairs")
    assert wrong.cause == "answer miss"
    refused = score_item(item, _pred(abstained=True), "pairs")
    assert (refused.correct, refused.cause) == (False, "wrong abstention")
    off_doc = score_item(item, _pred(cites=[_cite("b.txt")]), "pairs")
    assert off_doc.correct and not off_doc.passed and off_doc.cause == "unsupported citation"


def test_unanswerable_item_must_be_abstained_on() -> None:
    item = _item([], [])
    assert score_item(item, _pred(abstained=True), "pairs").correct
    answered = score_item(item, _pred(cites=[_cite("a.txt")]), "pairs")
    assert (answered.correct, answered.cause) == (False, "wrong abstention")
    assert answered.citations_right == [False]


def test_citation_must_be_the_exact_span_of_its_document() -> None:
    texts = {"a.txt": "Talks in Montreux."}
    item = _item(["Montreux"], ["a.txt"])
    assert score_item(item, _pred(cites=[_cite("a.txt", start=9)]), "pairs", texts.get).citations_right == [True]
    assert score_item(item, _pred(cites=[_cite("a.txt", start=3)]), "pairs", texts.get).citations_right == [False]


def test_squad_scores_use_the_official_normalisation() -> None:
    item = _item(["Denver Broncos"], ["p1.txt"])
    result = score_item(item, _pred("The Denver Broncos! [1]", cites=[_cite("p1.txt")], read=["p1.txt"]), "squad")
    assert result.correct and result.scores["em"] == 1.0 and result.scores["f1"] == 1.0
    assert result.scores["recall@1"] == 1.0 and result.scores["rr"] == 1.0
    partial = score_item(item, _pred("Broncos [1]", read=["x.txt", "p1.txt"]), "squad")
    assert not partial.correct and partial.scores["em"] == 0.0 and 0 < partial.scores["f1"] < 1
    assert partial.scores["recall@1"] == 0.0 and partial.scores["rr"] == 0.5


def test_clapnq_answer_is_correct_when_it_cites_a_gold_passage() -> None:
    item = _item(["The talks were held in Montreux, Switzerland."], ["p1.txt"])
    result = score_item(item, _pred("Montreux [1]", cites=[_cite("p1.txt")], read=["p1.txt"]), "clapnq")
    assert result.correct and 0 < result.scores["rouge_l"] < 1
    assert not score_item(item, _pred("Montreux [1]", cites=[_cite("p2.txt")], read=["p1.txt"]), "clapnq").correct


def test_summary_counts_both_sides_and_failures() -> None:
    results = [score_item(_item(["Montreux"], ["a.txt"], "q1"), _pred(cites=[_cite("a.txt")]), "pairs"),
               score_item(_item(["Montreux"], ["a.txt"], "q2"), _pred(abstained=True), "pairs"),
               score_item(_item([], [], "q3"), _pred(abstained=True), "pairs"),
               score_item(_item([], [], "q4"), _pred(cites=[_cite("a.txt")]), "pairs")]
    summary = summarize(results)
    assert summary["accuracy"] == 0.5 and summary["citation_accuracy"] == 1.0
    assert summary["answered_when_answerable"] == 0.5 and summary["abstained_when_unanswerable"] == 0.5
    assert summary["failures"] == {"wrong abstention": 2}
    assert summary["recall@1"] == 1.0 and summary["latency_median_ms"] == 10.0


def test_retrieval_only_prediction_has_no_verdict() -> None:
    result = score_item(_item(["x"], ["a.txt"]), Prediction(ranked_docs=["a.txt"], answers=False), "squad")
    assert result.correct is None and result.cause is None and result.scores["recall@1"] == 1.0
    assert "accuracy" not in summarize([result])


# ----------------------------------------------------------------------------------- runner (fake system)


class _Echo:
    """Answers with the question; records the history it was given."""

    name = "echo"

    def __init__(self) -> None:
        self.histories: list[list[tuple[str, str]]] = []

    def predict(self, item: EvalItem, history: list[tuple[str, str]]) -> Prediction:
        self.histories.append(history)
        return _pred(f"{item.question} [1]", cites=[_cite("a.txt")], standalone_question=item.question)


def test_dialogue_turns_get_the_history_and_single_questions_none() -> None:
    items = [_item(["x"], ["a.txt"], "q1"),
             EvalItem("c1.1", "First?", ["x"], ["a.txt"], dialogue="c1", turn=0),
             EvalItem("c1.2", "Then?", ["x"], ["a.txt"], dialogue="c1", turn=1),
             EvalItem("c2.1", "Other?", ["x"], ["a.txt"], dialogue="c2", turn=0)]
    echo = _Echo()
    run = run_system(echo, items, "pairs")
    assert echo.histories == [[], [], [("First?", "First? [1]")], []]
    assert [r.item.id for r in run.results] == ["q1", "c1.1", "c1.2", "c2.1"] and run.peak_rss_mb > 0


def _fake_run(tmp_path: Path) -> EvalRun:
    items = [_item(["Montreux"], ["a.txt"], "q1"), _item(["Paris"], ["a.txt"], "q2"), _item([], [], "q3")]
    system = run_system(_Echo(), items, "pairs")
    return EvalRun(name="fake", format="pairs", paths=["fake.json"], mode="fast", limit=None, seed=13,
                   questions=3, total_questions=3, index=None, systems=[system],
                   settings={"top_k": 5, "embed_model": "packaged:all-MiniLM-L6-v2", "ranking_embed_model": None,
                             "embed_precision": "bfloat16", "llm_model": "packaged:qwen", "llm_endpoint": None})


def test_report_folder_holds_the_contract(tmp_path: Path) -> None:
    run = _fake_run(tmp_path)
    written = write_report(run, tmp_path / "out")
    assert {p.name for p in written} == {"results.json", "report.md", "recall_at_k.png", "latency.png"}
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["summary"]["accuracy"] == pytest.approx(0.0)
    assert [i["id"] for i in data["items"]] == ["q1", "q2", "q3"]
    for key in ("id", "question", "answer", "abstained", "citations", "correct", "timings_ms", "cause"):
        assert key in data["items"][0]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Summary" in report and "### answer miss (2)" in report and "### wrong abstention (1)" in report
    # which models (and number format) made the figures, for comparing reports of different settings
    assert "- models: embedding packaged:all-MiniLM-L6-v2, ranking none (bfloat16); LLM packaged:qwen" in report
    assert (tmp_path / "out" / "recall_at_k.png").read_bytes()[:4] == b"\x89PNG"
    assert results_json(run)["systems"]["echo"]["summary"]["questions"] == 3


# ------------------------------------------------------------------------------- real pipeline, fast mode


@pytest.fixture(scope="module")
def fast_assistant(tmp_path_factory: pytest.TempPathFactory, embed_model: Any) -> Any:
    from assistant.pipeline import Assistant

    bot = Assistant(make_settings(tmp_path_factory.mktemp("evalfast"), mode="fast"), embed_model=embed_model)
    bot.index()
    return bot


def test_assistant_system_reports_answer_citations_and_ranking(fast_assistant: Any) -> None:
    eval_set = load_eval_set([SEED_QA])
    items = [eval_set.items[0], next(i for i in eval_set.items if "World Cup" in i.question)]
    run = run_system(AssistantSystem(fast_assistant, "fast"), items, "pairs", source_texts(eval_set, fast_assistant))
    answered, offtopic = run.results
    assert answered.correct and answered.passed and answered.prediction.citations[0]["doc"] == SEED_DOC_A
    assert answered.prediction.ranked_docs[0] == SEED_DOC_A and set(answered.prediction.ranked_docs) <= {
        SEED_DOC_A, SEED_DOC_B}
    assert offtopic.item.answers == [] and run.summary["questions"] == 2
    assert answered.prediction.timings_ms["total_ms"] > 0


def test_fast_mode_answers_a_header_question_with_the_line_asked_for(fast_assistant: Any) -> None:
    """Asked for an article's date by its headline (or the reverse), fast mode answers with that header's date line
    (headline), citing the lines the question matched beside it, not with the quoted line itself."""
    dated = fast_assistant.ask('When was the article "Russia and America discuss local ceasefires in Syria" '
                               "published?", mode="fast")
    assert not dated.abstained and dated.short_answer.startswith("February 3, 2014")
    assert [c.doc for c in dated.citations] == [SEED_DOC_B, SEED_DOC_B]
    assert "Russia and America" in dated.citations[1].quote
    headline = fast_assistant.ask("What is the headline of the Russia News.Net article dated Monday 13th January, "
                                  "2014?", mode="fast")
    assert headline.short_answer == "Joint call by US and Russia for ceasefire in Syria"
    # named by outlet and date: both lines are cited beside the headline
    assert headline.answer.endswith("[1][2][3]") and {c.doc for c in headline.citations} == {SEED_DOC_A}
    assert [c.quote for c in headline.citations[1:]] == ["Russia News.Net", "Monday 13th January, 2014"]


def test_bm25_peer_ranks_the_same_chunks(fast_assistant: Any) -> None:
    from assistant.evaluation.peers import Bm25Peer

    peer = Bm25Peer(fast_assistant)
    assert peer.ranked_docs("Which French foreign minister held a press conference with Jarba?")[0] == SEED_DOC_B
    assert peer.ranked_docs("the of and") == []
    prediction = peer.predict(_item(["Fabius"], [SEED_DOC_B]), [])
    assert not prediction.answers and prediction.ranked_docs


def test_naive_llamaindex_peer_cites_its_source_nodes(fast_assistant: Any, embed_model: Any, tmp_path: Path) -> None:
    from llama_index.core.llms import MockLLM

    from assistant.evaluation.peers import NaiveLlamaIndexPeer, said_no_answer

    # under a hidden folder, as the evaluation corpora are (.data/eval/...)
    corpus = shutil.copytree(fast_assistant.settings.corpus_dir, tmp_path / ".data" / "corpus")
    peer = NaiveLlamaIndexPeer(corpus, embed_model, MockLLM(max_tokens=8))
    prediction = peer.predict(_item(["Montreux"], [SEED_DOC_A]), [])
    assert 1 <= len(prediction.citations) <= 2 and prediction.citations[0]["doc"] in (SEED_DOC_A, SEED_DOC_B)
    assert set(prediction.ranked_docs) == {SEED_DOC_A, SEED_DOC_B}
    assert said_no_answer("The context does not mention the president of Iran.") and not said_no_answer("Montreux")


def test_eval_command_reports_a_wrong_pair_with_its_cause_and_gates(tmp_path: Path, capsys: Any) -> None:
    from assistant.cli import main

    pairs = {"questions": [{"q": "Where will the Geneva II peace talks be held?", "any": ["Montreux"],
                            "docs": [SEED_DOC_A]},
                           {"q": "Where will the Geneva II peace talks be held?", "any": ["Geneva city hall"],
                            "docs": [SEED_DOC_A]}]}
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps(pairs), encoding="utf-8")
    settings = make_settings(tmp_path)
    out = tmp_path / "out"
    code = main(["eval", str(path), "--mode", "fast", "--corpus", str(settings.corpus_dir), "--data-dir",
                 str(settings.data_dir), "--out", str(out), "--quiet", "--min-accuracy", "0.9"])
    printed = capsys.readouterr()
    assert code == 1 and "under --min-accuracy" in printed.err
    assert "[answer miss] q2" in printed.out and "| accuracy" in printed.out
    items = json.loads((out / "results.json").read_text())["items"]
    assert [(i["id"], i["correct"]) for i in items] == [("q1", True), ("q2", False)]
    assert "### answer miss (1)" in (out / "report.md").read_text()


def test_eval_command_refuses_an_unknown_format(tmp_path: Path, capsys: Any) -> None:
    from assistant.cli import main

    path = tmp_path / "x.json"
    path.write_text('{"hello": 1}', encoding="utf-8")
    assert main(["eval", str(path), "--data-dir", str(tmp_path / "data")]) == 2
    assert "unknown evaluation format" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ eval corpus caching


def test_eval_corpus_is_written_once_and_indexed_into_its_own_store(tmp_path: Path, embed_model: Any) -> None:
    from assistant.pipeline import Assistant

    docs = [EvalDoc("squad_0001_A.txt", "Montreux is in Switzerland.", "A"),
            EvalDoc("squad_0002_B.txt", "Paris is in France.", "B")]
    eval_set = EvalSet("tiny", "squad", [_item(["Switzerland"], ["squad_0001_A.txt"])], docs)
    settings = make_settings(tmp_path, corpus=tmp_path)
    prepared = prepare_corpus(eval_set, settings)
    assert prepared.corpus_dir.parent.parent == settings.data_dir / "eval"
    assert prepared.store_dir == prepared.corpus_dir.parent / "store" and prepared.collection.startswith("eval-")
    assert (prepared.corpus_dir / "squad_0001_A.txt").read_text() == docs[0].text
    first = index_corpus(Assistant(prepared, embed_model=embed_model))
    again = index_corpus(Assistant(prepare_corpus(eval_set, settings), embed_model=embed_model))
    assert (first.cached, again.cached) == (False, True) and first.chunks == again.chunks == 2
    assert again.chunks_per_s == pytest.approx(first.chunks_per_s, rel=0.01)


# ------------------------------------------------------------------- SQuAD / ClapNQ regression floors (fast)


def _floor_run(request: pytest.FixtureRequest, embed_model: Any, paths: list[Path], max_docs: int) -> Any:
    """Fast mode over a fixed 50-question sample of a fixed sample of the corpus (whole articles or pages, at most
    `max_docs` documents: `sample_corpus`); that corpus is indexed once into the pytest cache folder (or a session
    temporary folder when pytest runs without its cache, `-p no:cacheprovider`)."""
    from assistant.config import load_settings
    from assistant.pipeline import Assistant

    for path in paths:
        if not path.is_file():
            pytest.skip(f"evaluation file not found: {path} (set ASSISTANT_EVAL_DIR)")
    cache = getattr(request.config, "cache", None)
    data_dir = Path(cache.mkdir("assistant-eval")) if cache else request.getfixturevalue("tmp_path_factory").mktemp(
        "assistant-eval")
    eval_set = sample_corpus(load_eval_set(paths), max_docs)
    settings = prepare_corpus(eval_set, load_settings(overrides={"data_dir": data_dir, "mode": "fast", **TEST_SETTINGS},
                                                      environ={}))
    bot = Assistant(settings, embed_model=embed_model)
    index_corpus(bot)
    items = sample(eval_set.items, FLOOR_SAMPLE)
    return run_system(AssistantSystem(bot, "fast"), items, eval_set.format, source_texts(eval_set, bot))


# Floors sit under the figures measured on these samples (docs/BENCHMARKS.md), so that a real regression fails
# and noise does not. SQuAD sample (7 articles, 297 paragraphs): R@1 0.88, R@5 0.98, MRR 0.93, accuracy 0.78,
# citations 0.89.
SQUAD_FLOORS = {"recall@1": 0.80, "recall@5": 0.90, "mrr": 0.85, "accuracy": 0.66, "citation_accuracy": 0.75}
# ClapNQ sample (150 passages; 26 answerable, 24 unanswerable), with the calibrated fast threshold
# (assistant/calibration.json): R@1 1.0, accuracy 0.78, answered 0.73, unanswerable abstained 0.83, ROUGE-L 0.33.
CLAPNQ_FLOORS = {"recall@1": 0.90, "recall@5": 0.95, "mrr": 0.90, "accuracy": 0.66, "answered_when_answerable": 0.62,
                 "abstained_when_unanswerable": 0.70, "rouge_l": 0.28}


def _check_floors(run: Any, floors: dict[str, float]) -> None:
    below = {metric: run.summary[metric] for metric, floor in floors.items() if run.summary[metric] < floor}
    assert not below, f"under the floor: {below}; floors {floors}\n{failures_text(run.results)}"


def test_squad_sample_floor(request: pytest.FixtureRequest, embed_model: Any) -> None:
    run = _floor_run(request, embed_model, [SQUAD_FILE], SQUAD_FLOOR_DOCS)
    assert run.summary["questions"] == FLOOR_SAMPLE
    _check_floors(run, SQUAD_FLOORS)


def test_clapnq_sample_floor(request: pytest.FixtureRequest, embed_model: Any) -> None:
    run = _floor_run(request, embed_model, CLAPNQ_FILES, CLAPNQ_FLOOR_DOCS)
    assert run.summary["questions"] == FLOOR_SAMPLE and run.summary["unanswerable"] > 0
    _check_floors(run, CLAPNQ_FLOORS)
