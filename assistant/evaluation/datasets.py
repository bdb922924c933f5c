"""Load evaluation sets into one common shape.

Three formats are supported, each turned into an `EvalSet` of `EvalItem`s (questions with gold answers and
gold documents) plus, where the set brings its own corpus, the `EvalDoc`s to index:

- "pairs": the project's own fixed question/answer format (see tests/data/README.md); it is scored against
  the configured corpus, so `docs` is None.
- "squad": SQuAD v1.1 JSON; one document per paragraph, text exactly the context, so the gold answer
  offsets are valid character spans into the document.
- "clapnq": ClapNQ jsonl (answerable and unanswerable files together); the corpus is the passages of both
  files, deduplicated by text, and unanswerable questions must be abstained on.

The harness can then index the documents, ask the items (dialogues in order, as one conversation) and score
them with `assistant.evaluation.metrics`, whatever the source format.
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = [
    "FORMATS",
    "EvalDoc",
    "EvalItem",
    "EvalSet",
    "detect_format",
    "load_clapnq",
    "load_eval_set",
    "load_pairs",
    "load_squad",
    "PARTS",
    "safe_name",
    "sample",
    "sample_corpus",
    "select_part",
]

FORMATS = ("pairs", "squad", "clapnq")
# Every data set used to choose anything is split in two: the tuning part may be used to fit or pick a rule, a
# weight or a threshold; the validation part never is, and every figure is reported on it. SQuAD splits by article
# (the first half of the file's articles tune), ClapNQ by line (the first half of each file tunes), so that no
# validation question shares its passage with a tuning one. A pairs file is one part as a whole (its name says which).
PARTS = ("tuning", "validation")


def part_of(position: int, count: int) -> str:
    """The part of the unit at 0-based `position` of `count` in file order: the first half (the middle one
    included, for an odd count) tunes."""
    return PARTS[0] if position < (count + 1) // 2 else PARTS[1]

# Answers some ClapNQ annotators typed instead of skipping; they are not answers.
_PLACEHOLDER_ANSWERS = frozenset({"na", "n/a"})


@dataclass(frozen=True)
class EvalDoc:
    """One corpus document that an evaluation set brings along.

    `name` is a safe, unique file name (e.g. "squad_0001_Super_Bowl_50.txt"), usable as the file to write
    and as the id that `EvalItem.gold_docs` refers to.
    """

    name: str
    text: str
    title: str


@dataclass(frozen=True)
class EvalItem:
    """One question with what counts as a right answer and where the answer is supported.

    `answers` empty means unanswerable: the assistant must abstain. Items sharing a `dialogue` id are asked in
    order of `turn` (0-based) within one conversation. `gold_spans` are (doc name, start, end) character
    offsets of gold answers (SQuAD) or selected sentences (ClapNQ) when known.
    """

    id: str
    question: str
    answers: list[str]
    gold_docs: list[str]
    dialogue: str | None = None
    turn: int = 0
    gold_spans: Sequence[tuple[str, int, int]] = ()
    part: str | None = None  # "tuning" or "validation" (see PARTS); None where the set is not split


@dataclass
class EvalSet:
    """A loaded evaluation set: its items and, unless scored against the configured corpus, its documents.

    `notes` records data quirks met while loading (merged duplicates, dropped placeholder answers) so that
    reports can state them.
    """

    name: str
    format: str
    items: list[EvalItem]
    docs: list[EvalDoc] | None
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------- helpers


def safe_name(prefix: str, number: int, title: str, max_title_chars: int = 60) -> str:
    """A portable file name "<prefix>_<number:04d>_<ascii title>.txt"; the number makes it unique."""
    decomposed = unicodedata.normalize("NFKD", title)
    unaccented = "".join(ch for ch in decomposed if not unicodedata.combining(ch))  # "Hōryū" -> "Horyu"
    slug = re.sub(r"[^A-Za-z0-9-]+", "_", unaccented).strip("_-")[:max_title_chars].rstrip("_-")
    return f"{prefix}_{number:04d}_{slug or 'untitled'}.txt"


def _unique(values: Iterable[Any]) -> list[Any]:
    """Values without repeats, first occurrence order kept."""
    return list(dict.fromkeys(values))


class _DocRegistry:
    """Builds the document list, mapping identical texts to one document."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.docs: list[EvalDoc] = []
        self._by_text: dict[str, EvalDoc] = {}
        self.duplicates = 0

    def add(self, text: str, title: str) -> EvalDoc:
        existing = self._by_text.get(text)
        if existing is not None:
            self.duplicates += 1
            return existing
        doc = EvalDoc(name=safe_name(self.prefix, len(self.docs) + 1, title), text=text, title=title)
        self.docs.append(doc)
        self._by_text[text] = doc
        return doc


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: line {line_number} is not valid JSON ({exc})") from exc
            if not isinstance(row, dict):
                raise ValueError(f"{path}: line {line_number} is not a JSON object")
            rows.append(row)
    return rows


# ----------------------------------------------------------------------------------------------------- SQuAD


def load_squad(path: Path | str) -> EvalSet:
    """Load a SQuAD v1.1 JSON file: one document per paragraph, one item per question.

    Document text is exactly the paragraph context, so each gold span (doc, answer_start,
    answer_start + len(text)) selects the answer text. Repeated answers (several crowd workers marking the
    same span) are kept once. Identical contexts map to one document.
    """
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ValueError(f"{path}: not a SQuAD file (expected an object with a 'data' list)")
    registry = _DocRegistry("squad")
    items: list[EvalItem] = []
    articles = data["data"]
    for number, article in enumerate(articles):
        title = str(article.get("title", "")).replace("_", " ")
        part = part_of(number, len(articles))
        for paragraph in article["paragraphs"]:
            doc = registry.add(paragraph["context"], title)
            items.extend(_squad_item(qa, doc, part) for qa in paragraph["qas"])
    notes = []
    if registry.duplicates:
        notes.append(f"{registry.duplicates} paragraph(s) repeat an earlier context and share its document")
    return EvalSet(name=path.stem, format="squad", items=items, docs=registry.docs, notes=notes)


def _squad_item(qa: dict[str, Any], doc: EvalDoc, part: str | None = None) -> EvalItem:
    answers = qa.get("answers", [])
    spans = _unique((doc.name, a["answer_start"], a["answer_start"] + len(a["text"])) for a in answers)
    return EvalItem(
        id=str(qa["id"]),
        question=qa["question"].strip(),
        answers=_unique(a["text"] for a in answers),
        gold_docs=[doc.name],
        gold_spans=tuple(spans),
        part=part,
    )


# ---------------------------------------------------------------------------------------------------- ClapNQ


def load_clapnq(answerable_path: Path | str, unanswerable_path: Path | str | None) -> EvalSet:
    """Load ClapNQ answerable and unanswerable jsonl files into one set over one shared corpus.

    The corpus is the passages of both files, deduplicated by text (the unanswerable questions' passages act
    as distractors). Answerable items keep the annotators' non-empty answers (skipped annotations and "NA"
    placeholders dropped), gold_docs are the passages holding the selected sentences, and gold_spans locate
    those sentences in the passage text. Unanswerable items have no answers and no gold docs.
    """
    files = [Path(answerable_path)] + ([Path(unanswerable_path)] if unanswerable_path else [])
    registry = _DocRegistry("clapnq")
    items: list[EvalItem] = []
    dropped_placeholders = 0
    for path in files:
        rows = _read_jsonl(path)
        for line_number, row in enumerate(rows, start=1):
            item, dropped = _clapnq_item(row, registry, f"{path}: line {line_number}")
            part = part_of(line_number - 1, len(rows))
            items.append(replace(item, part=part))
            dropped_placeholders += dropped
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise ValueError(f"ClapNQ question id {item.id} occurs more than once")
        seen.add(item.id)
    notes = []
    if registry.duplicates:
        notes.append(f"{registry.duplicates} passage(s) repeat an earlier passage text and share its document")
    if dropped_placeholders:
        notes.append(f"{dropped_placeholders} placeholder answer(s) such as 'NA' dropped")
    name = files[0].stem.replace("_answerable", "").replace("_unanswerable", "")
    return EvalSet(name=name, format="clapnq", items=items, docs=registry.docs, notes=notes)


def _clapnq_item(row: dict[str, Any], registry: _DocRegistry, where: str) -> tuple[EvalItem, int]:
    """One ClapNQ question; also returns how many placeholder answers were dropped."""
    for key in ("id", "input", "passages"):
        if key not in row:
            raise ValueError(f"{where}: missing key {key!r}")
    passage_docs = [registry.add(p["text"], p.get("title", "")) for p in row["passages"]]
    outputs = row.get("output") or []
    texts = [str(o.get("answer") or "").strip() for o in outputs]
    answers = _unique(t for t in texts if t and t.casefold() not in _PLACEHOLDER_ANSWERS)
    dropped = sum(1 for t in texts if t and t.casefold() in _PLACEHOLDER_ANSWERS)
    if not answers:
        return EvalItem(id=str(row["id"]), question=row["input"].strip(), answers=[], gold_docs=[]), dropped
    sentences = _unique(s for o in outputs for s in (o.get("selected_sentences") or []))
    spans = _locate_sentences(sentences, passage_docs)
    gold_docs = _unique(name for name, _, _ in spans) or _unique(d.name for d in passage_docs)
    item = EvalItem(
        id=str(row["id"]),
        question=row["input"].strip(),
        answers=answers,
        gold_docs=gold_docs,
        gold_spans=tuple(spans),
    )
    return item, dropped


def _locate_sentences(sentences: Iterable[str], docs: Sequence[EvalDoc]) -> list[tuple[str, int, int]]:
    """Character spans of each sentence found verbatim in one of the docs, in document order."""
    spans: list[tuple[str, int, int]] = []
    for sentence in sentences:
        for doc in docs:
            start = doc.text.find(sentence) if sentence else -1
            if start >= 0:
                spans.append((doc.name, start, start + len(sentence)))
                break
    order = {doc.name: i for i, doc in enumerate(docs)}
    return sorted(_unique(spans), key=lambda span: (order[span[0]], span[1], span[2]))


# ----------------------------------------------------------------------------------------------------- pairs

_PAIR_KEYS = {"q", "any", "docs"}
_PAIR_OPTIONAL_KEYS = {"note"}
_PAIRS_TOP_KEYS = {"questions", "conversation", "conversations"}
_PAIRS_OPTIONAL_TOP_KEYS = {"note", "description"}


def load_pairs(path: Path | str) -> EvalSet:
    """Load the project's pairs format: single questions and dialogues scored against the configured corpus.

    Ids: "q<N>" for `questions` (N from 1); "conversation<N>" for the turns of a single `conversation`
    (numbered across its turns); "conversation<D>.<T>" for turn T of dialogue D in `conversations`.
    Malformed input raises ValueError naming the item and what is wrong.
    """
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: top level must be a JSON object with 'questions' and/or 'conversations'")
    unknown = set(data) - _PAIRS_TOP_KEYS - _PAIRS_OPTIONAL_TOP_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown top-level key(s) {sorted(unknown)}; expected {sorted(_PAIRS_TOP_KEYS)}")
    items: list[EvalItem] = []
    for n, raw in enumerate(_list_of(data, "questions", path), start=1):
        items.append(_pair_item(raw, f"{path}: questions item {n}", f"q{n}", None, 0))
    for t, raw in enumerate(_list_of(data, "conversation", path), start=1):
        where = f"{path}: conversation turn {t}"
        items.append(_pair_item(raw, where, f"conversation{t}", "conversation", t - 1))
    for d, dialogue in enumerate(_list_of(data, "conversations", path), start=1):
        if not isinstance(dialogue, list) or not dialogue:
            raise ValueError(f"{path}: conversations item {d} must be a non-empty list of turns")
        for t, raw in enumerate(dialogue, start=1):
            where = f"{path}: conversations item {d} turn {t}"
            items.append(_pair_item(raw, where, f"conversation{d}.{t}", f"conversation{d}", t - 1))
    if not items:
        raise ValueError(f"{path}: no questions found (expected 'questions' and/or 'conversations')")
    return EvalSet(name=path.stem, format="pairs", items=items, docs=None)


def _list_of(data: dict[str, Any], key: str, path: Path) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ValueError(f"{path}: '{key}' must be a list, got {type(value).__name__}")
    return value


def _string_list(raw: dict[str, Any], key: str, where: str) -> list[str]:
    value = raw[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: '{key}' must be a list of strings, got {json.dumps(value)[:80]}")
    if any(not v.strip() for v in value):
        raise ValueError(f"{where}: '{key}' contains an empty string")
    return list(value)


def _pair_item(raw: Any, where: str, item_id: str, dialogue: str | None, turn: int) -> EvalItem:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: must be an object with 'q', 'any' and 'docs', got {type(raw).__name__}")
    missing = sorted(_PAIR_KEYS - set(raw))
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing}")
    unknown = sorted(set(raw) - _PAIR_KEYS - _PAIR_OPTIONAL_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: q, any, docs, note")
    question = raw["q"]
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"{where}: 'q' must be a non-empty string")
    answers = _string_list(raw, "any", where)
    docs = _string_list(raw, "docs", where)
    if bool(answers) != bool(docs):
        raise ValueError(f"{where}: 'any' and 'docs' must be both empty (unanswerable) or both non-empty (answerable)")
    return EvalItem(
        id=item_id, question=question.strip(), answers=answers, gold_docs=docs, dialogue=dialogue, turn=turn
    )


# ------------------------------------------------------------------------------------- detection and loading


def detect_format(path: Path | str) -> str:
    """Tell "pairs", "squad" or "clapnq" apart by the file's content, not its name.

    JSON lines whose objects have "input" and "passages" are ClapNQ; a JSON object with "data" and "version"
    is SQuAD; one with "questions", "conversation" or "conversations" is the pairs format.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError:
        first_line = next((line for line in text.splitlines() if line.strip()), "")
        try:
            data = json.loads(first_line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: neither JSON nor JSON lines ({exc})") from exc
    if isinstance(data, dict):
        if {"input", "passages"} <= set(data):
            return "clapnq"
        if {"data", "version"} <= set(data):
            return "squad"
        if set(data) & _PAIRS_TOP_KEYS:
            return "pairs"
    raise ValueError(
        f"{path}: unknown evaluation format; expected ClapNQ jsonl (input/passages), SQuAD JSON "
        "(data/version) or pairs JSON (questions/conversations)"
    )


def _clapnq_sibling(path: Path) -> Path | None:
    """The other file of a ClapNQ answerable/unanswerable pair, when it exists."""
    name = path.name
    if "_unanswerable" in name:
        other = name.replace("_unanswerable", "_answerable")
    elif "_answerable" in name:
        other = name.replace("_answerable", "_unanswerable")
    else:
        return None
    sibling = path.with_name(other)
    return sibling if sibling.exists() else None


def _is_unanswerable_file(path: Path) -> bool:
    if "_unanswerable" in path.name:
        return True
    if "_answerable" in path.name:
        return False
    rows = _read_jsonl(path)
    return all(not str(o.get("answer") or "").strip() for row in rows for o in row.get("output") or [])


def _load_clapnq_paths(paths: list[Path]) -> EvalSet:
    if len(paths) == 1:
        sibling = _clapnq_sibling(paths[0])
        if sibling is None:
            warnings.warn(
                f"{paths[0]}: no answerable/unanswerable sibling file found; loading it alone",
                stacklevel=3,
            )
        else:
            paths = [paths[0], sibling]
    if len(paths) > 2:
        raise ValueError(f"ClapNQ takes an answerable and an unanswerable file, got {len(paths)} files")
    ordered = sorted(paths, key=_is_unanswerable_file)  # answerable first
    return load_clapnq(ordered[0], ordered[1] if len(ordered) > 1 else None)


def load_eval_set(paths: Sequence[Path | str], format: str | None = None) -> EvalSet:
    """Load an evaluation set from its file(s), detecting the format from content unless given.

    ClapNQ takes its answerable and unanswerable files; given just one, the sibling file (same name with
    "_answerable"/"_unanswerable" swapped) is picked up automatically. SQuAD and pairs take one file.
    """
    files = [Path(p) for p in paths]
    if not files:
        raise ValueError("no evaluation file given")
    for file in files:
        if not file.is_file():
            raise FileNotFoundError(f"evaluation file not found: {file}")
    if format is None:
        detected = {detect_format(f) for f in files}
        if len(detected) > 1:
            raise ValueError(f"evaluation files have different formats: {sorted(detected)}")
        format = detected.pop()
    if format not in FORMATS:
        raise ValueError(f"unknown evaluation format {format!r}; expected one of {FORMATS}")
    if format == "clapnq":
        return _load_clapnq_paths(files)
    if len(files) != 1:
        raise ValueError(f"the {format} format takes one file, got {len(files)}")
    return load_squad(files[0]) if format == "squad" else load_pairs(files[0])


# -------------------------------------------------------------------------------------------------- sampling


def select_part(items: Sequence[EvalItem], part: str | None) -> list[EvalItem]:
    """The items of one part ("tuning" or "validation"); every item for None or "all".

    Raises ValueError for an unknown part, or when the set is not split (a pairs file is one part as a whole).
    """
    if part in (None, "all"):
        return list(items)
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; expected one of {PARTS} or 'all'")
    if not any(item.part for item in items):
        raise ValueError("this evaluation set is not split into parts: its file as a whole is one part")
    return [item for item in items if item.part == part]


def sample(items: Sequence[EvalItem], limit: int | None, seed: int = 13) -> list[EvalItem]:
    """A reproducible subset of at most `limit` items, whole dialogues kept, original order kept.

    Units (single items or whole dialogues) are shuffled with a fixed seed and taken while they fit in the
    limit. If no unit fits (every dialogue is longer than the limit) the first shuffled unit is returned
    whole rather than cutting a conversation. `limit` None or >= len(items) returns every item.
    """
    if limit is None or limit >= len(items):
        return list(items)
    if limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")
    units: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        key = f"dialogue:{item.dialogue}" if item.dialogue is not None else f"item:{index}"
        units.setdefault(key, []).append(index)
    groups = list(units.values())
    random.Random(seed).shuffle(groups)
    chosen: list[int] = []
    for group in groups:
        if len(chosen) + len(group) <= limit:
            chosen.extend(group)
        if len(chosen) == limit:
            break
    if not chosen and limit > 0 and groups:
        chosen = list(groups[0])
    return [items[i] for i in sorted(chosen)]


def sample_corpus(eval_set: EvalSet, max_docs: int, seed: int = 13) -> EvalSet:
    """A reproducible smaller set over part of the corpus: whole title groups of documents (a SQuAD article's
    paragraphs, a ClapNQ page's passages), shuffled with a fixed seed and taken while they fit in `max_docs`; the
    answerable items whose gold documents all lie in it, and the same share of the unanswerable items (they name no
    document), drawn with the same seed, so the set keeps its mix of answerable and unanswerable questions.

    Whole groups keep each question's hardest distractors (the other paragraphs of its own article) in the corpus,
    so a sample asks the same kind of question at a fraction of the indexing. A set without documents (pairs,
    scored against the configured corpus) or one that fits already is returned as is.
    """
    if max_docs < 1:
        raise ValueError(f"max_docs must be at least 1, got {max_docs}")
    if eval_set.docs is None or len(eval_set.docs) <= max_docs:
        return eval_set
    groups: dict[str, list[EvalDoc]] = {}
    for doc in eval_set.docs:
        groups.setdefault(doc.title or doc.name, []).append(doc)
    order = list(groups.values())
    random.Random(seed).shuffle(order)
    kept: set[str] = set()
    for group in order:
        if len(kept) + len(group) <= max_docs:
            kept.update(doc.name for doc in group)
    docs = [doc for doc in eval_set.docs if doc.name in kept]
    unanswerable = [item.id for item in eval_set.items if not item.answers]
    drawn = set(random.Random(seed).sample(unanswerable, round(len(docs) / len(eval_set.docs) * len(unanswerable))))
    items = [item for item in eval_set.items
             if item.id in drawn or (item.answers and all(name in kept for name in item.gold_docs))]
    note = f"corpus sampled: {len(docs)} of {len(eval_set.docs)} documents (whole title groups, seed {seed})"
    return replace(eval_set, items=items, docs=docs, notes=[*eval_set.notes, note])
