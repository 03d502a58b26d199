"""What a dispatch round did: one outcome per attempt (or denial), for logs, metrics and tests."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hub.domain.delivery import Delivery, DeliveryState


@dataclass(frozen=True)
class Outcome:
    """The result of one attempt at `delivery`.

    `state` is where the delivery now stands (`pending`: it will be retried). `code` is the
    ACK code (AA, AE, AR, CA, CE, CR), a pseudo code (`no-answer`, `mismatch`, `unreadable`,
    `error`) or `denied`; `reason` names codes and consent reasons only, never patient data.
    """

    delivery: Delivery
    state: DeliveryState
    code: str
    reason: str

    @property
    def sent(self) -> bool:
        """Whether bytes went out to the recipient for this outcome."""
        return self.state is not DeliveryState.DENIED and self.code != "error"


@dataclass
class DispatchReport:
    """Outcomes of the lane jobs that finished, the destinations whose lane was busy, and those
    whose lane this round started."""

    outcomes: list[Outcome] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)

    def count(self, state: DeliveryState) -> int:
        """How many outcomes left their delivery in `state`."""
        return sum(1 for outcome in self.outcomes if outcome.state is state)

    @property
    def attempted(self) -> int:
        """Sends made (denials send nothing)."""
        return sum(1 for outcome in self.outcomes if outcome.sent)

    @property
    def delivered(self) -> int:
        """Attempts the recipient accepted."""
        return self.count(DeliveryState.DELIVERED)

    @property
    def retried(self) -> int:
        """Attempts that failed and will be retried."""
        return self.count(DeliveryState.PENDING)

    @property
    def parked(self) -> int:
        """Deliveries parked: refused, or out of attempts."""
        return self.count(DeliveryState.PARKED)

    @property
    def denied(self) -> int:
        """Deliveries consent no longer allowed; nothing was sent."""
        return self.count(DeliveryState.DENIED)

    def denied_by_reason(self) -> dict[str, int]:
        """Denials counted by consent reason."""
        return dict(Counter(o.reason for o in self.outcomes
                            if o.state is DeliveryState.DENIED))

    def summary(self) -> dict[str, int]:
        """The counts in one dictionary (attempted, delivered, retried, parked, denied)."""
        return {"attempted": self.attempted, "delivered": self.delivered,
                "retried": self.retried, "parked": self.parked, "denied": self.denied}
