"""Checks mapping paths against the HL7 v2 structures hl7apy knows, at load time, never per message.

hl7apy's reference of a segment is ("sequence", fields); each field is
(name, (kind, children, datatype, long name, table, max length), (min, max repetitions), "FIE"),
and a composite's children are components of the same shape. That is all we read of it.
"""
from __future__ import annotations

from collections.abc import Mapping as MappingABC
from typing import Any

import hl7apy  # type: ignore[import-untyped]  # hl7apy ships no type information
from hl7apy.exceptions import ChildNotFound, HL7apyException  # type: ignore[import-untyped]

from hub.hl7.path import Path

_VARIES = "varies"
# hl7apy's references are nested tuples of mixed shapes (see the module docstring).
Reference = tuple[Any, ...]


class PathProblem(ValueError):
    """A path that does not fit the HL7 structure; the text says why, without any message data."""


class StructureChecker:
    """Knows one HL7 version's segments (plus declared Z-segments) and checks paths against them."""

    def __init__(self, version: str, custom_segments: MappingABC[str, int]) -> None:
        try:
            hl7apy.load_library(version)
        except HL7apyException:
            raise PathProblem(f"HL7 version {version!r} is not one hl7apy knows") from None
        for name, count in custom_segments.items():
            if not (len(name) == 3 and name.startswith("Z") and name.isalnum() and name.isupper()):
                raise PathProblem(f"custom segment {name!r} is not a Z-segment name (like ZBE)")
            if count < 1:
                raise PathProblem(f"custom segment {name} must declare at least 1 field")
        self.version = version
        self._custom = dict(custom_segments)
        self._segments: dict[str, Reference] = {}

    def _fields(self, segment: str) -> Reference | None:
        """hl7apy's field references of a standard segment, or None when it has no such segment."""
        if segment not in self._segments:
            try:
                reference = hl7apy.load_reference(segment, "Segment", self.version)
            except (ChildNotFound, KeyError):
                return None
            self._segments[segment] = tuple(reference[1])
        return self._segments[segment]

    def check_segment(self, segment: str) -> None:
        """Raise PathProblem unless the segment is in this version or a declared Z-segment."""
        if segment in self._custom or self._fields(segment) is not None:
            return
        hint = " (declare it under [custom_segments])" if segment.startswith("Z") else ""
        raise PathProblem(f"segment {segment} does not exist in v{self.version}{hint}")

    def datatype(self, path: Path) -> str:
        """Check a path and return the data type of what it names ("" for a Z-segment's fields).

        Raises PathProblem naming the path and what exists instead.
        """
        self.check_segment(path.segment)
        if path.segment in self._custom:
            count = self._custom[path.segment]
            if path.field > count:
                raise PathProblem(f"{path} does not exist ({path.segment} is declared with "
                                  f"{count} fields)")
            return ""
        fields = self._fields(path.segment) or ()
        if path.field > len(fields):
            raise PathProblem(f"{path} does not exist ({path.segment} has {len(fields)} fields "
                              f"in v{self.version})")
        _, (kind, children, datatype, *_), (_, max_repeats), _ = fields[path.field - 1]
        where = f"{path.segment}-{path.field}"
        if path.repetition is not None and path.repetition > 1 and max_repeats == 1:
            raise PathProblem(f"{path} does not exist ({where} does not repeat in v{self.version})")
        for number, noun in ((path.component, "components"), (path.subcomponent, "subcomponents")):
            if number is None:
                break
            kind, children, datatype = self._child(where, kind, children, datatype, number, noun)
            where += f".{number}"
        return str(datatype)

    def _child(self, where: str, kind: str, children: Reference | None, datatype: str,
               number: int, noun: str) -> tuple[str, Reference | None, str]:
        """The component (or subcomponent) `number` of an element, as (kind, children, datatype)."""
        if datatype == _VARIES:
            return kind, None, _VARIES   # its real type is only known per message (OBX-2)
        if kind == "leaf" or not children:
            if number == 1:
                return kind, None, datatype  # X.1 of a primitive is the primitive itself
            raise PathProblem(f"{where}.{number} does not exist ({where} is {datatype}, which has "
                              f"no {noun} in v{self.version})")
        if number > len(children):
            raise PathProblem(f"{where}.{number} does not exist ({where} is {datatype} with "
                              f"{len(children)} {noun} in v{self.version})")
        _, (kind, children, datatype, *_), *_ = children[number - 1]
        return kind, children, datatype
