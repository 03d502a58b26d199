"""Erasing a closed dossier's content once its retention ran out (hub.domain.closure), for the
scheduler's dossier-erasure job (hub/jobs/dossier_erasure.py).

What goes, in one transaction per dossier: its entries (rows deleted), the raw copies of the
messages filed for it or whose entries it holds (emptied as retention empties them: the row, the
header facts and the keyed content hash stay, under tables.PURGED_KEY_ID), the re-addressed
copies its deliveries hold (emptied too; a delivery still waiting is denied), and its
demographics (rewritten to the matricule alone, as when the dossier was created empty: the
keyed hash of the matricule stays, so the journal is still found and a message that arrives
later is still discarded). What stays: the dossier row with its closure and erasure dates, its
consent and référent history (codes and dates), every message row, the audit log and so the
patient's journal, none of which holds clinical content.

The dossier row is claimed first with the conditions that selected it, so a dossier the patient
reopened meanwhile is left alone (on PostgreSQL a reopening waits for this transaction, or this
one finds it reopened).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.engine import Connection, Engine

from hub.domain.audit import Actor, AuditAction, AuditEvent
from hub.domain.models import Patient
from hub.store.audit_repository import AuditRepository
from hub.store.keyring import Keyring
from hub.store.repository import from_json_bytes, to_json_bytes, translated_errors
from hub.store.tables import PURGED_KEY_ID, deliveries, entries, messages, patients

DENIED_REASON = "dossier closed and erased after its retention"


@dataclass(frozen=True)
class Erased:
    """One dossier erased: how many entries and raw copies went."""

    patient_id: str
    entries: int
    raw_copies: int


def _due(closed_before: datetime):
    p = patients.c
    return and_(p.closed.is_(True), p.closed_at < closed_before,
                or_(p.erased_at.is_(None), p.erased_at < p.closed_at))


def erase_closed_dossiers(engine: Engine, keyring: Keyring, closed_before: datetime,
                          now: datetime, years: int, limit: int = 100) -> list[Erased]:
    """Erase the content of at most `limit` dossiers closed before `closed_before` and not
    erased since, each in its own transaction with its `dossier.erased` event; return them."""
    query = select(patients.c.id).where(_due(closed_before)).order_by(
        patients.c.closed_at, patients.c.id).limit(limit)
    with translated_errors("finding closed dossiers to erase"), engine.connect() as connection:
        due = list(connection.execute(query).scalars())
    erased = []
    for patient_id in due:
        with translated_errors("erasing a closed dossier"), engine.begin() as connection:
            done = _erase(connection, keyring, patient_id, closed_before, now, years)
        if done is not None:
            erased.append(done)
    return erased


def _erase(connection: Connection, keyring: Keyring, patient_id: str, closed_before: datetime,
           now: datetime, years: int) -> Erased | None:
    p, e, m, d = patients.c, entries.c, messages.c, deliveries.c
    claimed = connection.execute(update(patients).where(
        p.id == patient_id, _due(closed_before)).values(erased_at=now))
    if claimed.rowcount == 0:
        return None  # reopened, or erased by another run, since it was selected
    row = connection.execute(select(p.id, p.key_id, p.data_ct, p.closed_at).where(
        p.id == patient_id)).one()
    dossiers = [patient_id, *connection.execute(
        select(p.id).where(p.merged_into == patient_id)).scalars()]
    held = select(e.message_id).where(e.patient_id == patient_id)
    filed = or_(m.patient_id.in_(dossiers), m.id.in_(held))
    raw_copies = connection.execute(update(messages).where(
        filed, m.raw_key_id != PURGED_KEY_ID).values(raw_key_id=PURGED_KEY_ID, raw_ct=b"")
    ).rowcount
    own = or_(d.patient_id.in_(dossiers), d.entry_id.in_(
        select(e.id).where(e.patient_id == patient_id)))
    connection.execute(update(deliveries).where(
        own, d.state.in_(("pending", "parked"))).values(
        state="denied", last_error=DENIED_REASON, next_attempt_at=None, updated_at=now))
    connection.execute(update(deliveries).where(own).values(
        entry_id=None, payload_key_id=PURGED_KEY_ID, payload_ct=b""))
    removed = connection.execute(delete(entries).where(e.patient_id == patient_id)).rowcount
    matricule = _matricule(keyring, row)
    key_id, ciphertext = keyring.encrypt(to_json_bytes(asdict(Patient(matricule=matricule))),
                                         table="patients", row_id=patient_id)
    connection.execute(update(patients).where(p.id == patient_id).values(
        key_id=key_id, data_ct=ciphertext))
    AuditRepository(connection, keyring).record_many([AuditEvent(
        actor=Actor.HUB, action=AuditAction.DOSSIER_ERASED, patient_id=patient_id,
        reason=f"closed on {row.closed_at.date().isoformat()}, kept {years} years "
               f"([retention] closed_dossier_years): {removed} entries, {raw_copies} raw "
               f"message copies and the demographics erased")])
    return Erased(patient_id, removed, raw_copies)


def _matricule(keyring: Keyring, row) -> str:
    plain = keyring.decrypt(row.data_ct, table="patients", row_id=row.id, key_id=row.key_id)
    return str(from_json_bytes(plain, f"patient {row.id}").get("matricule", ""))
