"""One connection, one transaction, the repositories that work in it."""
from __future__ import annotations

from sqlalchemy.engine import Connection, Engine, Transaction

from hub.errors import StoreError
from hub.store.activity_repository import ActivityRepository
from hub.store.attempt_repository import AttemptRepository
from hub.store.audit_repository import AuditRepository
from hub.store.consent_repository import ConsentRepository
from hub.store.delivery_repository import DeliveryRepository
from hub.store.entry_repository import EntryRepository
from hub.store.keyring import Keyring
from hub.store.memo import TransactionMemo
from hub.store.message_repository import MessageRepository
from hub.store.patient_repository import PatientRepository
from hub.store.professional_repository import ProfessionalRepository
from hub.store.representative_repository import RepresentativeRepository
from hub.store.resume_repository import ResumeRepository
from hub.store.repository import translated_errors


class UnitOfWork:
    """A database transaction with its repositories::

        with UnitOfWork(engine, keyring) as uow:
            uow.messages.add_many(batch)
            uow.commit()

    Leaving the block without `commit()` rolls back. After `commit()` or `rollback()` a new
    transaction starts, so one block can commit several batches. Integrity violations raise
    StoreConflict, other database failures StoreError. Once a statement has failed, `commit()`
    rolls back and raises StoreError: PostgreSQL has aborted the transaction, and SQLite must
    not keep half of it either.

    It implements hub.domain.ports.UnitOfWork: consent states and professionals are read once
    per transaction (hub.store.memo, started afresh at each commit and rollback), and audit
    events `record`ed are appended when it commits.
    """

    messages: MessageRepository
    patients: PatientRepository
    entries: EntryRepository
    deliveries: DeliveryRepository
    attempts: AttemptRepository
    consents: ConsentRepository
    professionals: ProfessionalRepository
    audit: AuditRepository
    activity: ActivityRepository
    resumes: ResumeRepository
    representatives: RepresentativeRepository

    def __init__(self, engine: Engine, keyring: Keyring, *, link_legacy: bool = False):
        self._engine = engine
        self._keyring = keyring
        self._link_legacy = link_legacy  # [identity] link_legacy_forms, see PatientRepository
        self._connection: Connection | None = None
        self._transaction: Transaction | None = None
        self._failed = False

    def __enter__(self) -> UnitOfWork:
        if self._connection is not None:
            raise StoreError("this unit of work is already open")
        with translated_errors("opening a transaction"):
            self._connection = self._engine.connect()
            try:
                self._transaction = self._connection.begin()
            except BaseException:
                self._connection.close()
                self._connection = None
                raise
        self._make_repositories()
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        connection, transaction = self._connection, self._transaction
        self._connection = self._transaction = None
        if connection is None:
            return
        try:
            if transaction is not None and transaction.is_active:
                with translated_errors("rolling back"):
                    transaction.rollback()
        finally:
            with translated_errors("closing the connection"):
                connection.close()

    def commit(self) -> None:
        """Make everything since the last commit durable, then start a new transaction."""
        connection, transaction = self._open()
        if not self._failed:
            self.audit.flush()  # the events kept by `record`, under the chain's lock
        if self._failed:
            self.rollback()
            raise StoreError("a statement failed in this transaction; it was rolled back")
        # Others may change what this transaction read once it ends: the next one reads anew.
        self._memo.clear()
        try:
            with translated_errors("committing"):
                transaction.commit()
        except StoreError:
            # Whether it committed is unknown: this unit of work is done; open a new one.
            self._transaction = None
            raise
        with translated_errors("starting a transaction"):
            self._transaction = connection.begin()

    def rollback(self) -> None:
        """Undo everything since the last commit, then start a new transaction."""
        connection, transaction = self._open()
        with translated_errors("rolling back"):
            transaction.rollback()
            self._transaction = connection.begin()
        # Repositories cache what they saw in the undone transaction (the memo included) and
        # the audit events it recorded.
        self._make_repositories()

    def _open(self) -> tuple[Connection, Transaction]:
        if self._connection is None or self._transaction is None:
            raise StoreError("the unit of work is not open (use it in a `with` block)")
        return self._connection, self._transaction

    def _statement_failed(self) -> None:
        self._failed = True

    def _make_repositories(self) -> None:
        self._failed = False
        self._memo = TransactionMemo()
        args = (self._connection, self._keyring, self._statement_failed)
        self.messages = MessageRepository(*args)
        self.patients = PatientRepository(*args, link_legacy=self._link_legacy, memo=self._memo)
        self.entries = EntryRepository(*args)
        self.deliveries = DeliveryRepository(*args)
        self.attempts = AttemptRepository(*args)
        self.consents = ConsentRepository(*args, memo=self._memo)
        self.professionals = ProfessionalRepository(*args, memo=self._memo)
        self.audit = AuditRepository(*args)
        self.activity = ActivityRepository(*args)
        self.resumes = ResumeRepository(*args)
        self.representatives = RepresentativeRepository(*args)
