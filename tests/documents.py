"""Real documents the tests generate: a multi-page PDF with running headers and page numbers, and a Word file with
a table. Each holds facts about invented places, so an answer can only come from the file."""

from __future__ import annotations

from pathlib import Path

from tests.pdf_maker import write_pages_pdf

REPORT_HEADER = "Marrowby Harbour Authority Annual Report"
REPORT_FOOTER = "Page {page} of {pages}"
# One topic per page; page 3 holds the facts the tests ask about, one sentence wrapped over lines with a word
# hyphenated at a line end.
REPORT_PAGES = [
    ["Harbour overview",
     "The Marrowby harbour handled more cargo this year than in any year since the quay was",
     "widened, and the authority welcomed two new pilots to its staff in the spring.",
     "The harbour master thanked the crews for a season without a single serious accident."],
    ["Fleet",
     "The authority's fleet grew to eleven vessels after the purchase of a second dredger,",
     "which now keeps the eastern channel open during the winter storms.",
     "Two older tugs were sold to a shipyard in the north."],
    ["Gullrock lighthouse",
     "The lighthouse on Gullrock Island was rebuilt in 1887 by the engineer Edda Varnholm, whose",
     "design of a granite tower with a cast iron lantern has withstood every storm since its com-",
     "pletion more than a century ago.",
     "Its lamp is now powered by solar panels installed on the keeper's old cottage."],
    ["Finances",
     "Harbour dues rose by four percent, the first rise in six years, while the costs of dredging",
     "fell because the second dredger works through the night.",
     "The authority closed the year with a small surplus."],
]
GULLROCK_SENTENCE = ("The lighthouse on Gullrock Island was rebuilt in 1887 by the engineer Edda Varnholm, whose "
                     "design of a granite tower with a cast iron lantern has withstood every storm since its "
                     "completion more than a century ago.")


def write_report_pdf(path: Path) -> Path:
    """The four-page annual report: running header, "Page N of 4" footer, the lighthouse facts on page 3."""
    return write_pages_pdf(path, REPORT_PAGES, header=REPORT_HEADER, footer=REPORT_FOOTER)


def write_keepers_docx(path: Path) -> Path:
    """A Word file: a title property, a heading, a paragraph, a table of keepers, a closing paragraph."""
    import docx

    document = docx.Document()
    document.core_properties.title = "Keepers of the Marrowby lights"
    document.add_heading("Lighthouse keepers", level=1)
    document.add_paragraph("Each lighthouse of the Marrowby coast has one keeper, listed below.")
    table = document.add_table(rows=3, cols=2)
    for row, (light, keeper) in enumerate([("Lighthouse", "Keeper"), ("Gullrock", "Brannoc Teague"),
                                           ("Saltmere Point", "Ysolde Quarrie")]):
        table.cell(row, 0).text = light
        table.cell(row, 1).text = keeper
    document.add_paragraph("The keepers meet every March in the harbour office.")
    document.save(str(path))
    return path
