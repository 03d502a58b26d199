"""`hub dossier show --as CNS_CODE` and the delivery counts of `hub status`, as real `hub`
processes on SQLite and PostgreSQL: what each professional is shown, that every read lands in
`hub journal`, and that the chain still verifies."""
from __future__ import annotations

from pathlib import Path

import pytest

from hub.domain.models import Entry, MessageRecord, MessageState, Patient
from hub.store.engine import make_engine
from hub.store.keyring import Keyring
from hub.store.schema import upgrade
from hub.store.tables import new_id, utc_now
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.deliveries import queue, store_message
from tests.fixtures.hub_process import HubEnv
from tests.fixtures.messages import patient

PATIENT = patient(3)
MATRICULE = PATIENT.matricule
DOCTOR, SPECIALIST, STRANGER, REFERENT, SUSPENDED = (
    "123456-78", "234567-89", "345678-90", "111111-11", "222222-22")
HEADER = ("cns_code,family_name,given_name,specialty,status,mllp_host,mllp_port,"
          "receiving_application,receiving_facility")
LABELS = ("normal", "hidden", "restricted", "secret")


@pytest.fixture
def env(tmp_path, database_url):
    """A hub's settings with no broker to reach, on a database `hub db upgrade` created:
    these commands only use the database."""
    env = HubEnv(tmp_path, database_url, broker_url="memory://")
    env.create_database()
    return env


def _store(env: HubEnv):
    """A unit of work on the same database and keys as the env's `hub` commands."""
    upgrade(env.env["HUB_DATABASE_URL"])
    engine = make_engine(env.env["HUB_DATABASE_URL"])
    return engine, UnitOfWork(engine, Keyring.load_or_create(Path(env.env["HUB_KEY_FILE"])))


def _file_entries(env: HubEnv) -> dict[str, str]:
    """File four lab entries for PATIENT straight into the store; {label: entry id}."""
    engine, uow = _store(env)
    try:
        with uow:
            patient_id = uow.patients.id_for(MATRICULE)
            uow.patients.save_demographics(patient_id, Patient(
                MATRICULE, PATIENT.family_name, PATIENT.given_name, "1933-04-04"))
            record = MessageRecord(new_id(), "LABSYS^CHL", "R1", "ORU^R01", "2.5",
                                   MessageState.STORED, utc_now(), patient_id=patient_id)
            uow.messages.add(record, b"raw")
            ids = uow.entries.add_many([(patient_id, record.id, seq, Entry("lab_result",
                                                                           {"code": label}))
                                        for seq, label in enumerate(LABELS)])
            uow.commit()
    finally:
        engine.dispose()
    return dict(zip(LABELS, ids))


@pytest.fixture
def dossier(env, tmp_path):
    """Registry, entries and the patient's choices, all but the entries through `hub`."""
    registry = tmp_path / "registry.csv"
    registry.write_text("\n".join([
        HEADER, *(f"{code},Doe,Jo,GP,active,,,," for code in (DOCTOR, SPECIALIST, STRANGER,
                                                              REFERENT)),
        f"{SUSPENDED},Roe,Al,GP,suspended,,,,"]) + "\n", encoding="utf-8")
    env.hub("professionals", "import", str(registry))
    ids = _file_entries(env)
    env.hub("dossier", "hide", MATRICULE, ids["hidden"])
    env.hub("dossier", "confidentiality", MATRICULE, ids["restricted"], "restricted")
    env.hub("dossier", "confidentiality", MATRICULE, ids["secret"], "secret")
    env.hub("consent", "grant", MATRICULE, DOCTOR)
    env.hub("consent", "grant", MATRICULE, SPECIALIST, "--level", "extended")
    env.hub("consent", "grant", MATRICULE, SUSPENDED, "--level", "extended")
    env.hub("consent", "referent", MATRICULE, REFERENT)
    return ids


def _show(env: HubEnv, cns_code: str) -> dict:
    return env.hub_json("dossier", "show", MATRICULE, "--as", cns_code)


def _reads(env: HubEnv) -> list[tuple]:
    return [(e["actor"], e["outcome"], e["entry"], e["reason"])
            for e in env.hub_json("journal", MATRICULE) if e["action"] == "read"]


def _fails(env: HubEnv, *args: str) -> str:
    result = env.hub(*args, check=False)
    assert result.returncode == 1 and result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hub: ")
    return lines[0]


def test_each_professional_sees_what_the_patient_allows_and_every_read_is_journaled(
        env, dossier):
    doctor, specialist, referent = (_show(env, c) for c in (DOCTOR, SPECIALIST, REFERENT))
    stranger = _show(env, STRANGER)

    assert [e["id"] for e in doctor["entries"]] == [dossier["normal"]]
    assert [e["id"] for e in specialist["entries"]] == [dossier["normal"], dossier["restricted"]]
    assert [e["id"] for e in referent["entries"]] == [dossier["normal"]]
    assert doctor["entries"][0]["code"] == "normal"
    assert (doctor["viewer"], doctor["patient"]["family_name"]) == (DOCTOR, PATIENT.family_name)
    assert referent["access"] == {"allowed": True, "reason": "référent declaration in force"}
    assert stranger["entries"] == [] and stranger["access"]["allowed"] is False
    assert stranger["patient"] == {"matricule": MATRICULE}

    assert _reads(env) == [
        (DOCTOR, "ok", dossier["normal"], "grant in force"),
        (SPECIALIST, "ok", dossier["normal"], "grant in force"),
        (SPECIALIST, "ok", dossier["restricted"], "grant in force"),
        (REFERENT, "ok", dossier["normal"], "référent declaration in force"),
        (STRANGER, "denied", None, "no grant in force"),
    ]
    assert env.hub("audit", "verify").returncode == 0


def test_a_blocked_referent_and_a_closed_dossier_show_nothing(env, dossier):
    env.hub("consent", "block-referent", MATRICULE)
    blocked = _show(env, REFERENT)
    env.hub("dossier", "close", MATRICULE)
    closed = _show(env, SPECIALIST)

    assert (blocked["entries"], blocked["access"]["reason"]) == ([], "référent blocked by patient")
    assert (closed["entries"], closed["access"]["reason"]) == ([], "dossier closed")
    assert "family_name" not in closed["patient"]
    assert _reads(env) == [(REFERENT, "denied", None, "référent blocked by patient"),
                           (SPECIALIST, "denied", None, "dossier closed")]
    table = env.hub("dossier", "show", MATRICULE, "--as", SPECIALIST).stdout
    assert "no entries to show" in table and PATIENT.family_name not in table


def test_the_registry_refuses_and_the_refusal_is_journaled(env, dossier):
    assert _fails(env, "dossier", "show", MATRICULE, "--as", SUSPENDED) == \
        f"hub: {SUSPENDED} may not read dossiers: recipient not active"
    assert _fails(env, "dossier", "show", MATRICULE, "--as", "999999-99") == \
        "hub: 999999-99 may not read dossiers: recipient not registered"
    # Bad input is a CLI error, not a read: nothing journaled.
    assert _fails(env, "dossier", "show", MATRICULE, "--as", "12345678") == \
        "hub: CNS code '12345678' is not of the form NNNNNN-NN"
    assert _fails(env, "dossier", "show", patient(4).matricule, "--as", DOCTOR) == \
        "hub: no dossier for this matricule"
    assert _reads(env) == [(SUSPENDED, "denied", None, "recipient not active"),
                           ("999999-99", "denied", None, "recipient not registered")]
    assert env.hub("audit", "verify").returncode == 0


def test_the_patients_own_view_is_whole_and_not_journaled(env, dossier):
    own = env.hub_json("dossier", "show", MATRICULE)
    assert [e["id"] for e in own["entries"]] == [dossier[label] for label in LABELS]
    assert own["patient"]["matricule"] == MATRICULE and "viewer" not in own
    assert _reads(env) == []
    human = env.hub("dossier", "show", MATRICULE, "--as", DOCTOR).stdout
    assert f"as {DOCTOR}: grant in force" in human and "code=normal" in human
    assert "code=secret" not in human and "code=hidden" not in human


def test_status_counts_deliveries_by_state_and_destination(env):
    assert env.hub_json("status")["deliveries"] == {
        "pending": 0, "delivered": 0, "denied": 0, "parked": 0}
    engine, uow = _store(env)
    try:
        with uow:
            message_id, patient_id, raw = store_message(uow, 1)
            done = queue(uow, message_id, patient_id, raw, "127.0.0.1:7001")
            queue(uow, message_id, patient_id, raw, "127.0.0.1:7001")
            denied = queue(uow, message_id, patient_id, raw, "127.0.0.1:7002")
            uow.deliveries.mark_delivered(done.id, "AA")
            uow.deliveries.mark_denied(denied.id, "grant revoked")
            uow.commit()
    finally:
        engine.dispose()

    status = env.hub_json("status")
    assert status["deliveries"] == {"pending": 1, "delivered": 1, "denied": 1, "parked": 0}
    assert status["deliveries_by_destination"] == {
        "127.0.0.1:7001": {"pending": 1, "delivered": 1, "denied": 0, "parked": 0},
        "127.0.0.1:7002": {"pending": 0, "delivered": 0, "denied": 1, "parked": 0},
    }
    human = env.hub("status").stdout
    assert "127.0.0.1:7002" in human and "deliveries" in human
