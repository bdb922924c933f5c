"""Widening rules: the phrase located in the source, widened to what a reader is shown.

Every located answer goes through `widened_span`: first to whole words (a located phrase never cuts a word), then,
each as a rule of the registry (`assistant.rules`), to the whole date for "when", the compass word before a place
for "where", the whole deed for "What did they fail to do?", an acronym with the words it stands for, both things
a question asking for several things names, and a clause the phrase leaves open, closed. Every step returns a span
of the sentence, so the answer stays the source's own characters.

Example:
    >>> sentence = "The fair opened on 25 May 1521 in the town square."
    >>> start = sentence.index("1521")
    >>> sentence[slice(*widened_span(sentence, start, start + 4, "When did the fair open?"))]
    '25 May 1521'
"""

from __future__ import annotations

import re
import unicodedata

from assistant.rules import Rules
from assistant.text import (
    ACRONYM_JOINERS,
    CAPITALISED,
    COMPASS,
    TYPE_PATTERNS,
    word_key,
)

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


def widened_span(text: str, start: int, end: int, question: str = "", rules: Rules | None = None
                 ) -> tuple[int, int]:
    """A phrase located at start:end of the sentence `text`, widened to what a reader asking `question` is shown:
    whole words; for a "when" question the whole date, for "where" the compass word before the place, for "What
    did they fail to do?" the whole deed; an acronym with the words it stands for; a clause the phrase leaves open,
    closed. Every located answer goes through here, whichever way it was found; each step is a rule of
    `assistant.rules` (`rules`: which are on, and a record of those that changed the span; all on without it)."""
    rules = rules or Rules()
    span = whole_words(text, start, end)
    for name, widen in (("widen_date", enclosing_date), ("widen_direction", enclosing_direction),
                        ("widen_deed", enclosing_deed)):
        widened = rules.apply(name, widen, question, text, *span)
        if widened:
            span = widened
            break
    span = rules.transform("widen_acronym", lambda s: spelled_out(text, *s), span)
    span = rules.transform("widen_conjunct", lambda s: enclosing_conjunct(question, text, *s) or s, span)
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
    council to reverse its decision not to" stops mid-clause (the model stopped there); the source's "close the
    library" completes it. The clause runs to the next comma, semicolon, colon or the sentence's end."""
    last = re.search(r"(\w+)\W*$", text[start:end])
    if not last or last.group(1).lower() not in _DANGLING_WORDS:
        return end
    stop = _CLAUSE_END.search(text, end)
    return stop.start() if stop else len(text)


_CLAUSE_END = re.compile(r"[,;:]\s|[.!?]?\s*$|[.!?]\s")


# Words that cannot end a phrase: a preposition, an article, a conjunction or the "to" of an infinitive.
_DANGLING_WORDS = frozenset({"to", "of", "for", "and", "or", "the", "a", "an", "with", "by", "from", "in", "on",
                             "at", "not", "that", "than", "as", "into", "its", "their", "his", "her"})


_FULL_DATE_QUESTION = re.compile(r"^\s*(when\b|(what|which|on what) (date|day)\b)", re.I)


def enclosing_date(question: str, sentence: str, start: int, end: int) -> tuple[int, int] | None:
    """For a question that asks when (not which year or month), the whole date phrase of `sentence` around the
    span start:end ("25 May 1521" around "1521"); None when the question asks for less or no date encloses it."""
    if not _FULL_DATE_QUESTION.search(question):
        return None
    for match in TYPE_PATTERNS["date"].finditer(sentence):
        lo, hi = match.span(1)
        if lo <= start and end <= hi and (lo, hi) != (start, end):
            return lo, hi - (1 if sentence[lo:hi].endswith(",") else 0)
    return None


_WHERE_QUESTION = re.compile(r"^\s*where\b", re.I)


_COMPASS_BEFORE = re.compile(rf"\b{COMPASS}(?:ern)?\s+(?:of\s+(?:the\s+)?)?$", re.I)


def enclosing_direction(question: str, sentence: str, start: int, end: int) -> tuple[int, int] | None:
    """For a question that asks where, the place of `sentence` at start:end with the compass word the sentence
    puts before it ("north of Italy" around "Italy" in "Turin (in the north of Italy)", "southern China"); None
    when the question asks something else or no compass word comes before.

    Where the sentence gives the part, so does the answer: of the SQuAD-even dev "Where ...?" questions whose
    passage puts a compass word before the place, the gold answers keep it in 10 ("southern Italy", "northern
    China") and leave it out in 1.
    """
    if not _WHERE_QUESTION.search(question):
        return None
    before = _COMPASS_BEFORE.search(sentence[:start])
    return (before.start(), end) if before else None


_ASKED_DEED = re.compile(r"^\s*what\b[^?]*?\b(\w+)\s+to\s+do\b", re.I)


_MAX_DEED_LEAD = 12  # words between "failed to" and a phrase inside what they failed to do (one clause)


def enclosing_deed(question: str, sentence: str, start: int, end: int) -> tuple[int, int] | None:
    """For "What did they fail (refuse, promise...) to do?", the whole deed of `sentence` around start:end: from
    just after the question's verb and its "to" ("failed to convince the town council to reverse its
    decision" around "reverse its decision"); None for another question, or when that verb does not come shortly
    before the span.

    The model may answer with an inner infinitive, which says what someone else was to do. The SQuAD-even dev
    answers to "What did ... <verb> to do?" start right after the verb's "to" ("refused to recant his writings" ->
    "recant his writings").
    """
    asked = _ASKED_DEED.search(question)
    if not asked:
        return None
    verb = word_key(asked.group(1))
    before = list(re.finditer(r"(\w+)\s+to\s+", sentence[:start]))
    for match in reversed(before):
        lead = sentence[match.end():start]
        if len(lead.split()) > _MAX_DEED_LEAD or re.search(r"[.,;:!?]", lead):  # within one clause
            return None
        if word_key(match.group(1)) == verb:
            return (match.end(), end) if match.end() < start else None
    return None


# A question that asks for several things: "Who are ...", "What were ...", or its wh-word names a plural ("What
# countries ...", "Which kinds of people ...", "What main reasons ..."): a lower-case word ending in "s" (not "ss" or
# "us": "class", "status"), after at most one word that is not an auxiliary ("What did DFDS ..." asks for one thing).
# After such a word it may be a verb ("Which country uses a ..."): then what follows it is not an object or a
# preposition.
_AUXILIARY = (r"(?:do|does|did|is|was|are|were|has|have|had|can|could|will|would|should|may|might|must|besides|"
              r"towards|always|perhaps|whereas)")


_PLURAL = rf"(?!{_AUXILIARY}\b)(?:[a-z][\w-]*[^su\W]s|people)\b"


_OBJECT_NEXT = r"\s+(?:a|an|the|this|that|his|her|its|their|to|in|on|at|of|by|with|from|for|into)\b"


_ASKS_SEVERAL = re.compile(rf"^\s*(?:(?i:who|what|which)\s+(?i:are|were)\b"
                           rf"|(?i:what|which)\s+(?:(?:kinds?|types?|sorts?)\s+of\s+)?{_PLURAL}"
                           rf"|(?i:what|which)\s+(?!{_AUXILIARY}\b)[a-z][\w-]*\s+{_PLURAL}(?!{_OBJECT_NEXT}))")


# The conjunct after "and": a name (capitalised words), or up to four lower-case words, ending at a clause break or
# before a word that starts a new part of the sentence (a preposition, a verb of being, a relative pronoun). One that
# opens with a pronoun or a past tense ("and they often specialize", "and proved the theorems") starts a new clause.
_CONJUNCT_STOP = r"(?:from|of|in|on|at|with|by|to|for|that|which|who|and|or|is|are|was|were|has|have|had|as|than)\b"


_DETERMINER = re.compile(r"(?:the|a|an|its|their|his|her|our|this|these|those)\s", re.I)


_NEW_CLAUSE = re.compile(r"(?:they|it|he|she|we|you|i|this|these|those|there|then|also|so|thus)\b|\w+ed\b")


_CONJUNCT_NAME = re.compile(rf"\s+and\s+({CAPITALISED})(?=\s*(?:[,.;:()!?]|$|\s[a-z]))")


_CONJUNCT_WORDS = re.compile(rf"\s+and\s+((?:(?!{_CONJUNCT_STOP})[a-z][\w'’-]*(?:\s+|(?=[,.;:()!?]|$))){{1,4}}?)"
                             rf"(?=\s*(?:[,.;:()!?]|$)|{_CONJUNCT_STOP})")


def enclosing_conjunct(question: str, sentence: str, start: int, end: int) -> tuple[int, int] | None:
    """For a question that asks for several things, the phrase at start:end with the one the sentence joins to it by
    "and" ("Germany and Austria" for "What countries use ...?", "Laszlo Babai and Eugene Luks" for "Who are ...?");
    None for another question, or when no such conjunct of the same kind (a name after a name, plain words after
    plain words) follows.

    The model names the first of the pair, and SQuAD's annotators take both: on a SQuAD-even LLM run of 500
    questions, 4 answers stopped so.
    """
    if not _ASKS_SEVERAL.search(question) or start >= end:
        return None
    named = sentence[start].isupper()
    conjunct = (_CONJUNCT_NAME if named else _CONJUNCT_WORDS).match(sentence, end)
    if not conjunct or (not named and (not sentence[start].islower() or _NEW_CLAUSE.match(conjunct.group(1)))):
        return None
    if not named and _DETERMINER.match(conjunct.group(1)) and not _DETERMINER.match(sentence[start:end]):
        return None  # "wage rises and the opening (of new offices)": two things of different kinds
    if not sentence[start:end].rstrip()[-1:].isalnum():  # "prosperity;": the phrase closed its own clause
        return None
    return start, start + len(sentence[start:conjunct.end(1)].rstrip())
