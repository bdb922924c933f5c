"""Questions about whether, or where, the documents mention something ("Is New Zealand mentioned?", "Which
articles mention Turin?"), answered by searching every chunk for the words.

Retrieval and the model cannot answer these: the question's meaning is "does this string occur", which no sentence
states, so the assistant used to abstain (or the model said "YES", which no span can verify). An exhaustive search
is cheap (a full-text table beside the BM25 index, `index/lexical.py`, finds the chunks that hold the words, and only
those are read) and exact: "yes" comes with the sentences that say the words, cited to their spans, and "no" is a
checked fact about the whole index, not a guess. Words are compared as `text.mention_keys` does (case, plural, number
form and accents aside: "Summit 2" finds "Summit II", "Beyonce" finds "Beyoncé").

Example:
    >>> asked_mention("Is New Zealand mentioned?")
    Mention(thing='New Zealand', which=False)
    >>> asked_mention("Which articles mention Turin?")
    Mention(thing='Turin', which=True)
    >>> asked_mention("Where will the talks be held?") is None
    True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.evidence import Evidence, found_evidence
from assistant.retrieval import Passage
from assistant.sources import DOCUMENT, DOCUMENTS
from assistant.text import STOP_WORDS, mention_keys, words

_VERB = r"(?:mention|name|cite|discuss|refer\s+to|talk\s+about)"
_VERB_3RD = r"(?:mentions|names|cites|discusses|refers\s+to|talks\s+about)"
_VERB_PAST = r"(?:mentioned|named|cited|discussed|referred\s+to|talked\s+about)"
_DOCUMENT = rf"(?:{DOCUMENT}|passage|sentence|page)"
_APPEAR = r"(?:appear|occur|come\s+up|feature)"
# The end of the question, with the context a rule rewrite may append ("... mentioned? (Norwegian minister Ada Brook)",
# `conversation.rewrite_by_rule`).
_END = r"\s*[?.!]*\s*(?:\([^()]*\)\s*)?$"
_PATTERNS = (
    # "Is New Zealand mentioned?", "Was Peru ever named?"
    (re.compile(rf"^(?:is|are|was|were)\s+(?P<thing>.+?)\s+(?:ever\s+|anywhere\s+)?{_VERB_PAST}(?:\s+anywhere)?{_END}",
                re.IGNORECASE), False),
    # "Do the articles mention Chile?", "Does any document talk about Peru?", "Does the corpus mention X?"
    (re.compile(rf"^(?:do|does|did)\s+(?:the\s+|any\s+(?:of\s+the\s+)?|either\s+(?:of\s+the\s+)?|both\s+)?"
                rf"(?:{DOCUMENTS}|{_DOCUMENT}|corpus|collection|index|it|they)\s+(?:ever\s+)?{_VERB}\s+(?P<thing>.+?)"
                rf"{_END}", re.IGNORECASE), False),
    # "Which articles mention Turin?", "What document talks about the museum?"
    (re.compile(rf"^(?:which|what)\s+(?:{DOCUMENTS}|{_DOCUMENT}s?)\s+(?:{_VERB}|{_VERB_3RD}|{_VERB_PAST})\s+"
                rf"(?P<thing>.+?){_END}", re.IGNORECASE), True),
    # "Where is the museum mentioned?"
    (re.compile(rf"^where\s+(?:is|are|was|were)\s+(?P<thing>.+?)\s+{_VERB_PAST}{_END}", re.IGNORECASE), True),
    # "Does Brook appear in both articles?" (the qualifier left out by `sources.without_collection`), "Where does
    # Turin come up?"; "Does the truce appear to hold?" goes on past the verb and is no such question.
    (re.compile(rf"^(?:do|does|did)\s+(?P<thing>.+?)\s+(?:ever\s+)?{_APPEAR}(?:\s+anywhere)?{_END}", re.IGNORECASE),
     False),
    (re.compile(rf"^where\s+(?:do|does|did)\s+(?P<thing>.+?)\s+{_APPEAR}{_END}", re.IGNORECASE), True),
)
# A thing searched for is a name or a short phrase; a longer clause ("Is the fact that ... mentioned?") is a
# question about content, which retrieval answers better.
MAX_THING_WORDS = 6
# Sentences cited at most: enough to show where the words occur, not a concordance of a thousand documents.
MAX_CITED = 5


@dataclass(frozen=True)
class Mention:
    """What a mention question searches for, and whether it asks which documents (else whether at all)."""

    thing: str
    which: bool


def asked_mention(question: str) -> Mention | None:
    """The thing a question asks the documents to mention, or None when it is not such a question."""
    for pattern, which in _PATTERNS:
        match = pattern.match(question.strip())
        if match is None:
            continue
        thing = re.sub(r"^(?:the|a|an)\s+", "", match.group("thing").strip(" \"'\u201c\u201d\u2018\u2019"),
                       flags=re.IGNORECASE)
        said = words(thing)
        if said and len(said) <= MAX_THING_WORDS and any(w not in STOP_WORDS for w in said):
            return Mention(thing=thing, which=which)
    return None


def find_mentions(thing: str, chunks: Sequence[Passage]) -> list[Evidence]:
    """Every sentence that holds the words of `thing` in order, once each, in document order (doc coordinates).

    Accents aside too: "Beyonce" finds "Beyoncé". About 0.15 s over SQuAD-even's 1,130 chunks on 2 cores.
    """
    wanted = mention_keys(thing)
    found: dict[tuple[str, int], Evidence] = {}
    for chunk in chunks:
        tokens = list(re.finditer(r"\w+", chunk.text))
        keys = mention_keys(chunk.text)
        for i in range(len(keys) - len(wanted) + 1):
            if keys[i:i + len(wanted)] != wanted:
                continue
            at = tokens[i].start()
            sentence = found_evidence(chunk, *next(((s, e) for s, e in chunk.sentences if s <= at < e),
                                                   (0, len(chunk.text))))
            found.setdefault((sentence.doc, sentence.start), sentence)  # overlapping chunks: once
    return [found[key] for key in sorted(found)]


def mention_lines(asked: Mention, found: Sequence[Evidence], documents: int) -> tuple[str, str, list[Evidence]]:
    """The answer text (with marks), its short answer and the cited sentences.

    Yes: how many sentences of how many documents say the words, and the first `MAX_CITED` of them, cited. The
    short answer is "yes", or for "which articles ...?" the titles of the documents. No: the words appear in none
    of the `documents`, and nothing is cited.
    """
    quoted = f"\u201c{asked.thing}\u201d"
    if not found:
        return f"No: {quoted} does not appear in any of the {documents} indexed documents.", "no", []
    titles = list(dict.fromkeys(e.title or e.doc for e in found))
    cited = list(found[:MAX_CITED])
    intro = (f"{quoted} is mentioned in {len(found)} sentence{'s' if len(found) != 1 else ''} of "
             f"{len(titles)} document{'s' if len(titles) != 1 else ''}")
    if asked.which:
        intro += " (" + ", ".join(f"\u201c{_shortened(title)}\u201d" for title in titles[:MAX_CITED]) + ")"
    else:
        intro = f"Yes: {intro}"
    intro += ":" if len(cited) == len(found) else f"; the first {len(cited)} are cited:"
    rows = [f"- {e.text} [{i}]" for i, e in enumerate(cited, start=1)]
    return "\n".join([intro, *rows]), "; ".join(titles) if asked.which else "yes", cited


def _shortened(title: str, limit: int = 80) -> str:
    """A title for a list: a document without a headline is titled by its first line, which may be long."""
    return title if len(title) <= limit else title[:limit].rsplit(" ", 1)[0] + "\u2026"
