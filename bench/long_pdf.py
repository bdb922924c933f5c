"""A long PDF end to end: how fast it is read and indexed, and whether answers cite the right page.

    python -m bench.long_pdf [--pages 300] [--lines-per-page 35] [--questions 40] [--out FILE]

Lays SQuAD-even paragraphs (../shared/eval) out as a PDF of `--pages` pages with a running header and a "Page N of
M" footer, 95 characters a line: the validation part's paragraphs first (the questions are that part's; nothing
here chooses anything), then the others to fill the pages (all of them fill about 283 pages of 35 lines). It
records for every question the page its answer was printed on. Then, with the default settings (ranking model
included) in a fresh data folder: the time to read the PDF (text layer, furniture, reflow), the whole index run and
its chunks/s; and, for a sample of the questions asked in fast mode, the share of answers citing a sentence that
holds the gold answer, and of those, the share whose citation names the page the answer is printed on.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import textwrap
import time
from pathlib import Path

from assistant.config import load_settings
from assistant.evaluation.datasets import load_squad, sample, select_part
from assistant.evaluation.metrics import normalize_answer
from index.readers import read_document
from tests.pdf_maker import write_pages_pdf

LINE_CHARS = 95
SQUAD = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "squad_v1.1_dev" / \
    "squad-dev-v1.1-even-articles.json"


def latin1(text: str) -> str:
    """What the test PDF's standard font can print: other characters become "?"."""
    return text.encode("latin-1", "replace").decode("latin-1")


def layout(paragraphs: list[tuple[str, str]], pages: int, lines_per_page: int
           ) -> tuple[list[list[str]], dict[str, list[tuple[int, int, int]]]]:
    """Paragraphs (name, text) wrapped into pages of lines, a blank line apart; per paragraph, each line's (page,
    first character, last character) in paragraph coordinates. Stops when the pages are full."""
    laid: list[list[str]] = [[]]
    where: dict[str, list[tuple[int, int, int]]] = {}
    for name, text in paragraphs:
        lines = textwrap.wrap(latin1(text), LINE_CHARS, break_long_words=False)
        spans, offset = [], 0
        for line in lines:
            if len(laid[-1]) >= lines_per_page:
                if len(laid) == pages:
                    return laid, where
                laid.append([])
            found = text.find(line[:20], offset)  # wrapping drops spaces: find the line again in the paragraph
            offset = found if found >= 0 else offset
            laid[-1].append(line)
            spans.append((len(laid), offset, offset + len(line)))
            offset += len(line)
        where[name] = spans
        if len(laid[-1]) < lines_per_page:
            laid[-1].append("")  # a blank line between paragraphs (dropped from the page's text)
    return laid, where


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--lines-per-page", type=int, default=35)
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--squad", type=Path, default=SQUAD)
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()

    squad = load_squad(args.squad)
    validation = select_part(squad.items, "validation")
    used = {doc for item in validation for doc in item.gold_docs}
    # The validation part's paragraphs first (the questions come from them), then the others to fill the pages.
    paragraphs = sorted(((doc.name, doc.text) for doc in squad.docs or []), key=lambda d: d[0] not in used)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        pages, where = layout(paragraphs, args.pages, args.lines_per_page)
        pdf = write_pages_pdf(corpus / "long.pdf", [[line for line in page if line] for page in pages],
                              header="Collected paragraphs: a benchmark document", footer="Page {page} of {pages}")
        started = time.perf_counter()
        document = read_document(pdf, corpus)
        read_s = time.perf_counter() - started

        from assistant.pipeline import Assistant

        settings = load_settings(overrides={"corpus_dir": corpus, "data_dir": Path(tmp) / "data"})
        bot = Assistant(settings)
        _ = bot.embed_model, bot.ranking_model  # loaded before the clock starts: indexing time only
        report = bot.index()
        chunks = report.chunks_added

        def gold_page(item: object) -> int | None:
            doc, start, _ = item.gold_spans[0]  # type: ignore[attr-defined]
            return next((page for page, first, last in where.get(doc, []) if first <= start < last), None)

        items = [i for i in validation if i.gold_spans and gold_page(i) is not None]
        asked = sample(items, args.questions)
        quoted = right_page = 0
        seconds = []
        for item in asked:
            started = time.perf_counter()
            answer = bot.ask(item.question, mode="fast")
            seconds.append(time.perf_counter() - started)
            golds = {normalize_answer(latin1(a)) for a in item.answers}
            holding = [c for c in answer.citations if any(g and g in normalize_answer(c.quote) for g in golds)]
            if holding:
                quoted += 1
                right_page += any(c.page == gold_page(item) for c in holding)
        figures = {
            "pages": len(pages), "characters": len(document.text), "words": len(document.text.split()),
            "read_s": round(read_s, 2), "index_s": round(report.seconds, 1), "chunks": chunks,
            "chunks_per_s": round(chunks / report.seconds, 2), "pages_per_s": round(len(pages) / report.seconds, 2),
            "questions": len(asked), "answers_quoting_gold": quoted,
            "right_page_of_those": round(right_page / quoted, 3) if quoted else None,
            "fast_median_s": round(statistics.median(seconds), 3) if seconds else None,
            "ranking_model": settings.ranking_embed_model,
        }
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
