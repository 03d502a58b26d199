"""`hub consent grant` as real `hub` processes on SQLite and PostgreSQL: a re-grant changes only
what is given and prints what changed, `--until never` makes a dated grant open-ended, a CNS code
the registry does not know is refused (exit 1) unless `--pending`, and a pending grant takes
effect once an MFN^M02 through a running hub registers the professional."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.domain.luxembourg import local_date
from tests.fixtures.acks import send_with_python_hl7
from tests.fixtures.hub_process import HubEnv
from tests.fixtures.messages import encoded, oru_r01, patient
from tests.fixtures.registered import register

MATRICULE = "1893120105732"
DOCTOR, NEWCOMER = "123456-78", "654321-09"
SENDERS = """
[[sender]]
name = "chl-lab"
application = "LABSYS"
facility = "CHL"
addresses = ["127.0.0.1"]
types = ["*"]

[[sender]]
name = "registry"
application = "HR"
facility = "MSAN"
addresses = ["127.0.0.1"]
types = ["MFN^M02"]
privileges = ["update_registry"]
"""
MFN = ("MSH|^~\\&|HR|MSAN|DSP|HUB|20261201120000||MFN^M02^MFN_M02|MFN-1|P|2.5\r"
       "MFI|STF^Staff master file^HL70175||UPD|||AL\r"
       f"MFE|MAD|||{NEWCOMER}^^CNS\r"
       f"STF|{NEWCOMER}|{NEWCOMER}^^^CNS^CNS|Hoffmann^Luc|D||19750101|A\r"
       f"PRA|{NEWCOMER}||cardiologie\r")


@pytest.fixture
def cli_env(tmp_path, database_url):
    env = HubEnv(tmp_path, database_url, broker_url="memory://")
    env.create_database()
    register(env, DOCTOR)
    return env


def _fails(env: HubEnv, *args: str) -> str:
    result = env.hub(*args, check=False)
    assert result.returncode == 1, result
    assert result.stdout == "" and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    return line


def _grants(env: HubEnv) -> list[tuple]:
    return [(g["level"], g["last_day"], g["status"])
            for g in env.hub_json("consent", "list", MATRICULE)["grants"]]


def test_a_regrant_changes_only_what_is_given_and_prints_what_changed(cli_env):
    last_day = (local_date(datetime.now(UTC)) + timedelta(days=40)).isoformat()
    first = cli_env.hub("consent", "grant", MATRICULE, DOCTOR, "--until", last_day).stdout
    assert first.strip() == f"granted normal access to {DOCTOR} through {last_day}"

    level = cli_env.hub("consent", "grant", MATRICULE, DOCTOR, "--level", "extended").stdout
    assert level.strip() == (f"changed {DOCTOR}'s grant: level normal → extended; "
                             f"now extended access to {DOCTOR} through {last_day}")
    assert _grants(cli_env) == [("normal", last_day, "revoked"),
                                ("extended", last_day, "in force")]

    same = cli_env.hub("consent", "grant", MATRICULE, DOCTOR).stdout
    assert same.strip() == (f"unchanged: extended access to {DOCTOR} through {last_day} "
                            "already in force")
    assert len(_grants(cli_env)) == 2

    never = cli_env.hub("consent", "grant", MATRICULE, DOCTOR, "--until", "never").stdout
    assert never.strip() == (f"changed {DOCTOR}'s grant: through {last_day} → open-ended; "
                             f"now extended access to {DOCTOR}")
    assert _grants(cli_env)[-1] == ("extended", None, "in force")

    journal = [e["reason"] for e in cli_env.hub_json("journal", MATRICULE)
               if e["action"] == "consent.grant"]
    assert journal == [f"normal access to {DOCTOR} through {last_day}",
                       f"extended access to {DOCTOR} through {last_day}; "
                       "changed: level normal → extended",
                       f"extended access to {DOCTOR}; changed: through {last_day} → open-ended"]


def test_an_unknown_cns_code_is_refused_unless_pending(cli_env):
    assert _fails(cli_env, "consent", "grant", MATRICULE, NEWCOMER) == (
        f"hub: {NEWCOMER} is not in the professionals registry: check the code, or grant "
        "with --pending to let it take effect once the professional is registered")
    assert _fails(cli_env, "consent", "list", MATRICULE) == "hub: no dossier for this matricule"

    pending = cli_env.hub("consent", "grant", MATRICULE, NEWCOMER, "--pending").stdout
    assert pending.splitlines() == [
        f"granted normal access to {NEWCOMER}",
        f"pending: {NEWCOMER} is not in the registry; the grant takes effect once the "
        "professional is registered"]
    assert _grants(cli_env) == [("normal", None, "pending registration")]
    assert "pending registration" in cli_env.hub("consent", "list", MATRICULE).stdout


def test_a_pending_grant_takes_effect_when_an_mfn_registers_the_professional(hub_env,
                                                                             tmp_path):
    senders = tmp_path / "senders.toml"
    senders.write_text(SENDERS, encoding="utf-8")
    hub_env.env["HUB_SENDERS_FILE"] = str(senders)
    hub_env.start()
    person = patient(71)
    assert [a.code for a in send_with_python_hl7(
        hub_env.mllp_port, [encoded(oru_r01(person, "PENDING-1", n_obx=2))])] == ["AA"]
    assert hub_env.wait_until(lambda: hub_env.hub_json("status")["messages"]["stored"] == 1)
    hub_env.hub("consent", "grant", person.matricule, NEWCOMER, "--pending")
    assert _fails(hub_env, "dossier", "show", person.matricule, "--as", NEWCOMER) == \
        f"hub: {NEWCOMER} may not read dossiers: recipient not registered"

    assert [a.code for a in send_with_python_hl7(hub_env.mllp_port, [encoded(MFN)])] == ["AA"]
    assert hub_env.wait_until(lambda: any(
        p["cns_code"] == NEWCOMER for p in hub_env.hub_json("professionals", "list")))
    shown = hub_env.hub_json("dossier", "show", person.matricule, "--as", NEWCOMER)
    assert len(shown["entries"]) == 2
    assert shown["access"] == {"allowed": True, "reason": "grant in force"}
    statuses = [g["status"] for g in hub_env.hub_json("consent", "list", person.matricule)[
        "grants"]]
    assert statuses == ["in force"]
