"""The patient's consent: grants to professionals, référent declarations, the référent block.

Rows name the patient by internal id only; CNS codes identify professionals, not patients, so
they are kept in clear. Nothing is ever deleted: a revoked or replaced grant and an ended
declaration keep their row, so that a decision at any past instant can be explained.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, func, insert, or_, select, update

from hub.domain.consent import ConsentState, Grant, GrantLevel, ReferentDeclaration
from hub.domain.models import Confidentiality
from hub.errors import UnknownMatricule
from hub.store.memo import TransactionMemo
from hub.store.one_of import PerDialect
from hub.store.repository import Repository, chunks
from hub.store.tables import consent_grants, new_id, patients, referent_declarations, utc_now



# The consent reads, built once: a sender re-checks consent for every batch (a worker for
# every message batch), and building three selects and their cache keys per call cost more
# than running them (the sender's profile). Enum members by dict, not Enum(value), per row.
_g, _r = consent_grants.c, referent_declarations.c
_DOSSIERS = PerDialect(lambda one_of: select(
    patients.c.id, patients.c.closed, patients.c.referent_blocked,
    patients.c.default_level).where(one_of(patients.c.id, "ids")))
_GRANTS = PerDialect(lambda one_of: (
    select(_g.patient_id, _g.cns_code, _g.level, _g.granted_at, _g.until, _g.revoked_at)
    .where(one_of(_g.patient_id, "ids"))
    .order_by(_g.granted_at, _g.id)))
_REFERENTS = PerDialect(lambda one_of: (
    select(_r.patient_id, _r.cns_code, _r.since, _r.until)
    .where(one_of(_r.patient_id, "ids"), _r.since <= bindparam("at"),
           or_(_r.until.is_(None), _r.until > bindparam("at")))
    .order_by(_r.since.desc(), _r.id)))
_GRANT_LEVELS = {level.value: level for level in GrantLevel}
_LEVELS = {level.value: level for level in Confidentiality}

class ConsentRepository(Repository):
    """Consent of one unit of work. Every time given must be timezone-aware.

    `state` and `states` answer from the transaction's memo (hub.store.memo) what they read
    before at the same instant and policy; every write here forgets its patient's.
    """

    def __init__(self, connection, keyring, on_failure=None, *,
                 memo: TransactionMemo | None = None):
        super().__init__(connection, keyring, on_failure)
        self._memo = memo if memo is not None else TransactionMemo()

    def grant(self, patient_id: str, cns_code: str, level: GrantLevel | str,
              until: datetime | None, at: datetime) -> Grant:
        """Give `cns_code` access from `at`, optionally until `until`; return the new grant.

        A grant still open for the same professional is ended at `at` (its `revoked_at` set):
        the new one replaces it, so that a shorter `until` or a lower level takes effect.
        """
        new = Grant(cns_code, GrantLevel(level), at, until)
        self._memo.forget_patients(patient_id)
        self._end_open_grants(patient_id, cns_code, at, "replacing a grant")
        self._execute("granting access", insert(consent_grants), {
            "id": new_id(), "patient_id": patient_id, "cns_code": cns_code,
            "level": new.level.value, "granted_at": at, "until": until, "revoked_at": None})
        return new

    def revoke(self, patient_id: str, cns_code: str, at: datetime) -> bool:
        """Revoke from `at` every grant to `cns_code` not yet revoked or expired; whether there
        was one."""
        return self._end_open_grants(patient_id, cns_code, at, "revoking a grant") > 0

    def _end_open_grants(self, patient_id: str, cns_code: str, at: datetime, doing: str) -> int:
        self._memo.forget_patients(patient_id)
        c = consent_grants.c
        statement = update(consent_grants).where(
            c.patient_id == patient_id, c.cns_code == cns_code, c.revoked_at.is_(None),
            or_(c.until.is_(None), c.until > at),
        ).values(revoked_at=at)
        return self._execute(doing, statement).rowcount

    def grants(self, patient_id: str) -> list[Grant]:
        """Every grant the patient ever gave, oldest first, revoked and expired ones included."""
        c = consent_grants.c
        query = (select(c.cns_code, c.level, c.granted_at, c.until, c.revoked_at)
                 .where(c.patient_id == patient_id).order_by(c.granted_at, c.id))
        return [Grant(row.cns_code, GrantLevel(row.level), row.granted_at, row.until,
                      row.revoked_at)
                for row in self._execute("reading grants", query)]

    def declare_referent(self, patient_id: str, cns_code: str, since: datetime,
                         source: str) -> ReferentDeclaration:
        """Record `cns_code` as the patient's médecin référent from `since`; return the
        declaration in force.

        Declaring the current référent again changes nothing (a resent feed must not restart
        the résumé clock); declaring another one ends the current declaration at `since`.
        """
        current = self.referent(patient_id, since)
        if current is not None and current.cns_code == cns_code:
            return current
        self.end_referent(patient_id, since)  # forgets the patient's consent states
        # A backdated declaration (a past ROL read after the current one) ends where the next
        # begins: one référent in force at a time.
        c = referent_declarations.c
        until = self._execute("reading the next référent", select(func.min(c.since)).where(
            c.patient_id == patient_id, c.since > since)).scalar()
        self._execute("declaring a référent", insert(referent_declarations), {
            "id": new_id(), "patient_id": patient_id, "cns_code": cns_code, "since": since,
            "until": until, "source": source})
        return ReferentDeclaration(cns_code, since)

    def end_referent(self, patient_id: str, at: datetime) -> bool:
        """End at `at` the declaration that holds then; whether there was one."""
        self._memo.forget_patients(patient_id)
        c = referent_declarations.c
        statement = update(referent_declarations).where(
            c.patient_id == patient_id, c.since <= at, or_(c.until.is_(None), c.until > at),
        ).values(until=at)
        return self._execute("ending a référent declaration", statement).rowcount > 0

    def referent(self, patient_id: str, at: datetime) -> ReferentDeclaration | None:
        """The declaration that holds at `at`, or None."""
        c = referent_declarations.c
        query = (select(c.cns_code, c.since, c.until)
                 .where(c.patient_id == patient_id, c.since <= at,
                        or_(c.until.is_(None), c.until > at))
                 .order_by(c.since.desc(), c.id).limit(1))
        row = self._execute("reading the référent", query).first()
        return None if row is None else ReferentDeclaration(row.cns_code, row.since, row.until)

    def referent_history(self, patient_id: str) -> list[ReferentDeclaration]:
        """Every declaration the patient ever had, ended ones included, oldest first."""
        c = referent_declarations.c
        query = (select(c.cns_code, c.since, c.until).where(c.patient_id == patient_id)
                 .order_by(c.since, c.id))
        return [ReferentDeclaration(row.cns_code, row.since, row.until)
                for row in self._execute("reading référent declarations", query)]

    def set_referent_blocked(self, patient_id: str, blocked: bool) -> None:
        """Block the référent's access by declaration (the patient's choice), or allow it again."""
        self._memo.forget_patients(patient_id)
        statement = update(patients).where(patients.c.id == patient_id).values(
            referent_blocked=blocked, updated_at=utc_now())
        if self._execute("blocking the référent", statement).rowcount == 0:
            raise UnknownMatricule(f"no dossier with id {patient_id}")

    def set_default_level(self, patient_id: str, level: Confidentiality | str) -> None:
        """The level new entries of this dossier are filed at, at least (the patient's
        choice): normal or restricted."""
        self._memo.forget_patients(patient_id)
        statement = update(patients).where(patients.c.id == patient_id).values(
            default_level=Confidentiality(level).value, updated_at=utc_now())
        if self._execute("setting the default level", statement).rowcount == 0:
            raise UnknownMatricule(f"no dossier with id {patient_id}")

    def state(self, patient_id: str, at: datetime,
              referent_access_by_default: bool) -> ConsentState:
        """Everything `decide` needs about this patient at `at`."""
        # Read from the memo straight when known: a sender's batch asks once per delivery.
        known = self._memo.consent_at(at, referent_access_by_default).get(patient_id)
        if known is not None:
            return known
        return self.states([patient_id], at, referent_access_by_default)[patient_id]

    def states(self, patient_ids: Iterable[str], at: datetime,
               referent_access_by_default: bool) -> dict[str, ConsentState]:
        """`state` for many patients with three statements per chunk of ids not read before in
        this transaction (a worker's or a sender's batch names many patients). UnknownMatricule
        if one id has no dossier."""
        asked = list(dict.fromkeys(patient_ids))
        known = self._memo.consent_at(at, referent_access_by_default)
        wanted = [pid for pid in asked if pid not in known]
        if wanted:
            known.update(self._read_states(wanted, at, referent_access_by_default))
        return {pid: known[pid] for pid in asked}

    def prefetch(self, patient_ids: Iterable[str], at: datetime,
                 referent_access_by_default: bool) -> None:
        """Read the consent state of every one of `patient_ids` at once, for the `state` calls
        that follow in this transaction."""
        self.states(patient_ids, at, referent_access_by_default)

    def _read_states(self, wanted: list[str], at: datetime,
                     referent_access_by_default: bool) -> dict[str, ConsentState]:
        flags: dict[str, tuple[bool, bool, Confidentiality]] = {}
        grants: dict[str, list[Grant]] = {pid: [] for pid in wanted}
        referents: dict[str, ReferentDeclaration] = {}
        dialect = self._connection.dialect.name
        for chunk in chunks(wanted):
            ids = {"ids": list(chunk)}
            for id, closed, blocked, level in self._execute("reading dossiers' consent",
                                                            _DOSSIERS[dialect], ids):
                flags[id] = (bool(closed), bool(blocked),
                             _LEVELS.get(level) or Confidentiality(level or Confidentiality.NORMAL))
            for patient_id, cns_code, level, granted_at, until, revoked_at in self._execute(
                    "reading grants", _GRANTS[dialect], ids):
                grants[patient_id].append(Grant(cns_code, _GRANT_LEVELS.get(level)
                                                or GrantLevel(level), granted_at, until,
                                                revoked_at))
            for patient_id, cns_code, since, until in self._execute(
                    "reading référents", _REFERENTS[dialect], {**ids, "at": at}):
                referents.setdefault(patient_id, ReferentDeclaration(cns_code, since, until))
        missing = [pid for pid in wanted if pid not in flags]
        if missing:
            raise UnknownMatricule(f"no dossier with id {missing[0]}")
        return {pid: ConsentState(
            closed=flags[pid][0], grants=tuple(grants[pid]), referent=referents.get(pid),
            referent_blocked=flags[pid][1], referent_access_by_default=referent_access_by_default,
            default_level=flags[pid][2])
            for pid in wanted}
