"""Routing rules: which recipients, by role, each stored message goes to (config/routing.toml).

The file is read and checked once, at start: an unknown role, an unknown named destination or a
malformed rule raises ConfigError naming the file and the rule, and the hub does not start.
Matching a message is pure: it names candidates (a role and the id found for it); whether a
candidate is registered, has a destination and is allowed by the patient is the store's and
consent's business, asked later.
"""
from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.domain.professional import validate_cns_code
from hub.errors import ConfigError, InvalidCnsCode
from hub.hl7.message import Message

REFERENT = "referent"
DESTINATION_PREFIX = "destination:"
# Where each message role names its professionals (XCN fields; the CNS code is component 1).
# For the ordering provider ORC-12 wins over OBR-16 within a group, as in the ORU mapping; both
# are read everywhere here, which names the same doctor in a well-formed message.
ROLE_FIELDS: dict[str, tuple[tuple[str, int], ...]] = {
    "ordering_provider": (("ORC", 12), ("OBR", 16)),
    "attending_doctor": (("PV1", 7),),
    "result_copies": (("OBR", 28),),
}
ROLES = (REFERENT, *ROLE_FIELDS, f"{DESTINATION_PREFIX}NAME")


class _RouteSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(pattern=r"^[A-Z0-9]{3}\^([A-Z0-9]{3}|\*)$")
    sender: str = "*"
    entry_kinds: list[str] = []
    to: list[str] = Field(min_length=1)


class _FileSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    destinations: dict[str, str] = {}
    route: list[_RouteSpec] = []


@dataclass(frozen=True)
class Candidate:
    """Someone a route names: the role, and the CNS code (or, for the référent, "")."""

    role: str
    cns_code: str
    source: str = ""          # the field it was read from, e.g. "ORC-12"


@dataclass(frozen=True)
class Route:
    message: str
    sender: str
    entry_kinds: frozenset[str]
    to: tuple[str, ...]

    def matches(self, type: str, sender: str, kinds: set[str]) -> bool:
        """Whether a stored message of `type` from `sender` that made entries of `kinds` is
        one this route sends."""
        code, _, event = self.message.partition("^")
        their_code, _, their_event = type.partition("^")
        if code != their_code or event not in ("*", their_event.split("^")[0]):
            return False
        if not fnmatch.fnmatchcase(sender, self.sender):
            return False
        return not self.entry_kinds or bool(self.entry_kinds & kinds)


@dataclass(frozen=True)
class Routes:
    """Every route of the file, and the named destinations they may use."""

    routes: tuple[Route, ...] = ()
    destinations: dict[str, str] | None = None

    def candidates(self, message: Message, type: str, sender: str,
                   kinds: set[str]) -> list[Candidate]:
        """The candidates of every route matching the message, each (role, code) once, in rule
        order. The référent appears as Candidate("referent", ""): only the store knows who."""
        seen: set[tuple[str, str]] = set()
        found: list[Candidate] = []
        for route in self.routes:
            if not route.matches(type, sender, kinds):
                continue
            for role in route.to:
                for candidate in self._resolve(role, message):
                    key = (candidate.role, candidate.cns_code)
                    if key not in seen:
                        seen.add(key)
                        found.append(candidate)
        return found

    def _resolve(self, role: str, message: Message) -> list[Candidate]:
        if role == REFERENT:
            return [Candidate(REFERENT, "")]
        if role.startswith(DESTINATION_PREFIX):
            name = role[len(DESTINATION_PREFIX):]
            return [Candidate(role, (self.destinations or {})[name], "config")]
        found = []
        for segment_name, field in ROLE_FIELDS[role]:
            for segment in message.segments_named(segment_name):
                for number in range(len(segment.repetitions(field))):
                    # XCN.1 of the repetition, escapes decoded: components(...)[0] without
                    # decoding the other components
                    code = segment.value(field, 1, None, number).strip()
                    if code:
                        found.append(Candidate(role, code, f"{segment_name}-{field}"))
        return found


def load_routes(path: Path) -> Routes:
    """Read and check the routing file; ConfigError naming the file and the rule when wrong.
    A missing file is an error too: a hub that routes nothing should say so in its config."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: routing file not found (set HUB_ROUTING_FILE)") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the routing file: {exc}") from None
    try:
        spec = _FileSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = _where(err["loc"])
        raise ConfigError(f"{path}: {where}: {err['msg']}") from None
    destinations = {}
    for name, code in spec.destinations.items():
        try:
            destinations[name] = validate_cns_code(code)
        except InvalidCnsCode as exc:
            raise ConfigError(f"{path}: destinations.{name}: {exc}") from None
    routes = []
    for number, rule in enumerate(spec.route, 1):
        for role in rule.to:
            _check_role(path, number, role, destinations)
        routes.append(Route(rule.message, rule.sender, frozenset(rule.entry_kinds),
                            tuple(rule.to)))
    return Routes(tuple(routes), destinations)


def _check_role(path: Path, number: int, role: str, destinations: dict[str, str]) -> None:
    if role == REFERENT or role in ROLE_FIELDS:
        return
    if role.startswith(DESTINATION_PREFIX):
        name = role[len(DESTINATION_PREFIX):]
        if name in destinations:
            return
        raise ConfigError(f"{path}: route {number}: unknown destination {name!r} "
                          f"(named destinations: {', '.join(destinations) or 'none'})")
    raise ConfigError(f"{path}: route {number}: unknown role {role!r} "
                      f"(known: {', '.join(ROLES)})")


def _where(loc: tuple) -> str:
    if len(loc) >= 2 and loc[0] == "route" and isinstance(loc[1], int):
        rest = ".".join(str(part) for part in loc[2:])
        return f"route {loc[1] + 1}" + (f": {rest}" if rest else "")
    return ".".join(str(part) for part in loc) or "file"
