"""A document's opening passage built from its text, for tests of answers read off document headers."""

from assistant.retrieval import Passage


def opening(doc: str, text: str, title: str, date: str = "", start: int = 0) -> Passage:
    """The first chunk of `doc`: `text` with each paragraph (split on blank lines) one sentence, starting at
    character `start` of the file."""
    spans, at = [], 0
    for line in text.split("\n\n"):
        spans.append((at, at + len(line)))
        at += len(line) + 2
    return Passage(chunk_id=f"{doc}-0", doc=doc, start=start, end=start + len(text), text=text, title=title,
                   date=date, sentences=spans, chunk=0)
