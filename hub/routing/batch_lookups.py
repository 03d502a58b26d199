"""What filing a worker batch reads again and again, read once per batch.

A batch is one transaction and the worker itself never changes a patient's consent or closed
flag, so within it these answers hold; a registry change (MFN^M02) in the same batch forgets
the professionals read so far. A consent change committed by someone else while the batch is
filed is seen by the next batch, and by the dispatcher's re-check before any send.
"""
from __future__ import annotations

from datetime import datetime

from hub.domain.consent import ConsentState
from hub.domain.professional import Professional


class BatchLookups:
    """Per-batch answers of `uow` at instant `at`."""

    def __init__(self, uow, at: datetime, referent_by_default: bool) -> None:
        self.uow = uow
        self.at = at
        self._referent_by_default = referent_by_default
        self._consent: dict[str, ConsentState] = {}
        self._professionals: dict[str, Professional | None] = {}
        # Recipient decisions of the batch (delivering.Routed), counted and logged after commit.
        self.routed: list = []
        # What routing decided and delivering.queue_routed has not written yet: deliveries
        # (DeliveryRepository.add_many's items) and audit events, in order.
        self.deliveries: list[dict] = []
        self.audit: list = []

    def consent(self, patient_id: str) -> ConsentState:
        """The patient's consent state (closed flag included) at the batch's instant."""
        state = self._consent.get(patient_id)
        if state is None:
            state = self.uow.consents.state(patient_id, self.at, self._referent_by_default)
            self._consent[patient_id] = state
        return state

    def prefetch(self, patient_ids: list[str]) -> None:
        """Read the consent state of every patient of the batch at once."""
        wanted = [pid for pid in patient_ids if pid not in self._consent]
        if wanted:
            self._consent.update(self.uow.consents.states(wanted, self.at,
                                                          self._referent_by_default))

    def professional(self, cns_code: str) -> Professional | None:
        """The registry's professional with this CNS code, or None."""
        if cns_code not in self._professionals:
            self._professionals[cns_code] = self.uow.professionals.get(cns_code)
        return self._professionals[cns_code]

    def forget(self, patient_id: str) -> None:
        """Read this patient's consent state again next time (a declaration or merge changed it)."""
        self._consent.pop(patient_id, None)

    def registry_changed(self) -> None:
        """Forget the professionals read so far (an MFN^M02 was just applied)."""
        self._professionals.clear()
