"""Who acts for the patient, through real `hub` processes on SQLite and PostgreSQL:
`hub dossier representative add|end|list`, consent changes a representative makes (journaled
with the representative's id, never their name) or is refused (exit 1, nothing recorded), a
read of the dossier by a representative with the read scope (and a refused one, journaled), and
`hub serve` ending a parent's rights by itself when the minor comes of age (birth date from
PID-7), journaled."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from hub.domain.luxembourg import LUXEMBOURG
from tests.fixtures.acks import send_with_python_hl7
from tests.fixtures.hub_process import HubEnv
from tests.fixtures.registered import register
from tests.fixtures.matricules import reference_matricule
from tests.fixtures.messages import SyntheticPatient, adt_a01, encoded

CHILD = reference_matricule("20150301123")     # born 1 March 2015: a minor until 2033
DOCTOR, NURSE = "123456-78", "222222-22"
PARENT_NAME = "Marie Schmëtz"


@pytest.fixture
def cli_env(tmp_path, database_url):
    """A hub's settings with no broker to reach, on a database `hub db upgrade` created."""
    env = HubEnv(tmp_path, database_url, broker_url="memory://")
    env.create_database()
    register(env, DOCTOR, NURSE)
    yield env
    env.stop_all()


def _fails(env: HubEnv, *args: str) -> str:
    """Run a command that must be refused: exit 1, one line on stderr, no traceback."""
    result = env.hub(*args, check=False)
    assert result.returncode == 1, result
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hub: "), lines
    return lines[0]


def _add(env: HubEnv, matricule: str, kind: str, name: str, *more: str) -> str:
    return env.hub_json("dossier", "representative", "add", matricule, "--kind", kind,
                        "--name", name, *more)["id"]


def _statuses(env: HubEnv, matricule: str) -> dict[str, tuple]:
    listed = env.hub_json("dossier", "representative", "list", matricule)["representatives"]
    return {r["id"]: (r["kind"], r["status"], r["end_reason"]) for r in listed}


def test_add_list_end_and_the_full_view_of_a_minor(cli_env):
    parent = _add(cli_env, CHILD, "parent", PARENT_NAME)
    helper = _add(cli_env, CHILD, "assistant", "Jo Weber", "--scope", "read")
    listed = cli_env.hub_json("dossier", "representative", "list", CHILD)
    assert listed["minor"] is True and listed["majority_on"] == "2033-03-01"
    assert [(r["id"], r["kind"], r["name"], r["scopes"], r["status"])
            for r in listed["representatives"]] == [
        (parent, "parent", PARENT_NAME, ["consent", "read"], "in force"),
        (helper, "assistant", "Jo Weber", ["read"], "in force")]
    shown = cli_env.hub_json("dossier", "show", CHILD)
    assert shown["minor"] is True
    assert [r["id"] for r in shown["representatives"]] == [parent, helper]
    text = cli_env.hub("dossier", "show", CHILD).stdout
    assert "minor: of age on 2033-03-01" in text and PARENT_NAME in text

    assert cli_env.hub("dossier", "representative", "end", CHILD, helper).stdout.strip() == \
        f"representative {helper} ended"
    assert _fails(cli_env, "dossier", "representative", "end", CHILD, helper) == \
        f"hub: representative {helper} no longer acts"
    assert _statuses(cli_env, CHILD)[helper] == ("assistant", "ended", "ended")
    assert [r["id"] for r in cli_env.hub_json("dossier", "show", CHILD)["representatives"]] \
        == [parent]                                     # the full view: those in force only
    assert "unknown scope" in _fails(cli_env, "dossier", "representative", "add", CHILD,
                                     "--kind", "guardian", "--name", "X", "--scope", "write")
    assert cli_env.hub("dossier", "representative", "add", CHILD, "--kind", "nobody",
                       "--name", "X", check=False).returncode == 2

    journal = cli_env.hub_json("journal", CHILD)
    actions = [e["action"] for e in journal if e["action"].startswith("representative.")]
    assert actions == ["representative.add", "representative.add", "representative.list",
                       "representative.end", "representative.list"]
    assert PARENT_NAME not in cli_env.hub("journal", CHILD).stdout
    assert "Jo Weber" not in cli_env.hub("journal", CHILD, "--json").stdout
    assert "audit chain intact" in cli_env.hub("audit", "verify").stdout


def test_a_consent_change_by_a_representative_is_journaled_with_them_or_refused(cli_env):
    parent = _add(cli_env, CHILD, "parent", PARENT_NAME)
    reader = _add(cli_env, CHILD, "assistant", "Jo Weber", "--scope", "read")
    granted = cli_env.hub("consent", "grant", CHILD, DOCTOR, "--by-representative", parent)
    assert granted.stdout.strip() == \
        f"granted normal access to {DOCTOR}; by representative {parent}"
    [event] = [e for e in cli_env.hub_json("journal", CHILD) if e["action"] == "consent.grant"]
    assert event["actor"] == "representative" and event["reason"].endswith(parent)

    before = cli_env.hub_json("journal", CHILD)
    assert _fails(cli_env, "consent", "grant", CHILD, NURSE, "--by-representative", reader) \
        == f"hub: representative {reader} may not act for consent (scope: read)"
    assert _fails(cli_env, "consent", "revoke", CHILD, DOCTOR,
                  "--by-representative", "0" * 32) == \
        f"hub: no representative {'0' * 32} for this dossier"
    cli_env.hub("dossier", "representative", "end", CHILD, parent)
    refused = _fails(cli_env, "consent", "revoke", CHILD, DOCTOR, "--by-representative", parent)
    assert refused.startswith(f"hub: representative {parent} ended on ")
    # Refusals record nothing: the grant stands, the journal only gained the `end`.
    assert [g["status"] for g in cli_env.hub_json("consent", "list", CHILD)["grants"]] \
        == ["in force"]
    after = cli_env.hub_json("journal", CHILD)
    assert [e["action"] for e in after[len(before):]] == ["representative.end"]
    # The read scope: the assistant reads the full view for the patient, journaled as theirs;
    # the ended parent is refused, and the refusal is journaled too.
    assert cli_env.hub_json("dossier", "show", CHILD, "--by-representative", reader)["minor"]
    assert "ended on" in _fails(cli_env, "dossier", "show", CHILD, "--by-representative",
                                parent)
    reads = [(e["actor"], e["outcome"], e["reason"]) for e in cli_env.hub_json("journal", CHILD)
             if e["action"] == "dossier.read"]
    assert reads == [
        ("representative", "ok",
         f"representative view: demographics and 0 entries; by representative {reader}"),
        ("representative", "denied", reads[1][2])]
    assert parent in reads[1][2]
    # The patient themself still may.
    cli_env.hub("consent", "revoke", CHILD, DOCTOR)
    [revoke] = [e for e in cli_env.hub_json("journal", CHILD) if e["action"] == "consent.revoke"]
    assert revoke["actor"] == "patient" and "representative" not in revoke["reason"]


def _years_before(day: date, years: int, leap_fallback: int) -> date:
    """`day` so many years earlier; 29 February becomes 28 February (-1) or 1 March (+1)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return date(day.year - years, 2, 28) if leap_fallback < 0 else date(day.year - years,
                                                                            3, 1)


def _person(birth: date, serial: int, name: str) -> SyntheticPatient:
    # The matricule says only the year (month and day 00): its earliest birth, 1 January,
    # makes both of age, so only PID-7 keeps the younger one a minor.
    return SyntheticPatient(reference_matricule(f"{birth.year}0000{serial:03d}"), name, "Léonie",
                            birth.strftime("%Y%m%d"))


def test_serve_ends_a_parents_rights_when_the_minor_comes_of_age(tmp_path, database_url):
    today = datetime.now(LUXEMBOURG).date()
    adult = _person(_years_before(today - timedelta(days=1), 18, -1), 1, "Schmëtz")
    minor = _person(_years_before(today + timedelta(days=1), 18, +1), 2, "Kreß")
    env = HubEnv(tmp_path, database_url, broker_url="memory://")
    try:
        env.create_database()
        register(env, DOCTOR)
        env.start(role="all", HUB_JOBS__REPRESENTATIVE_MAJORITY_INTERVAL="1")
        acks = send_with_python_hl7(env.mllp_port, [encoded(adt_a01(adult, "REP-1")),
                                                    encoded(adt_a01(minor, "REP-2"))])
        assert [a.code for a in acks] == ["AA", "AA"]
        assert env.wait_until(lambda: env.hub_json("status")["messages"]["stored"] == 2), \
            env.logs()
        assert env.hub_json("dossier", "show", minor.matricule)["minor"] is True
        # Recorded back when the adult was a child (the parent acted from 2020).
        adults_parent = _add(env, adult.matricule, "parent", PARENT_NAME, "--since",
                             "2020-01-01")
        guardian = _add(env, adult.matricule, "guardian", "Jos Thill", "--since", "2020-01-01")
        minors_parent = _add(env, minor.matricule, "parent", "Ann Faber")
        assert "a parent acts for a minor only" in _fails(
            env, "dossier", "representative", "add", adult.matricule, "--kind", "parent",
            "--name", "Too Late")

        def majority_noted():
            return [e for e in env.hub_json("journal", adult.matricule)
                    if e["action"] == "representative.majority"]
        [event] = env.wait_until(majority_noted, timeout=60) or [None]
        assert event is not None, env.logs()
        assert event["actor"] == "hub" and adults_parent in event["reason"]
        assert PARENT_NAME not in event["reason"] and adult.birth_date not in event["reason"]
        statuses = _statuses(env, adult.matricule)
        assert statuses[adults_parent] == ("parent", "ended", "majority")
        assert statuses[guardian] == ("guardian", "in force", None)   # a court's order stands
        assert "of age" in _fails(env, "consent", "grant", adult.matricule, DOCTOR,
                                  "--by-representative", adults_parent)
        env.hub("consent", "grant", adult.matricule, DOCTOR, "--by-representative", guardian)
        # The job has run since the parents were added (it noted the adult's): the minor's
        # parent, whose child comes of age tomorrow by PID-7, still acts.
        assert _statuses(env, minor.matricule)[minors_parent] == ("parent", "in force", None)
        env.hub("consent", "grant", minor.matricule, DOCTOR, "--by-representative",
                minors_parent)
        assert not [e for e in env.hub_json("journal", minor.matricule)
                    if e["action"] == "representative.majority"]
        assert "audit chain intact" in env.hub("audit", "verify").stdout
        logs = env.logs()
        assert "Traceback" not in logs and PARENT_NAME not in logs
        assert adult.matricule not in logs and adult.family_name not in logs
    finally:
        env.stop_all()
