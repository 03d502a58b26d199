"""What one transaction's repositories read once and answer from until they change it.

A worker's batch and a sender's batch ask the same consent and registry questions many times in
one transaction (a patient's consent for each message and recipient, a professional for each
message routed to them). The answers are kept here, shared by the repositories of one unit of
work, so that a repository that writes something another one reads can forget it: a
declaration, a grant or a block (ConsentRepository), a merge or a closed flag
(PatientRepository), a registry change (ProfessionalRepository). The unit of work starts a new
memo at each commit and rollback: another process may change anything between transactions.
"""
from __future__ import annotations

from datetime import datetime

from hub.domain.consent import ConsentState
from hub.domain.professional import Professional


class TransactionMemo:
    """Consent states by (instant, référent policy) and patient id; professionals by CNS code."""

    def __init__(self) -> None:
        self.consent: dict[tuple[datetime, bool], dict[str, ConsentState]] = {}
        self.professionals: dict[str, Professional | None] = {}

    def consent_at(self, at: datetime, referent_by_default: bool) -> dict[str, ConsentState]:
        """The states known at `at` under this policy (a dict to read and fill)."""
        return self.consent.setdefault((at, referent_by_default), {})

    def forget_patients(self, *patient_ids: str) -> None:
        """Read these patients' consent again next time: the transaction changed it."""
        for states in self.consent.values():
            for patient_id in patient_ids:
                states.pop(patient_id, None)

    def forget_professionals(self) -> None:
        """Read the registry again next time: the transaction changed it."""
        self.professionals.clear()

    def clear(self) -> None:
        """Forget everything: the transaction ended."""
        self.consent.clear()
        self.professionals.clear()
