"""The journal's three renderings without a hub: the HTML escapes what senders wrote, the PDF
is a PDF whose text reads back with its accents, the text has one event per line."""
from __future__ import annotations

import io
from datetime import UTC, datetime

from pypdf import PdfReader

from hub.domain.audit import AuditEvent
from hub.domain.models import Confidentiality, StoredEntry
from hub.journal.render_html import render_html
from hub.journal.render_pdf import _latin1, render_pdf
from hub.journal.render_text import render_text
from tests.unit.test_journal_phrases import T, lines

MADE = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
HOSTILE = StoredEntry("x1", "p1", "m9", 0, "lab_result", Confidentiality.NORMAL, False, T,
                      {"code_text": "<script>alert('Müller')</script>"}, "2026-11-12")


def journal():
    read = AuditEvent(actor="123456-78", action="read", entry_id="x1", at=T,
                      reason="grant in force", patient_id="p1")
    closed = AuditEvent(actor="patient", action="dossier.close", at=T, patient_id="p1")
    return lines(read, closed, entries={"x1": HOSTILE})


def test_the_html_escapes_what_senders_wrote():
    page = render_html(journal(), "fr", MADE)
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;Müller&#x27;)" in page
    assert page.count('<tr class="ok"') == 2 and '<html lang="fr">' in page
    assert "25/11/2026 10:30" in page  # 09:30 UTC in Luxembourg's winter time


def test_the_pdf_is_a_pdf_with_the_text_and_its_accents():
    data = render_pdf(journal(), "de", MADE)
    assert data.startswith(b"%PDF-")
    text = " ".join("".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages).split())
    assert "Protokoll Ihres gemeinsamen Gesundheitsdossiers" in text
    assert "Anne Weber (Allgemeinmedizin, CNS-Code 123456-78) hat den Laborbefund" in text
    assert "alert('Müller')" in text and "Sie haben Ihr Dossier geschlossen" in text
    assert _latin1("„Zoë“ — ł") == '"Zoë" - ?'  # without DejaVu: Latin-1 kept, the rest replaced


def test_the_text_has_one_event_per_line_in_luxembourg_time():
    out = render_text(journal(), "en", MADE).splitlines()
    assert out[0] == "Your shared care record's journal"
    events = [line for line in out if line.startswith("25 Nov 2026 10:30")]
    assert len(events) == 2 and events[1].endswith("You closed your record")
    assert render_text([], "fr", MADE).splitlines()[-1] == "Aucun événement."
