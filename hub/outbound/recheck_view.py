"""The unit of work as one batch's consent re-check sees it.

A batch re-checks many deliveries of few patients to one destination, in one transaction and
at one instant. The patient's consent state and the registry's record of the recipient are the
same for each of them, so they are read once per patient and per professional; everything else
(the entries of each message, hidden or re-graded since routing) is read for each delivery.
"""
from __future__ import annotations

from collections.abc import Callable


class _Memo:
    """A repository whose `names` methods answer each distinct call once."""

    def __init__(self, repository, names: frozenset[str]) -> None:
        self._repository = repository
        self._names = names
        self._answers: dict[tuple, object] = {}

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


class RecheckView:
    """`uow` with `consents.state` and `professionals.get` remembered for the batch's life.

    Only reads are remembered, and only within the claim transaction, at the instant the
    batch is re-checked at: the same answers the store gives each delivery's own re-check.
    """

    def __init__(self, uow) -> None:
        self._uow = uow
        self.consents = _Memo(uow.consents, frozenset({"state"}))
        self.professionals = _Memo(uow.professionals, frozenset({"get"}))

    def __getattr__(self, name: str):
        return getattr(self._uow, name)
