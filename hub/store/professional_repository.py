"""The professionals registry in the store. Names are not secret here: stored in clear."""
from __future__ import annotations

import builtins
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from hub.domain.professional import Destination, Professional, ProfessionalStatus
from hub.errors import StoreError
from hub.store.memo import TransactionMemo
from hub.store.repository import Repository
from hub.store.tables import professionals, utc_now

UpsertResult = Literal["added", "updated", "unchanged"]
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


class ProfessionalRepository(Repository):
    """Professionals of one unit of work, keyed by CNS code.

    `get` answers from the transaction's memo (hub.store.memo) what it read before; `upsert`
    forgets every professional read (a registry change).
    """

    def __init__(self, connection, keyring, on_failure=None, *,
                 memo: TransactionMemo | None = None):
        super().__init__(connection, keyring, on_failure)
        self._memo = memo if memo is not None else TransactionMemo()

    def upsert(self, professional: Professional) -> UpsertResult:
        """Store `professional` whole (its destination too, None clearing it); says whether the
        registry gained a professional, changed one, or already held exactly this."""
        current = self._read(professional.cns_code)
        self._memo.forget_professionals()
        row = _to_row(professional)
        if current is None:
            # Another process may add the same code meanwhile: then this becomes an update.
            statement = self._insert_ignoring_duplicates().values(**row)
            if self._execute("adding a professional", statement).rowcount:
                return "added"
            current = self._read(professional.cns_code)
        if current == professional:
            return "unchanged"
        statement = update(professionals).where(
            professionals.c.cns_code == professional.cns_code).values(**row)
        self._execute("updating a professional", statement)
        return "updated"

    def get(self, cns_code: str) -> Professional | None:
        """The professional with this CNS code, or None when the registry does not know it."""
        known = self._memo.professionals
        if cns_code not in known:
            known[cns_code] = self._read(cns_code)
        return known[cns_code]

    def _read(self, cns_code: str) -> Professional | None:
        query = select(professionals).where(professionals.c.cns_code == cns_code)
        row = self._execute("reading a professional", query).mappings().first()
        return None if row is None else _from_row(row)

    def list(self, status: str | None = None) -> builtins.list[Professional]:
        """Every registered professional, by CNS code; only those in `status` when given."""
        query = select(professionals).order_by(professionals.c.cns_code)
        if status is not None:
            query = query.where(professionals.c.status == ProfessionalStatus(status).value)
        rows = self._execute("listing professionals", query).mappings()
        return [_from_row(row) for row in rows]

    def _insert_ignoring_duplicates(self):
        dialect_insert = _INSERTS.get(self._connection.dialect.name)
        if dialect_insert is None:
            raise StoreError(f"unsupported database {self._connection.dialect.name}")
        return dialect_insert(professionals).on_conflict_do_nothing(index_elements=["cns_code"])


def _to_row(professional: Professional) -> dict[str, Any]:
    destination = professional.destination
    return {
        "cns_code": professional.cns_code,
        "family_name": professional.family_name,
        "given_name": professional.given_name,
        "specialty": professional.specialty,
        "status": professional.status.value,
        "mllp_host": destination.host if destination else None,
        "mllp_port": destination.port if destination else None,
        "mllp_tls": destination.tls if destination else False,
        "receiving_application": destination.receiving_application if destination else None,
        "receiving_facility": destination.receiving_facility if destination else None,
        "updated_at": utc_now(),
    }


def _from_row(row) -> Professional:
    destination = None
    if row["mllp_host"] is not None:
        destination = Destination(
            host=row["mllp_host"], port=row["mllp_port"],
            receiving_application=row["receiving_application"] or "",
            receiving_facility=row["receiving_facility"] or "", tls=bool(row["mllp_tls"]))
    return Professional(
        cns_code=row["cns_code"], family_name=row["family_name"], given_name=row["given_name"],
        specialty=row["specialty"], status=row["status"], destination=destination)
