"""Requests for a summary of a document or of all of them ("Summarize the first article.", "Give me a summary of
the January 13 article", "What is the second article about?"), answered from each document's headline, date line
and opening sentences, every one cited to its exact span.

Retrieval cannot answer these: "Summarize the first article." names nothing that a sentence says, so the evidence
prefilter abstained. The summary is extractive, the document's lead: news is written as an inverted pyramid, the
essentials first, and the first three sentences ("lead-3") are a summary that few systems beat (ROUGE-1 40.3 on
CNN/Daily Mail, See et al., 2017, above the abstractive models of the time). A 1.5B model asked to summarise would
write words that no passage holds; the lead is the source's own words, cited like every other answer, and costs no
model call.

Example:
    >>> request = asked_summary("Summarize the first article in more detail.")
    >>> request.which, request.ordinal, request.longer
    ('ordinal', 1, True)
    >>> asked_summary("Give me a summary of the Harbour Herald article").name
    'Harbour Herald'
    >>> asked_summary("Summarize what Brook said about the budget.") is None
    True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from assistant.evidence import Evidence, found_evidence, header_roles
from assistant.overview import COLLECTION, MAX_LISTED, META_TERMS, header_line, marked_heading
from assistant.retrieval import Passage
from assistant.sources import BY_DATE, DOCUMENT, ORDINALS, document_at, names_document
from assistant.text import content_terms

_SUMMARISE = re.compile(r"\b(?:summari[sz]e|summari[sz]ing|summary|summaries|sum\s+up|sum\s+it\s+up|recap|gist|"
                        r"tl;?\s?dr|main\s+points?|key\s+points?|outline)\b", re.IGNORECASE)
# "What is the first article about?": a singular document's subject, which its summary tells.
_WHAT_ABOUT = re.compile(r"^\s*what(?:'s|\s+is|\s+was)\s+(?P<ref>.+?)\s+about\s*[?.!]*\s*$", re.IGNORECASE)
# "the first article", "the most recent report", "document 2".
_ORDINAL_REF = re.compile(
    rf"\b(?:the\s+)?(?:most\s+)?(?P<ord>{'|'.join(ORDINALS)}|{'|'.join(BY_DATE)})\s+(?:\w+\s+)?{DOCUMENT}\b"
    rf"|\b{DOCUMENT}\s+(?:no\.?\s*|number\s+|#\s*)?(?P<num>\d{{1,3}})\b", re.IGNORECASE)
# "the article about ferry timetables", "the article from January 13", "the Harbour Herald article".
_NAMED_AFTER = re.compile(rf"\bthe\s+{DOCUMENT}\s+(?:about|on|from|titled|headlined|called|named|dated|"
                          rf"published\s+on|with\s+the\s+(?:headline|title))\s+(?P<name>[^?!]+?)\s*[?.!]*\s*$",
                          re.IGNORECASE)
_NAMED_BEFORE = re.compile(rf"\bthe\s+(?P<name>[^?!,]{{1,60}}?)\s+{DOCUMENT}\b", re.IGNORECASE)
_SINGULAR = re.compile(rf"\b(?:the|this|that|your|my)\s+{DOCUMENT}\b|\bit\b", re.IGNORECASE)
# Words that only ask for a summary, politely or briefly; any other content word makes the request one about
# something the documents say ("Summarize what Brook said about the budget"), which goes the usual way. Stemmed.
_REQUEST_TERMS = META_TERMS | frozenset(content_terms(
    "please briefly brief short quick quickly give provide write make can could would you me us one sentences "
    "few paragraph points main key essence version tl dr detail details detailed longer full fuller more "
    "again"))
# "Summarize it in more detail", "a longer summary": twice the lead.
_LONGER = re.compile(r"\b(?:detail|details|detailed|longer|full|fuller|more)\b", re.IGNORECASE)
# Lead sentences per document: three for one document (lead-3), two each when several are summarised, and no more
# characters than a reader takes in at a glance (at least one sentence, however long).
LEAD_ONE, LEAD_EACH = 3, 2
LEAD_CHARS = 700
LONGER = 2  # times as many sentences and characters, when a longer summary is asked for
# A line of fewer words is a caption, a stray label ("clear") or a section heading, not a sentence of the lead.
MIN_LEAD_WORDS = 4


@dataclass(frozen=True)
class SummaryRequest:
    """What to summarise: `which` is "all", "one" (a document not named: the only one, else all), "ordinal"
    (`ordinal`: 1 the first, -1 the last, by name as the documents are listed), "latest"/"earliest" (by date line)
    or "named" (`name`: words of its headline, outlet or date, or of its content). `explicit`: asked with a
    word such as "summarize"; "What was the Plos Pathogens paper about?" is not, and may mean a paper the documents
    tell of, so a name no header holds is then no request for a summary. `longer`: "in more detail"."""

    which: str
    ordinal: int = 0
    name: str = ""
    explicit: bool = True
    longer: bool = False


def asked_summary(question: str) -> SummaryRequest | None:
    """The summary the question asks for, or None when it asks anything else (a summary of something the documents
    say is a question about their content)."""
    about = _WHAT_ABOUT.match(question)
    explicit = bool(_SUMMARISE.search(question))
    if explicit:
        rest = _SUMMARISE.sub(" ", question)
    elif about and _names_one_document(about.group("ref")):
        rest = about.group("ref")
    else:
        return None
    request: SummaryRequest | None = None
    if match := _ORDINAL_REF.search(rest):
        word = (match.group("ord") or "").lower()
        request = (SummaryRequest(BY_DATE[word]) if word in BY_DATE
                   else SummaryRequest("ordinal", ordinal=ORDINALS[word] if word else int(match.group("num"))))
    elif match := COLLECTION.search(rest):
        request = SummaryRequest("all")
    elif (match := _NAMED_AFTER.search(rest) or _NAMED_BEFORE.search(rest)) and set(
            content_terms(match.group("name"))) - _REQUEST_TERMS:
        request = SummaryRequest("named", name=match.group("name").strip())
    elif match := _SINGULAR.search(rest):
        request = SummaryRequest("one")
    if match is not None:
        rest = rest[:match.start()] + " " + rest[match.end():]
    if set(content_terms(rest)) - _REQUEST_TERMS:
        return None
    return replace(request or SummaryRequest("all"), explicit=explicit, longer=bool(_LONGER.search(question)))


def _names_one_document(ref: str) -> bool:
    """Whether `ref` ("the first article", "the Harbour Herald article") names one document, and only that."""
    ref = ref.strip()
    for pattern in (_ORDINAL_REF, _NAMED_AFTER, _NAMED_BEFORE, _SINGULAR):
        match = pattern.search(ref)
        if match and match.start() == 0 and not ref[match.end():].strip(" ?.!"):
            return True
    return False


def chosen_documents(request: SummaryRequest, openings: Sequence[Passage]) -> tuple[list[Passage], str]:
    """The openings of the documents to summarise, and why none is, when none is ("" otherwise).

    A name that no header holds chooses nothing here: the caller may look for it in the documents' text.
    """
    docs = sorted(openings, key=lambda p: p.doc)
    count = f"the index holds {len(docs)} document{'s' if len(docs) != 1 else ''}"
    if request.which in ("all", "one"):  # "Summarize the article." over several: each is (the caller notes it)
        return docs, ""
    if request.which in ("ordinal", "latest", "earliest"):
        position = request.ordinal if request.which == "ordinal" else request.which
        doc = document_at(position, {p.doc: p.date for p in docs})
        if doc is not None:
            return [p for p in docs if p.doc == doc], ""
        if request.which == "ordinal":
            return [], f"there is no document number {request.ordinal}: {count}"
        return [], f"no document gives a date line in its header, so none is the {request.which}"
    header = {p.doc: p.text[:_header_end(p)] for p in docs}
    return [p for p in docs if names_document(request.name, header[p.doc], p.date or None)], ""


def _header_end(opening: Passage) -> int:
    """Where the header lines of a document's opening end (its whole text when the header is all of it)."""
    roles = header_roles(opening)
    ends = [e for s, e in opening.sentences if s in roles]
    return max(ends) if ends else min(len(opening.text), 200)


def named_by_headline(text: str, openings: Sequence[Passage]) -> list[Passage]:
    """The openings of the documents whose headline `text` quotes: what "it" means in "Summarize it in more detail"
    after an answer that named one document by its headline."""
    named = []
    for opening in openings:
        headline = header_line(opening, "headline")
        if headline is not None and headline.text in text:
            named.append(opening)
    return named


def lead(chunks: Sequence[Passage], limit: int, max_chars: int = LEAD_CHARS) -> list[Evidence]:
    """The document's first `limit` sentences after its header (within `max_chars`, at least one), in document
    coordinates; `chunks` are the document's chunks, any order (overlapping chunks give each sentence once)."""
    sentences: list[Evidence] = []
    reached, size = -1, 0
    for chunk in sorted(chunks, key=lambda c: c.start):
        roles = header_roles(chunk)
        for s, e in chunk.sentences:
            if s in roles or chunk.start + s < reached:
                continue
            found = found_evidence(chunk, s, e)
            reached = max(reached, found.end)
            if len(found.text.split()) < MIN_LEAD_WORDS:
                continue
            if sentences and (len(sentences) >= limit or size + len(found.text) > max_chars):
                return sentences
            sentences.append(found)
            size += len(found.text)
    return sentences


def summary_lines(chosen: Sequence[Passage], chunks: Sequence[Passage], longer: bool = False
                  ) -> tuple[str, str, list[Evidence]]:
    """The answer text (with marks), its short answer (the lead sentences) and the cited lines: for each chosen
    document (at most `MAX_LISTED`), its headline and date line, then its lead sentences (`LONGER` times as many
    when `longer`)."""
    listed = list(chosen)[:MAX_LISTED]
    scale = LONGER if longer else 1
    limit = (LEAD_ONE if len(listed) == 1 else LEAD_EACH) * scale
    cited: list[Evidence] = []
    rows, shorts = [], []
    for opening in listed:
        heading = marked_heading(header_line(opening, "headline"), header_line(opening, "date line"), opening.doc,
                                 cited)
        body = lead([c for c in chunks if c.doc == opening.doc], limit, LEAD_CHARS * scale)
        marked = []
        for sentence in body:
            cited.append(sentence)
            marked.append(f"{sentence.text} [{len(cited)}]")
            shorts.append(sentence.text)
        rows.append((heading, " ".join(marked) or "(no sentence of running text)"))
    if len(listed) == 1:
        heading, body = rows[0]
        return f"{heading}:\n{body}", " ".join(shorts), cited
    intro = f"{len(chosen)} documents, each by its headline and opening sentences"
    if len(listed) < len(chosen):
        intro += f"; the first {len(listed)} by name"
    return "\n".join([f"{intro}:", *(f"- {heading}: {body}" for heading, body in rows)]), " ".join(shorts), cited
