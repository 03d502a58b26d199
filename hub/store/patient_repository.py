"""Dossiers: found by a keyed hash of the matricule, demographics stored encrypted."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, fields

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from hub.domain.models import Patient
from hub.errors import StoreError, UnknownMatricule
from hub.store.repository import Repository, chunks, from_json_bytes, to_json_bytes
from hub.store.tables import new_id, patients, utc_now

TABLE = "patients"
MATRICULE_PURPOSE = "matricule"
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


class PatientRepository(Repository):
    """Patients of one unit of work. The matricule is never written in clear."""

    def __init__(self, connection, keyring, on_failure=None):
        super().__init__(connection, keyring, on_failure)
        # matricule hash -> patient id; ids never change, so caching within a transaction is safe.
        self._ids: dict[str, str] = {}
        # Demographics as this transaction last read or wrote them: a worker's batch often holds
        # several messages of one patient, and each would otherwise read and rewrite the row.
        self._demographics: dict[str, Patient] = {}

    def _hash(self, matricule: str) -> str:
        return self._keyring.lookup_hash(matricule, purpose=MATRICULE_PURPOSE)

    def find(self, matricule: str) -> str | None:
        """The id of this matricule's dossier, or None."""
        matricule_hash = self._hash(matricule)
        return self._find_many({matricule_hash}).get(matricule_hash)

    def id_for(self, matricule: str) -> str:
        """The id of this matricule's dossier, created empty when this is its first mention."""
        return self.ids_for([matricule])[matricule]

    def ids_for(self, matricules: Iterable[str]) -> dict[str, str]:
        """`id_for` for many matricules with a few statements: {matricule: patient id}."""
        by_hash = {self._hash(m): m for m in matricules}
        found = self._find_many(set(by_hash))
        missing = [h for h in by_hash if h not in found]
        if missing:
            now = utc_now()
            rows = []
            for matricule_hash in missing:
                patient_id = new_id()
                key_id, ciphertext = self._encrypt(Patient(matricule=by_hash[matricule_hash]),
                                                   patient_id)
                rows.append({"id": patient_id, "matricule_hash": matricule_hash,
                             "key_id": key_id, "data_ct": ciphertext,
                             "created_at": now, "updated_at": now, "closed": False})
            # Another worker may create the same dossier concurrently: keep whichever came first.
            statement = self._insert_ignoring_duplicates()
            self._execute("creating dossiers", statement, rows)
            found.update(self._find_many(set(missing)))
        return {matricule: found[h] for h, matricule in by_hash.items()}

    def _insert_ignoring_duplicates(self):
        dialect_insert = _INSERTS.get(self._connection.dialect.name)
        if dialect_insert is None:
            raise StoreError(f"unsupported database {self._connection.dialect.name}")
        return dialect_insert(patients).on_conflict_do_nothing(index_elements=["matricule_hash"])

    def _find_many(self, hashes: set[str]) -> dict[str, str]:
        found = {h: self._ids[h] for h in hashes if h in self._ids}
        wanted = [h for h in hashes if h not in found]
        for chunk in chunks(wanted):
            query = select(patients.c.matricule_hash, patients.c.id).where(
                patients.c.matricule_hash.in_(chunk))
            for matricule_hash, patient_id in self._execute("finding dossiers", query):
                found[matricule_hash] = patient_id
                self._ids[matricule_hash] = patient_id
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
        for chunk in chunks(wanted):
            query = select(patients.c.id, patients.c.key_id, patients.c.data_ct).where(
                patients.c.id.in_(chunk))
            for row in self._execute("reading dossiers", query):
                self._demographics[row.id] = self._decrypt(row)

    def save_demographics(self, patient_id: str, patient: Patient) -> None:
        """Overwrite the demographics with `patient`'s non-empty fields; empty ones keep the
        stored value. The matricule of a dossier never changes."""
        current = self._demographics.get(patient_id) or self.get(patient_id)
        if patient.matricule and patient.matricule != current.matricule:
            raise StoreError(f"demographics for dossier {patient_id} carry another matricule")
        merged = Patient(**{
            name: value or getattr(current, name)
            for name, value in asdict(patient).items()
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

    def set_closed(self, patient_id: str, closed: bool) -> None:
        """Close or reopen a dossier."""
        statement = update(patients).where(patients.c.id == patient_id).values(
            closed=closed, updated_at=utc_now())
        if self._execute("closing a dossier", statement).rowcount == 0:
            raise UnknownMatricule(f"no dossier with id {patient_id}")

    def _encrypt(self, patient: Patient, patient_id: str) -> tuple[str, bytes]:
        return self._keyring.encrypt(to_json_bytes(asdict(patient)), table=TABLE,
                                     row_id=patient_id)
