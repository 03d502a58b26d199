"""Who is acting, as real `hub` processes on SQLite and PostgreSQL: every read of patient data
without --as (the full view, a document, a resume list) is one event naming the operator and
why in the patient's journal; a consent change at the desk is the patient's choice recorded by
the operator of --operator, else HUB_OPERATOR, else the OS user; and `hub audit verify` holds
over events written before operators were named and after."""
from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime

from sqlalchemy import insert

from hub.domain.audit import GENESIS_HASH
from hub.domain.audit_chain import HASHED_FIELDS, event_hash
from hub.domain.models import Confidentiality, Entry, MessageRecord, MessageState, Patient
from hub.store.engine import make_engine
from hub.store.keyring import Keyring
from hub.store.schema import upgrade
from hub.store.tables import audit_events
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.hub_process import HubEnv
from tests.fixtures.registered import register

MATRICULE = "1893120105732"
LEGACY = "18931201057"  # its 11-digit legacy form
DOCTOR = "123456-78"


def _dossier(engine, keyring) -> tuple[str, str]:
    """A dossier with demographics, one result and one text document; (patient id, doc id)."""
    with UnitOfWork(engine, keyring) as uow:
        uow.messages.add(MessageRecord("m" * 32, "LAB^CHL", "R-1", "ORU^R01", "2.5",
                                       MessageState.STORED, datetime.now(UTC)), b"MSH|^~\\&|\r")
        patient_id = uow.patients.id_for(MATRICULE)
        uow.patients.save_demographics(patient_id, Patient(MATRICULE, "Muller", "Anne",
                                                           "1989-12-01", "F"))
        entry_ids = uow.entries.add_many([
            (patient_id, "m" * 32, 0, Entry("lab_result", {"value": "7.9"}, Confidentiality.NORMAL)),
            (patient_id, "m" * 32, 1, Entry("document", {"content": "Brief"},
                                        Confidentiality.NORMAL))])
        uow.commit()
    return patient_id, entry_ids[1]


def _journal(env: HubEnv) -> list[dict]:
    return env.hub_json("journal", MATRICULE)


def _old_style_events(engine, n: int) -> None:
    """n events as the hub wrote them before operators were named: rows of the version 1
    columns only, hashed by the version 1 encoding, on a schema without the column."""
    previous = GENESIS_HASH
    with engine.begin() as connection:
        for seq in range(1, n + 1):
            row = {"seq": seq, "id": f"{seq:032x}", "at": datetime(2026, 1, seq, tzinfo=UTC),
                   "actor": "patient", "action": "consent.grant", "patient_id": "p" * 32,
                   "entry_id": None, "message_id": None, "outcome": "ok",
                   "reason": f"normal access to {DOCTOR}", "prev_hash": previous}
            row["hash"] = previous = event_hash(row)
            assert set(row) == {*HASHED_FIELDS, "hash"}
            connection.execute(insert(audit_events).values(**row))


def test_reads_and_desk_changes_name_their_operator_and_the_chain_holds_old_and_new(
        tmp_path, database_url):
    upgrade(database_url, "0016")  # the schema before operators were named
    engine = make_engine(database_url)
    try:
        _old_style_events(engine, 3)
        upgrade(database_url)
        env = HubEnv(tmp_path, database_url, broker_url="memory://")
        keyring = Keyring.create(env.env["HUB_KEY_FILE"])
        patient_id, document_id = _dossier(engine, keyring)
        env.env.pop("HUB_OPERATOR", None)

        # Consent changes: --operator, then HUB_OPERATOR, then the OS user.
        register(env, DOCTOR)
        env.hub("consent", "grant", MATRICULE, DOCTOR, "--operator", "desk-anne")
        env.env["HUB_OPERATOR"] = "desk-bob"
        env.hub("dossier", "hide", MATRICULE, document_id)
        env.hub("dossier", "unhide", MATRICULE, document_id, "--operator", "desk-anne")
        del env.env["HUB_OPERATOR"]
        env.hub("consent", "revoke", MATRICULE, DOCTOR)
        changes = [(e["actor"], e["action"], e["operator"]) for e in _journal(env)]
        assert changes == [("patient", "consent.grant", "desk-anne"),
                           ("patient", "entry.hide", "desk-bob"),
                           ("patient", "entry.unhide", "desk-anne"),
                           ("patient", "consent.revoke", getpass.getuser())]
        table = env.hub("journal", MATRICULE).stdout
        assert "patient, recorded by desk-anne" in table

        # Each read without --as: exactly one event, naming the operator and why.
        shown = env.hub_json("dossier", "show", MATRICULE, "--operator", "ops-carla")
        assert shown["patient"]["family_name"] == "Muller" and len(shown["entries"]) == 2
        [read] = _journal(env)[4:]
        assert (read["actor"], read["operator"], read["action"], read["entry"],
                read["reason"]) == ("operator", "ops-carla", "dossier.read", None,
                                    "operator full view: demographics and 2 entries")
        out = tmp_path / "doc.txt"
        env.env["HUB_OPERATOR"] = "ops-dan"
        env.hub("dossier", "document", MATRICULE, document_id, "--out", str(out))
        assert out.read_text() == "Brief"
        [read] = _journal(env)[5:]
        assert (read["actor"], read["operator"], read["action"], read["entry"],
                read["reason"]) == ("operator", "ops-dan", "read", document_id,
                                    "operator full view: document")
        # A professional's read names the professional, as before.
        env.hub("dossier", "show", MATRICULE, "--as", DOCTOR, check=False)
        assert {(e["actor"], e["operator"]) for e in _journal(env)[6:]} == {(DOCTOR, None)}

        verified = json.loads(env.hub("audit", "verify", "--json").stdout)
        assert verified["ok"] is True and verified["checked"] == 3 + len(_journal(env))
    finally:
        engine.dispose()


def test_a_bad_operator_name_is_refused_before_anything_is_read(tmp_path, database_url):
    upgrade(database_url)
    env = HubEnv(tmp_path, database_url, broker_url="memory://")
    engine = make_engine(database_url)
    try:
        _dossier(engine, Keyring.create(env.env["HUB_KEY_FILE"]))
        result = env.hub("dossier", "show", MATRICULE, "--operator", "for 1893120105732",
                         check=False)
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr.strip() == "hub: an operator name cannot carry a matricule"
        assert _journal(env) == []
    finally:
        engine.dispose()



def test_a_link_at_the_command_names_its_operator_in_both_journals(tmp_path, database_url):
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        env = HubEnv(tmp_path, database_url, broker_url="memory://")
        _dossier(engine, Keyring.create(env.env["HUB_KEY_FILE"]))
        env.env.pop("HUB_OPERATOR", None)
        env.hub("patient", "link", LEGACY, MATRICULE, "--operator", "desk-eve")
        assert [(e["actor"], e["action"], e["operator"]) for e in _journal(env)] == [
            ("operator", "patient.merged", "desk-eve")]
        assert [(e["action"], e["operator"]) for e in env.hub_json("journal", LEGACY)] == [
            ("patient.merged", "desk-eve")]
        assert json.loads(env.hub("audit", "verify", "--json").stdout)["ok"] is True
    finally:
        engine.dispose()
