"""Professionals of the national registry: who may receive or read a patient's entries.

A professional is identified by a CNS code (`NNNNNN-NN`). Only an active professional may read
a dossier, and only an active one with an MLLP destination may be sent anything. Professionals
are not patients: their names are not secret and are stored in clear.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from hub.errors import InvalidCnsCode

# [0-9], not \d: \d also matches Arabic-Indic and other Unicode digits.
_CNS_CODE = re.compile(r"[0-9]{6}-[0-9]{2}")
MAX_PORT = 65535


class ProfessionalStatus(StrEnum):
    """Whether a registered professional may currently take part."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


def validate_cns_code(text: str) -> str:
    """The CNS code in `text` (surrounding blanks removed); InvalidCnsCode unless `NNNNNN-NN`."""
    code = text.strip() if isinstance(text, str) else ""
    if not _CNS_CODE.fullmatch(code):
        shown = code if len(code) <= 20 else code[:20] + "…"
        raise InvalidCnsCode(f"CNS code {shown!r} is not of the form NNNNNN-NN")
    return code


@dataclass(frozen=True)
class Destination:
    """Where a professional's messages go over MLLP, and what MSH-5/MSH-6 to address them to."""

    host: str
    port: int
    receiving_application: str
    receiving_facility: str
    tls: bool = False

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("a destination needs a host")
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise ValueError(f"port must be a whole number, not {self.port!r}")
        if not 1 <= self.port <= MAX_PORT:
            raise ValueError(f"port {self.port} is outside 1-{MAX_PORT}")


@dataclass(frozen=True)
class Professional:
    """One registered professional. `status` accepts "active"/"suspended" and is kept as a
    ProfessionalStatus; the CNS code is validated on construction."""

    cns_code: str
    family_name: str
    given_name: str
    specialty: str
    status: ProfessionalStatus = ProfessionalStatus.ACTIVE
    destination: Destination | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "cns_code", validate_cns_code(self.cns_code))
        try:
            object.__setattr__(self, "status", ProfessionalStatus(self.status))
        except ValueError:
            raise ValueError(
                f"unknown status {self.status!r} (expected active or suspended)") from None

    @property
    def active(self) -> bool:
        """Whether the professional is active (not suspended)."""
        return self.status is ProfessionalStatus.ACTIVE

    @property
    def can_read(self) -> bool:
        """Whether the professional may read entries (consent permitting): active."""
        return self.active

    @property
    def can_receive(self) -> bool:
        """Whether entries may be sent to the professional (consent permitting): active, and
        with somewhere to send them."""
        return self.active and self.destination is not None
