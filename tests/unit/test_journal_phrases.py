"""The patient's journal in words (hub.ops.journal builds the lines, hub.journal.phrases words
them): people by name and specialty beside the CNS code, entries by kind, title and date, the
true reason of a denial, Luxembourg time across a change of summer time, in fr, de and en, and
a sensible line for an action nobody has worded yet."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from hub.domain.audit import AuditEvent, AuditOutcome, FilingDetail
from hub.domain.consent import Reason
from hub.domain.models import Confidentiality, StoredEntry
from hub.domain.professional import Professional
from hub.journal import phrases
from hub.journal.phrases import ACTIONS, LANGUAGES, when
from hub.ops.journal import build_lines, clinical_date

WEBER = Professional("123456-78", "Weber", "Anne", "GP")
KLEIN = Professional("234567-89", "Klein", "Tom", "cardiology")
PROS = {WEBER.cns_code: WEBER, KLEIN.cns_code: KLEIN, "999999-99": None}
T = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def lab(entry_id: str, title: str, effective: str = "2026-11-12T08:30:00",
        message_id: str = "m1") -> StoredEntry:
    return StoredEntry(entry_id, "p1", message_id, 0, "lab_result", Confidentiality.NORMAL,
                       False, T, {"code_text": title, "test_text": "Lipid panel"}, effective)


ENTRIES = {"e1": lab("e1", "Hémoglobine"), "e2": lab("e2", "Leucocytes"),
           "e3": lab("e3", "Plaquettes"),
           "d1": StoredEntry("d1", "p1", "m2", 0, "document", Confidentiality.RESTRICTED, False,
                             T, {"document_type_text": "Lettre de sortie"}, "2026-11-02")}


def sentence(line, lang: str) -> str:
    """The line in words, French guillemets' non-breaking spaces as plain ones."""
    text = phrases.sentence(line, lang)
    assert lang == "fr" or "\xa0" not in text
    return text.replace("\xa0", " ")


def lines(*events: AuditEvent, entries=ENTRIES, message_entries=None):
    return build_lines(events, professionals=PROS, entries=entries,
                       message_entries=message_entries or {"m1": ["e1", "e2", "e3"]})


def filing(entry_ids=("e1", "e2", "e3"), professional="123456-78", role="ordering",
           message_id="m1") -> AuditEvent:
    detail = FilingDetail(tuple(entry_ids), "LAB^KETTER", professional, role)
    return AuditEvent(actor="hub", action="entries.filed", patient_id="p1", at=T,
                      message_id=message_id, detail=detail.to_json(), seq=1)


def test_a_read_of_three_results_is_one_line_naming_the_doctor_and_the_results():
    reads = [AuditEvent(actor="123456-78", action="read", reason=Reason.GRANT_IN_FORCE,
                        patient_id="p1", entry_id=e, at=T, seq=n)
             for n, e in enumerate(["e1", "e2", "e3"], 2)]
    [line] = lines(*reads)
    assert sentence(line, "fr") == (
        "Anne Weber (médecine générale, code CNS 123456-78) a consulté 3 résultats de "
        "laboratoire du 12/11/2026 (Hémoglobine, Leucocytes, Plaquettes) (vous l'avez autorisé)")
    assert sentence(line, "de") == (
        "Anne Weber (Allgemeinmedizin, CNS-Code 123456-78) hat 3 Laborbefunde vom 12.11.2026 "
        "(Hémoglobine, Leucocytes, Plaquettes) eingesehen (Sie haben es erlaubt)")
    assert sentence(line, "en") == (
        "Anne Weber (general practice, CNS code 123456-78) read 3 lab results of 12 Nov 2026 "
        "(Hémoglobine, Leucocytes, Plaquettes) (you allowed it)")
    assert line.seqs == (2, 3, 4)


def test_a_filing_names_the_sender_the_professional_and_the_tests():
    [line] = lines(filing())
    assert sentence(line, "fr") == (
        "L'établissement KETTER (LAB) a déposé 3 résultats de laboratoire du 12/11/2026 "
        "(Hémoglobine, Leucocytes, Plaquettes), à la demande de Anne Weber (médecine générale, "
        "code CNS 123456-78)")
    assert sentence(line, "de").startswith("Die Einrichtung KETTER (LAB) hat 3 Laborbefunde")
    assert sentence(line, "de").endswith("hinterlegt, angefordert von Anne Weber "
                                         "(Allgemeinmedizin, CNS-Code 123456-78)")
    assert sentence(line, "en").startswith("Facility KETTER (LAB) filed 3 lab results of "
                                           "12 Nov 2026")


def test_an_entry_erased_since_is_said_so_and_nothing_fails():
    [line] = lines(filing(("e1", "gone1", "gone2")), entries={"e1": ENTRIES["e1"]})
    text = sentence(line, "fr")
    assert "le résultat de laboratoire « Hémoglobine » du 12/11/2026 et 2 entrées depuis " \
           "effacées" in text
    [alone] = lines(AuditEvent(actor="123456-78", action="read", entry_id="gone", at=T,
                               reason="grant in force"), entries={})
    assert sentence(alone, "fr").startswith("Anne Weber (médecine générale, code CNS "
                                            "123456-78) a consulté une entrée depuis effacée")
    assert "an entry since erased" in sentence(alone, "en")
    assert "einen inzwischen gelöschten Eintrag" in sentence(alone, "de")


def test_a_denial_of_a_multi_entry_message_lists_its_entries_and_the_true_rule():
    deny = AuditEvent(actor="234567-89", action="deny", outcome=AuditOutcome.DENIED,
                      reason=Reason.RESTRICTED_NEEDS_EXTENDED, patient_id="p1", message_id="m2",
                      at=T)
    [line] = lines(deny, message_entries={"m2": ["d1", "e1"]})
    assert sentence(line, "fr") == (
        "Tom Klein (cardiologie, code CNS 234567-89) n'a pas reçu le document « Lettre de "
        "sortie » du 02/11/2026 et le résultat de laboratoire « Hémoglobine » du 12/11/2026 — "
        "refusé : une entrée à accès restreint demande une autorisation étendue, qu'il n'a pas")
    assert "a restricted entry needs an extended permission" in sentence(line, "en")
    assert "eine erweiterte Erlaubnis" in sentence(line, "de")


def test_a_delivery_names_its_recipient_and_an_unknown_code_is_said_unknown():
    deliver = AuditEvent(actor="999999-99", action="deliver", reason="AA", message_id="m1",
                         patient_id="p1", at=T)
    [line] = lines(deliver)
    assert sentence(line, "fr").startswith(
        "Le professionnel au code CNS 999999-99 (inconnu du registre) a reçu 3 résultats")
    assert sentence(line, "fr").endswith("(réception confirmée par son logiciel)")


def test_consent_changes_name_whom_and_who_recorded_them():
    grant = AuditEvent(actor="patient", action="consent.grant", patient_id="p1", at=T,
                       reason="extended access to 234567-89 through 2026-12-31",
                       operator="alice")
    [line] = lines(grant)
    assert sentence(line, "fr") == (
        "Vous avez autorisé Tom Klein (cardiologie, code CNS 234567-89) à consulter votre "
        "dossier (accès étendu, entrées restreintes comprises) jusqu'au 31/12/2026 inclus "
        "(enregistré par alice)")
    assert sentence(line, "de").startswith("Sie haben Tom Klein (Kardiologie, CNS-Code "
                                           "234567-89) den Zugriff auf Ihr Dossier erlaubt")
    assert sentence(line, "en").endswith("until 31 Dec 2026 inclusive (recorded by alice)")


def test_a_representatives_choice_and_the_patients_default_level_read_as_such():
    by_parent = AuditEvent(actor="representative", action="consent.grant", patient_id="p1",
                           at=T, reason="normal access to 123456-78; by representative "
                           + "a" * 32, operator="alice")
    default = AuditEvent(actor="patient", action="consent.default_level", patient_id="p1",
                         at=T, reason="new entries restricted", operator="alice")
    [grant, level] = lines(by_parent, default)
    assert sentence(grant, "fr").startswith(
        "Votre représentant(e) a autorisé Anne Weber (médecine générale, code CNS 123456-78)")
    assert sentence(grant, "en").startswith("Your representative allowed Anne Weber")
    assert sentence(level, "fr").startswith(
        "Vous avez choisi le niveau « restreint » pour les nouvelles entrées")
    assert "„eingeschränkt“" in sentence(level, "de")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_an_action_nobody_worded_yet_reads_with_the_generic_phrase(lang):
    future = AuditEvent(actor="patient", action="representative.appointed", at=T,
                        patient_id="p1")
    denied = AuditEvent(actor="123456-78", action="something.new", at=T, patient_id="p1",
                        outcome=AuditOutcome.DENIED, reason="dossier closed")
    text, refused = (sentence(line, lang) for line in lines(future, denied))
    assert "representative.appointed" in text and text[0].isupper()
    assert "something.new" in refused and "Anne Weber" in refused
    assert phrases.reason("dossier closed", lang) in refused


def test_every_action_of_the_hub_has_a_phrase_in_every_language():
    from hub.domain.audit import AuditAction
    for lang in LANGUAGES:
        missing = [a.value for a in AuditAction if a.value not in ACTIONS[lang]]
        assert missing == [], (lang, missing)
    assert set(ACTIONS["fr"]) == set(ACTIONS["de"]) == set(ACTIONS["en"])


def test_times_are_luxembourg_local_across_the_change_to_summer_time():
    # 29 March 2026: at 01:00 UTC Luxembourg goes from UTC+1 to UTC+2.
    before = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    after = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert when(before, "fr") == "29/03/2026 01:30"
    assert when(after, "fr") == "29/03/2026 03:30"
    assert when(after, "de") == "29.03.2026 03:30"
    assert when(after, "en") == "29 Mar 2026 03:30"
    # 25 October 2026: back to UTC+1 at 01:00 UTC; late evening UTC is the next day here.
    assert when(datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "fr") == "25/10/2026 02:30"
    assert when(datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "fr") == "25/10/2026 02:30"
    assert when(datetime(2026, 11, 12, 23, 30, tzinfo=UTC), "fr") == "13/11/2026 00:30"
    assert when(datetime(2026, 7, 12, 22, 30, tzinfo=UTC), "de") == "13.07.2026 00:30"


def test_clinical_dates_are_luxembourg_dates():
    assert clinical_date("2026-07-12T22:30:00+00:00") == date(2026, 7, 13)
    assert clinical_date("2026-12-12T22:30:00+00:00") == date(2026, 12, 12)
    assert clinical_date("2026-11-12T08:30:00") == date(2026, 11, 12)  # local as sent
    assert clinical_date("2026-11-12") == date(2026, 11, 12)
    assert clinical_date("garbage") is None and clinical_date(None) is None
