"""The unit of work as one batch's consent re-check and journal see it.

A batch re-checks many deliveries of few patients to one destination, in one transaction and
at one instant, then records their outcomes in another. Read or written one delivery at a time,
that is a round trip per read and per audit event; these views make it a few per batch, with
the same answers and the same events in the same order.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from hub.domain.audit import AuditEvent


class _Memo:
    """A repository whose `names` methods answer each distinct call once."""

    def __init__(self, repository, names: frozenset[str],
                 known: dict[tuple, object] | None = None) -> None:
        self._repository = repository
        self._names = names
        self._answers: dict[tuple, object] = dict(known or {})

    def __getattr__(self, name: str):
        method = getattr(self._repository, name)
        if name not in self._names:
            return method
        return self._remembering(name, method)

    def _remembering(self, name: str, method: Callable) -> Callable:
        def call(*args, **kwargs):
            key = (name, args, tuple(sorted(kwargs.items())))
            if key not in self._answers:
                self._answers[key] = method(*args, **kwargs)
            return self._answers[key]
        return call


class _BatchConsents:
    """`uow.consents` whose `state` reads the consent of every patient of the batch at once
    (`states`), the first time it is asked for an instant and policy, and answers from that."""

    def __init__(self, consents, patient_ids: Iterable[str]) -> None:
        self._consents = consents
        self._patients = list(dict.fromkeys(patient_ids))
        self._answers: dict[tuple, object] = {}

    def state(self, patient_id: str, at, referent_access_by_default: bool):
        """As ConsentRepository.state, read with the rest of the batch."""
        key = (patient_id, at, referent_access_by_default)
        if key not in self._answers:
            wanted = dict.fromkeys([patient_id] + [
                p for p in self._patients if (p, at, referent_access_by_default) not in self._answers])
            for pid, state in self._consents.states(wanted, at,
                                                    referent_access_by_default).items():
                self._answers[(pid, at, referent_access_by_default)] = state
        return self._answers[key]

    def __getattr__(self, name: str):
        return getattr(self._consents, name)


class RecheckView:
    """`uow` as the batch's re-check reads it: the consent state (`consents.state`) of every
    patient of the batch in one read, the registry's record (`professionals.get`) once per
    professional, and the entries of every message of the batch (`entries.views_for_message`)
    in one query, all in the claim transaction, at the instant the batch is re-checked: what
    each delivery's own re-check would have read there."""

    def __init__(self, uow, deliveries: Iterable) -> None:
        self._uow = uow
        deliveries = list(deliveries)
        views = uow.deliveries.entry_views({d.message_id for d in deliveries})
        self.consents = _BatchConsents(uow.consents, (d.patient_id for d in deliveries))
        self.professionals = _Memo(uow.professionals, frozenset({"get"}))
        self.entries = _Memo(uow.entries, frozenset({"views_for_message"}),
                             {("views_for_message", (id,), ()): v for id, v in views.items()})

    def __getattr__(self, name: str):
        return getattr(self._uow, name)


class _DeferredAudit:
    """`uow.audit` whose `record` keeps the events, to append them together with `flush`."""

    def __init__(self, audit) -> None:
        self._audit = audit
        self._events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> AuditEvent:
        """Keep `event` for `flush` (it gets its seq and hashes then); return it as given."""
        self._events.append(event)
        return event

    def flush(self) -> None:
        """Append the kept events, in the order they were recorded, under one lock."""
        events, self._events = self._events, []
        self._audit.record_many(events)

    def __getattr__(self, name: str):
        return getattr(self._audit, name)


class JournalView:
    """`uow` as the journal hook sees it while a batch is recorded: its `audit.record` events
    are appended, in order and in the same transaction, when the batch's recording calls
    `flush()` before committing."""

    def __init__(self, uow) -> None:
        self._uow = uow
        self.audit = _DeferredAudit(uow.audit)

    def flush(self) -> None:
        """Append the journal's events to the audit chain."""
        self.audit.flush()

    def __getattr__(self, name: str):
        return getattr(self._uow, name)
