"""What a mapping file says (pydantic models of the TOML) and what it compiles to (plain rules).

The pydantic models only check shape: unknown keys and wrong types. Paths, the HL7 structure and
the cross-references between keys are checked by `hub.mapping.loader`, which builds the rules below.
The rules are frozen, slotted and made of tuples so that the mapper does no lookups by name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.domain.models import Confidentiality

Level = Literal["normal", "restricted", "secret"]
TypeName = Literal["text", "date", "timestamp", "number", "list", "xcn", "pl"]
PathSpec = str | list[str]

# Keys the mapper puts beside the payload in `hub map`; a payload field may not shadow them.
RESERVED_FIELDS = frozenset({"kind", "confidentiality", "effective_at"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class FieldType(_Strict):
    """A field's type written as a table: `varies` reads its HL7 data type from `datatype` (as
    OBX-2 gives OBX-5's); `all` joins the field of every occurrence of its segment in the
    message, in message order, with a line break (a document sent as one OBX per line)."""

    type: TypeName | Literal["varies"]
    datatype: str | None = None
    all: bool = False


class Condition(_Strict):
    """`when`/`unless` of an entry: whether the value at `path` is one of `in` (codes compared
    without surrounding spaces, case-insensitively)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    path: str
    values: list[str] = Field(alias="in", min_length=1)


class ConfidentialityRule(_Strict):
    """Confidentiality read from the message: `map` turns a code into a level (codes compared
    without surrounding spaces and case); an empty field gives `default`, and a code the map
    does not know gives `unknown` — restricted unless said otherwise: a sender that flags an
    entry in a way the hub cannot read meant something, so the hub fails closed."""

    path: str
    map: dict[str, Level]
    default: Level = "normal"
    unknown: Level = "restricted"


class PatientSpec(_Strict):
    """Paths of the patient's demographics; birth_date is read as an HL7 date."""

    family_name: PathSpec | None = None
    given_name: PathSpec | None = None
    birth_date: PathSpec | None = None
    sex: PathSpec | None = None


class EntrySpec(_Strict):
    """One kind of dossier entry: once per message, or once per occurrence of segment `each`."""

    kind: str = Field(min_length=1)
    each: str | None = None
    group: list[str] = []
    required: bool = False
    require: list[str] = []
    when: Condition | None = None
    unless: Condition | None = None
    fields: dict[str, PathSpec]
    types: dict[str, TypeName | FieldType] = {}
    effective_at: PathSpec | None = None
    confidentiality: Level | ConfidentialityRule = "normal"


class MappingFile(_Strict):
    """A whole mapping file."""

    types: list[str] = Field(min_length=1)
    version: str = "2.5"
    custom_segments: dict[str, int] = {}
    patient: PatientSpec | None = None
    entries: list[EntrySpec] = []


# --- compiled rules ------------------------------------------------------------------------------

# (segment, field, component or None, subcomponent or None, 0-based repetition)
Accessor = tuple[str, int, int | None, int | None, int]


@dataclass(frozen=True, slots=True)
class FieldRule:
    """One output field: the first non-empty of `sources`, converted as `type`."""

    name: str
    sources: tuple[Accessor, ...]
    type: str = "text"
    datatype: Accessor | None = None   # for "varies": where the HL7 data type is read
    all: bool = False                  # join every occurrence of the segment, in message order


@dataclass(frozen=True, slots=True)
class EntryRule:
    """A compiled entry spec."""

    kind: str
    each: str | None
    group: frozenset[str]
    required: bool
    require: tuple[str, ...]
    fields: tuple[FieldRule, ...]
    effective_at: tuple[Accessor, ...]
    confidentiality: Confidentiality                     # the constant, or the default
    confidentiality_source: Accessor | None = None
    confidentiality_map: tuple[tuple[str, Confidentiality], ...] = ()   # codes upper-cased
    confidentiality_unknown: Confidentiality = Confidentiality.RESTRICTED
    # (where, codes, wanted): the entry is made only when (value at where in codes) == wanted.
    conditions: tuple[tuple[Accessor, frozenset[str], bool], ...] = ()


@dataclass(frozen=True, slots=True)
class Mapping:
    """A loaded mapping file: the types it serves, its patient fields and its entry rules."""

    source: str
    types: tuple[str, ...]
    patient: tuple[FieldRule, ...]
    entries: tuple[EntryRule, ...]
