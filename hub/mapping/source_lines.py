"""Finds where in a mapping file a key or a path was written, so errors can name the line.

tomllib returns plain data without positions; searching the text for the key or the quoted path
within the right section (`[patient]`, or the n-th `[[entries]]`) is exact enough for a person
to find the mistake, and it needs no TOML parser of our own.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from pydantic import ValidationError

PATIENT = -1   # section number of [patient]; entries are numbered from 0
WHOLE_FILE = -2
_ENTRY_HEADER = re.compile(r"\s*\[\[\s*entries\s*\]\]")
_HEADER = re.compile(r"\s*\[")
# Names pydantic adds to an error's location for the member of a union it tried.
_UNION_TAGS = {"str", "int", "bool", "VariesType", "FieldType", "Condition",
               "ConfidentialityRule"}
_FIELD_CONTAINERS = {"fields", "types", "patient"}


class SourceLines:
    """The text of one mapping file, searchable by section, key and quoted value."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.lines = text.splitlines()

    def where(self, line: int) -> str:
        """`FILE:LINE`, or just `FILE` when the line is unknown (0)."""
        return f"{self.name}:{line}" if line else self.name

    def _bounds(self, section: int) -> tuple[int, int]:
        """0-based [start, end) of a section's lines; the whole file when it cannot be found."""
        if section == WHOLE_FILE:
            return 0, len(self.lines)
        if section == PATIENT:
            starts = [i for i, line in enumerate(self.lines)
                      if re.match(r"\s*\[\s*patient\s*\]", line)]
        else:
            starts = [i for i, line in enumerate(self.lines) if _ENTRY_HEADER.match(line)]
        if section >= len(starts) or (section == PATIENT and not starts):
            return 0, len(self.lines)
        start = starts[0 if section == PATIENT else section]
        end = start + 1
        while end < len(self.lines):
            line = self.lines[end]
            if _ENTRY_HEADER.match(line) or (section == PATIENT and _HEADER.match(line)):
                break
            end += 1
        return start, end

    def _first(self, start: int, end: int, test: Callable[[str], object]) -> int:
        for number in range(start, end):
            if test(self.lines[number]):
                return number + 1
        return 0

    def find_in_section(self, section: int, key: str, needle: str = "") -> int:
        """The 1-based line where `key` is given `needle` in a section (best effort), else 0."""
        start, end = self._bounds(section)
        key_pattern = re.compile(rf'(?:^|[\s.{{,\[])"?{re.escape(key)}"?\s*(?:=|\]|\.)')
        quoted = f'"{needle}"'
        has_key = key_pattern.search
        candidates: list[Callable[[str], object]] = []
        if needle:
            candidates.append(lambda line: has_key(line) and quoted in line)
            candidates.append(lambda line: quoted in line)
        candidates.append(has_key)
        for test in candidates:
            found = self._first(start, end, test)
            if found:
                return found
        return start + 1 if section != WHOLE_FILE and end > start else 0

    def find_key(self, key: str) -> int:
        """The first line where `key` is set, anywhere in the file; 0 when it is not written."""
        return self.find_in_section(WHOLE_FILE, key)

    def find_text(self, text: str) -> int:
        """The first line holding `text` in quotes, anywhere in the file; 0 when there is none."""
        return self._first(0, len(self.lines), lambda line: f'"{text}"' in line)

    def pydantic_problem(self, error: ValidationError) -> str:
        """The first validation error as `FILE:LINE: field "NAME": what is wrong`."""
        first = error.errors()[0]
        loc = [part for part in first["loc"]
               if not (isinstance(part, str) and (part in _UNION_TAGS or "[" in part))]
        section = WHOLE_FILE
        if loc[:1] == ["entries"] and len(loc) > 1 and isinstance(loc[1], int):
            section = loc[1]
        elif loc[:1] == ["patient"]:
            section = PATIENT
        names = [part for part in loc if isinstance(part, str)]
        key = names[-1] if names else ""
        label = "field" if _FIELD_CONTAINERS & set(names[:-1]) else "key"
        if first["type"] == "extra_forbidden":
            problem = "unknown key (not part of the mapping format)"
        elif first["type"] == "missing":
            problem = "is missing"
        else:
            problem = first["msg"]
        line = self.find_in_section(section, key) if key else 0
        return f"{self.where(line)}: {label} \"{key}\": {problem}"
