"""The journal as a PDF, what a letter to the patient would carry: a title, then each event
(Luxembourg time in bold, the event in words). Made with fpdf2 (pure Python, maintained).

The text is set in DejaVu Sans when the system has it (Debian's fonts-dejavu-core; every
character of every language), embedded and subset; otherwise in the PDF's own Helvetica, which
covers Latin-1 — é, è, à, ç, ë, ü, ö, ä, ß — with the few other characters replaced."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from fpdf import FPDF

from hub.journal.phrases import sentence, when, word
from hub.ops.journal import JournalLine

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
_LATIN1 = str.maketrans({"„": '"', "“": '"', "”": '"', "—": "-", "–": "-", "…": "...",
                         "’": "'", "‘": "'"})


def render_pdf(lines: Iterable[JournalLine], lang: str, made_at: datetime) -> bytes:
    """The whole journal as PDF bytes (A4)."""
    pdf = FPDF(format="A4")
    pdf.set_title(word(lang, "title"))
    pdf.set_creator("DSP hub")
    family, clean = _font(pdf)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font(family, "B", 15)
    pdf.multi_cell(0, 8, clean(word(lang, "title")), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 9.5)
    pdf.multi_cell(0, 5, clean(word(lang, "intro")), new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 5, clean(word(lang, "generated").format(when=when(made_at, lang))),
                   new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    lines = list(lines)
    if not lines:
        pdf.set_font(family, "", 10.5)
        pdf.multi_cell(0, 6, clean(word(lang, "empty")), new_x="LMARGIN", new_y="NEXT")
    for line in lines:
        pdf.set_font(family, "B", 10)
        pdf.multi_cell(0, 5.5, clean(when(line.at, lang)), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(family, "", 10.5)
        pdf.multi_cell(0, 5.5, clean(sentence(line, lang)), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    return bytes(pdf.output())


def _font(pdf: FPDF):
    """DejaVu Sans embedded when found (text as it is), else Helvetica (text in Latin-1)."""
    for folder in FONT_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            pdf.add_font("DejaVu", "", str(regular))
            pdf.add_font("DejaVu", "B", str(bold))
            return "DejaVu", lambda text: text
    return "Helvetica", _latin1


def _latin1(text: str) -> str:
    return text.translate(_LATIN1).encode("latin-1", "replace").decode("latin-1")
