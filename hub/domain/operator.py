"""Who is at the `hub` command when no professional is named: the operator.

Every command that reads or changes patient data knows its actor. A professional is named by
CNS code (`--as`); anyone else is an operator, named by `--operator`, else `HUB_OPERATOR`, else
the OS user (hub/cli resolves which). The journal keeps the name: an operator's own read is
theirs, and a choice the patient made at the desk stays the patient's, *recorded by* them.

A name is the operator's login or a short label, never patient data: 1 to 64 printable
characters, no control character, nothing that looks like a matricule.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from hub.errors import HubError

MAX_LENGTH = 64
_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f-\x9f]+")
_MATRICULE_LIKE = re.compile(r"\d{11}")


class InvalidOperator(HubError):
    """An operator name the journal must not hold (empty, too long, control characters, a
    matricule)."""


def validate_operator_name(name: object) -> str:
    """`name` as the journal keeps it (surrounding spaces dropped); InvalidOperator if unfit."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidOperator("an operator name cannot be empty")
    name = name.strip()
    if len(name) > MAX_LENGTH:
        raise InvalidOperator(f"an operator name has at most {MAX_LENGTH} characters")
    if not _PRINTABLE.fullmatch(name):
        raise InvalidOperator("an operator name cannot hold control characters")
    if _MATRICULE_LIKE.search(name):
        raise InvalidOperator("an operator name cannot carry a matricule")
    return name


@dataclass(frozen=True)
class Operator:
    """The person at the command, by name (validated, spaces around it dropped)."""

    name: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", validate_operator_name(self.name))
