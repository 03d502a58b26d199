"""Representatives of dossiers (hub.domain.representative): the name encrypted, the rest in
clear. Rows are never deleted: ending a representative sets `until` and `end_reason`."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, or_, select, update

from hub.domain.representative import (
    EndReason, Representative, RepresentativeKind, Scope, format_scopes,
)
from hub.store.repository import Repository, from_json_bytes, to_json_bytes
from hub.store.tables import new_id, representatives, utc_now

TABLE = "representatives"


class RepresentativeRepository(Repository):
    """Representatives of one unit of work. Every time given must be timezone-aware."""

    def add(self, patient_id: str, kind: RepresentativeKind | str, name: str,
            scopes: frozenset[Scope], since: datetime,
            until: datetime | None = None) -> Representative:
        """Record a representative of `patient_id`; return it with its new id."""
        rep_id = new_id()
        key_id, ciphertext = self._keyring.encrypt(to_json_bytes({"name": name}), table=TABLE,
                                                   row_id=rep_id)
        kind = RepresentativeKind(kind)
        self._execute("recording a representative", insert(representatives), {
            "id": rep_id, "patient_id": patient_id, "kind": kind.value,
            "scopes": format_scopes(scopes), "since": since, "until": until,
            "end_reason": None, "created_at": utc_now(), "key_id": key_id,
            "name_ct": ciphertext})
        return Representative(rep_id, patient_id, kind, name, frozenset(scopes), since, until)

    def get(self, representative_id: str) -> Representative | None:
        """One representative (name decrypted), or None when there is no such id."""
        query = select(representatives).where(representatives.c.id == representative_id)
        row = self._execute("reading a representative", query).first()
        return None if row is None else self._representative(row)

    def for_patient(self, patient_id: str) -> list[Representative]:
        """Every representative of a dossier, ended ones included, oldest first."""
        c = representatives.c
        query = select(representatives).where(c.patient_id == patient_id).order_by(
            c.since, c.id)
        return [self._representative(row)
                for row in self._execute("reading representatives", query)]

    def end(self, representative_id: str, at: datetime,
            reason: EndReason = EndReason.ENDED) -> bool:
        """End a representative's rights at `at`, unless they ended already (by `end`, by
        majority, or by their own `until`); whether this ended them."""
        c = representatives.c
        statement = update(representatives).where(
            c.id == representative_id, c.end_reason.is_(None),
            or_(c.until.is_(None), c.until > at),
        ).values(until=at, end_reason=EndReason(reason).value)
        return self._execute("ending a representative", statement).rowcount > 0

    def open_parents(self, now: datetime) -> dict[str, list[str]]:
        """{patient id: [representative ids]} of the parents neither ended nor past their own
        `until` at `now`: those the patient's majority may end. Names are not decrypted."""
        c = representatives.c
        query = select(c.patient_id, c.id).where(
            c.kind == RepresentativeKind.PARENT.value, c.end_reason.is_(None),
            or_(c.until.is_(None), c.until > now)).order_by(c.patient_id, c.id)
        found: dict[str, list[str]] = {}
        for patient_id, rep_id in self._execute("finding parents", query):
            found.setdefault(patient_id, []).append(rep_id)
        return found

    def _representative(self, row) -> Representative:
        plain = self._keyring.decrypt(row.name_ct, table=TABLE, row_id=row.id, key_id=row.key_id)
        name = from_json_bytes(plain, f"representative {row.id}").get("name", "")
        return Representative(
            id=row.id, patient_id=row.patient_id, kind=RepresentativeKind(row.kind), name=name,
            scopes=frozenset(Scope(s) for s in row.scopes.split(",") if s),
            since=row.since, until=row.until,
            end_reason=None if row.end_reason is None else EndReason(row.end_reason))
