"""Small text helpers shared by retrieval, evidence selection and citation checks.

Kept in one place so that "a word", "a stop word" and "a term" mean the same thing wherever they are counted.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

STOP_WORDS = frozenset("""a an the and or but if of at by for with about against between into through
during before after above
below to from up down in out on off over under again further then once here there when where why how all
any both each few more most other some such no nor not only own same so than too very s t can will just
don should now is are was were be been being have has had having do does did doing i me my we our you
your he him his she her it its they them their what which who whom this that these those am would could
also said says say tell told""".split())


@lru_cache(maxsize=1)
def stemmer() -> Any:
    """The English Snowball stemmer (PyStemmer), made once."""
    import Stemmer

    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits, underscore)."""
    return re.findall(r"\w+", text.lower())


def content_terms(text: str) -> list[str]:
    """Stemmed words minus stop words: the unit of lexical overlap."""
    return stemmer().stemWords([w for w in words(text) if w not in STOP_WORDS])


# Number words a writer may give as digits, or the reverse ("3 years" for "the three-year conflict"). "one" is left
# out: it is a pronoun as often as a number ("no one", "one of them"), and a reply "1" must not be found in those.
# Compounds ("twenty-five") and scales ("hundred") are left as words: a digit-for-word swap cannot spell them.
_DIGITS_OF = {word: str(value) for value, word in enumerate(
    "two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty".split(), start=2)} | {word: str(value) for value, word in zip(
        range(30, 100, 10), "thirty forty fifty sixty seventy eighty ninety".split(), strict=True)}
_NUMBER_WORD = re.compile(rf"(?<!-)\b({'|'.join(_DIGITS_OF)})\b(?!-(?:{'|'.join(_DIGITS_OF)}|one)\b)", re.IGNORECASE)
# Roman numerals of sequels and conferences ("Summit II", "World War II"), which a writer may give as digits
# ("Summit 2"). Only numerals of two letters or more: "I", "V" and "X" are a pronoun and letters as often.
_ROMAN_OF = {numeral: str(value) for value, numeral in enumerate(
    "II III IV V VI VII VIII IX X XI XII XIII XIV XV XVI XVII XVIII XIX XX".split(), start=2) if len(numeral) > 1}
_ROMAN_NUMERAL = re.compile(rf"\b({'|'.join(sorted(_ROMAN_OF, key=len, reverse=True))})\b")
_NUMBER_OF = _DIGITS_OF | {numeral.lower(): digits for numeral, digits in _ROMAN_OF.items()}


# An ordinal written with digits is its number: the model writes "January 22nd" for the source's "January 22".
_DIGIT_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b", re.IGNORECASE)


def with_digits(text: str) -> str:
    """`text` with its number words (two to ninety) and capital Roman numerals (II to XX) written as digits and
    its digit ordinals as their number, for comparing "three-year" with "3 years", "Summit II" with "Summit 2"
    and "January 22nd" with "January 22"."""
    text = _DIGIT_ORDINAL.sub(r"\1", _ROMAN_NUMERAL.sub(lambda m: _ROMAN_OF[m.group(1)], text))
    return _NUMBER_WORD.sub(lambda m: _DIGITS_OF[m.group(1).lower()], text)


def word_key(word: str) -> str:
    """What a word is compared by when the wording may differ: its stem, a number word or Roman numeral as its
    digits, a digit ordinal as its number ("years" and "year", "three" and "3", "II" and "2", "22nd" and "22" are
    the same)."""
    lowered = _DIGIT_ORDINAL.sub(r"\1", word.lower())
    return stemmer().stemWord(_NUMBER_OF.get(lowered, lowered))


def mention_keys(text: str) -> list[str]:
    """The `word_key` of each word of `text` (its `\\w+` runs), in order, with accents folded ("Beyonce" and
    "Beyoncé" are the same): what a search for the words of a name or phrase compares (`assistant.mentions`)."""
    lowered = [_DIGIT_ORDINAL.sub(r"\1", _fold_accents(w).lower()) for w in re.findall(r"\w+", text)]
    return stemmer().stemWords([_NUMBER_OF.get(w, w) for w in lowered])


def _fold_accents(word: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", word) if not unicodedata.combining(ch))


# Where a long sentence of news or encyclopaedic prose joins its clauses: a comma, semicolon or colon before a
# space (not the comma of "130,000"), a parenthesis or dash, or a word that opens a relative or time clause.
_CLAUSE_BREAK = re.compile(r"[,;:]\s+|\s+[(\u2013\u2014]\s*|\)\s*|\s+(?=(?:which|where|who|whose|whom|that|before|"
                           r"after|while|because|although|when|until|since)\b)")


def clauses(sentence: str) -> list[str]:
    """The clauses of a sentence of several, and each two adjacent ones; [] for a sentence of one clause.

    A question usually asks about one clause of a long sentence ("How many people has the conflict killed?" of
    "... ahead of the talks, which seek a deal on a transitional government after a three-year conflict that has
    killed 130,000 people"), and the vector of the whole sentence dilutes that clause's meaning with the rest.
    """
    parts = [part.strip() for part in _CLAUSE_BREAK.split(sentence) if len(part.split()) >= 2]
    if len(parts) < 2:
        return []
    return parts + [f"{first} {second}" for first, second in zip(parts, parts[1:], strict=False)]


# Words kept each side of an answer phrase by `answer_window`. Refitting the abstention model with the window's
# meaning as a signal, on the calibration records with each hash half held out in turn, was as good or better on
# held-out ClapNQ for every width tried (3 to 12); 6, chosen before the trial, was kept (docs/BENCHMARKS.md).
ANSWER_WINDOW_WORDS = 6
# A phrase this large a share of its sentence leaves no window: the sentence's own meaning already says it.
MOST_OF_SENTENCE = 0.8


def answer_window(sentence: str, phrase: str, width: int = ANSWER_WINDOW_WORDS) -> str | None:
    """The words of `sentence` from `width` words before `phrase` to `width` after it; None when the phrase is not
    in the sentence (compared without case) or is most of it.

    The sentence's best clause says how well the evidence matches the question; the words right around the phrase
    say how well the place the model took its answer from does ("... the festival opens in Turin in Italy on
    May 2" for "In which country is Turin?"). The abstention model weighs the two together
    (`Decider.window_semantic`).
    """
    phrase = phrase.strip()
    found = sentence.lower().find(phrase.lower()) if phrase else -1
    if found < 0 or len(phrase) >= MOST_OF_SENTENCE * len(sentence):
        return None
    end = found + len(phrase)
    spans = [match.span() for match in re.finditer(r"\w+", sentence)]
    inside = [i for i, (lo, hi) in enumerate(spans) if hi > found and lo < end]
    if not inside:
        return None
    first, last = max(0, inside[0] - width), min(len(spans) - 1, inside[-1] + width)
    return sentence[spans[first][0]:spans[last][1]]


class TermStats:
    """Document frequencies of terms over the live chunks, for IDF weights."""

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self.df: Counter[str] = Counter()
        self.n = 0
        for text in texts:
            self.df.update(set(content_terms(text)))
            self.n += 1

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency: rare terms (names, numbers) weigh most."""
        return math.log(1 + (self.n + 1) / (1 + self.df.get(term, 0)))


# A name of capitalised words, with the small words that may join them ("Department of Defense"); its initials
# are the acronym a reader may type instead ("UN" for "United Nations", "NFL" for "National Football League").
_NAME_WORD = re.compile(r"\b[A-Z][a-z]+\b")
# Small words joining a name's words that its acronym leaves out ("Food and Drug Administration": "FDA").
ACRONYM_JOINERS = frozenset({"of", "and", "for", "the", "on", "de", "&"})
# An acronym of more initials is rare; runs of capitalised words are cut into pieces of at most this many.
MAX_ACRONYM = 6


def acronyms(text: str) -> set[str]:
    """The lower-cased initials of every stretch (two words or more) of each name of capitalised words in `text`:
    "the United Nations Security Council" gives "un", "ns", "sc", "uns", "nsc" and "unsc"."""
    found: set[str] = set()
    run: list[str] = []
    tokens = re.findall(r"[\w&]+", text) + [""]
    for token in tokens:
        if _NAME_WORD.fullmatch(token):
            run.append(token[0].lower())
            continue
        if token.lower() in ACRONYM_JOINERS and run:
            continue
        for i in range(len(run)):
            for j in range(i + 2, min(len(run), i + MAX_ACRONYM) + 1):
                found.add("".join(run[i:j]))
        run = []
    return found


class QueryTerms(list[str]):
    """A question's content terms, and those of them it writes in capitals (`acronyms`: "un" for "UN")."""

    acronyms: frozenset[str] = frozenset()


def query_terms(question: str) -> QueryTerms:
    """The question's content terms, for `lexical_overlap`; a word it writes in capitals may be found as a name's
    initials.

    Numbers stay as written: with "II" read as "2", "Where was Summit II held?" matches "Eleven states have held
    discussions on ... the Summit 2 conference" better than the sentence naming the place, and fast mode answers
    with it.
    """
    terms = QueryTerms(content_terms(question))
    terms.acronyms = frozenset(w.lower() for w in re.findall(rf"\b[A-Z]{{2,{MAX_ACRONYM}}}\b", question))
    return terms


def present_terms(text: str, asked_acronyms: frozenset[str] = frozenset()) -> set[str]:
    """The content terms `text` holds, and of the acronyms asked those it spells out as a name's initials ("United
    Nations" holds "un"). Only acronyms the question writes in capitals count: "Al-Amin" asks for no "Arab League".
    """
    present = set(content_terms(text))
    if asked_acronyms - present:
        present |= acronyms(text) & asked_acronyms
    return present


def lexical_overlap(question_terms: Sequence[str], text: str, stats: TermStats) -> float:
    """IDF-weighted share of the question's terms present in `text` (0..1).

    A term the question writes in capitals (`QueryTerms.acronyms`) is also present where the text spells it out as
    a name's initials (`present_terms`). "How much money is the UN seeking?" shared
    only "seek" with the sentence that says "the United Nations is seeking $6.5 billion", and abstained.
    """
    unique = set(question_terms)
    if not unique:
        return 0.0
    asked = question_terms.acronyms if isinstance(question_terms, QueryTerms) else frozenset()
    present = present_terms(text, asked)
    total = sum(stats.idf(t) for t in unique)
    return sum(stats.idf(t) for t in unique if t in present) / total


# -- expected answer type -----------------------------------------------------------------------------------------
# A factoid question announces the kind of phrase that answers it ("when" -> a date, "how many" -> a number). A
# sentence that holds such a phrase, beyond what the question already says, is likelier to be the answer: this
# separates "talks due to begin in Turin" from "the conference is set to convene" when both match the words.
_MONTHS = ("January|February|March|April|May|June|July|August|September|October|November|December|"
           "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec")
# A capitalised word, or initials with their periods ("U.S.", the "L." of "Hugh L. Dryden"): without them a name
# stopped at its first period ("U", "Hugh L").
CAPITALISED_WORD = r"(?:[A-Z]\.(?:[A-Z]\.)*|[A-Z][\w'’-]*)"
CAPITALISED = rf"{CAPITALISED_WORD}(?:\s+(?:of\s+|de\s+|the\s+)?{CAPITALISED_WORD})*"
COMPASS = r"(?:north|south|east|west|north-?east|north-?west|south-?east|south-?west)"
_NUMBER_WORDS = (r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
                 r"hundred|thousand|million|billion|dozen|half")
# Each pattern's group 1 is the phrase that would answer (what `typed_phrase` returns).
TYPE_PATTERNS: dict[str, re.Pattern[str]] = {
    # "25 May 1521", "13th of January", "May 25th, 1521", a year, a span of years, a century
    "date": re.compile(rf"\b((?:(?:\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?)?(?:{_MONTHS})\.?"
                       rf"(?:\s+\d{{1,2}}(?:st|nd|rd|th)?)?,?(?:\s+\d{{4}})?)"
                       rf"|(?:1[0-9]{{3}}|20[0-9]{{2}})(?:\s*[–-]\s*\d{{2,4}})?|\d+(?:st|nd|rd|th)\s+century)\b"),
    "number": re.compile(rf"((?:about |over |more than |nearly |some )?\$?\d[\d,.]*(?:\s*(?:%|percent|million|"
                         rf"billion|thousand|hundred))?|\b(?:{_NUMBER_WORDS})\b(?:\s+(?:{_NUMBER_WORDS})\b)*)",
                         re.IGNORECASE),
    # A place: capitalised words after a locative preposition ("in Turin", "at the Louvre"), with the part of it
    # a compass word names ("in the north of Italy", "in northern Italy": asked "Where is Turin?", the sentence
    # "Turin (in the north of Italy)" would hold no place and "... a press conference in Paris" would).
    "place": re.compile(rf"\b(?:in|at|near|from|to|into|on)\s+(?:the\s+)?((?:{COMPASS}(?:ern)?\s+"
                        rf"(?:of\s+(?:the\s+)?)?)?{CAPITALISED})"),
    # A person or organisation: capitalised words not at the start of the sentence.
    "name": re.compile(rf"(?<=[a-z,;]\s)({CAPITALISED})"),
}
_QUESTION_TYPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^\s*(when\b|what (year|date|day|month|century|decade|time)\b|in what (year|century|decade)\b|"
                r"(which|what) (year|century|decade)\b)", re.I), "date"),
    (re.compile(r"\bhow (many|much|long|old|far|large|big|tall|high|often|fast)\b|\bwhat (percentage|percent|"
                r"number|amount|proportion)\b", re.I), "number"),
    (re.compile(r"^\s*(where\b|(in|at|from) (what|which) (city|country|place|town|state|region)\b|what (city|"
                r"country|place|town|state|region|location)\b)", re.I), "place"),
    (re.compile(r"^\s*(who|whom|whose)\b", re.I), "name"),
)


def expected_answer_type(question: str) -> str | None:
    """"date", "number", "place", "name" or None: the kind of phrase the question asks for."""
    for pattern, kind in _QUESTION_TYPES:
        if pattern.search(question):
            return kind
    return None


def typed_phrase(kind: str | None, sentence: str, question: str) -> tuple[int, int] | None:
    """Span of the first phrase of the expected kind in `sentence` that the question does not already contain."""
    if kind is None:
        return None
    asked = set(words(question))
    for match in TYPE_PATTERNS[kind].finditer(sentence):
        phrase = match.group(1)
        if kind == "name" and (_PLACE_OR_TIME_BEFORE.search(sentence[:match.start(1)])
                               or DAY_OR_MONTH.fullmatch(phrase)):
            continue  # "After Paris, Alder will head to ...", "... said on Sunday": a place or a time, not who
        # "Norden's" names what "...mayor of Norden?" already says: its possessive is no new word.
        if phrase.strip() and not set(words(_POSSESSIVE_S.sub("", phrase))) <= asked:
            return match.start(1), match.end(1)
    return None


_POSSESSIVE_S = re.compile(r"['\u2019]s\b")
# Days and months are capitalised but name no one: "Sunday" does not answer "Who heads the coalition?". The months
# that are also given names (April, May, June, August) are left out.
DAY_OR_MONTH = re.compile(r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|January|February|March|July|"
                           r"September|October|November|December)")
# Capitalised words after a preposition of place or time name where or when ("After Paris, Alder will head to
# ...", "the talks in Paris", "During World War II"), not who. Prepositions that also come before a person ("to",
# "from", "with", "by") are not among them.
_PLACE_OR_TIME_BEFORE = re.compile(r"\b(?:after|before|in|at|during|since|until|near|across|throughout|within|into|"
                                   r"outside|inside|amid)\s+(?:the\s+)?$", re.IGNORECASE)


def has_answer_type(kind: str | None, sentence: str, question: str) -> bool:
    """Whether `sentence` holds a phrase of the expected kind that the question does not already contain."""
    return typed_phrase(kind, sentence, question) is not None


_OPENING_QUOTES = "\u201c\""
_CLOSING_QUOTES = "\u201d\""


def is_bare_quotation(sentence: str) -> bool:
    """True for a sentence that is nothing but a quotation, with no speaker: '“His departure is inevitable.”'.

    News articles put a speaker's second sentence in its own quotation marks (or its own paragraph); read alone,
    it cannot answer "Who said ...?", so the evidence shows the sentence before it too (`evidence.quote_context`).
    """
    text = sentence.strip()
    return (len(text) > 2 and text[0] in _OPENING_QUOTES and text[-1] in _CLOSING_QUOTES
            and not any(c in _CLOSING_QUOTES for c in text[1:-1]))
