"""Direct answers: questions about the documents themselves, answered from their headers and text, not by the LLM.

A request for a summary (assistant/summary.py), a question about the documents as a whole ("What are the articles
about?", assistant/overview.py), a question for one line of a document's header ("the headline of the article dated
..."), assistant/headers.py) and whether the documents mention something (assistant/mentions.py). Each returns a
cited `Answer`, or None for any other question; `first_direct` tries them in that order.

Example:
    >>> DirectAnswers(assistant, decider).first_direct(base, "What are the articles about?", "", [])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assistant.conversation import Turn
from assistant.deciding import Decider
from assistant.grounding import marks_of, to_citations
from assistant.headers import asked_header, header_answer
from assistant.mentions import asked_mention, find_mentions, mention_lines
from assistant.overview import asked_overview, overview_lines
from assistant.sources import without_collection
from assistant.summary import asked_summary, chosen_documents, named_by_headline, summary_lines
from assistant.types import Answer


class DirectAnswers:
    """Answers read straight from the index (`models.retriever`); abstains through `decider`."""

    def __init__(self, models: Any, decider: Decider) -> None:
        self.models = models
        self.decider = decider

    def first_direct(self, base: dict[str, Any], standalone: str, asked: str, turns: Sequence[Turn]
                     ) -> Answer | None:
        """The first direct answer that applies to the question (`standalone`, as the user wrote it: `asked`), or
        None when it is a question for the evidence and the LLM."""
        return (self.summary(base, standalone, asked, turns) or self.overview(base, standalone)
                or self.header(base, standalone) or self.mentions(base, without_collection(standalone)))

    def summary(self, base: dict[str, Any], question: str, asked: str = "", turns: Sequence[Turn] = ()
                 ) -> Answer | None:
        """The chosen documents' headlines, date lines and opening sentences, cited, when the question asks for a
        summary of a document or of all; None for any other question, or an empty index.

        A follow-up is read as the user wrote it (`asked`) too: a rewrite may add context words ("Summarize it in
        more detail (harbour ferry budget)") or turn it into a question about the content. Its "it" is the document
        the previous answer named by headline.
        """
        request = asked_summary(question)
        follow_up = asked_summary(asked) if turns and asked != question else None
        openings = self.models.retriever.openings() if (request or follow_up) else []
        named = named_by_headline(turns[-1][1], openings) if follow_up and follow_up.which == "one" else []
        if follow_up is not None and (follow_up.which != "one" or named):
            request = follow_up
        if request is None or not openings:
            return None
        chosen, why_none = (named, "") if request is follow_up and named else chosen_documents(request, openings)
        if request.which == "named" and not chosen and not request.explicit:
            return None  # "What was the Plos Pathogens paper about?": a paper the documents tell of
        if request.which == "named" and not chosen:
            # "the article about ferry timetables": no header says it, the text may. The document of the passage
            # that matches those words best is the one meant.
            best = self.models.retriever.candidates(request.name)[1][:1]
            chosen = [o for o in openings if best and o.doc == best[0].doc]
            if chosen:
                base["notes"].append(f"no document's header names {request.name!r}: the document whose passage "
                                     "matches it best is summarised")
        if not chosen:
            answer = self.decider.abstain(base, [])
            answer.notes.append(why_none)
            return answer
        if request.which == "one" and len(chosen) > 1:
            base["notes"].append("the question names no one document: each is summarised")
        text, short, cited = summary_lines(chosen, self.models.retriever.chunks({o.doc for o in chosen}),
                                           longer=request.longer)
        base["notes"].append("a summary: each document's headline, date line and opening sentences (news puts the "
                             "essentials first), in the source's own words")
        return Answer(answer=text, short_answer=short, abstained=False, citations=to_citations(cited), **base)

    def overview(self, base: dict[str, Any], question: str) -> Answer | None:
        """The documents' headlines (or dates), cited, when the question asks about the documents as a whole; None
        for any other question, or an empty index."""
        asked = asked_overview(question)
        openings = self.models.retriever.openings() if asked else []
        if not openings:
            return None
        text, short, cited = overview_lines(openings, asked)
        base["notes"].append("a question about the documents as a whole: answered from their header lines")
        return Answer(answer=text, short_answer=short, abstained=False, citations=to_citations(cited), **base)

    def header(self, base: dict[str, Any], question: str) -> Answer | None:
        """The line of one document's header that the question asks for ("the headline of the article dated
        ..."), cited with the line that names the document; the refusal when that header has no such line; None for
        any other question, or when no single document's header names what the question does."""
        asked = asked_header(question)
        if asked is None:
            return None
        found = header_answer(asked, self.models.retriever.openings())
        if found is None:
            return None
        line, matched, opening = found
        if line is None:
            answer = self.decider.abstain(base, [opening])
            answer.notes.append(f"the header of {opening.doc}, the document the question names, has no {asked[0]}")
            return answer
        base["notes"].append(f"a question about the header of {opening.doc}: answered from its {asked[0]}"
                             + (", beside the line the question names it by" if matched else ""))
        # The line asked for, then the line(s) that name the document as the question does: the reader sees why
        # this document was read.
        citations = to_citations([line, *matched])
        return Answer(answer=f"{line.text} {marks_of(citations)}", short_answer=line.text, abstained=False,
                      citations=citations, **base)

    def mentions(self, base: dict[str, Any], question: str) -> Answer | None:
        """Whether (or where) the documents say the words the question names, by searching every chunk (the
        lexical index's full-text table finds those that hold them); None for any other question, or an empty
        index."""
        asked = asked_mention(question)
        chunks, documents = self.models.retriever.mentioning(asked.thing) if asked else ([], 0)
        if not documents:
            return None
        text, short, cited = mention_lines(asked, find_mentions(asked.thing, chunks), documents)
        base["notes"].append(f"every indexed passage was searched for the words {asked.thing!r}")
        return Answer(answer=text, short_answer=short, abstained=False, citations=to_citations(cited), **base)
