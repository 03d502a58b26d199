"""The senders file (`senders_file`, `HUB_SENDERS_FILE`): who may send what, from where.

Read once at start, like the routing file: a malformed entry raises ConfigError naming the file
and the entry, and `hub serve` stops (exit 2) before anything listens. An empty `senders_file`
setting runs the hub "open" (see hub/inbound/senders.py); a path that does not exist is an error,
so that a typo cannot open the hub.

Each `[[sender]]` names one sending system:

- `name`: how the hub calls it (logs, errors, metrics);
- `application`, `facility`: MSH-3 and MSH-4 (their first component), shell wildcards allowed;
- where it may connect from: `addresses` (IP addresses or CIDR blocks), `certificate_subjects`
  (the TLS client certificate's subject, "CN=...,O=..." as `hub` prints it) and
  `certificate_fingerprints` (SHA-256 of the certificate, hex, colons optional), `spool` (the
  CNS batch spool). A connection must satisfy every kind listed (address and certificate when
  both are given); `spool = true` admits the spool's files on their own;
- `types`: the message types it may send ("ORU^R01", "ORU^*", "ADT^A0*", "*");
- `privileges`: effects with national weight it may have, none by default (PRIVILEGES).
"""
from __future__ import annotations

import ipaddress
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hub.errors import ConfigError

DECLARE_REFERENT = "declare_referent"    # ADT^A31 référent declarations (the CNS)
MERGE_PATIENTS = "merge_patients"        # ADT^A40 (the national identity registry)
UPDATE_REGISTRY = "update_registry"      # MFN^M02, the professionals registry
CNS_PRESTATIONS = "cns_prestations"      # DFT^P03 into the CNS summary (the CNS)
PRIVILEGES = (DECLARE_REFERENT, MERGE_PATIENTS, UPDATE_REGISTRY, CNS_PRESTATIONS)
Privilege = Literal["declare_referent", "merge_patients", "update_registry", "cns_prestations"]

_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")
_TYPE = re.compile(r"^[A-Z0-9*?\[\]]+(\^[A-Z0-9*?\[\]_]+)?$")


class SenderEntry(BaseModel):
    """One `[[sender]]` of the file, checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    application: str = Field(min_length=1)
    facility: str = Field(min_length=1)
    addresses: tuple[str, ...] = ()
    certificate_subjects: tuple[str, ...] = ()
    certificate_fingerprints: tuple[str, ...] = ()
    spool: bool = False
    types: tuple[str, ...] = Field(min_length=1)
    privileges: tuple[Privilege, ...] = ()

    @field_validator("addresses")
    @classmethod
    def _networks(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(f"{value!r} is not an IP address or CIDR block") from None
        return values

    @field_validator("certificate_fingerprints")
    @classmethod
    def _fingerprints(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        normal = tuple(v.replace(":", "").strip().lower() for v in values)
        for value, given in zip(normal, values):
            if not _FINGERPRINT.match(value):
                raise ValueError(f"{given!r} is not a SHA-256 fingerprint (64 hex digits)")
        return normal

    @field_validator("types")
    @classmethod
    def _types(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if value != "*" and not _TYPE.match(value):
                raise ValueError(f"{value!r} is not a message type (CODE^EVENT, wildcards "
                                 "allowed, e.g. ORU^R01, ADT^A0*)")
        return values

    @model_validator(mode="after")
    def _reachable(self) -> "SenderEntry":
        if not (self.addresses or self.certificate_subjects or self.certificate_fingerprints
                or self.spool):
            raise ValueError("names no peer: give addresses, certificate_subjects, "
                             "certificate_fingerprints or spool = true")
        return self


class SendersFile(BaseModel):
    """The whole file: its `[[sender]]` entries, names unique."""

    model_config = ConfigDict(extra="forbid")

    sender: list[SenderEntry] = []

    @model_validator(mode="after")
    def _unique(self) -> "SendersFile":
        seen: set[str] = set()
        for entry in self.sender:
            if entry.name in seen:
                raise ValueError(f"two entries are named {entry.name!r}")
            seen.add(entry.name)
        return self


def load_senders(path: Path) -> SendersFile:
    """Read and check the senders file; ConfigError naming the file and the entry when wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: senders file not found (set HUB_SENDERS_FILE; empty runs "
                          "the hub open to clinical messages only)") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the senders file: {exc}") from None
    try:
        return SendersFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"{path}: {_where(data, err['loc'])}: {err['msg']}") from None


def _where(data: dict, loc: tuple) -> str:
    """"sender 2 (name 'cns-feed') field types" from a pydantic error location."""
    if len(loc) >= 2 and loc[0] == "sender" and isinstance(loc[1], int):
        entries = data.get("sender") or []
        entry = entries[loc[1]] if loc[1] < len(entries) else {}
        name = entry.get("name") if isinstance(entry, dict) else None
        label = f"sender {loc[1] + 1}" + (f" (name {name!r})" if name else "")
        rest = ".".join(str(part) for part in loc[2:] if not isinstance(part, int))
        return f"{label} {rest}".strip() if rest else label
    return ".".join(str(part) for part in loc) or "file"
