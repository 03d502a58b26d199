"""`hub consent …` and the patient's `hub dossier …` choices, as real `hub` processes on SQLite
and PostgreSQL: what they store, what they print, how they refuse."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.fixtures.acks import send_with_python_hl7
from tests.fixtures.hub_process import HubEnv
from tests.fixtures.messages import encoded, oru_r01, patient
from tests.fixtures.registered import register

MATRICULE = "1893120105732"
DOCTOR, NURSE, REFERENT = "123456-78", "222222-22", "111111-11"


@pytest.fixture
def cli_env(tmp_path, database_url):
    """A hub's settings with no broker to reach, on a database `hub db upgrade` created:
    these commands only use the database."""
    env = HubEnv(tmp_path, database_url, broker_url="memory://")
    env.create_database()
    register(env, DOCTOR, NURSE)
    return env


def _fails(env: HubEnv, *args: str) -> str:
    """Run a command that must fail; its one-line message."""
    result = env.hub(*args, check=False)
    assert result.returncode == 1, result
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hub: ")
    return lines[0]


def test_grant_list_revoke_and_the_first_mention_creates_the_dossier(cli_env):
    last_day = (datetime.now(UTC) + timedelta(days=30)).date()
    granted = cli_env.hub("consent", "grant", MATRICULE, DOCTOR, "--level", "extended",
                          "--until", last_day.isoformat())
    cli_env.hub("consent", "grant", MATRICULE, NURSE)

    assert granted.stdout.strip() == f"granted extended access to {DOCTOR} through {last_day}"
    assert cli_env.hub_json("dossier", "show", MATRICULE)["entries"] == []
    listed = cli_env.hub_json("consent", "list", MATRICULE)
    doctor, nurse = listed["grants"]
    assert (doctor["cns_code"], doctor["level"], doctor["status"]) == (DOCTOR, "extended",
                                                                       "in force")
    until = datetime.fromisoformat(doctor["until"])  # the end of the day in Luxembourg
    assert until == datetime.combine(last_day + timedelta(days=1), datetime.min.time(),
                                     ZoneInfo("Europe/Luxembourg"))
    assert doctor["last_day"] == last_day.isoformat()
    assert (nurse["level"], nurse["until"], nurse["revoked_at"]) == ("normal", None, None)
    assert listed["closed"] is False and listed["referent"] is None

    assert cli_env.hub("consent", "revoke", MATRICULE, NURSE).stdout.strip() == \
        f"revoked access of {NURSE}"
    assert _fails(cli_env, "consent", "revoke", MATRICULE, NURSE) == \
        f"hub: no grant in force for {NURSE}"
    statuses = {g["cns_code"]: g["status"]
                for g in cli_env.hub_json("consent", "list", MATRICULE)["grants"]}
    assert statuses == {DOCTOR: "in force", NURSE: "revoked"}
    table = cli_env.hub("consent", "list", MATRICULE).stdout
    assert "dossier open" in table and last_day.isoformat() in table and "revoked" in table


def test_a_new_grant_replaces_the_open_one(cli_env):
    cli_env.hub("consent", "grant", MATRICULE, DOCTOR, "--level", "extended")
    cli_env.hub("consent", "grant", MATRICULE, DOCTOR, "--level", "normal")
    first, second = cli_env.hub_json("consent", "list", MATRICULE)["grants"]
    assert (first["level"], first["status"]) == ("extended", "revoked")
    assert (second["level"], second["status"]) == ("normal", "in force")


@pytest.mark.parametrize("args, message", [
    (("consent", "grant", "1893120105733", DOCTOR), "hub: matricule fails its check digits"),
    (("consent", "grant", MATRICULE, "12345678"),
     "hub: CNS code '12345678' is not of the form NNNNNN-NN"),
    (("consent", "grant", MATRICULE, DOCTOR, "--until", "31/12/2030"),
     "hub: --until: expected a date as YYYY-MM-DD, or 'never'"),
    (("consent", "grant", MATRICULE, DOCTOR, "--until",
      (date.today() - timedelta(days=2)).isoformat()), "hub: --until is in the past"),
    (("consent", "list", MATRICULE), "hub: no dossier for this matricule"),
    (("consent", "referent-end", MATRICULE), "hub: no référent declaration in force"),
    (("dossier", "hide", MATRICULE, "0" * 32), "hub: no dossier for this matricule"),
])
def test_refusals_are_one_line_and_store_nothing(cli_env, args, message):
    assert _fails(cli_env, *args) == message
    assert _fails(cli_env, "dossier", "show", MATRICULE) == "hub: no dossier for this matricule"


def test_the_referent_declared_blocked_unblocked_and_ended(cli_env):
    declared = cli_env.hub("consent", "referent", MATRICULE, REFERENT).stdout
    assert declared.startswith(f"référent {REFERENT} since ")
    cli_env.hub("consent", "block-referent", MATRICULE)
    listed = cli_env.hub_json("consent", "list", MATRICULE)
    assert listed["referent"]["cns_code"] == REFERENT and listed["referent"]["until"] is None
    assert listed["referent_blocked"] is True and listed["referent_access_by_default"] is True
    assert "blocked by the patient" in cli_env.hub("consent", "list", MATRICULE).stdout

    cli_env.hub("consent", "unblock-referent", MATRICULE)
    assert cli_env.hub_json("consent", "list", MATRICULE)["referent_blocked"] is False
    assert cli_env.hub("consent", "referent-end", MATRICULE).stdout.strip() == \
        "référent declaration ended"
    assert cli_env.hub_json("consent", "list", MATRICULE)["referent"] is None


def test_the_policy_switch_comes_from_the_settings(cli_env):
    cli_env.env["HUB_CONSENT__REFERENT_ACCESS_BY_DEFAULT"] = "false"
    cli_env.hub("consent", "referent", MATRICULE, REFERENT)
    assert cli_env.hub_json("consent", "list", MATRICULE)["referent_access_by_default"] is False
    assert "needs a grant (policy)" in cli_env.hub("consent", "list", MATRICULE).stdout


def test_close_and_reopen_and_the_matricule_is_never_printed(cli_env):
    outputs = [cli_env.hub("dossier", "close", MATRICULE)]
    assert outputs[0].stdout.strip() == "dossier closed"
    assert cli_env.hub_json("consent", "list", MATRICULE)["closed"] is True
    outputs.append(cli_env.hub("dossier", "reopen", MATRICULE))
    assert cli_env.hub_json("consent", "list", MATRICULE)["closed"] is False
    outputs += [cli_env.hub("consent", "grant", MATRICULE, DOCTOR),
                cli_env.hub("consent", "list", MATRICULE),
                cli_env.hub("consent", "list", MATRICULE, "--json"),
                cli_env.hub("consent", "revoke", MATRICULE, NURSE, check=False)]
    assert all(MATRICULE not in o.stdout + o.stderr for o in outputs)


def test_the_patient_hides_and_grades_entries_and_a_closed_dossier_files_nothing(hub_env):
    hub_env.start()
    person, someone_else = patient(21), patient(22)
    acks = send_with_python_hl7(hub_env.mllp_port, [
        encoded(oru_r01(person, "CONSENT-1", n_obx=2)),
        encoded(oru_r01(someone_else, "CONSENT-2", n_obx=1))])
    assert [a.code for a in acks] == ["AA", "AA"]
    assert hub_env.wait_until(lambda: hub_env.hub_json("status")["messages"]["stored"] == 2)
    first, second = hub_env.hub_json("dossier", "show", person.matricule)["entries"]
    [theirs] = hub_env.hub_json("dossier", "show", someone_else.matricule)["entries"]

    hub_env.hub("dossier", "hide", person.matricule, first["id"])
    hub_env.hub("dossier", "confidentiality", person.matricule, second["id"], "restricted")
    assert _fails(hub_env, "dossier", "hide", person.matricule, theirs["id"]) == \
        f"hub: no entry {theirs['id']} in this dossier"
    shown = hub_env.hub_json("dossier", "show", person.matricule)["entries"]
    assert [(e["hidden"], e["confidentiality"]) for e in shown] == [
        (True, "normal"), (False, "restricted")]
    hub_env.hub("dossier", "unhide", person.matricule, first["id"])
    hub_env.hub("dossier", "confidentiality", person.matricule, second["id"], "secret")
    shown = hub_env.hub_json("dossier", "show", person.matricule)["entries"]
    assert [(e["hidden"], e["confidentiality"]) for e in shown] == [
        (False, "normal"), (False, "secret")]
    # Routing journals its own denials too (the ORU's ordering provider is not registered).
    journal = [(e["action"], e["entry"], e["reason"])
               for e in hub_env.hub_json("journal", person.matricule)
               if e["action"].startswith("entry.")]
    assert journal == [("entry.hide", first["id"], ""),
                       ("entry.confidentiality", second["id"], "restricted"),
                       ("entry.unhide", first["id"], ""),
                       ("entry.confidentiality", second["id"], "secret")]

    hub_env.hub("dossier", "close", person.matricule)
    acks = send_with_python_hl7(hub_env.mllp_port, [encoded(oru_r01(person, "CONSENT-3"))])
    assert [a.code for a in acks] == ["AA"]  # the sender did nothing wrong
    assert hub_env.wait_until(lambda: hub_env.hub_json("status")["messages"]["discarded"] == 1)
    assert len(hub_env.hub_json("dossier", "show", person.matricule)["entries"]) == 2
    [discarded] = hub_env.hub_json("messages", "--control-id", "CONSENT-3")
    assert discarded["state"] == "discarded" and "closed" in discarded["reason"]


def test_every_change_is_in_the_patients_journal_and_the_chain_holds(cli_env):
    cli_env.hub("consent", "grant", MATRICULE, DOCTOR, "--level", "extended")
    cli_env.hub("consent", "revoke", MATRICULE, DOCTOR)
    _fails(cli_env, "consent", "revoke", MATRICULE, DOCTOR)  # changes nothing, journals nothing
    cli_env.hub("consent", "referent", MATRICULE, REFERENT)
    cli_env.hub("consent", "block-referent", MATRICULE)
    cli_env.hub("consent", "unblock-referent", MATRICULE)
    cli_env.hub("consent", "referent-end", MATRICULE)
    cli_env.hub("dossier", "close", MATRICULE)
    cli_env.hub("dossier", "reopen", MATRICULE)

    journal = cli_env.hub_json("journal", MATRICULE)
    assert [(e["actor"], e["action"], e["outcome"]) for e in journal] == [
        ("patient", "consent.grant", "ok"), ("patient", "consent.revoke", "ok"),
        ("cns-feed", "referent.declare", "ok"), ("patient", "referent.block", "ok"),
        ("patient", "referent.unblock", "ok"), ("cns-feed", "referent.end", "ok"),
        ("patient", "dossier.close", "ok"), ("patient", "dossier.reopen", "ok")]
    assert journal[0]["reason"] == f"extended access to {DOCTOR}"
    assert journal[1]["reason"] == f"access of {DOCTOR}"
    assert MATRICULE not in repr(journal)
    assert cli_env.hub_json("audit", "verify")["ok"] is True
