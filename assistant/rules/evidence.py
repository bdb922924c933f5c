"""Evidence rules: which sentences the LLM reads.

Asked what someone said ("What did <Name> say about ...?"), a sentence that reports another person's words cannot
answer, however many of the question's words it shares: `speaker_mismatch` finds those sentences (rule
`skip_other_speaker`), and the sentences after them take their place. The speech helpers here (`asked_speaker`,
`named_speakers`, `reports_speech`) are what the reply rules read too.

Example:
    >>> speaker_mismatch('"We need a new budget," said Alder at a meeting with Brook.', "What did Brook say?")
    True
"""

from __future__ import annotations

import re

from assistant.evidence import Evidence
from assistant.rules import Rules
from assistant.text import CAPITALISED, STOP_WORDS, word_key, words

# Offices a person is named by ("Foreign Minister Ada Brook", "the minister said").
_OFFICES = frozenset({"minister", "secretary", "president", "spokesman", "spokeswoman", "spokesperson", "envoy",
                      "ambassador", "chairman", "director", "leader", "head", "chief", "general", "premier"})


def speaker_mismatch(sentence: str, question: str) -> bool:
    """Whether `sentence` cannot tell what the person the question asks about said: it reports someone else's
    words, or it neither names that person nor reports anyone's words.

    "What about Brook?" after "What did Alder say about the budget?" becomes "What did Brook say about the
    budget?", and a sentence '"... the budget," said Alder at a joint meeting with Brook' holds the question's
    words and its name, but the words are Alder's: a small model answers from it. Someone else's words are
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


# A speaker named by office alone ("the country's Foreign Minister said"), or by the body that speaks ("the Foreign
# Ministry said"), may be the person asked about.
_TITLE_WORDS = _OFFICES | frozenset({"official", "officials", "ministry", "department", "office", "government"})


# Verbs that report what someone said, in the forms a question ("What did Brook say?") and a news sentence
# ("Brook said", "said Alder", "Alder pointed out") use. Forms that are more often nouns ("states", "notes",
# "claims") are left out.
SPEECH_VERB = (r"(?:say|says|said|tell|tells|told|stress(?:es|ed)?|add(?:s|ed)?|announc(?:e|es|ed)|claimed|"
                r"argu(?:e|es|ed)|warn(?:s|ed)?|stated|noted|insist(?:s|ed)?|urg(?:e|es|ed)|explain(?:s|ed)?|"
                r"declar(?:e|es|ed)|emphasi[sz](?:e|es|ed)|point(?:s|ed)? out|think|thinks|believ(?:e|es|ed)|"
                r"suggest(?:s|ed)?|(?:call(?:s|ed)?|ask(?:s|ed)?) for)")


# "What did <Name> say ...?", "What has <Name> told ...?": the name is capitalised, so "the finance minister"
# (a description a sentence may write as a name) is never taken for one.
_ASKED_SPEAKER = re.compile(rf"^\s*(?i:what|how|why)\b[^?]*?\b(?i:did|does|do|has|have|had|will|would)\s+"
                            rf"({CAPITALISED})\s+(?i:{SPEECH_VERB})\b")


# A named speaker before the verb ("Alder and Brook said", "Brook also stressed"), or after it in an
# attribution that follows a quotation or a comma ('"...," said Alder'; "Brook said Norway ..." names who
# spoke first).
_SPEAKER_BEFORE = re.compile(rf"({CAPITALISED}(?:\s+and\s+{CAPITALISED})?)\s+(?:(?:has|have|had|also|then|"
                             rf"later)\s+)*{SPEECH_VERB}\b")


_SPEAKER_AFTER = re.compile(rf"[,\u201d\"]\s*(?:said|says|added|stressed|noted|insisted|explained|declared|"
                            rf"continued|wrote)\s+({CAPITALISED})")


def asked_speaker(question: str) -> str | None:
    """The person a question asks the words of ("Brook" in "What did Brook say about the budget?"), or None."""
    match = _ASKED_SPEAKER.search(question)
    return match.group(1) if match else None


def reports_speech(sentence: str) -> bool:
    """Whether `sentence` reports what someone said or thinks (a speech verb, a quotation mark, or a pronoun that
    may stand for the speaker: "He taught that ..."), unlike a headline or a date line."""
    return bool(_REPORTED_SPEECH.search(sentence))


_REPORTED_SPEECH = re.compile(rf"(?i:\b{SPEECH_VERB}\b)|[\u201c\u201d\"]|"
                              rf"\b(?:[Hh]e|[Ss]he|[Tt]hey|[Hh]is|[Hh]er|[Tt]heir)\b")


def named_speakers(sentence: str) -> list[str]:
    """The capitalised phrases `sentence` reports as speaking ("Alder" in '"...," said Alder at a meeting with
    Brook'; "He and Brook"); empty when it names none ("he said", "the minister stressed")."""
    found = [m.group(1) for m in _SPEAKER_BEFORE.finditer(sentence)]
    return found + [m.group(1) for m in _SPEAKER_AFTER.finditer(sentence)]


def without_other_speakers(sentences: list[Evidence], question: str, rules: Rules) -> list[Evidence]:
    """The evidence sentences less those that report another person's words than the one `question` asks about
    (rule `skip_other_speaker`); all of them for any other question."""
    if not rules.on("skip_other_speaker") or asked_speaker(question) is None:
        return sentences
    kept = [s for s in sentences if not speaker_mismatch(s.text, question)]
    if len(kept) < len(sentences):
        rules.mark("skip_other_speaker")
    return kept
