"""Loads mappings/*.toml into compiled rules, refusing anything wrong before the hub starts.

Every problem becomes a ConfigError of the form `FILE:LINE: field "NAME": what is wrong`. TOML
keeps no positions, so the line is found by looking for the key or the path's text in the file.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path as FilePath

from pydantic import ValidationError

from hub.domain.models import Confidentiality
from hub.errors import ConfigError
from hub.hl7.path import Path
from hub.mapping.sensitive import SensitiveCodes
from hub.mapping.structure import PathProblem, StructureChecker
from hub.mapping.spec import (RESERVED_FIELDS, Accessor, ConfidentialityRule, EntryRule,
                                      EntrySpec, FieldRule, FieldType, Mapping, MappingFile,
                                      PathSpec)
from hub.mapping.source_lines import PATIENT, SourceLines

_TYPE = re.compile(r"[A-Z0-9]{3}\^[A-Z0-9]{3}|[A-Z0-9]{3}_[A-Z0-9]{3}")
# Data types each conversion can read, whatever the version calls them ("" = a Z-segment field).
_TYPE_NEEDS = {"xcn": {"XCN", "CN", "CNN", "varies", ""}, "pl": {"PL", "varies", ""}}
_WHOLE_FIELD_TYPES = {"xcn", "pl", "varies"}
# Types whose values are text, so that `all` can join them with a line break.
_JOINABLE_TYPES = {"text", "varies"}


@dataclass(frozen=True)
class MappingSet:
    """Every loaded mapping, found by message type ("ADT^A01") or, failing that, structure,
    and the sensitive codes every mapping's entries are checked against."""

    by_type: dict[str, Mapping]
    sensitive: SensitiveCodes = SensitiveCodes()

    def for_type(self, type: str, structure: str = "") -> Mapping | None:
        """The mapping serving this message type (MSH-9.1^MSH-9.2), else its structure (MSH-9.3)."""
        code = "^".join(type.split("^")[:2])
        return self.by_type.get(code) or (self.by_type.get(structure) if structure else None)

    def __len__(self) -> int:
        return len({id(mapping) for mapping in self.by_type.values()})

    def types(self) -> frozenset[str]:
        """Every type and structure served, as written in the files ("ADT^A01", "ORU_R01"):
        what the listener needs to tell a served message from one nobody maps."""
        return frozenset(self.by_type)


def load_mappings(directory: FilePath,
                  sensitive: SensitiveCodes = SensitiveCodes()) -> MappingSet:
    """Read, validate and compile every *.toml in `directory`; raise ConfigError on any problem.
    `sensitive` (hub.mapping.sensitive) restricts the entries that carry a listed code."""
    if not directory.is_dir():
        raise ConfigError(f"{directory}: mapping directory does not exist")
    by_type: dict[str, Mapping] = {}
    for file in sorted(directory.glob("*.toml")):
        mapping, lines = _load_file(file)
        for type_ in mapping.types:
            if type_ in by_type:
                raise ConfigError(f"{lines.where(lines.find_text(type_))}: type \"{type_}\" is "
                                  f"already mapped by {by_type[type_].source}")
            by_type[type_] = mapping
    return MappingSet(by_type, sensitive)


def _load_file(file: FilePath) -> tuple[Mapping, SourceLines]:
    text = file.read_text(encoding="utf-8")
    lines = SourceLines(str(file), text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"at line (\d+)", str(error))
        raise ConfigError(f"{lines.where(int(found.group(1)) if found else 0)}: not valid TOML: "
                          f"{str(error).split(' (at line')[0]}") from None
    try:
        spec = MappingFile.model_validate(data)
    except ValidationError as error:
        raise ConfigError(lines.pydantic_problem(error)) from None
    return _Compiler(spec, lines).mapping(), lines


class _Compiler:
    """Turns one validated MappingFile into a Mapping, checking every path with hl7apy."""

    def __init__(self, spec: MappingFile, lines: SourceLines) -> None:
        self.spec = spec
        self.lines = lines
        try:
            self.checker = StructureChecker(spec.version, spec.custom_segments)
        except PathProblem as problem:
            key = "version" if "version" in str(problem) else "custom_segments"
            raise ConfigError(f"{lines.where(lines.find_key(key))}: {problem}") from None

    def fail(self, section: int, name: str, problem: object, needle: str = "") -> ConfigError:
        line = self.lines.find_in_section(section, name, needle)
        return ConfigError(f"{self.lines.where(line)}: field \"{name}\": {problem}")

    def mapping(self) -> Mapping:
        for type_ in self.spec.types:
            if not _TYPE.fullmatch(type_):
                raise ConfigError(f"{self.lines.where(self.lines.find_text(type_))}: type "
                                  f"\"{type_}\" is neither like ADT^A01 nor like ADT_A01")
        patient: tuple[FieldRule, ...] = ()
        if self.spec.patient is not None:
            given = self.spec.patient.model_dump(exclude_none=True)
            patient = tuple(
                FieldRule(name, self.paths(PATIENT, name, paths),
                          "date" if name == "birth_date" else "text")
                for name, paths in given.items()
            )
        entries = tuple(self.entry(index, entry) for index, entry in enumerate(self.spec.entries))
        return Mapping(self.lines.name, tuple(self.spec.types), patient, entries)

    def paths(self, section: int, name: str, spec: PathSpec) -> tuple[Accessor, ...]:
        texts = [spec] if isinstance(spec, str) else spec
        if not texts:
            raise self.fail(section, name, "an empty list of paths")
        return tuple(self.accessor(section, name, text)[0] for text in texts)

    def accessor(self, section: int, name: str, text: str) -> tuple[Accessor, str]:
        """The accessor for one path text and the data type hl7apy gives what it names."""
        try:
            path = Path.parse(text)
            datatype = self.checker.datatype(path)
        except (PathProblem, ValueError) as problem:
            raise self.fail(section, name, problem, text) from None
        repetition = 0 if path.repetition is None else path.repetition - 1
        return (path.segment, path.field, path.component, path.subcomponent, repetition), datatype

    def segment(self, section: int, key: str, name: str) -> None:
        try:
            self.checker.check_segment(name)
        except PathProblem as problem:
            line = self.lines.find_in_section(section, key, name)
            raise ConfigError(f"{self.lines.where(line)}: {key}: {problem}") from None

    def entry(self, index: int, spec: EntrySpec) -> EntryRule:
        if spec.each:
            self.segment(index, "each", spec.each)
        elif spec.group:
            raise ConfigError(f"{self.lines.where(self.lines.find_in_section(index, 'group'))}: "
                              f"group: only an entry with `each` has a group")
        for name in spec.group:
            self.segment(index, "group", name)
        for name in [*spec.fields, *spec.types, *spec.require]:
            if name in RESERVED_FIELDS:
                raise self.fail(index, name, f"{sorted(RESERVED_FIELDS)} are reserved names",
                                _written(spec, name))
            if name not in spec.fields:
                raise self.fail(index, name, "is not one of this entry's [fields]",
                                _written(spec, name))
        rules = tuple(self.field(index, name, paths, spec.types.get(name, "text"))
                      for name, paths in spec.fields.items())
        effective = (self.paths(index, "effective_at", spec.effective_at)
                     if spec.effective_at else ())
        conditions = tuple(
            (self.accessor(index, key, condition.path)[0],
             frozenset(value.strip().upper() for value in condition.values), key == "when")
            for key, condition in (("when", spec.when), ("unless", spec.unless))
            if condition is not None)
        rule = EntryRule(spec.kind, spec.each, frozenset(spec.group), spec.required,
                         tuple(spec.require), rules, effective, Confidentiality.NORMAL,
                         conditions=conditions)
        return self.confidentiality(index, spec, rule)

    def field(self, section: int, name: str, spec: PathSpec,
              type_: str | FieldType) -> FieldRule:
        kind = type_ if isinstance(type_, str) else type_.type
        joined = isinstance(type_, FieldType) and type_.all
        if isinstance(type_, FieldType):
            if kind == "varies" and not type_.datatype:
                raise self.fail(section, name, "type varies needs a datatype path "
                                "(datatype = \"OBX-2\")", "varies")
            if kind != "varies" and type_.datatype:
                raise self.fail(section, name, f"datatype is for type varies, not {kind}", kind)
            if joined and kind not in _JOINABLE_TYPES:
                raise self.fail(section, name, f"all = true joins text; type {kind} is not text "
                                f"(use text or varies)", kind)
        texts = [spec] if isinstance(spec, str) else spec
        if not texts:
            raise self.fail(section, name, "an empty list of paths")
        sources = []
        for text in texts:
            accessor, datatype = self.accessor(section, name, text)
            # These are mistakes in the type, so the line to show is where the type is given.
            if kind in _WHOLE_FIELD_TYPES and accessor[2] is not None:
                raise self.fail(section, name, f"type {kind} reads a whole field, not {text}", kind)
            if kind in _TYPE_NEEDS and datatype not in _TYPE_NEEDS[kind]:
                raise self.fail(section, name, f"type {kind} cannot read {text}, which is "
                                f"{datatype} in v{self.spec.version}", kind)
            if kind == "list" and accessor[4]:
                raise self.fail(section, name, f"type list reads every repetition; {text} names "
                                f"one", kind)
            sources.append(accessor)
        if joined and len({source[0] for source in sources}) > 1:
            raise self.fail(section, name, "all = true reads one segment; these paths name "
                            "several", texts[0])
        datatype_source = None
        if isinstance(type_, FieldType) and type_.datatype:
            datatype_source = self.accessor(section, name, type_.datatype)[0]
        return FieldRule(name, tuple(sources), kind, datatype_source, joined)

    def confidentiality(self, index: int, spec: EntrySpec, rule: EntryRule) -> EntryRule:
        level = spec.confidentiality
        if not isinstance(level, ConfidentialityRule):
            return replace(rule, confidentiality=Confidentiality(level))
        source = self.accessor(index, "confidentiality", level.path)[0]
        table = tuple((code.strip().upper(), Confidentiality(value))
                      for code, value in level.map.items())
        return replace(rule, confidentiality=Confidentiality(level.default),
                       confidentiality_source=source, confidentiality_map=table,
                       confidentiality_unknown=Confidentiality(level.unknown))


def _written(spec: EntrySpec, name: str) -> str:
    """The text a name was given in an entry (its first path, else its type), to find its line."""
    paths = spec.fields.get(name)
    if paths:
        return paths if isinstance(paths, str) else paths[0]
    type_ = spec.types.get(name)
    return type_ if isinstance(type_, str) else ""
