"""Consent: who may receive or read an entry of a dossier, decided by one pure function.

`decide` knows nothing of databases, clocks or the registry: the caller hands it the entry, the
recipient, the patient's consent state and the instant, and gets an allow or a deny with a short
reason. Routing, the send-time re-check and `hub dossier show --as` all ask it the same question,
so they cannot disagree.

Time windows are half-open: a grant holds from `granted_at` (inclusive) until `until` or
`revoked_at` (exclusive), a référent declaration from `since` until `until`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from hub.domain.models import Confidentiality


class GrantLevel(StrEnum):
    """How far a grant reaches: normal entries, or normal and restricted ones."""

    NORMAL = "normal"
    EXTENDED = "extended"


class Reason(StrEnum):
    """Why `decide` answered as it did: short, stable, usable as a metric label."""

    GRANT_IN_FORCE = "grant in force"
    REFERENT_IN_FORCE = "référent declaration in force"
    DOSSIER_CLOSED = "dossier closed"
    RECIPIENT_NOT_ACTIVE = "recipient not active"
    ENTRY_HIDDEN = "entry hidden"
    ENTRY_SECRET = "entry secret"
    RESTRICTED_NEEDS_EXTENDED = "restricted needs extended grant"
    REFERENT_BLOCKED = "référent blocked by patient"
    GRANT_REVOKED = "grant revoked"
    GRANT_EXPIRED = "grant expired"
    NO_GRANT = "no grant in force"
    ENTRY_HIDDEN_FROM_RECIPIENT = "entry hidden from this professional"


def _require_aware(*values: datetime | None) -> None:
    # Comparing naive with aware datetimes raises mid-decision; refuse them at construction.
    for value in values:
        if value is not None and value.tzinfo is None:
            raise ValueError("consent times must be timezone-aware")


@dataclass(frozen=True)
class EntryView:
    """What consent needs to know of an entry: its level, whether the patient hid it from
    everyone, and the professionals (CNS codes) the patient hid it from in particular."""

    confidentiality: Confidentiality
    hidden: bool = False
    hidden_from: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Recipient:
    """A professional asking for an entry; `active` is false when suspended or unregistered."""

    cns_code: str
    active: bool


@dataclass(frozen=True)
class Grant:
    """The patient's permission for one professional, from `granted_at`, optionally `until`."""

    cns_code: str
    level: GrantLevel
    granted_at: datetime
    until: datetime | None = None
    revoked_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "level", GrantLevel(self.level))
        _require_aware(self.granted_at, self.until, self.revoked_at)

    def started(self, at: datetime) -> bool:
        """Whether the grant was given at or before `at`."""
        return self.granted_at <= at

    def revoked(self, at: datetime) -> bool:
        """Whether the grant had been revoked by `at`."""
        return self.revoked_at is not None and self.revoked_at <= at

    def expired(self, at: datetime) -> bool:
        """Whether the grant's end date had passed by `at`."""
        return self.until is not None and self.until <= at

    def in_force(self, at: datetime) -> bool:
        """Given, not revoked and not expired at `at`."""
        return self.started(at) and not self.revoked(at) and not self.expired(at)


@dataclass(frozen=True)
class ReferentDeclaration:
    """The patient's médecin référent, as declared through the CNS feed."""

    cns_code: str
    since: datetime
    until: datetime | None = None

    def __post_init__(self) -> None:
        _require_aware(self.since, self.until)

    def in_force(self, at: datetime) -> bool:
        """Whether the declaration holds at `at`."""
        return self.since <= at and (self.until is None or at < self.until)


@dataclass(frozen=True)
class ConsentState:
    """Everything the patient decided, as far as one decision needs it.

    `referent_access_by_default` is the policy switch of the deployment (settings
    `consent.referent_access_by_default`): when false, a référent needs a grant like anyone else.
    `default_level` is the level the patient wants new entries filed at, at least (filing
    takes the stricter of it and the source's level: `stricter`); `decide` does not read it.
    """

    closed: bool = False
    grants: tuple[Grant, ...] = field(default_factory=tuple)
    referent: ReferentDeclaration | None = None
    referent_blocked: bool = False
    referent_access_by_default: bool = True
    default_level: Confidentiality = Confidentiality.NORMAL


@dataclass(frozen=True)
class Decision:
    """An allow or a deny, with the reason."""

    allowed: bool
    reason: str


def decide(entry: EntryView, recipient: Recipient, state: ConsentState, at: datetime) -> Decision:
    """Whether `recipient` may receive or read `entry` at instant `at`, and why.

    The first rule that denies wins, in this order: dossier closed, recipient not active, entry
    hidden (from everyone, or from this recipient), entry secret. Then a grant to this
    recipient in force at `at` allows a normal entry; a restricted entry needs one at level
    extended, and one refused to someone who may read normal entries (a grant in force, or the
    référent rule) is refused by that rule (RESTRICTED_NEEDS_EXTENDED), never as if they had no
    access at all. Without a grant, a normal entry goes to the référent whose declaration holds
    at `at`, unless the patient blocked them or the policy switch is off. There is no
    break-the-glass: nothing else allows.
    """
    _require_aware(at)
    if state.closed:
        return _deny(Reason.DOSSIER_CLOSED)
    if not recipient.active:
        return _deny(Reason.RECIPIENT_NOT_ACTIVE)
    if entry.hidden:
        return _deny(Reason.ENTRY_HIDDEN)
    if recipient.cns_code in entry.hidden_from:
        return _deny(Reason.ENTRY_HIDDEN_FROM_RECIPIENT)
    if entry.confidentiality == Confidentiality.SECRET:
        return _deny(Reason.ENTRY_SECRET)

    mine = [g for g in state.grants if g.cns_code == recipient.cns_code]
    in_force = [g for g in mine if g.in_force(at)]
    if entry.confidentiality == Confidentiality.RESTRICTED:
        if any(g.level == GrantLevel.EXTENDED for g in in_force):
            return Decision(True, Reason.GRANT_IN_FORCE)
        if in_force or _referent_rule_holds(state, recipient, at):
            # They could read a normal entry: what refused this one is the restricted rule.
            return _deny(Reason.RESTRICTED_NEEDS_EXTENDED)
        return _deny(_why_no_grant(mine, at))
    if entry.confidentiality != Confidentiality.NORMAL:
        raise ValueError(f"unknown confidentiality {entry.confidentiality!r}")
    if in_force:
        return Decision(True, Reason.GRANT_IN_FORCE)

    referent = state.referent
    if (state.referent_access_by_default and referent is not None
            and referent.cns_code == recipient.cns_code and referent.in_force(at)):
        if state.referent_blocked:
            return _deny(Reason.REFERENT_BLOCKED)
        return Decision(True, Reason.REFERENT_IN_FORCE)
    return _deny(_why_no_grant(mine, at))


# From the loosest to the strictest.
LEVEL_ORDER = (Confidentiality.NORMAL, Confidentiality.RESTRICTED, Confidentiality.SECRET)


def stricter(*levels: Confidentiality) -> Confidentiality:
    """The strictest of `levels` (normal < restricted < secret): a new entry is filed at the
    stricter of its source's level and the patient's default level."""
    return max((Confidentiality(level) for level in levels), key=LEVEL_ORDER.index,
               default=Confidentiality.NORMAL)


def _referent_rule_holds(state: ConsentState, recipient: Recipient, at: datetime) -> bool:
    """Whether the référent rule would let `recipient` read a normal entry at `at`."""
    referent = state.referent
    return (state.referent_access_by_default and not state.referent_blocked
            and referent is not None and referent.cns_code == recipient.cns_code
            and referent.in_force(at))


def _deny(reason: Reason) -> Decision:
    return Decision(False, reason)


def _why_no_grant(grants: list[Grant], at: datetime) -> Reason:
    """Why none of the recipient's grants is in force: what became of the latest one given."""
    started = [g for g in grants if g.started(at)]
    if not started:
        return Reason.NO_GRANT
    # Ties on granted_at are broken on the other fields so that the order of `grants` never
    # changes the answer.
    latest = max(started, key=lambda g: (g.granted_at, g.revoked_at is None,
                                         g.revoked_at or g.granted_at, g.until is None,
                                         g.until or g.granted_at, g.level))
    if latest.revoked(at):
        return Reason.GRANT_REVOKED
    return Reason.GRANT_EXPIRED
