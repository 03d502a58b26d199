"""Dossiers: found by a keyed hash of the matricule, demographics stored encrypted.

A dossier merged into another (ADT^A40) keeps its row, marked `merged_into` the survivor: `find`
still answers with the merged dossier itself (its journal, its state), while `id_for`/`ids_for`,
which say where new facts go, answer with the survivor.

With `link_legacy` ([identity] link_legacy_forms), a legacy 11-digit matricule is looked up as
its 13-digit successor: one keyed hash, one dossier for the two forms. Dossiers created under
the legacy form before that are found by `legacy_dossiers` and merged into their twins.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, fields
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from hub.domain.closure import Closure
from hub.domain.matricule import is_legacy, successor
from hub.domain.models import Merge, Patient
from hub.errors import StoreError, UnknownMatricule
from hub.store.memo import TransactionMemo
from hub.store.one_of import PerDialect
from hub.store.repository import Repository, chunks, from_json_bytes, to_json_bytes
from hub.store.tables import entries, new_id, patients, utc_now

TABLE = "patients"
MATRICULE_PURPOSE = "matricule"
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
# The batch reads of dossiers, built once (hub.store.one_of): every worker batch makes them.
_FIND = PerDialect(lambda one_of: select(
    patients.c.matricule_hash, patients.c.id, patients.c.merged_into).where(
    one_of(patients.c.matricule_hash, "hashes")))
_DEMOGRAPHICS = PerDialect(lambda one_of: select(
    patients.c.id, patients.c.key_id, patients.c.data_ct).where(one_of(patients.c.id, "ids")))
_PATIENT_FIELDS = tuple(f.name for f in fields(Patient))


class PatientRepository(Repository):
    """Patients of one unit of work. The matricule is never written in clear."""

    def __init__(self, connection, keyring, on_failure=None, *, link_legacy: bool = False,
                 memo: TransactionMemo | None = None):
        super().__init__(connection, keyring, on_failure)
        self._link_legacy = link_legacy
        # The transaction's consent states (hub.store.memo): a merge or a closed flag forgets
        # its patients'.
        self._memo = memo if memo is not None else TransactionMemo()
        # matricule hash -> patient id; ids never change, so caching within a transaction is safe.
        self._ids: dict[str, str] = {}
        self._hashes: dict[str, str] = {}  # matricule -> its hash (`_hash`)
        # patient id -> the dossier it was merged into (None when it was not), as last read.
        self._into: dict[str, str | None] = {}
        # Demographics as this transaction last read or wrote them: a worker's batch often holds
        # several messages of one patient, and each would otherwise read and rewrite the row.
        self._demographics: dict[str, Patient] = {}

    def _canonical(self, matricule: str) -> str:
        """The form a matricule is kept under: the 13-digit successor of a legacy one when the
        two forms are linked."""
        return successor(matricule) if self._link_legacy and is_legacy(matricule) else matricule

    def _hash(self, matricule: str) -> str:
        # Kept: a worker's batch asks for each of its patients twice or three times (the
        # batch's prefetch, each message's dossier, a merge's sides), and a matricule's hash
        # never changes (one index key; the canonical form is fixed by the settings).
        matricule_hash = self._hashes.get(matricule)
        if matricule_hash is None:
            matricule_hash = self._hashes[matricule] = self._keyring.lookup_hash(
                self._canonical(matricule), purpose=MATRICULE_PURPOSE)
        return matricule_hash

    def find(self, matricule: str) -> str | None:
        """The id of this matricule's dossier, or None."""
        matricule_hash = self._hash(matricule)
        return self._find_many({matricule_hash}).get(matricule_hash)

    def id_for(self, matricule: str) -> str:
        """The id of the dossier this matricule's facts go to, created empty when this is its
        first mention: the survivor when its own dossier was merged into another."""
        return self.ids_for([matricule])[matricule]

    def ids_for(self, matricules: Iterable[str]) -> dict[str, str]:
        """`id_for` for many matricules with a few statements: {matricule: patient id}."""
        own = self._own_ids(matricules)
        return {matricule: self._into.get(pid) or pid for matricule, pid in own.items()}

    def merged_into(self, patient_id: str) -> str | None:
        """The dossier `patient_id` was merged into, or None when it was not merged."""
        if patient_id not in self._into:
            query = select(patients.c.merged_into).where(patients.c.id == patient_id)
            self._into[patient_id] = self._execute("reading a merge", query).scalar_one_or_none()
        return self._into[patient_id]

    def merge(self, merged: str, survivor: str) -> Merge | None:
        """Merge the dossier of matricule `merged` into the one `survivor`'s facts go to: its
        entries move there, and it (with any dossier merged into it before) is marked merged.
        The merged dossier is created first if it was never mentioned, so that its matricule
        files into the survivor from now on. None when both already are one dossier (a merge
        repeated, or one made the other way round earlier: a merge is never undone)."""
        survivor_id = self.id_for(survivor)
        own_id = self._own_ids([merged])[merged]
        return self.merge_ids(self._into.get(own_id) or own_id, survivor_id)

    def merge_ids(self, merged_id: str, survivor_id: str) -> Merge | None:
        """`merge` for two dossiers named by id; None when they already are one."""
        survivor_id = self.merged_into(survivor_id) or survivor_id
        merged_id = self.merged_into(merged_id) or merged_id
        if merged_id == survivor_id:
            return None
        self._memo.forget_patients(merged_id, survivor_id)
        moved = self._execute("moving entries", update(entries).where(
            entries.c.patient_id == merged_id).values(patient_id=survivor_id)).rowcount
        # Dossiers merged into this one before follow it, so a chain is never two steps long.
        self._execute("marking a merge", update(patients).where(
            (patients.c.id == merged_id) | (patients.c.merged_into == merged_id)).values(
            merged_into=survivor_id, updated_at=utc_now()))
        for patient_id, into in list(self._into.items()):
            if into == merged_id:
                self._into[patient_id] = survivor_id
        self._into[merged_id] = survivor_id
        return Merge(merged_id, survivor_id, moved)

    def legacy_dossiers(self) -> list[tuple[str, str]]:
        """(dossier id, legacy matricule) of every dossier not merged whose matricule is in the
        legacy 11-digit form: what linking the two forms merges. Reads every dossier once."""
        query = select(patients.c.id, patients.c.key_id, patients.c.data_ct).where(
            patients.c.merged_into.is_(None)).order_by(patients.c.created_at, patients.c.id)
        found = []
        for row in self._execute("reading dossiers", query):
            matricule = self._decrypt(row).matricule
            if is_legacy(matricule):
                found.append((row.id, matricule))
        return found

    def _own_ids(self, matricules: Iterable[str]) -> dict[str, str]:
        """Each matricule's own dossier, merged or not, created when first mentioned."""
        hashes = {m: self._hash(m) for m in matricules}  # two forms may share one hash
        by_hash = {h: m for m, h in hashes.items()}
        found = self._find_many(set(by_hash))
        missing = [h for h in by_hash if h not in found]
        if missing:
            now = utc_now()
            rows = []
            for matricule_hash in missing:
                patient_id = new_id()
                key_id, ciphertext = self._encrypt(
                    Patient(matricule=self._canonical(by_hash[matricule_hash])), patient_id)
                rows.append({"id": patient_id, "matricule_hash": matricule_hash,
                             "key_id": key_id, "data_ct": ciphertext,
                             "created_at": now, "updated_at": now, "closed": False})
            # Another worker may create the same dossier concurrently: keep whichever came first.
            statement = self._insert_ignoring_duplicates()
            self._execute("creating dossiers", statement, rows)
            found.update(self._find_many(set(missing)))
        return {matricule: found[h] for matricule, h in hashes.items()}

    def _insert_ignoring_duplicates(self):
        dialect_insert = _INSERTS.get(self._connection.dialect.name)
        if dialect_insert is None:
            raise StoreError(f"unsupported database {self._connection.dialect.name}")
        return dialect_insert(patients).on_conflict_do_nothing(index_elements=["matricule_hash"])

    def _find_many(self, hashes: set[str]) -> dict[str, str]:
        found = {h: self._ids[h] for h in hashes if h in self._ids}
        wanted = [h for h in hashes if h not in found]
        query = _FIND[self._connection.dialect.name]
        for chunk in chunks(wanted):
            for matricule_hash, patient_id, into in self._execute("finding dossiers", query,
                                                                  {"hashes": list(chunk)}):
                found[matricule_hash] = patient_id
                self._ids[matricule_hash] = patient_id
                self._into[patient_id] = into
        return found

    def get(self, patient_id: str) -> Patient:
        """The demographics of a dossier (decrypted); UnknownMatricule if there is no such id."""
        query = select(patients.c.id, patients.c.key_id, patients.c.data_ct).where(
            patients.c.id == patient_id)
        row = self._execute("reading a dossier", query).first()
        if row is None:
            raise UnknownMatricule(f"no dossier with id {patient_id}")
        return self._decrypt(row)

    def _decrypt(self, row) -> Patient:
        plain = self._keyring.decrypt(row.data_ct, table=TABLE, row_id=row.id, key_id=row.key_id)
        document = from_json_bytes(plain, f"patient {row.id}")
        known = {f.name for f in fields(Patient)}
        return Patient(**{k: v for k, v in document.items() if k in known})

    def load_demographics(self, patient_ids: Iterable[str]) -> None:
        """Read the demographics of many dossiers at once, for `save_demographics` to compare
        with instead of reading each row again."""
        wanted = [pid for pid in dict.fromkeys(patient_ids) if pid not in self._demographics]
        query = _DEMOGRAPHICS[self._connection.dialect.name]
        for chunk in chunks(wanted):
            for row in self._execute("reading dossiers", query, {"ids": list(chunk)}):
                self._demographics[row.id] = self._decrypt(row)

    def save_demographics(self, patient_id: str, patient: Patient) -> None:
        """Overwrite the demographics with `patient`'s non-empty fields; empty ones keep the
        stored value. The matricule of a dossier never changes."""
        current = self._demographics.get(patient_id) or self.get(patient_id)
        if patient.matricule and self._canonical(patient.matricule) != current.matricule:
            if self._merged_into(patient.matricule, patient_id):
                return  # sent under a merged matricule: the survivor's demographics stand
            raise StoreError(f"demographics for dossier {patient_id} carry another matricule")
        merged = Patient(**{  # flat strings: read field by field (asdict deep-copies)
            name: getattr(patient, name) or getattr(current, name) for name in _PATIENT_FIELDS
        })
        merged.matricule = current.matricule
        self._demographics[patient_id] = merged
        if merged == current:
            return
        key_id, ciphertext = self._encrypt(merged, patient_id)
        statement = update(patients).where(patients.c.id == patient_id).values(
            key_id=key_id, data_ct=ciphertext, updated_at=utc_now())
        self._execute("saving demographics", statement)

    def is_closed(self, patient_id: str) -> bool:
        """Whether the patient closed the dossier; UnknownMatricule if there is no such id."""
        query = select(patients.c.closed).where(patients.c.id == patient_id)
        closed = self._execute("reading a dossier's state", query).scalar_one_or_none()
        if closed is None:
            raise UnknownMatricule(f"no dossier with id {patient_id}")
        return bool(closed)

    def set_closed(self, patient_id: str, closed: bool, at: datetime | None = None) -> None:
        """Close the dossier at `at` (now), from which its retention runs, or reopen it."""
        self._memo.forget_patients(patient_id)
        now = utc_now()
        statement = update(patients).where(patients.c.id == patient_id).values(
            closed=closed, closed_at=(at or now) if closed else None, updated_at=now)
        if self._execute("closing a dossier", statement).rowcount == 0:
            raise UnknownMatricule(f"no dossier with id {patient_id}")

    def closure(self, patient_id: str) -> Closure:
        """When the dossier was closed (None while open) and last erased; UnknownMatricule if
        there is no such id."""
        query = select(patients.c.closed, patients.c.closed_at, patients.c.erased_at).where(
            patients.c.id == patient_id)
        row = self._execute("reading a dossier's closure", query).first()
        if row is None:
            raise UnknownMatricule(f"no dossier with id {patient_id}")
        # A dossier closed before migration 0018 and never touched since has no date.
        closed_at = (row.closed_at or utc_now()) if row.closed else None
        return Closure(closed_at, row.erased_at)

    def _merged_into(self, matricule: str, patient_id: str) -> bool:
        own_id = self._ids.get(self._hash(matricule))
        return own_id is not None and self._into.get(own_id) == patient_id

    def _encrypt(self, patient: Patient, patient_id: str) -> tuple[str, bytes]:
        return self._keyring.encrypt(to_json_bytes(asdict(patient)), table=TABLE,
                                     row_id=patient_id)
