"""Closing and reopening a dossier through real `hub serve` processes on real RabbitMQ, SQLite
and PostgreSQL (hub.domain.closure): a message for a closed dossier keeps no raw copy; a
référent declared by the CNS while it is closed is applied, grants nothing while closed, and
after reopening access matches the CNS's facts; an ADT^A40 with a closed side is parked naming
the rule and exposes nothing, and goes through when replayed after reopening; a grant on a
closed dossier is refused (exit 1); the scheduler erases a dossier closed longer ago than
`[retention] closed_dossier_years` (its closure moved back in time) and `hub dossier show` says
when that happens."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.bootstrap import Hub
from hub.domain.closure import MERGE_RULE, erasure_due
from hub.domain.operator import Operator
from hub.ops import choices
from hub.settings import load_settings
from hub.store.engine import make_engine
from hub.store.tables import PURGED_KEY_ID, messages
from tests.fixtures.acks import send_with_python_hl7
from tests.fixtures.dossier_rows import write_dossiers
from tests.fixtures.hub_process import HubEnv
from tests.fixtures.registered import register
from tests.fixtures.messages import adt_a31, adt_a40, encoded, oru_r01, patient

FORMER, NEW, REFERENT = "123456-78", "234567-89", "345678-90"
EVERYONE = Path(__file__).resolve().parents[1] / "fixtures" / "senders" / "everyone.toml"
ROLE_PP = "PP^Primary care provider^HL70443"


def _registry(env: HubEnv, tmp_path: Path, *codes: str) -> None:
    csv = tmp_path / "professionals.csv"
    csv.write_text("cns_code,family_name,given_name,specialty,status,mllp_host,mllp_port,"
                   "receiving_application,receiving_facility\n"
                   + "".join(f"{code},Weber,Paul,GP,active,,,,\n" for code in codes))
    env.hub("professionals", "import", str(csv))


def _as(env: HubEnv, matricule: str, cns_code: str) -> dict:
    return env.hub_json("dossier", "show", matricule, "--as", cns_code)


def _count(env: HubEnv, state: str) -> int:
    return env.hub_json("status")["messages"][state]


def _raw_columns(env: HubEnv, control_ids: list[str]) -> set[tuple[str, bytes]]:
    engine = make_engine(env.env["HUB_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(messages.c.raw_key_id, messages.c.raw_ct).where(
                messages.c.control_id.in_(control_ids)))
            return {(row.raw_key_id, bytes(row.raw_ct)) for row in rows}
    finally:
        engine.dispose()


@pytest.fixture
def open_hub(hub_env, tmp_path):
    """A running hub that lets loopback senders send anything (CNS facts, merges included)."""
    hub_env.env["HUB_SENDERS_FILE"] = str(EVERYONE)
    hub_env.start()
    _registry(hub_env, tmp_path, FORMER, NEW, REFERENT)
    return hub_env


def test_a_closed_dossier_keeps_no_content_and_applies_the_cns_referent_facts(open_hub):
    env, person = open_hub, patient(71)
    m = person.matricule
    acks = send_with_python_hl7(env.mllp_port, [encoded(oru_r01(person, "CL-1", n_obx=2)),
                                                encoded(adt_a31(person, "CL-A31-1", pd1=FORMER))])
    assert [a.code for a in acks] == ["AA", "AA"]
    assert env.wait_until(lambda: _count(env, "stored") == 2), env.logs()
    before = {e["id"] for e in env.hub_json("dossier", "show", m)["entries"]}
    assert {e["id"] for e in _as(env, m, FORMER)["entries"]} == before and before

    env.hub("dossier", "close", m)
    acks = send_with_python_hl7(env.mllp_port, [
        encoded(adt_a31(person, "CL-A31-2", rol=[f"AD|{ROLE_PP}|{NEW}^Weber^Paul"])),
        encoded(oru_r01(person, "CL-2", n_obx=3))])
    assert [a.code for a in acks] == ["AA", "AA"]  # the senders did nothing wrong
    assert env.wait_until(lambda: _count(env, "discarded") == 2), env.logs()

    # Nothing of either message is kept but its row: no raw copy, no entry.
    assert _raw_columns(env, ["CL-A31-2", "CL-2"]) == {(PURGED_KEY_ID, b"")}
    assert {e["id"] for e in env.hub_json("dossier", "show", m)["entries"]} == before
    # The CNS's fact is applied, and grants nothing while the dossier is closed.
    listed = env.hub_json("consent", "list", m)
    assert listed["closed"] is True and listed["referent"]["cns_code"] == NEW
    for code in (FORMER, NEW):
        shown = _as(env, m, code)
        assert (shown["access"], shown["entries"]) == (
            {"allowed": False, "reason": "dossier closed"}, [])
    journal = [(e["action"], e["reason"]) for e in env.hub_json("journal", m)]
    assert ("referent.end", f"référent {FORMER}") in journal
    assert ("referent.declare", f"référent {NEW}") in journal
    assert [a for a, _ in journal].count("message.discarded") == 2

    env.hub("dossier", "reopen", m)
    assert _as(env, m, FORMER)["access"]["allowed"] is False  # no longer the référent
    shown = _as(env, m, NEW)
    assert shown["access"]["allowed"] is True
    assert {e["id"] for e in shown["entries"]} == before  # nothing filed while closed
    assert m not in env.logs() and person.family_name not in env.logs()


def test_a_merge_with_a_closed_dossier_is_parked_naming_the_rule_until_reopened(open_hub):
    env = open_hub
    survivor, closed, third = patient(72), patient(73), patient(74)
    env.hub("consent", "referent", survivor.matricule, REFERENT)
    send_with_python_hl7(env.mllp_port, [encoded(oru_r01(p, f"CLM-{n}", n_obx=2))
                                         for n, p in enumerate((survivor, closed, third))])
    assert env.wait_until(lambda: _count(env, "stored") == 3), env.logs()
    own = {e["id"] for e in _as(env, survivor.matricule, REFERENT)["entries"]}
    theirs = {e["id"] for e in env.hub_json("dossier", "show", closed.matricule)["entries"]}
    env.hub("dossier", "close", closed.matricule)

    acks = send_with_python_hl7(env.mllp_port, [
        encoded(adt_a40(survivor, closed, "CLM-A40-1")),   # the closed one merged (MRG-1)
        encoded(adt_a40(closed, third, "CLM-A40-2"))])     # into the closed one (PID-3)
    assert [a.code for a in acks] == ["AA", "AA"]
    assert env.wait_until(lambda: _count(env, "parked") == 2), env.logs()
    parked = {row["control_id"]: row for row in env.hub_json("dlq", "list")["parked"]}
    for control_id, where in (("CLM-A40-1", "MRG-1"), ("CLM-A40-2", "PID-3")):
        assert f"the dossier of {where} is closed" in parked[control_id]["reason"]
        assert MERGE_RULE in parked[control_id]["reason"]
        assert parked[control_id]["reason_class"] == "closed"
    # The survivor's référent sees only the survivor's entries; the closed dossier kept its own.
    assert {e["id"] for e in _as(env, survivor.matricule, REFERENT)["entries"]} == own
    assert {e["id"] for e in env.hub_json("dossier", "show", closed.matricule)["entries"]} \
        == theirs
    assert "patient.merged" not in {e["action"] for e in
                                    env.hub_json("journal", survivor.matricule)}

    # The operator's way: the patient reopens, the parked merge is replayed and applies.
    env.hub("dossier", "reopen", closed.matricule)
    env.hub("dlq", "replay", parked["CLM-A40-1"]["id"])
    assert env.wait_until(lambda: "patient.merged" in {
        e["action"] for e in env.hub_json("journal", survivor.matricule)}), env.logs()
    assert {e["id"] for e in env.hub_json("dossier", "show", survivor.matricule)["entries"]} \
        == own | theirs


def test_a_grant_on_a_closed_dossier_is_refused_until_it_is_reopened(tmp_path, database_url):
    env = HubEnv(tmp_path, database_url, broker_url="memory://")
    env.create_database()
    register(env, FORMER)
    m = patient(75).matricule
    env.hub("dossier", "close", m)
    refused = env.hub("consent", "grant", m, FORMER, check=False)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == ("hub: the dossier is closed: no access can be granted until the "
                              "patient reopens it (hub dossier reopen)\n")
    assert env.hub_json("consent", "list", m)["grants"] == []
    assert "consent.grant" not in {e["action"] for e in env.hub_json("journal", m)}
    env.hub("dossier", "reopen", m)
    env.hub("consent", "grant", m, FORMER)
    assert [g["cns_code"] for g in env.hub_json("consent", "list", m)["grants"]] == [FORMER]


def test_the_scheduler_erases_a_dossier_closed_past_its_retention(tmp_path, database_url):
    env = HubEnv(tmp_path, database_url, broker_url="memory://")
    now = datetime.now(UTC)
    long_ago = now.replace(year=now.year - 10) - timedelta(days=2)  # the closure moved back
    hub = Hub(load_settings(database_url=database_url, key_file=env.env["HUB_KEY_FILE"],
                            broker_url="memory://"))
    try:
        hub.upgrade_database()
        old, recent = write_dossiers(hub.unit_of_work, 2, first=81)
        desk = Operator("desk-anne")
        choices.set_closed(hub.unit_of_work, patient(81).matricule, True, at=long_ago, by=desk)
        choices.set_closed(hub.unit_of_work, patient(82).matricule, True, at=now, by=desk)
    finally:
        hub.close()
    shown = env.hub("dossier", "show", patient(82).matricule).stdout
    assert (f"its content will be erased on {erasure_due(now, 10).date().isoformat()} unless "
            "it is reopened") in shown

    try:
        env.start(role="scheduler", wait=False)
        assert env.wait_until(lambda: "dossier.erased" in {
            e["action"] for e in env.hub_json("journal", patient(81).matricule)}, timeout=60), \
            env.logs()
        erased = env.hub_json("dossier", "show", patient(81).matricule)
        assert erased["entries"] == [] and erased["patient"]["family_name"] == ""
        assert erased["closure"]["erased_at"] is not None
        assert "its content was erased on" in env.hub("dossier", "show", patient(81).matricule).stdout
        assert _raw_columns(env, ["C81"]) == {(PURGED_KEY_ID, b"")}
        kept = env.hub_json("dossier", "show", patient(82).matricule)  # closed today: all kept
        assert [e["value"] for e in kept["entries"]] == [recent["entry_value"]]
        assert kept["patient"]["family_name"] == recent["family_name"]
        assert env.hub_json("audit", "verify")["ok"] is True
        assert old["family_name"] not in env.logs() and patient(81).matricule not in env.logs()
    finally:
        env.stop_all()  # the scheduler it started
