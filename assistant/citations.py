"""Turn an LLM reply with `[n]` marks into verified, span-exact citations.

The model only ever sees numbered evidence sentences, so mark `[n]` names sentence n, whose exact span in its
document is known. Each mark is checked before it is shown: the claim must be supported by the cited sentence,
meaning the answer phrase occurs in it (after normalising case, punctuation and spacing) or most of the
claim's content words do. Unsupported marks are dropped; an answer left with no supported mark is not shown as an
answer at all (the pipeline abstains). Quotes are always the source's own characters, never the model's.

Example:
    >>> parse_reply("Montreux [2]")
    ('Montreux', [2])
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
from assistant.text import (
    ACRONYM_JOINERS,
    STOP_WORDS,
    asked_speaker,
    content_terms,
    enclosing_conjunct,
    enclosing_date,
    enclosing_deed,
    enclosing_direction,
    named_speakers,
    reports_speech,
    whole_name,
    with_digits,
    word_key,
    words,
)
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
        # "Laurent Fabius Sentence number: 2": a model may write its mark out in words.
        phrase = phrase[:spelled.start()]
        marks += [] if int(spelled.group(1)) in marks else [int(spelled.group(1))]
    phrase = re.sub(r"^\s*(answer|a)\s*:\s*", "", phrase, flags=re.IGNORECASE)
    phrase = re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"\s+", " ", phrase)).strip().strip(" .;,")
    return phrase, marks


def normalise(text: str) -> str:
    """Case-, accent-, punctuation- and space-insensitive form, for 'does this phrase occur here'."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    # A possessive is the same word: "UN Secretary General" occurs in "the UN Secretary General's top envoy"
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
    model's, not the source's: "Russia said there was an 'absolutely apparent need' for the participation of both
    Iran and沙特" (a stray word in Chinese, and Russia for Lavrov) is shown as the source's "absolutely apparent
    need” for the participation of both Iran". A phrase made only of the source's words in the source's order
    ("Paris and London" of a sentence naming both) is a fair summary and is left to the caller. The same words in
    another order may say what the source does not ("Syria's opposition Nations" of "the Friends of Syria, a
    grouping of nations that back the Syrian opposition", asked who backs the opposition): the stretch that holds
    them is shown instead.
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
        # The words lie far apart, so the stretch says something else: "Ahmad Al-Jarba" (the other article's
        # spelling) of "... Ahmed Jarba said: 'We all agreed that there is no future for Bashar al-Assad'" spans
        # "Jarba ... Bashar al". The longest run of words that are the phrase's, or spelt nearly alike, stands in.
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
_NEARLY_ALIKE = 0.75  # "ahmed"/"ahmad" 0.8; "syria"/"syrian" 0.91; "kerry"/"perry" 0.8


_OPENING_QUOTES = "\u201c\u2018\""
_CLOSING_QUOTES = "\u201d\u2019\""


# Two words of slack and an F1 of 0.6 take a changed joining word or one list item more or less ("A, B, C and D"
# for "A, B, C, D"), but not a different span that merely starts and ends alike.
_REWORDED_SLACK = 2
_REWORDED_MIN_F1 = 0.6


# A word as the source writes it: a number with its separators ("1,388", "3.6"), a word with the lower-case
# words hyphenated to it ("black-and-yellow"; but "UN-Arab League" is two names). Apostrophes are left out:
# "Luther" must not grow into "Luther's".
_WHOLE_WORD = re.compile(r"(?:\d+(?:[.,]\d+)*|\w+)(?:-(?:\d+(?:[.,]\d+)*|[a-z]\w*))*")


# A name before a hyphen is whole without the word hyphened to it: "English-medium" schools teach in English,
# a "Norman Foster-designed" building is Foster's. Of SQuAD-even dev gold answers that stop at a hyphen in
# the passage, 5 stop after a name so (no gold takes such a compound whole); "NP-complete" (capitals) is one word.
_NAME_BEFORE_HYPHEN = re.compile(r"\b[A-Z][a-z]+-$")


def whole_words(text: str, start: int, end: int) -> tuple[int, int]:
    """The span start:end widened to the whole words it touches, so a located phrase never cuts a word: "1"
    found in "1,388" is "1,388", "black" in "black-and-yellow" is "black-and-yellow", "34m" in "£34m" is "£34m";
    but "English" in "English-medium" stays "English"."""
    for match in _WHOLE_WORD.finditer(text):
        if match.start() < start < match.end():
            start = match.start()
        if match.start() < end < match.end() and not _NAME_BEFORE_HYPHEN.search(text, 0, end + 1):
            end = match.end()
    # A sum keeps its currency sign: "34m" found in "£34m" is "£34m" (the sign is not a word character).
    if 0 < start < len(text) and text[start].isdigit() and unicodedata.category(text[start - 1]) == "Sc":
        start -= 1
    return start, end


def _edge(char: str) -> str:
    return r"\b" if re.match(r"\w", char) else ""


# A question about a document's own header: "What is the headline of the article dated ...?", "What is the date of
# the article <headline>?". The answer is that header's line of the role asked for.
_ASKED_ROLES = (
    ("headline", re.compile(r"\b(what|which)\s+(is|was)\s+the\s+(headline|title)\b", re.IGNORECASE)),
    # "the date of the Daily Courier article", "When was the February 3 story published?"
    ("date line", re.compile(r"\b(what|which)\s+(is|was)\s+the\s+(date|publication date)\s+of\s+the\s+"
                             r"(?:[\w.'’-]+\s+){0,5}?(article|story|report|piece)\b|\bwhen\s+was\s+the\s+"
                             r"(?:[\w.'’-]+\s+){0,5}?(article|story|report|piece)\b", re.IGNORECASE)),
)


def asked_header_role(question: str) -> str | None:
    """"headline" or "date line" when the question asks for that line of an article's header, else None."""
    return next((role for role, pattern in _ASKED_ROLES if pattern.search(question)), None)


def asked_header_line(cited: Evidence, evidence: Sequence[Evidence], question: str) -> Evidence | None:
    """The line of `cited`'s header that the question asks for, when `cited` is another line of that header.

    Asked "the headline of the article dated February 3", the date line is what matches the question, but the
    line that answers it is that header's headline (None when the question asks for no header line, `cited` is
    body text or already the line asked for, or the evidence holds no such line).
    """
    role = asked_header_role(question)
    if role is None or not cited.role or cited.role == role:
        return None
    return next((e for e in evidence if e.doc == cited.doc and e.role == role), None)


def answer_the_asked_line(checked: CheckedAnswer, evidence: Sequence[Evidence], question: str) -> CheckedAnswer:
    """The header line the question asks for, when the reply cites another line of the same header.

    The small model cites the line it matched (`asked_header_line`); a citation is checked for the kind of line
    asked for as it is for support. The line the model cited stays cited after it: it is what ties the answer
    to the question (the date asked about).
    """
    cited = checked.supported[0] if checked.supported else None
    line = asked_header_line(cited, evidence, question) if cited else None
    if line is None:
        return checked
    return CheckedAnswer(phrase=line.text.strip(), supported=[line, cited], dropped_marks=checked.dropped_marks,
                         said_not_found=False)


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


def widened_span(text: str, start: int, end: int, question: str = "", rules: Rules | None = None
                 ) -> tuple[int, int]:
    """A phrase located at start:end of the sentence `text`, widened to what a reader asking `question` is shown:
    whole words; for a "when" question the whole date, for "where" the compass word before the place, for "What
    did they fail to do?" the whole deed; a name with the capitalised words that go on
    with it; an acronym with the words it stands for; a clause the phrase leaves open, closed. Every located
    answer goes through here, whichever way it was found; each step is a rule of `assistant.rules` (`rules`: which
    are on, and a record of those that changed the span; all on without it)."""
    rules = rules or Rules()
    span = whole_words(text, start, end)
    for name, widen in (("widen_date", enclosing_date), ("widen_direction", enclosing_direction),
                        ("widen_deed", enclosing_deed)):
        widened = rules.apply(name, widen, question, text, *span)
        if widened:
            span = widened
            break
    span = rules.transform("widen_acronym", lambda s: spelled_out(text, *s), span)
    for name, widen in (("widen_name", whole_name), ("widen_conjunct", enclosing_conjunct)):
        span = rules.transform(name, lambda s, w=widen: w(question, text, *s) or s, span)
    return span[0], rules.transform("close_clause", lambda e: _past_dangling_word(text, span[0], e), span[1])


def spelled_out(text: str, start: int, end: int) -> tuple[int, int]:
    """The span of an acronym text[start:end] widened to the words it abbreviates when the source writes it in
    brackets right after them ("Alpha Repertory Television Service (ARTS)"): the name is what a reader asked "What
    channel did ABC launch in 1981?" wants, and SQuAD's annotators take it too (the first answer of 11 of the 12
    SQuAD-even dev questions whose answer is an acronym written so). Any other span is returned as it is."""
    acronym = text[start:end]
    opening = re.search(r"\(\s*$", text[:start])
    closing = re.match(r"\s*\)", text[end:])
    if not (re.fullmatch(r"[A-Z]{2,8}", acronym) and opening and closing):
        return start, end
    wanted, initials = acronym.lower(), ""
    for token in reversed(list(re.finditer(r"[\w'’-]+", text[:opening.start()]))[-2 * len(acronym):]):
        word = token.group(0)
        if initials and word.lower() in ACRONYM_JOINERS:
            continue
        initials = word[0].lower() + initials
        if initials == wanted:
            begin = token.start()
            last = text[begin:opening.start()].rstrip()[-1:]
            quoted = begin > 0 and text[begin - 1] in "\"\u201c" and last in ("\"", "\u201d")
            return begin - quoted, end + closing.end()  # a quoted expansion keeps its opening quote
        if not wanted.endswith(initials):
            break
    return start, end


def _past_dangling_word(text: str, start: int, end: int) -> int:
    """Where the phrase text[start:end] ends once a clause it leaves open is closed: "failed to convince the
    Coalition to reverse its decision not to" stops mid-clause (the model stopped there); the source's "attend
    Geneva 2" completes it. The clause runs to the next comma, semicolon, colon or the sentence's end."""
    last = re.search(r"(\w+)\W*$", text[start:end])
    if not last or last.group(1).lower() not in _DANGLING_WORDS:
        return end
    stop = _CLAUSE_END.search(text, end)
    return stop.start() if stop else len(text)


_CLAUSE_END = re.compile(r"[,;:]\s|[.!?]?\s*$|[.!?]\s")
# Words that cannot end a phrase: a preposition, an article, a conjunction or the "to" of an infinitive.
_DANGLING_WORDS = frozenset({"to", "of", "for", "and", "or", "the", "a", "an", "with", "by", "from", "in", "on",
                             "at", "not", "that", "than", "as", "into", "its", "their", "his", "her"})


def without_open_aside(phrase: str) -> str:
    """The phrase without a bracketed aside it opens but does not close ("Politics and Polemics 1531–46 (1983" ->
    "Politics and Polemics 1531–46"), and without an aside's end it starts inside ("RCA), which owned two radio
    networks" -> "which owned two radio networks"): the model stopped, or started, inside the brackets, and half an
    aside is not a phrase. A phrase that is all aside is kept."""
    opened = phrase.rfind("(")
    if opened > 0 and ")" not in phrase[opened:]:
        phrase = phrase[:opened].rstrip(" ,;:")
    closed = phrase.find(")")
    if 0 <= closed < len(phrase) - 1 and "(" not in phrase[:closed]:
        phrase = phrase[closed + 1:].lstrip(" ,;:")
    return phrase


def count_alone(phrase: str, question: str) -> str:
    """For "How many ...?", the number of a phrase that joins it to a word ("Six" for "Six-time", asked how many
    Grammys; "two" for "two-man", asked how many people): the count is the answer, the word only describes it.

    Of SQuAD-even's "how many" questions whose gold number the source joins so, 13 take the number alone and 3 the
    whole ("39-yard", "512-bit", "1024-bit", each asked in the unit it names).
    """
    match = _JOINED_COUNT.fullmatch(phrase.strip())
    return match.group("count") if match and _HOW_MANY.search(question) else phrase


_JOINED_COUNT = re.compile(r"(?P<count>\d[\d.,]*|(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
                           r"twenty|thirty|forty|fifty|hundred)(?:-(?:one|two|three|four|five|six|seven|eight|nine))?)"
                           r"-[a-z]+", re.IGNORECASE)


_WHO_IS = re.compile(r"^\s*who\s+(?:is|was|are|were)\s+(?P<name>[^?]+?)\s*\?*\s*$", re.IGNORECASE)


def detached_description(phrase: str, sentence: str, question: str) -> bool:
    """For "Who is <name>?", whether `phrase` stands in `sentence` apart from the name, so that it does not
    describe that person.

    "Who is Bashar Al-Assad?" was answered "president of Syria" from "The president of Syria's opposition
    National Coalition Ahmed Jarba said: '... no future for Bashar al-Assad ...'": the words are there, but they
    describe Jarba. A description is written next to its name: before it ("US Secretary of State John Kerry"), or
    after it ("Lakhdar Brahimi, the UN Secretary General's top envoy"). More than a few words between the two
    flag it. A sentence that does not write the name as asked is not judged (the question may name a role: "Who
    was the Most Valuable Player of Super Bowl II?" of "Bart Starr (MVP of Super Bowls I and II)").
    """
    asked = _WHO_IS.match(question)
    said = locate(phrase, sentence) if asked else None
    named = locate(asked.group("name").strip(), sentence) if asked and said else None
    if said is None or named is None or (said[0] <= named[0] and named[1] <= said[1]):
        return False
    between = sentence[said[1]:named[0]] if said[1] <= named[0] else sentence[named[1]:said[0]]
    return len(words(between)) > _MAX_WORDS_TO_NAME


# Offices a person is named by ("Foreign Minister Laurent Fabius", "the minister said").
_OFFICES = frozenset({"minister", "secretary", "president", "spokesman", "spokeswoman", "spokesperson", "envoy",
                      "ambassador", "chairman", "director", "leader", "head", "chief", "general", "premier"})


# Words a description may have between it and its name: "Lakhdar Brahimi, the UN ...", "Philip I, Landgrave of
# ...", "the Semuren (various allied groups ...": none or one here; four is past any apposition.
_MAX_WORDS_TO_NAME = 3


def possessive_mismatch(phrase: str, sentence: str, question: str) -> bool:
    """Whether `phrase`, in `sentence`, names the holder of something the question's subject owns, not what the
    question asks for.

    "Who is the president of Syria?" finds its own words in "The president of Syria's opposition National
    Coalition Ahmed Jarba said ...", but the possessive makes Syria the owner of what follows: Jarba presides
    over the coalition. A small model answers "Ahmed Jarba" with confidence. Flagged when the sentence writes
    "<question word> of <question words>'s", then one to six words the question does not say, then the phrase.
    A phrase that starts at the owner ("Syria's opposition National Coalition") is flagged the same way. When the
    question says a word of the owned thing ("the president of Syria's opposition coalition"), it asks about it.
    Over the gold answers of all 5,397 SQuAD-even questions, each in its own sentence, nothing is flagged
    (without the condition on the words between, four were, each answering for the owned thing).
    """
    span = locate(phrase, sentence)
    if span is None:
        return False
    asked = {word_key(w) for w in words(question) if w not in STOP_WORDS}
    for match in _OF_POSSESSIVE.finditer(sentence[:span[1]]):
        head, owner = match.group(1), match.group(2)
        if span[0] < match.start(2) or not (word_key(head.lower()) in asked
                                            and all(word_key(w) in asked or w in STOP_WORDS for w in words(owner))):
            continue
        # The owned thing's words: those before the phrase, or the phrase's own when it starts at the owner
        # ("Syria's opposition National Coalition"). Asked words among them mean the question is about it.
        stretch = words(sentence[match.end():span[0] if span[0] >= match.end() else span[1]])
        owned = [w for w in stretch if w not in STOP_WORDS]
        # Only a name's words lie between (no verb: "The effect of Luther's intervention was immediate" answers
        # "How quick was the effect...?" with its predicate).
        is_name = all(w not in STOP_WORDS or w in _NAME_JOINERS for w in stretch)
        if is_name and 1 <= len(owned) <= _MAX_OWNED_WORDS and not any(word_key(w) in asked for w in owned):
            return True
    return False


# "<head> of [the] <owner>'s": the owner is one to three words ("Syria's", "the Arab League's").
_OF_POSSESSIVE = re.compile(r"\b(\w+) of (?:the )?((?:\w+ ){0,2}\w+)['\u2019]s\b", re.IGNORECASE)
# Words of the owned thing's name between the possessive and the answer ("opposition National Coalition"); an
# answer further on is in another part of the sentence.
_MAX_OWNED_WORDS = 6
_NAME_JOINERS = frozenset({"of", "the", "and", "for"})  # "National Coalition for Syrian Revolutionary and ..."


def speaker_mismatch(sentence: str, question: str) -> bool:
    """Whether `sentence` cannot tell what the person the question asks about said: it reports someone else's
    words, or it neither names that person nor reports anyone's words.

    "What about Lavrov?" after "What did Kerry say about a ceasefire?" becomes "What did Lavrov say about a
    ceasefire?", and the model answered with '"... a ceasefire," said Kerry in a joint press conference with
    Lavrov': the question's words and its name are all there, but the words are Kerry's. Asked again without
    Kerry's sentences, it answered with a document's header line ("Russia News.Net"). Someone else's words are
    flagged only when every speaker the sentence names is a name that shares no word with the one asked about; a
    pronoun ("he said") or a bare title ("the Foreign Minister said") may be that person, so a sentence naming one
    is never flagged, nor one without a speaker that could still be about the person ("He taught that ...").
    """
    asked = asked_speaker(question)
    asked_keys = _name_keys(asked) if asked else set()
    if not asked_keys:
        return False
    speakers = named_speakers(sentence)
    if not speakers:
        named = any(_same_word(word_key(w), key) for w in words(sentence) for key in asked_keys)
        return not (named or reports_speech(sentence))
    keys = [_name_keys(speaker) for speaker in speakers]
    if any(not k or words(speaker)[-1] in _TITLE_WORDS for k, speaker in zip(keys, speakers, strict=True)):
        return False
    return not any(_same_word(a, b) for k in keys for a in k for b in asked_keys)


def _name_keys(name: str) -> set[str]:
    return {word_key(w) for w in words(name) if w not in STOP_WORDS}


def _same_word(a: str, b: str) -> bool:
    """Equal, or one a prefix of the other of at least four letters: a question may misspell a name ("What does
    Mullet think ...?" of a sentence about Mullett: the one SQuAD-even question this check would otherwise miss)."""
    short, long = sorted((a, b), key=len)
    return short == long or (len(short) >= 4 and long.startswith(short))


# A speaker named by office alone ("Iran's Foreign Minister said"), or by the body that speaks ("the Foreign
# Ministry said"), may be the person asked about.
_TITLE_WORDS = _OFFICES | frozenset({"official", "officials", "ministry", "department", "office", "government"})


def money_for_a_count(phrase: str, sentence: str, question: str) -> bool:
    """Whether `phrase` answers a "How many <things>?" question with an amount of money in `sentence`.

    "How many Syrians need aid?" was answered "4.7" from "... seeking $6.5 billion (4.7 billion euros) to aid
    Syrians ...": a sum, not a count of people. Flagged when the number carries a currency sign or unit in the
    sentence and the question does not count money ("How many dollars ...?"). Of SQuAD-even's 444 "how
    many/much" questions, the five whose gold answer is money ("$5 million", "£1.3bn") all ask "how much".
    """
    if not _HOW_MANY.search(question) or _CURRENCY.search(question):
        return False
    span = locate(phrase, sentence)
    if span is None:
        return False
    start, end = span
    return bool(_CURRENCY.search(phrase) or _CURRENCY_BEFORE.search(sentence[max(0, start - 3):start])
                or _CURRENCY_AFTER.match(sentence[end:]))


_HOW_MANY = re.compile(r"\bhow many\b", re.IGNORECASE)
# Units that only ever name money; "pounds" also weighs, so it counts as money only in the question.
_MONEY_UNITS = r"dollars?|euros?|yen|yuan|rupees?|francs?|roubles?|rubles?|USD|EUR|GBP"
_CURRENCY = re.compile(rf"[$€£¥]|\b(?:{_MONEY_UNITS}|pounds? sterling|pounds|US\$)\b", re.IGNORECASE)
_CURRENCY_BEFORE = re.compile(r"[$€£¥]\s*$")
# "4.7 billion euros", "6.5bn dollars" (not "300 pounds", a weight as often).
_CURRENCY_AFTER = re.compile(rf"\s*(?:million|billion|trillion|thousand|bn|m)?\s*(?:{_MONEY_UNITS})\b", re.IGNORECASE)


def names_none_of_them(phrase: str, question: str) -> bool:
    """Whether `phrase` answers a "Which <things> ...?" question with a vague word and the question's own words
    ("top officials" for "Which Vatican officials did Kerry meet?"): the source describes them but names none.

    The question asks which ones; words like "top", "some" or "several" only say that there were some, and so does
    the count the question gives ("Eleven states" for "Which eleven states held discussions?"). Of the gold
    answers of SQuAD-even's 2,563 which/what-<noun> questions, none is made so (20 are only question words,
    "Kearney Park" for "Which park ...?": a name, and no vague word, so not flagged).
    """
    if not _WHICH_THINGS.match(question):
        return False
    said = [w.lower() for w in re.findall(r"\w+", phrase)]
    asked = {word_key(w) for w in words(question)}

    def vague(word: str) -> bool:  # a count is vague when it is the question's own ("eleven states")
        return word in _VAGUE_WORDS or ((word.isdigit() or word in _COUNT_WORDS) and word_key(word) in asked)

    return any(vague(w) for w in said) and all(word_key(w) in asked for w in said
                                                if not vague(w) and w not in STOP_WORDS)


# "Which officials ...?", "What states ...?": not "What is ...?" or "What kind of officials ...?", which ask for a
# description ("top officials" answers that).
_WHICH_THINGS = re.compile(r"\s*(?:which|what)\s+(?!(?:is|was|are|were|do|does|did|has|have|had|can|could|will|would|"
                           r"should|may|might|must|kinds?|types?|sorts?|level|rank)\b)\w", re.IGNORECASE)
# Words that say there were some, not which: a description of that kind names none of them.
_VAGUE_WORDS = frozenset({"top", "senior", "some", "several", "many", "various", "certain", "other", "others", "few",
                          "numerous", "unnamed", "unidentified", "leading", "key", "high", "ranking"})


# A count says how many there were, not which: "Eleven states" for "Which eleven states held talks?" (the count
# the question gives: a year or a number asked for is an answer).
_COUNT_WORDS = frozenset("one two three four five six seven eight nine ten eleven twelve dozen dozens hundreds "
                         "thousands".split())


def to_citations(cited: Sequence[Evidence]) -> list[Citation]:
    """Number the supporting sentences 1..n in order: those numbers are the marks shown in the answer."""
    return [Citation(id=i, doc=e.doc, start=e.start, end=e.end, quote=e.text, score=e.score, title=e.title,
                     chunk_id=e.chunk_id) for i, e in enumerate(cited, start=1)]


def marks_of(citations: Sequence[Citation]) -> str:
    """The answer line's citation marks, "[1][2]", in the citations' order."""
    return "".join(f"[{c.id}]" for c in citations)


