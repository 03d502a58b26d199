"""The journal the patient reads, through a real `hub serve`: a lab report filed and delivered
to the doctor who ordered it and to the référent, a restricted document refused to the
référent (the restricted rule, not "no grant"), the doctor's read of the results, one entry
erased afterwards and the dossier closed. Each comes out
of `hub journal --format text|html|pdf` as a line in plain words with names from the registry
and the entries' titles; the HTML page is opened in headless Chromium (its screenshot goes to
the test's directory, or to HUB_JOURNAL_SCREENSHOT when set) and the PDF's text is read back."""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from pypdf import PdfReader

from tests.e2e.test_audit_cli import raw_sql
from tests.fixtures.messages import encoded, oru_r01, patient
from tests.fixtures.registry import mdm_t02, scene, wait_for  # noqa: F401 - scene is a fixture

CHROMIUM = "/usr/bin/chromium"
MARKUP_TITLE = "<b>Chol</b> fraction 1"  # markup in a sender's text must show as text


@pytest.fixture
def journal(scene):  # noqa: F811 - the fixture imported above
    """A hub after: LAB (3 results ordered by Dr Weber) filed and delivered to her; DOC (a
    restricted consultation note of Dr Klein's) filed and refused to him: as the patient's
    référent he may read normal entries, not restricted ones without an extended grant;
    Dr Weber's read of the dossier; then the first result erased behind the hub's back."""
    weber = scene.doctor("391001-11")
    klein = scene.doctor("391002-11")
    weber.family_name, klein.family_name = "Weber", "Klein"
    scene.start()
    person = patient(391)
    scene.hub(("consent", "grant", person.matricule, weber.cns_code),
              ("consent", "referent", person.matricule, klein.cns_code))
    lab = oru_r01(person, "J-LAB", n_obx=3, orderer=weber.xcn)
    lab = lab.replace("Cholesterol fraction 1^", MARKUP_TITLE + "^", 1)
    assert scene.send(encoded(lab), mdm_t02(person, "J-DOC", klein, confidentiality="R")) == [
        "AA", "AA"]
    assert scene.settled(2), scene.env.logs()
    # The results go to Dr Weber, who ordered them, and to Dr Klein, the référent.
    assert wait_for(lambda: scene.states() == ["delivered"] * 2), scene.probe.deliveries()
    scene.env.hub("dossier", "show", person.matricule, "--as", weber.cns_code, "--json")
    scene.person, scene.weber, scene.klein = person, weber, klein
    return scene


def test_the_patient_reads_who_filed_received_read_and_was_refused_what(journal, tmp_path):
    env, person = journal.env, journal.person
    html_journal_in_chromium(env, person, tmp_path)
    events = env.hub_json("journal", person.matricule)
    filed = [e for e in events if e["action"] == "entries.filed"]
    assert len(filed) == 2 and all(e["at"].endswith("+00:00") for e in events)
    assert filed[0]["detail"]["sender"] == "LABSYS^CHL"
    assert filed[0]["detail"]["professional"] == journal.weber.cns_code
    assert len(filed[0]["detail"]["entries"]) == 3
    raw_sql(env, f"DELETE FROM entries WHERE id = '{filed[0]['detail']['entries'][0]}'")
    # The patient's assistant DSP, recorded at the desk, widens Dr Weber's access for them.
    assistant = env.hub("dossier", "representative", "add", person.matricule, "--kind",
                        "assistant", "--name", "Jo Thill", "--operator", "desk-anne").stdout
    assistant_id = assistant.split()[1]
    env.hub("consent", "grant", person.matricule, journal.weber.cns_code, "--level", "extended",
            "--by-representative", assistant_id, "--operator", "desk-anne")
    env.hub("dossier", "close", person.matricule, "--operator", "desk-anne")

    text = env.hub("journal", person.matricule, "--format", "text").stdout
    flat = " ".join(text.split())
    weber = "Test Weber (médecine générale, code CNS 391001-11)"
    klein = "Test Klein (médecine générale, code CNS 391002-11)"
    assert ("L'établissement CHL (LABSYS) a déposé 2 résultats de laboratoire du 25/11/2026 "
            "(Cholesterol fraction 2, Cholesterol fraction 3) et une entrée depuis effacée, à "
            f"la demande de {weber}") in flat
    assert ("L'établissement CHL (DOCSYS) a déposé le document « Consultation note » du "
            f"26/11/2026, rédigé par {klein}") in flat
    assert (f"{klein} n'a pas reçu le document « Consultation note » du 26/11/2026 — refusé : "
            "une entrée à accès restreint demande une autorisation étendue, qu'il n'a pas") in flat
    assert f"{weber} a reçu 2 résultats de laboratoire du 25/11/2026" in flat
    assert f"{klein} a reçu 2 résultats de laboratoire du 25/11/2026" in flat
    assert (f"{weber} a consulté 2 résultats de laboratoire du 25/11/2026 (Cholesterol "
            "fraction 2, Cholesterol fraction 3) et une entrée depuis effacée") in flat
    assert f"Vous avez autorisé {weber} à consulter votre dossier (accès normal)" in flat
    assert f"{klein} est déclaré(e) comme votre médecin référent" in flat
    assert ("Un agent du DSP (desk-anne) a enregistré un représentant qui agit pour vous "
            "(parent, tuteur ou assistant DSP)") in flat
    assert (f"Votre représentant(e) a autorisé {weber} à consulter votre dossier (accès étendu, "
            "entrées restreintes comprises) (enregistré par desk-anne)") in flat
    assert "Jo Thill" not in text  # a representative is named by the desk, not in the journal
    assert "Vous avez fermé votre dossier (enregistré par desk-anne)" in flat
    assert person.matricule not in text and "391001-11 " not in flat.replace(weber, "")
    print(text)  # the report quotes it

    english = " ".join(env.hub("journal", person.matricule, "--format", "text", "--lang",
                               "en").stdout.split())
    assert "a restricted entry needs an extended permission" in english
    german = env.hub("journal", person.matricule, "--format", "text", "--lang", "de").stdout
    assert "hat 2 Laborbefunde vom 25.11.2026" in " ".join(german.split())

    pdf = tmp_path / "journal.pdf"
    env.hub("journal", person.matricule, "--format", "pdf", "--out", str(pdf))
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    extracted = " ".join("".join(page.extract_text() for page in
                                 PdfReader(io.BytesIO(data)).pages).split())
    assert "Journal de votre dossier de soins partagé" in extracted
    assert "a déposé le document « Consultation note »" in extracted.replace("\xa0", " ")
    assert "Test Weber (médecine générale" in extracted

    usage = env.hub("journal", person.matricule, "--format", "html", "--json", check=False)
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


def html_journal_in_chromium(env, person, tmp_path: Path) -> None:
    """The HTML journal opened in headless Chromium: one row per line, markup in a sender's
    text shown as text, the denial marked; a screenshot of the page kept."""
    page_file = tmp_path / "journal.html"
    env.hub("journal", person.matricule, "--format", "html", "--out", str(page_file))
    shot = Path(os.environ.get("HUB_JOURNAL_SCREENSHOT") or tmp_path / "journal.png")
    assert Path(CHROMIUM).exists(), "chromium is missing: scripts/browser.sh installs it"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(page_file.as_uri())
            assert page.title() == "Journal de votre dossier de soins partagé"
            assert page.locator("html").get_attribute("lang") == "fr"
            rows = page.locator("#journal tbody tr")
            events = rows.all_inner_texts()
            assert len(events) == len(env.hub_json("journal", person.matricule)) - 2  # 3 reads, 1 line
            assert any("a déposé 3 résultats de laboratoire" in e and MARKUP_TITLE in e
                       for e in events), events
            assert page.locator("#journal b, #journal script").count() == 0  # escaped, not markup
            denied = page.locator("#journal tr.denied td.event").all_inner_texts()
            assert len(denied) == 1 and "autorisation étendue" in denied[0]
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
