"""A billing document as a PDF, drawn with fpdf2.

Text that Latin-1 can spell is set in the PDF core font Helvetica (nothing to
embed); anything else (Zoë is fine, 李 is not) in DejaVu Sans when the system has
it, embedded as a subset; without it, such characters print as ``?``.
"""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from commbase.billing.documents.model import Document

UNICODE_FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)
UNICODE_BOLD = "DejaVuSans-Bold.ttf"


def _texts(document: Document) -> list[str]:
    d = document
    texts = [d.title, d.number, d.status, d.seller.name, d.buyer.name, d.memo or ""]
    texts += d.seller.lines + d.buyer.lines + [k + v for k, v in d.facts]
    return texts + [x.description for x in d.lines] + [label for label, _ in d.totals]


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _font(pdf: FPDF, document: Document) -> tuple[str, bool]:
    """The family to use, and whether text must be made Latin-1 first."""
    if all(_latin1(t) for t in _texts(document)):
        return "Helvetica", False
    for path in UNICODE_FONTS:
        if path.is_file():
            pdf.add_font("DejaVu", "", str(path))
            bold = path.with_name(UNICODE_BOLD)
            pdf.add_font("DejaVu", "B", str(bold if bold.is_file() else path))
            return "DejaVu", False
    return "Helvetica", True


def render(document: Document, *, compress: bool = True) -> bytes:
    d = document
    pdf = FPDF(format="A4")
    pdf.set_compression(compress)
    family, lossy = _font(pdf, d)

    def t(text: str) -> str:
        return text.encode("latin-1", "replace").decode("latin-1") if lossy else text

    title = f"{d.title} {d.number}"
    pdf.set_title(t(title))
    pdf.set_author(t(d.seller.name))
    pdf.add_page()
    pdf.set_font(family, "B", 18)
    pdf.cell(0, 10, t(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(family, "", 10)
    pdf.cell(0, 6, t(d.status), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    top = pdf.get_y()
    for x, label, party in ((10, "From", d.seller), (110, "Billed to", d.buyer)):
        pdf.set_xy(x, top)
        pdf.set_font(family, "", 9)
        pdf.cell(90, 5, label, new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.set_font(family, "B", 10)
        pdf.multi_cell(90, 5, t(party.name), new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.set_font(family, "", 10)
        for text in party.lines:
            pdf.multi_cell(90, 5, t(text), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_xy(10, max(pdf.get_y(), top + 30) + 4)
    for key, value in d.facts:
        pdf.cell(40, 6, t(key))
        pdf.cell(0, 6, t(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    with pdf.table(
        col_widths=(95, 15, 40, 40), text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT")
    ) as table:
        table.row(["Description", "Qty", "Unit price", "Amount"])
        for line in d.lines:
            table.row(
                [
                    t(line.description),
                    str(line.quantity),
                    d.money(line.unit_amount),
                    d.money(line.amount),
                ]
            )
    pdf.ln(2)
    for i, (label, amount) in enumerate(d.totals):
        pdf.set_font(family, "B" if i == len(d.totals) - 1 else "", 10)
        pdf.cell(150, 6, t(label), align="R")
        pdf.cell(40, 6, d.money(amount), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if d.memo:
        pdf.ln(4)
        pdf.set_font(family, "", 10)
        pdf.multi_cell(0, 5, t(d.memo))
    return bytes(pdf.output())
