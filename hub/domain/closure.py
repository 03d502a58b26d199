"""A closed dossier's rules, with no infrastructure: what is kept of it, what still changes it,
and when its content is erased.

- Nothing clinical received for a closed dossier is kept: its message keeps the header facts
  the journal names (sender, type, control id, time, the reason) and no raw copy.
- Facts about the patient's care relationships (a référent declared or ended) still apply:
  they grant nothing while the dossier is closed, and a reopened dossier answers as the CNS said.
- A merge involving a closed dossier, on either side, is never applied by a message: it would
  move a closed dossier's entries where another dossier's professionals read them, or file an
  open dossier's into one the patient closed. The message is parked for an operator
  (`merge_parked_reason`), who may replay it once the patient reopened the dossier.
- A closed dossier's entries are kept `[retention] closed_dossier_years` after its closure
  (`erasure_due`), then erased: entries, raw copies, demographics. The journal and the audit
  log, which hold no clinical content, are kept.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.errors import HubError

MERGE_RULE = "a closed dossier is never merged"


def merge_parked_reason(closed_sides: list[str]) -> str:
    """Why a merge naming closed dossiers (where: "MRG-1", "PID-3") is parked; its reason class
    (hub.ops.dlq.reason_class) is "closed"."""
    which = " and ".join(closed_sides)
    return (f"closed: the dossier of {which} is closed; a merge involving a closed dossier "
            f"waits for an operator (rule: {MERGE_RULE}; reopen it, then replay)")


class DossierClosed(HubError):
    """A choice a closed dossier does not take (a grant): the patient reopens it first."""


@dataclass(frozen=True)
class Closure:
    """When a dossier was closed (None: open) and its content erased (None: not yet)."""

    closed_at: datetime | None = None
    erased_at: datetime | None = None

    @property
    def erased(self) -> bool:
        """Whether the content of this closure was erased (a later closure starts anew)."""
        return (self.erased_at is not None and self.closed_at is not None
                and self.erased_at >= self.closed_at)


def erasure_due(closed_at: datetime, years: int) -> datetime | None:
    """When the content of a dossier closed at `closed_at` is erased: `years` calendar years
    later (a 29 February closure on 28 February); None when `years` is 0 (kept forever)."""
    if years <= 0:
        return None
    try:
        return closed_at.replace(year=closed_at.year + years)
    except ValueError:  # 29 February into a common year
        return closed_at.replace(year=closed_at.year + years, day=28)


def closed_before(now: datetime, years: int) -> datetime | None:
    """The closures whose erasure is due by `now` are those before this instant (None: 0
    years, nothing is erased). The inverse of `erasure_due`, to the day."""
    if years <= 0:
        return None
    try:
        return now.replace(year=now.year - years)
    except ValueError:  # 29 February back into a common year: 1 March's closures are not due
        return now.replace(year=now.year - years, month=2, day=28)
