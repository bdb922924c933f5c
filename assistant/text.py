"""Small text helpers shared by retrieval, evidence selection and citation checks.

Kept in one place so that "a word", "a stop word" and "a term" mean the same thing wherever they are counted.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
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
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits, underscore)."""
    return re.findall(r"\w+", text.lower())


def content_terms(text: str) -> list[str]:
    """Stemmed words minus stop words: the unit of lexical overlap."""
    return _stemmer().stemWords([w for w in words(text) if w not in STOP_WORDS])


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


def lexical_overlap(question_terms: list[str], text: str, stats: TermStats) -> float:
    """IDF-weighted share of the question's terms present in `text` (0..1)."""
    unique = set(question_terms)
    if not unique:
        return 0.0
    present = set(content_terms(text))
    total = sum(stats.idf(t) for t in unique)
    return sum(stats.idf(t) for t in unique if t in present) / total
