"""Who may act for the patient: representatives recorded for a dossier, and what they may do.

A representative is one of three kinds:
- `assistant` — the "assistant DSP", a person the patient designated to help them manage their
  dossier;
- `parent` — a parent exercising parental authority over a minor: their rights end by
  themselves when the patient comes of age (hub.domain.majority; the job in
  hub/jobs/representative_majority.py journals it);
- `guardian` — a legal guardian named by a court (tutelle or curatelle, of a minor or of an
  adult): the order, not the patient's age, says when it ends, so majority ends nothing.

Each holds a small set of scopes:
- `consent` — may make the patient's consent choices (grant and revoke access);
- `read` — may read the dossier on the patient's behalf.

A representative acts from `since` until `until` (or until ended), and a parent only while the
patient is a minor, whether or not the majority job ran yet. Their name is personal data: the
store keeps it encrypted, and the audit log names a representative by id only.

A consent change a representative made is journaled with actor "representative" and the
representative's id at the end of the reason ("…; by representative <id>", `acting_reason`,
read back by `representative_in`): the audit log's columns and hash chain stay as they are, and
the reason already says what the change was.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class RepresentativeKind(StrEnum):
    """What makes someone a representative (the module docstring says what each means)."""

    ASSISTANT = "assistant"
    PARENT = "parent"
    GUARDIAN = "guardian"


class Scope(StrEnum):
    """What a representative may do for the patient."""

    CONSENT = "consent"
    READ = "read"


class EndReason(StrEnum):
    """Why a representative's rights ended, when they did."""

    ENDED = "ended"          # `hub dossier representative end`
    MAJORITY = "majority"    # the patient came of age (parents only)


DEFAULT_SCOPES = frozenset({Scope.CONSENT, Scope.READ})
_BY = "by representative "
_REASON_ID = re.compile(r"(?:\A|; )by representative ([0-9a-f]{32})\Z")
_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Representative:
    """One representative of one dossier, as recorded (`name` decrypted)."""

    id: str
    patient_id: str
    kind: RepresentativeKind
    name: str
    scopes: frozenset[Scope]
    since: datetime
    until: datetime | None = None
    end_reason: EndReason | None = None

    @property
    def ends_at_majority(self) -> bool:
        """Whether the patient's coming of age ends this representative's rights."""
        return self.kind is RepresentativeKind.PARENT

    def end_at(self, majority: datetime | None) -> datetime | None:
        """When this representative's rights end: their own end, or for a parent the patient's
        majority when that is earlier; None when nothing ends them."""
        ends = [t for t in (self.until,
                            majority if self.ends_at_majority else None) if t is not None]
        return min(ends) if ends else None

    def refusal(self, at: datetime, majority: datetime | None,
                scope: Scope | None = None) -> str | None:
        """Why this representative may not act at `at` (with `scope`, when given), or None
        when they may. `majority` is when the patient comes (came) of age."""
        if at < self.since:
            return f"representative {self.id} acts only from {self.since.isoformat()}"
        end = self.end_at(majority)
        if end is not None and at >= end:
            if self.ends_at_majority and majority is not None and end == majority:
                return f"representative {self.id} (parent) no longer acts: the patient is of age"
            return f"representative {self.id} ended on {end.isoformat()}"
        if scope is not None and scope not in self.scopes:
            return f"representative {self.id} may not act for {scope.value} (scope: " \
                   f"{format_scopes(self.scopes)})"
        return None

    def in_force(self, at: datetime, majority: datetime | None) -> bool:
        """Whether this representative acts for the patient at `at`."""
        return self.refusal(at, majority) is None


def parse_scopes(text: str) -> frozenset[Scope]:
    """Scopes from "consent,read" (ValueError naming the unknown one; at least one)."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise ValueError("at least one scope: " + ", ".join(s.value for s in Scope))
    try:
        return frozenset(Scope(name) for name in names)
    except ValueError:
        unknown = next(n for n in names if n not in {s.value for s in Scope})
        raise ValueError(f"unknown scope {unknown!r} (known: "
                         f"{', '.join(s.value for s in Scope)})") from None


def format_scopes(scopes: frozenset[Scope]) -> str:
    """Scopes as stored and printed: "consent,read", in a fixed order."""
    return ",".join(s.value for s in Scope if s in scopes)


def acting_reason(reason: str, representative_id: str) -> str:
    """An audit reason that says which representative made the change: "<reason>; by
    representative <id>", or "by representative <id>" for a change without a reason."""
    return f"{reason}; {_BY}{representative_id}" if reason else f"{_BY}{representative_id}"


def representative_in(reason: str) -> str | None:
    """The id of the representative an audit reason names (`acting_reason`), or None."""
    match = _REASON_ID.search(reason)
    return None if match is None else match.group(1)


def is_representative_id(text: str) -> bool:
    """Whether `text` has the form of a representative's id (32 lower-case hex digits): what
    is not is never echoed into a message or the audit log."""
    return _ID.fullmatch(text) is not None
