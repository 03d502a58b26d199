"""Sensitive codes: results and orders whose mere presence says something a patient may want
kept from most of their doctors (HIV, genetics, psychiatry, pregnancy termination …).

The list is data, in the file the `sensitive_codes_file` setting names (config/
sensitive_codes.toml is shipped). Read once at start with the mappings: a wrong entry raises
ConfigError naming the file and the entry, and `hub serve` stops (exit 2) before anything
listens. The mapper asks `matches` for every entry it makes; an entry whose OBX-3 (or, for a
code listed `on = ["OBR-4"]`, whose order's OBR-4) carries a listed code is filed `restricted`
at least — whatever the sender's own confidentiality field says, since senders rarely set it.

A coded field (CE/CWE) is matched on its identifier and its alternate identifier, each with its
coding system (components 1 and 3, 4 and 6). Systems are compared by the aliases of
`[systems]` (LOINC is "LN" in HL7 table 0396; senders also write "LOINC" or its OID). A code
sent with no coding system at all matches a listed code of any system: failing closed, an
unlabelled "56888-1" is taken for the LOINC code it looks like.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.errors import ConfigError
from hub.hl7.message import Segment

Where = Literal["OBX-3", "OBR-4"]
# (segment, field) of each place a code is read from.
_FIELDS: dict[str, tuple[str, int]] = {"OBX-3": ("OBX", 3), "OBR-4": ("OBR", 4)}
# (identifier, coding system) component pairs of a CE/CWE.
_PAIRS = ((1, 3), (4, 6))


class CodeEntry(BaseModel):
    """One `[[code]]` of the file."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    system: str = Field(min_length=1, pattern=r"^\S+$")
    code: str = Field(min_length=1, pattern=r"^[^\s^~|\\&]+$")
    topic: str = Field(min_length=1)
    name: str = ""
    on: list[Where] = Field(default=["OBX-3"], min_length=1)


class SensitiveFile(BaseModel):
    """The whole file: coding-system aliases, then the codes."""

    model_config = ConfigDict(extra="forbid", strict=True)

    systems: dict[str, list[str]] = {}
    code: list[CodeEntry] = []


@dataclass(frozen=True)
class SensitiveCodes:
    """The listed codes, by where they are read: {"OBX-3": {(SYSTEM, CODE)}, …}, systems and
    codes upper-cased, systems by their canonical name; `aliases` maps every written system
    name (upper-cased) to its canonical one."""

    by_field: tuple[tuple[str, frozenset[tuple[str, str]]], ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()
    source: str = ""

    def __len__(self) -> int:
        return len({pair for _, pairs in self.by_field for pair in pairs})

    @cached_property
    def _alias_of(self) -> dict[str, str]:
        return dict(self.aliases)

    @cached_property
    def _places(self) -> tuple[tuple[str, int, frozenset[tuple[str, str]], frozenset[str]], ...]:
        """(segment, field, listed pairs, listed codes) of each place a code is read from: made
        once, not for each of the entries `matches` is asked about (ten a lab report)."""
        return tuple((*_FIELDS[where], listed, frozenset(code for _, code in listed))
                     for where, listed in self.by_field)

    def matches(self, context: dict[str, Segment]) -> bool:
        """Whether the segments an entry was read from (its OBX, its order's OBR) carry a
        listed code where the list says to look."""
        if not self.by_field:
            return False
        aliases = self._alias_of
        for segment_name, number, listed, codes in self._places:
            segment = context.get(segment_name)
            if segment is None:
                continue
            for code_at, system_at in _PAIRS:
                code = segment.value(number, code_at, None, 0).strip().upper()
                if not code or code not in codes:
                    continue
                system = segment.value(number, system_at, None, 0).strip().upper()
                if not system:
                    return True  # no system said: fail closed
                if (aliases.get(system, system), code) in listed:
                    return True
        return False


def load_sensitive_codes(path: Path | None) -> SensitiveCodes:
    """Read and check the sensitive codes file (None or "": no list); ConfigError naming the
    file and the entry when wrong."""
    if path is None or not str(path).strip():
        return SensitiveCodes()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: sensitive codes file not found (set "
                          "HUB_SENSITIVE_CODES_FILE; empty files nothing restricted by its "
                          "code)") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the sensitive codes file: {exc}") from None
    try:
        parsed = SensitiveFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"{path}: {_where(data, err['loc'])}: {err['msg']}") from None
    return compile_codes(parsed, str(path))


def compile_codes(parsed: SensitiveFile, source: str = "") -> SensitiveCodes:
    """The matcher of a checked file; ConfigError when two systems claim one alias."""
    aliases: dict[str, str] = {}
    for canonical, names in parsed.systems.items():
        for name in [canonical, *names]:
            key = name.strip().upper()
            if aliases.get(key, canonical.upper()) != canonical.upper():
                raise ConfigError(f"{source}: systems: {name!r} is an alias of both "
                                  f"{aliases[key]} and {canonical}")
            aliases[key] = canonical.upper()
    by_field: dict[str, set[tuple[str, str]]] = {}
    for entry in parsed.code:
        system = entry.system.strip().upper()
        for where in entry.on:
            by_field.setdefault(where, set()).add((aliases.get(system, system),
                                                   entry.code.strip().upper()))
    return SensitiveCodes(tuple((where, frozenset(pairs)) for where, pairs in by_field.items()),
                          tuple(sorted(aliases.items())), source)


def _where(data: Any, loc: tuple[Any, ...]) -> str:
    """"code 3 (code '56888-1') field on" from a pydantic error location."""
    if len(loc) >= 2 and loc[0] == "code" and isinstance(loc[1], int):
        entries = data.get("code") if isinstance(data, dict) else None
        entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else {}
        code = entry.get("code") if isinstance(entry, dict) else None
        label = f"code {loc[1] + 1}" + (f" ({code!r})" if code else "")
        rest = ".".join(str(part) for part in loc[2:] if not isinstance(part, int))
        return f"{label} field {rest}" if rest else label
    return ".".join(str(part) for part in loc) or "file"
