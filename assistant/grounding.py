"""Grounding: an LLM reply with `[n]` marks turned into verified, span-exact citations.

Three steps, each a pure function of the reply and the numbered evidence sentences: parse the marks
(`parse_reply`), verify that each cited sentence supports the answer phrase (`check_reply`, `supports`), and
locate the phrase in the source's own characters (`locate`, `locate_reworded`, `locate_supported_words`, then
`short_answer_from` widens it as the widening rules say, assistant/rules/widen.py).

The model only ever sees numbered evidence sentences, so mark `[n]` names sentence n, whose exact span in its
document is known. Each mark is checked before it is shown: the claim must be supported by the cited sentence,
meaning the answer phrase occurs in it (after normalising case, punctuation and spacing) or most of the
claim's content words do. Unsupported marks are dropped; an answer left with no supported mark is not shown as an
answer at all (the pipeline abstains). Quotes are always the source's own characters, never the model's.

Example:
    >>> parse_reply("Norden [2]")
    ('Norden', [2])
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.evidence import Evidence
from assistant.rules import Rules
from assistant.rules.widen import widened_span
from assistant.text import STOP_WORDS, content_terms, with_digits, word_key, words
from assistant.types import Citation

MARK_RE = re.compile(r"\[(\d{1,2}(?:\s*,\s*\d{1,2})*)\]")
# A mark written out at the end of a reply: "(sentence 2)", "Sentence number: 2", "- sentence #2".
SPELLED_MARK_RE = re.compile(r"[\s(,;:\-\u2013]*\bsentence\s*(?:number|no\.?|#)?\s*:?\s*(\d{1,2})\s*\)?[\s.]*$",
                             re.IGNORECASE)
NOT_FOUND_RE = re.compile(r"\b(not found|not mentioned|not (stated|specified|provided|available|given)|"
                          r"(do|does|did) not (say|mention|contain|state|specify|provide)|no information|"
                          r"cannot (be )?(answer|determine|find)|can't (answer|determine|find)|unknown|"
                          r"i don't know|i do not know)\b", re.IGNORECASE)
# Share of a claim's content words that must appear in the cited sentence when the phrase itself does not:
# high enough to reject a mark on an unrelated sentence, low enough to accept a light paraphrase.
MIN_TERM_SUPPORT = 0.6


@dataclass
class CheckedAnswer:
    """The verified reply: the answer phrase, and the evidence sentences that support it (in mark order)."""

    phrase: str
    supported: list[Evidence]
    dropped_marks: list[int]
    said_not_found: bool


def parse_reply(reply: str) -> tuple[str, list[int]]:
    """Split a reply into the answer text without marks and the mark numbers in order of appearance."""
    marks: list[int] = []
    for match in MARK_RE.finditer(reply):
        for number in match.group(1).split(","):
            value = int(number)
            if value not in marks:
                marks.append(value)
    phrase = MARK_RE.sub("", reply)
    spelled = SPELLED_MARK_RE.search(phrase)
    if spelled:
        # "Ada Brook Sentence number: 2": a model may write its mark out in words.
        phrase = phrase[:spelled.start()]
        marks += [] if int(spelled.group(1)) in marks else [int(spelled.group(1))]
    phrase = re.sub(r"^\s*(answer|a)\s*:\s*", "", phrase, flags=re.IGNORECASE)
    phrase = re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"\s+", " ", phrase)).strip().strip(" .;,")
    return phrase, marks


def normalise(text: str) -> str:
    """Case-, accent-, punctuation- and space-insensitive form, for 'does this phrase occur here'."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    # A possessive is the same word: "Harbour Board" occurs in "the Harbour Board's new chairman"
    # (removing only the apostrophe made "generals", and the echo went unnoticed).
    text = re.sub(r"[\u2019'`]s\b", "", text)
    text = re.sub(r"[\u2018\u2019\u201c\u201d\"'`]", "", text)
    text = re.sub(r"[^\w]+", " ", text)
    return " ".join(w for w in text.split() if w not in ("a", "an", "the"))


def supports(phrase: str, sentence: str) -> bool:
    """Whether `sentence` backs the claim `phrase`: the phrase occurs in it, or most of its content words do."""
    norm_phrase, norm_sentence = normalise(phrase), normalise(sentence)
    if not norm_phrase:
        return False
    if f" {norm_phrase} " in f" {norm_sentence} ":
        return True
    # A number may be written in digits by one and in words by the other ("3 years", "the three-year conflict").
    terms = set(content_terms(with_digits(phrase)))
    if not terms:
        return False
    present = set(content_terms(with_digits(sentence)))
    return len(terms & present) / len(terms) >= MIN_TERM_SUPPORT


def occurs_in(phrase: str, sentence: str) -> bool:
    """Whether `sentence` says `phrase` word for word, each word compared by `word_key` (its stem, a number in
    digits or in words): "struggles for credibility" occurs in "has struggled for credibility"."""
    wanted = [word_key(w) for w in words(normalise(phrase))]
    have = [word_key(w) for w in words(normalise(sentence))]
    return bool(wanted) and any(have[i:i + len(wanted)] == wanted for i in range(len(have) - len(wanted) + 1))


def snap_phrase(phrase: str, sentence: str) -> str | None:
    """The source's own words that `phrase` miscopies by a character or two ("1954–1763" for "1754–1763").

    A small model copying a span sometimes slips on a digit or a letter; the span it meant is the stretch of
    whole words of the sentence most like the phrase, if at least SNAP_MIN_RATIO alike. None when nothing is.
    """
    target = phrase.lower()
    if len(target) < SNAP_MIN_CHARS:
        return None
    tokens = list(re.finditer(r"\S+", sentence))
    count = len(phrase.split())
    best, best_ratio = None, SNAP_MIN_RATIO
    for size in {max(1, count - 1), count, count + 1}:
        for i in range(len(tokens) - size + 1):
            start, end = tokens[i].start(), tokens[i + size - 1].end()
            candidate = sentence[start:end].strip(".,;:!?\"'()[]")
            ratio = difflib.SequenceMatcher(None, target, candidate.lower()).ratio()
            if ratio > best_ratio:
                best, best_ratio = candidate, ratio
    return best


# A miscopied phrase is snapped to the source when at least this alike (one wrong character in a 9-character
# date is 0.89) and at least this long (shorter phrases are too easily alike by chance).
SNAP_MIN_RATIO = 0.85
SNAP_MIN_CHARS = 4


def check_reply(reply: str, evidence: Sequence[Evidence]) -> CheckedAnswer:
    """Verify every mark of `reply` against the numbered `evidence` (1-based)."""
    phrase, marks = parse_reply(reply)
    said_not_found = bool(NOT_FOUND_RE.search(reply)) and len(phrase.split()) <= 12
    supported: list[Evidence] = []
    dropped: list[int] = []
    first = marks[0] if marks else 0
    if not phrase and not said_not_found and 1 <= first <= len(evidence) and evidence[first - 1].role:
        # A bare "[3]" on a header line points at the whole line as the answer ("the headline of the article
        # dated ..."): take it. On a sentence of the body it says nothing about which words answer.
        phrase = evidence[first - 1].text.strip()
    if phrase and not said_not_found and 1 <= first <= len(evidence) and not supports(phrase, evidence[first - 1].text):
        phrase = snap_phrase(phrase, evidence[first - 1].text) or phrase
    for mark in marks:
        if 1 <= mark <= len(evidence) and supports(phrase, evidence[mark - 1].text):
            supported.append(evidence[mark - 1])
        else:
            dropped.append(mark)
    if not supported and phrase and not said_not_found:
        # The model often forgets the mark, or gives the wrong one: accept the phrase if it occurs in exactly the
        # sentences it came from, a number in digits or in words ("7" for "seven independent schools"), a word in
        # another inflection ("fail to convince" for "failed to convince").
        supported = [e for e in evidence if supports(phrase, e.text) and occurs_in(phrase, e.text)][:1]
    return CheckedAnswer(phrase=phrase, supported=supported, dropped_marks=dropped, said_not_found=said_not_found)


def locate(phrase: str, text: str) -> tuple[int, int] | None:
    """Where `phrase` occurs in `text`, ignoring case and spacing, preferring whole words; None when it does not."""
    if not phrase.strip():
        return None
    stripped = phrase.strip()
    # A number is never the inside of another: "2" is not the last digit of "1952" (the model wrote "2" for the
    # source's "only two television stations", which `locate_reworded` then finds).
    pattern = ((r"(?<!\d)" if stripped[0].isdigit() else "") + r"\s+".join(re.escape(part) for part in phrase.split())
               + (r"(?!\d)" if stripped[-1].isdigit() else ""))
    # A match on word boundaries first: "art" is the word in "then art came", not the inside of "party".
    bounded = rf"{_edge(stripped[0])}{pattern}{_edge(stripped[-1])}"
    match = re.search(bounded, text, flags=re.IGNORECASE) or re.search(pattern, text, flags=re.IGNORECASE)
    return (match.start(), match.end()) if match else None


def locate_reworded(phrase: str, text: str) -> tuple[int, int] | None:
    """Where the source says what `phrase` rewords: the span of `text` that starts and ends with the phrase's first
    and last words and shares most of its words ("November 2006 to May 2008" -> "November 2006 and May 2008").

    The small model now and then changes a joining word or drops one of a list while copying; the answer must
    still show the source's own characters. Words are compared by `word_key`: a plural or a number written in
    digits is the same word ("3 years" -> "three-year"). A span may differ in length from the phrase by
    `_REWORDED_SLACK` words and must reach a word F1 of `_REWORDED_MIN_F1`; the best-scoring span wins, the first
    on a tie.
    """
    wanted = [word_key(w) for w in words(phrase)]
    if not wanted:
        return None
    tokens = list(re.finditer(r"\w+", text))
    lowered = [word_key(t.group(0)) for t in tokens]
    best: tuple[float, int, int] | None = None
    for i, first in enumerate(lowered):
        if first != wanted[0]:
            continue
        for j in range(i, min(len(tokens), i + len(wanted) + _REWORDED_SLACK)):
            if lowered[j] != wanted[-1] or abs((j - i + 1) - len(wanted)) > _REWORDED_SLACK:
                continue
            common = sum((Counter(lowered[i:j + 1]) & Counter(wanted)).values())
            f1 = 2 * common / (j - i + 1 + len(wanted))
            if f1 >= _REWORDED_MIN_F1 and (best is None or f1 > best[0]):
                best = (f1, tokens[i].start(), tokens[j].end())
    return (best[1], best[2]) if best else None


def locate_supported_words(phrase: str, text: str) -> tuple[int, int] | None:
    """The shortest stretch of `text` that holds every content word of `phrase` it has, when the phrase also says
    content words that `text` does not; None when it says none of them, or nothing else.

    `supports` accepts a light paraphrase (most of the content words present), but the words it adds are the
    model's, not the source's: "The council said there was an 'urgent need' for both ferries and沙特" (a stray
    word in another script, and the council for the mayor) is shown as the source's "urgent need” for both
    ferries". A phrase made only of the source's words in the source's order ("Paris and London" of a sentence
    naming both) is a fair summary and is left to the caller. The same words in another order may say what the
    source does not ("Norden's harbour towns" of "the League of Norden, a grouping of towns that back the harbour
    board", asked who backs the board): the stretch that holds them is shown instead.
    """
    ordered = [word_key(w) for w in words(with_digits(phrase)) if w not in STOP_WORDS]
    wanted = set(ordered)
    tokens = list(re.finditer(r"\w+", text))
    keys = [word_key(t.group(0)) for t in tokens]
    present = wanted & set(keys)
    if not present:
        return None
    best: tuple[int, int] | None = None
    for i, key in enumerate(keys):
        if key not in present:
            continue
        seen: set[str] = set()
        for j in range(i, len(keys)):
            seen.add(keys[j])
            if present <= seen:
                if best is None or j - i < best[1] - best[0]:
                    best = (i, j)
                break
    assert best is not None  # every key of `present` occurs in `keys`
    if present == wanted:
        stretch = keys[best[0]:best[1] + 1]
        firsts = [stretch.index(key) for key in dict.fromkeys(ordered)]
        if firsts == sorted(firsts):
            return None
    if best[1] - best[0] + 1 > _MAX_STRETCH_PER_WORD * len(re.findall(r"\w+", phrase)) + 2:
        # The words lie far apart, so the stretch says something else: "Carl Olsson" (another document's
        # spelling) of "... Karl Olsson said: 'We all agreed that there is no place for Carl Berg'" spans
        # "Olsson ... Carl". The longest run of words that are the phrase's, or spelt nearly alike, stands in.
        best = _nearly_spelt_run(phrase, tokens, keys)
        if best is None:
            return None
    start, end = tokens[best[0]].start(), tokens[best[1]].end()
    # An opening quotation mark just before the stretch belongs to it when the stretch holds the closing one.
    if start > 0 and text[start - 1] in _OPENING_QUOTES and any(q in text[start:end] for q in _CLOSING_QUOTES):
        start -= 1
    return start, end


def _nearly_spelt_run(phrase: str, tokens: list[re.Match[str]], keys: list[str]) -> tuple[int, int] | None:
    """The first longest run of tokens that are words of `phrase` or spelt nearly like one ("Ahmed" for "Ahmad"),
    holding at least one that is; None when there is none."""
    said = [w for w in words(with_digits(phrase)) if w not in STOP_WORDS]
    wanted = {word_key(w) for w in said}

    def alike(index: int) -> bool:
        word = tokens[index].group(0).lower()
        return keys[index] in wanted or (len(word) >= 4 and any(
            len(w) >= 4 and difflib.SequenceMatcher(None, word, w).ratio() >= _NEARLY_ALIKE for w in said))

    best: tuple[int, int] | None = None
    i = 0
    while i < len(keys):
        j = i
        while j < len(keys) and alike(j):
            j += 1
        if j > i and any(k in wanted for k in keys[i:j]) and (best is None or j - i > best[1] - best[0] + 1):
            best = (i, j - 1)
        i = max(j, i + 1)
    return best


def longest_shared_run(phrase: str, text: str) -> tuple[int, int] | None:
    """The span of the longest run of words that `text` says in the same order as `phrase` does (each compared by
    `word_key`), the first on a tie; None when they share no word.

    A reply that puts the source's words together in its own way ("Christ's life is nothing more than an
    illustration of the Ten Commandments" of "Christ's life, when understood as an example, is nothing more than
    an illustration of the Ten Commandments") still copies its longest stretch from the source.
    """
    wanted = [word_key(w) for w in words(phrase)]
    tokens = list(re.finditer(r"\w+", text))
    keys = [word_key(t.group(0)) for t in tokens]
    best: tuple[int, int] | None = None
    for i in range(len(keys)):
        for j in range(len(wanted)):
            size = 0
            while i + size < len(keys) and j + size < len(wanted) and keys[i + size] == wanted[j + size]:
                size += 1
            if size and (best is None or size > best[1] - best[0]):
                best = (i, i + size)
    return (tokens[best[0]].start(), tokens[best[1] - 1].end()) if best else None


# A stretch longer than twice the phrase's words (plus two) is not the phrase's words together.
_MAX_STRETCH_PER_WORD = 2
_NEARLY_ALIKE = 0.75  # "ahmed"/"ahmad" 0.8; "olsson"/"olsen" 0.73 (not alike); "berry"/"perry" 0.8


_OPENING_QUOTES = "\u201c\u2018\""
_CLOSING_QUOTES = "\u201d\u2019\""


# Two words of slack and an F1 of 0.6 take a changed joining word or one list item more or less ("A, B, C and D"
# for "A, B, C, D"), but not a different span that merely starts and ends alike.
_REWORDED_SLACK = 2
_REWORDED_MIN_F1 = 0.6


def _edge(char: str) -> str:
    return r"\b" if re.match(r"\w", char) else ""


def short_answer_from(phrase: str, cited: Sequence[Evidence], question: str = "", rules: Rules | None = None) -> str:
    """The answer phrase as the source writes it (its own characters), when it can be found there.

    The span is widened (`widened_span`) to what a reader asking `question` is shown. A phrase that says words the
    source does not is shown as the stretch of the source that holds the words it does say
    (`locate_supported_words`); one made only of the source's words stays as the model wrote it.
    """
    for evidence in cited:
        span = (locate(phrase, evidence.text) or locate_reworded(phrase, evidence.text)
                or locate_supported_words(phrase, evidence.text))
        if span:
            start, end = widened_span(evidence.text, *span, question, rules)
            return evidence.text[start:end]
    return phrase


def to_citations(cited: Sequence[Evidence]) -> list[Citation]:
    """Number the supporting sentences 1..n in order: those numbers are the marks shown in the answer."""
    return [Citation(id=i, doc=e.doc, start=e.start, end=e.end, quote=e.text, score=e.score, title=e.title,
                     chunk_id=e.chunk_id) for i, e in enumerate(cited, start=1)]


def marks_of(citations: Sequence[Citation]) -> str:
    """The answer line's citation marks, "[1][2]", in the citations' order."""
    return "".join(f"[{c.id}]" for c in citations)


