"""Tests for assistant.evaluation.datasets: loaders for SQuAD, ClapNQ and the pairs format, and sampling.

The real shared evaluation files are read from $ASSISTANT_EVAL_DIR (default <repo>/../shared/eval); tests
that need them are skipped with the reason when they are absent. Small synthetic files cover the edge cases
the real data lacks (duplicate contexts, malformed pairs files).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from assistant.evaluation.datasets import (
    EvalDoc,
    EvalItem,
    EvalSet,
    detect_format,
    load_clapnq,
    load_eval_set,
    load_pairs,
    load_squad,
    safe_name,
    sample,
    sample_corpus,
    select_part,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
EVAL_DIR = Path(os.environ.get("ASSISTANT_EVAL_DIR", REPO_ROOT.parent / "shared" / "eval"))
SQUAD_FILE = EVAL_DIR / "squad_v1.1_dev" / "squad-dev-v1.1-even-articles.json"
CLAPNQ_ANSWERABLE = EVAL_DIR / "clapnq_dev" / "clapnq_dev_answerable_even.jsonl"
CLAPNQ_UNANSWERABLE = EVAL_DIR / "clapnq_dev" / "clapnq_dev_unanswerable_even.jsonl"
SEED_QA = REPO_ROOT / "tests" / "data" / "seed_qa.json"

needs_squad = pytest.mark.skipif(
    not SQUAD_FILE.is_file(), reason=f"SQuAD dev file not found at {SQUAD_FILE} (set ASSISTANT_EVAL_DIR)"
)
needs_clapnq = pytest.mark.skipif(
    not (CLAPNQ_ANSWERABLE.is_file() and CLAPNQ_UNANSWERABLE.is_file()),
    reason=f"ClapNQ dev files not found under {EVAL_DIR / 'clapnq_dev'} (set ASSISTANT_EVAL_DIR)",
)


def _write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------- real SQuAD file


@pytest.fixture(scope="module")
def squad():
    if not SQUAD_FILE.is_file():
        pytest.skip(f"SQuAD dev file not found at {SQUAD_FILE} (set ASSISTANT_EVAL_DIR)")
    return load_squad(SQUAD_FILE)


@needs_squad
def test_squad_counts(squad) -> None:
    assert squad.format == "squad"
    assert len(squad.docs) == 1023
    assert len(squad.items) == 5397
    assert squad.notes == []  # no repeated contexts in this file


@needs_squad
def test_squad_docs_are_exact_contexts_with_unique_safe_names(squad) -> None:
    raw = json.loads(SQUAD_FILE.read_text(encoding="utf-8"))
    contexts = [p["context"] for article in raw["data"] for p in article["paragraphs"]]
    assert [doc.text for doc in squad.docs] == contexts
    names = [doc.name for doc in squad.docs]
    assert len(set(names)) == len(names)
    assert names[0] == "squad_0001_Super_Bowl_50.txt"
    assert squad.docs[0].title == "Super Bowl 50"
    assert all(name.isascii() and "/" not in name and name.endswith(".txt") for name in names)


@needs_squad
def test_squad_gold_spans_select_the_answer_text(squad) -> None:
    docs = {doc.name: doc for doc in squad.docs}
    for item in squad.items:
        assert item.answers, item.id
        assert len(item.gold_docs) == 1 and item.gold_docs[0] in docs
        assert item.gold_spans
        covered = set()
        for doc_name, start, end in item.gold_spans:
            assert doc_name == item.gold_docs[0]
            text = docs[doc_name].text[start:end]
            assert text in item.answers, (item.id, text)
            covered.add(text)
        assert covered == set(item.answers)  # every answer has a span


@needs_squad
def test_squad_items_are_unique_and_clean(squad) -> None:
    ids = [item.id for item in squad.items]
    assert len(set(ids)) == len(ids)
    assert all(item.question == item.question.strip() and item.question for item in squad.items)
    assert all(len(item.answers) == len(set(item.answers)) for item in squad.items)
    assert all(item.dialogue is None for item in squad.items)


def test_squad_identical_contexts_share_one_doc(tmp_path: Path) -> None:
    context = "Montreux is a town in Switzerland."
    data = {
        "version": "1.1",
        "data": [
            {
                "title": "Montreux",
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {
                                "id": "a",
                                "question": " Where is Montreux? ",
                                "answers": [
                                    {"text": "Switzerland", "answer_start": 22},
                                    {"text": "Switzerland", "answer_start": 22},
                                    {"text": "in Switzerland", "answer_start": 19},
                                ],
                            }
                        ],
                    },
                ],
            },
            {
                "title": "Swiss towns",
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {
                                "id": "b",
                                "question": "Is Montreux a town?",
                                "answers": [{"text": "town", "answer_start": 14}],
                            }
                        ],
                    },
                ],
            },
        ],
    }
    eval_set = load_squad(_write_json(tmp_path / "mini.json", data))
    assert len(eval_set.docs) == 1
    assert [item.gold_docs for item in eval_set.items] == [[eval_set.docs[0].name]] * 2
    first = eval_set.items[0]
    assert first.question == "Where is Montreux?"
    assert first.answers == ["Switzerland", "in Switzerland"]
    assert len(first.gold_spans) == 2
    assert eval_set.notes and "1 paragraph" in eval_set.notes[0]


# ------------------------------------------------------------------------------------------ real ClapNQ files


@pytest.fixture(scope="module")
def clapnq():
    if not (CLAPNQ_ANSWERABLE.is_file() and CLAPNQ_UNANSWERABLE.is_file()):
        pytest.skip(f"ClapNQ dev files not found under {EVAL_DIR / 'clapnq_dev'} (set ASSISTANT_EVAL_DIR)")
    return load_clapnq(CLAPNQ_ANSWERABLE, CLAPNQ_UNANSWERABLE)


@needs_clapnq
def test_clapnq_counts(clapnq) -> None:
    assert clapnq.format == "clapnq"
    answerable = [item for item in clapnq.items if item.answers]
    unanswerable = [item for item in clapnq.items if not item.answers]
    assert len(answerable) == 150
    assert len(unanswerable) == 150
    assert clapnq.items[:150] == answerable  # answerable file first
    # 300 questions with one passage each; two answerable questions share one passage text.
    assert len(clapnq.docs) == 299
    assert any("1 passage" in note for note in clapnq.notes)


@needs_clapnq
def test_clapnq_corpus_is_both_files_deduplicated(clapnq) -> None:
    texts = set()
    for path in (CLAPNQ_ANSWERABLE, CLAPNQ_UNANSWERABLE):
        for line in path.read_text(encoding="utf-8").splitlines():
            texts.update(p["text"] for p in json.loads(line)["passages"])
    assert {doc.text for doc in clapnq.docs} == texts
    names = [doc.name for doc in clapnq.docs]
    assert len(set(names)) == len(names)
    assert all(name.isascii() and name.startswith("clapnq_") for name in names)


@needs_clapnq
def test_clapnq_gold_docs_and_spans(clapnq) -> None:
    docs = {doc.name: doc for doc in clapnq.docs}
    answerable_rows = [json.loads(line) for line in CLAPNQ_ANSWERABLE.read_text(encoding="utf-8").splitlines()]
    selected = {row["id"]: {s for o in row["output"] for s in o["selected_sentences"]} for row in answerable_rows}
    for item in clapnq.items:
        if not item.answers:
            assert item.gold_docs == [] and item.gold_spans == ()
            continue
        assert item.gold_docs and all(name in docs for name in item.gold_docs)
        assert all(answer.strip() and answer.upper() != "NA" for answer in item.answers)
        assert len(item.gold_spans) == len(selected[item.id])  # every selected sentence located
        for doc_name, start, end in item.gold_spans:
            assert doc_name in item.gold_docs
            assert docs[doc_name].text[start:end] in selected[item.id]


# ---------------------------------------------------------------------------------------- detection, loading


@needs_squad
@needs_clapnq
def test_detect_format_on_real_files() -> None:
    assert detect_format(SQUAD_FILE) == "squad"
    assert detect_format(CLAPNQ_ANSWERABLE) == "clapnq"
    assert detect_format(CLAPNQ_UNANSWERABLE) == "clapnq"


@pytest.mark.skipif(not SEED_QA.is_file(), reason=f"{SEED_QA} not present")
def test_seed_pairs_file_loads() -> None:
    assert detect_format(SEED_QA) == "pairs"
    eval_set = load_eval_set([SEED_QA])
    assert eval_set.format == "pairs" and eval_set.docs is None
    assert all(bool(item.answers) == bool(item.gold_docs) for item in eval_set.items)


@needs_clapnq
@pytest.mark.parametrize("given", [CLAPNQ_ANSWERABLE, CLAPNQ_UNANSWERABLE])
def test_load_eval_set_finds_clapnq_sibling(given: Path, clapnq) -> None:
    eval_set = load_eval_set([given])
    assert eval_set.format == "clapnq"
    assert eval_set.items == clapnq.items
    assert eval_set.docs == clapnq.docs


@needs_clapnq
def test_load_eval_set_orders_clapnq_files(clapnq) -> None:
    eval_set = load_eval_set([CLAPNQ_UNANSWERABLE, CLAPNQ_ANSWERABLE], format="clapnq")
    assert eval_set.items == clapnq.items


def test_detect_format_on_small_files(tmp_path: Path) -> None:
    squad = _write_json(tmp_path / "s.json", {"version": "1.1", "data": []})
    pairs = _write_json(tmp_path / "p.json", {"questions": [{"q": "x?", "any": [], "docs": []}]})
    single = _write_json(tmp_path / "c.json", {"conversation": [{"q": "x?", "any": [], "docs": []}]})
    clap = _write_jsonl(tmp_path / "x.jsonl", [{"id": "1", "input": "q", "passages": [], "output": []}])
    other = _write_json(tmp_path / "o.json", {"rows": []})
    broken = tmp_path / "b.json"
    broken.write_text("{not json", encoding="utf-8")
    assert detect_format(squad) == "squad"
    assert detect_format(pairs) == "pairs"
    assert detect_format(single) == "pairs"
    assert detect_format(clap) == "clapnq"
    with pytest.raises(ValueError, match="unknown evaluation format"):
        detect_format(other)
    with pytest.raises(ValueError, match="neither JSON nor JSON lines"):
        detect_format(broken)


def _clapnq_row(qid: str, text: str, answer: str = "", sentences: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": qid,
        "input": f"question {qid}",
        "passages": [{"title": "Hōryū–ji", "text": text, "sentences": [text]}],
        "output": [{"answer": answer, "selected_sentences": sentences or [], "meta": {}}],
    }


def test_clapnq_synthetic_quirks(tmp_path: Path) -> None:
    answerable = _write_jsonl(
        tmp_path / "x_answerable_y.jsonl",
        [
            {
                **_clapnq_row("1", "First. Second. ", "Second.", ["Second."]),
                "output": [
                    {"answer": "Second.", "selected_sentences": ["Second."]},
                    {"answer": "NA", "selected_sentences": ["Second."]},
                    {"answer": "", "selected_sentences": [], "meta": {"skip": True}},
                ],
            },
            _clapnq_row("2", "Shared text.", "Shared.", []),  # answer but no selected sentence
        ],
    )
    _write_jsonl(tmp_path / "x_unanswerable_y.jsonl", [_clapnq_row("3", "Shared text.")])
    eval_set = load_eval_set([answerable])
    first, second, third = eval_set.items
    assert first.answers == ["Second."]
    assert first.gold_spans == ((first.gold_docs[0], 7, 14),)
    assert second.gold_docs and second.gold_spans == ()  # falls back to the question's passage
    assert third.answers == [] and third.gold_docs == []
    assert len(eval_set.docs) == 2
    assert eval_set.docs[0].name == "clapnq_0001_Horyu_ji.txt"
    assert any("placeholder" in note for note in eval_set.notes)


def test_load_eval_set_errors(tmp_path: Path) -> None:
    squad = _write_json(tmp_path / "s.json", {"version": "1.1", "data": []})
    pairs = _write_json(tmp_path / "p.json", {"questions": [{"q": "x?", "any": [], "docs": []}]})
    with pytest.raises(FileNotFoundError):
        load_eval_set([tmp_path / "missing.json"])
    with pytest.raises(ValueError, match="different formats"):
        load_eval_set([squad, pairs])
    with pytest.raises(ValueError, match="unknown evaluation format"):
        load_eval_set([squad], format="csv")
    with pytest.raises(ValueError, match="takes one file"):
        load_eval_set([pairs, pairs])
    with pytest.raises(ValueError, match="no evaluation file"):
        load_eval_set([])


# ------------------------------------------------------------------------------------------------ pairs format


def test_load_pairs_ids_dialogues_and_turns(tmp_path: Path) -> None:
    data = {
        "questions": [
            {"q": " Where? ", "any": ["Montreux"], "docs": ["000.txt"]},
            {"q": "Unanswerable?", "any": [], "docs": [], "note": "not in the corpus"},
        ],
        "conversation": [
            {"q": "Who met Kerry?", "any": ["Lavrov"], "docs": ["000.txt"]},
            {"q": "What did he say?", "any": ["Saudi"], "docs": ["000.txt", "004.txt"]},
        ],
        "conversations": [
            [{"q": "Where?", "any": ["Montreux"], "docs": ["000.txt"]}],
            [{"q": "Who?", "any": ["Kerry"], "docs": ["004.txt"]}, {"q": "When?", "any": [], "docs": []}],
        ],
    }
    eval_set = load_pairs(_write_json(tmp_path / "pairs.json", data))
    assert eval_set.format == "pairs" and eval_set.docs is None and eval_set.name == "pairs"
    assert [item.id for item in eval_set.items] == [
        "q1",
        "q2",
        "conversation1",
        "conversation2",
        "conversation1.1",
        "conversation2.1",
        "conversation2.2",
    ]
    assert [(item.dialogue, item.turn) for item in eval_set.items] == [
        (None, 0),
        (None, 0),
        ("conversation", 0),
        ("conversation", 1),
        ("conversation1", 0),
        ("conversation2", 0),
        ("conversation2", 1),
    ]
    assert eval_set.items[0] == EvalItem(id="q1", question="Where?", answers=["Montreux"], gold_docs=["000.txt"])
    assert eval_set.items[3].gold_docs == ["000.txt", "004.txt"]
    assert eval_set.items[1].answers == [] and eval_set.items[1].gold_docs == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "top level must be a JSON object"),
        ({}, "no questions found"),
        ({"question": []}, r"unknown top-level key\(s\) \['question'\]"),
        ({"questions": {"q": "x"}}, "'questions' must be a list, got dict"),
        ({"questions": ["Where?"]}, "questions item 1: must be an object"),
        ({"questions": [{"q": "x?", "any": ["a"]}]}, r"questions item 1: missing key\(s\) \['docs'\]"),
        ({"questions": [{"q": "", "any": [], "docs": []}]}, "questions item 1: 'q' must be a non-empty string"),
        (
            {"questions": [{"q": "ok?", "any": [], "docs": []}, {"q": "x?", "any": "a", "docs": ["d"]}]},
            "questions item 2: 'any' must be a list of strings",
        ),
        ({"questions": [{"q": "x?", "any": ["a", 3], "docs": ["d"]}]}, "'any' must be a list of strings"),
        ({"questions": [{"q": "x?", "any": [" "], "docs": ["d"]}]}, "'any' contains an empty string"),
        ({"questions": [{"q": "x?", "any": ["a"], "docs": []}]}, "questions item 1: 'any' and 'docs' must be both"),
        ({"questions": [{"q": "x?", "any": [], "docs": [], "answers": []}]}, r"unknown key\(s\) \['answers'\]"),
        (
            {"conversation": [{"q": "x?", "any": [], "docs": []}, {"q": 1, "any": [], "docs": []}]},
            "conversation turn 2: 'q' must be a non-empty string",
        ),
        (
            {"conversations": [{"q": "x?", "any": [], "docs": []}]},
            "conversations item 1 must be a non-empty list of turns",
        ),
        ({"conversations": [[]]}, "conversations item 1 must be a non-empty list of turns"),
        (
            {"conversations": [[{"q": "x?", "any": [], "docs": []}], [{"q": "y?", "any": ["a"], "docs": 5}]]},
            "conversations item 2 turn 1: 'docs' must be a list of strings",
        ),
    ],
)
def test_load_pairs_rejects_malformed_input(tmp_path: Path, data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_pairs(_write_json(tmp_path / "bad.json", data))


def test_load_pairs_rejects_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"questions": [', encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_pairs(path)


# ----------------------------------------------------------------------------------------------------- helpers


def test_safe_name() -> None:
    assert safe_name("squad", 1, "Super Bowl 50") == "squad_0001_Super_Bowl_50.txt"
    assert safe_name("squad", 12, "Fresno, California") == "squad_0012_Fresno_California.txt"
    assert safe_name("clapnq", 3, "Ultraviolet–visible (UV)") == "clapnq_0003_Ultraviolet_visible_UV.txt"
    assert safe_name("clapnq", 4, "../etc/passwd") == "clapnq_0004_etc_passwd.txt"
    assert safe_name("clapnq", 5, "日本") == "clapnq_0005_untitled.txt"
    assert len(safe_name("x", 1, "word " * 100)) <= len("x_0001_") + 60 + len(".txt")


# ---------------------------------------------------------------------------------------------------- sampling


def _items_with_dialogues() -> list[EvalItem]:
    items = []
    for n in range(30):
        items.append(EvalItem(id=f"q{n}", question="?", answers=["a"], gold_docs=["d"]))
    for d in range(5):
        for t in range(3):
            items.append(
                EvalItem(id=f"c{d}.{t}", question="?", answers=["a"], gold_docs=["d"], dialogue=f"c{d}", turn=t)
            )
    return items


def test_sample_is_deterministic_and_ordered() -> None:
    items = _items_with_dialogues()
    first = sample(items, 12)
    assert first == sample(items, 12)
    assert len(first) <= 12
    positions = [items.index(item) for item in first]
    assert positions == sorted(positions)
    assert sample(items, 12, seed=14) != first


def test_sample_keeps_whole_dialogues() -> None:
    items = _items_with_dialogues()
    for limit in range(1, len(items)):
        chosen = sample(items, limit)
        assert len(chosen) == limit  # plenty of single items to fill up to the limit
        dialogues = {item.dialogue for item in chosen if item.dialogue}
        for dialogue in dialogues:
            assert [i.turn for i in chosen if i.dialogue == dialogue] == [0, 1, 2]


def test_sample_limits() -> None:
    items = _items_with_dialogues()
    assert sample(items, None) == items
    assert sample(items, len(items) + 5) == items
    assert sample(items, 0) == []
    with pytest.raises(ValueError):
        sample(items, -1)
    only_dialogue = items[30:33]
    assert sample(only_dialogue, 2) == only_dialogue  # never cut a conversation, even past the limit


def test_sample_corpus_keeps_whole_title_groups_their_questions_and_the_unanswerable_share() -> None:
    docs = [EvalDoc(name=f"{title}{n}.txt", text=f"Text {title} {n}.", title=title)
            for title in "abcdef" for n in range(3)]
    answerable = [EvalItem(id=f"q{d.name}", question="Which?", answers=["x"], gold_docs=[d.name]) for d in docs]
    unanswerable = [EvalItem(id=f"u{n}", question="Why?", answers=[], gold_docs=[]) for n in range(12)]
    full = EvalSet(name="toy", format="squad", items=answerable + unanswerable, docs=docs)

    sub = sample_corpus(full, 7)
    assert len(sub.docs) == 6 and len({d.title for d in sub.docs}) == 2  # two whole groups of three fit in 7
    kept = {d.name for d in sub.docs}
    assert [i for i in sub.items if i.answers] == [i for i in answerable if i.gold_docs[0] in kept]
    assert sum(1 for i in sub.items if not i.answers) == 4  # a third of the documents, a third of the unanswerable
    assert sub == sample_corpus(full, 7) and "corpus sampled" in sub.notes[-1]
    assert sample_corpus(full, 100) is full
    with pytest.raises(ValueError):
        sample_corpus(full, 0)


@needs_squad
def test_sample_on_real_data(squad) -> None:
    chosen = sample(squad.items, 200)
    assert len(chosen) == 200
    assert chosen == sample(squad.items, 200)
    assert len({item.id for item in chosen}) == 200


@needs_squad
def test_squad_parts_split_by_article(squad) -> None:
    tuning, validation = select_part(squad.items, "tuning"), select_part(squad.items, "validation")
    assert len(tuning) + len(validation) == len(squad.items) and tuning and validation
    # No paragraph (so no article) gives questions to both parts.
    assert not {d for i in tuning for d in i.gold_docs} & {d for i in validation for d in i.gold_docs}
    raw = json.loads(SQUAD_FILE.read_text(encoding="utf-8"))["data"]
    first_half = sum(len(p["qas"]) for article in raw[: (len(raw) + 1) // 2] for p in article["paragraphs"])
    assert len(tuning) == first_half


@needs_clapnq
def test_clapnq_parts_split_each_file_in_halves(clapnq) -> None:
    for part in ("tuning", "validation"):
        items = select_part(clapnq.items, part)
        assert sum(bool(i.answers) for i in items) == 75
        assert sum(not i.answers for i in items) == 75
    assert select_part(clapnq.items, "all") == clapnq.items


def test_select_part_refuses_an_unsplit_set_and_an_unknown_part(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.json"
    pairs.write_text(json.dumps({"questions": [{"q": "Where?", "any": ["here"], "docs": ["a.txt"]}]}), "utf-8")
    items = load_pairs(pairs).items
    assert select_part(items, None) == items
    with pytest.raises(ValueError, match="not split"):
        select_part(items, "validation")
    with pytest.raises(ValueError, match="unknown part"):
        select_part(items, "test")
