"""Field paths such as "PID-3", "PID-5.1", "OBX-3.1.2" and "PID-3[2].1" (the terse HL7 notation).

Every number is 1-based, as in HL7 texts, including the repetition in brackets: "PID-3[2]" is the
second repetition of PID-3. `Path.repetition` keeps that 1-based number (None: the first).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_NUMBER = r"([1-9][0-9]*)"
_PATH = re.compile(
    rf"([A-Z][A-Z0-9]{{2}})-{_NUMBER}(?:\[{_NUMBER}\])?(?:\.{_NUMBER}(?:\.{_NUMBER})?)?"
)


@dataclass(frozen=True, slots=True)
class Path:
    """The location of a value: segment, field, and optionally repetition, component, subcomponent.

    All numbers are 1-based. `component` None means the whole repetition; `subcomponent` None
    the whole component; `repetition` None the first repetition.
    """

    segment: str
    field: int
    component: int | None = None
    subcomponent: int | None = None
    repetition: int | None = None

    def __post_init__(self) -> None:
        numbers = (self.field, self.component, self.subcomponent, self.repetition)
        if any(number is not None and number < 1 for number in numbers):
            raise ValueError(f"HL7 path numbers start at 1: {self}")
        if self.subcomponent is not None and self.component is None:
            raise ValueError(f"HL7 path has a subcomponent but no component: {self}")

    @classmethod
    def parse(cls, text: str) -> Path:
        """Read a path like "PID-3[2].1"; raise ValueError naming the text when it is malformed."""
        match = _PATH.fullmatch(text)
        if match is None:
            raise ValueError(f"not an HL7 path (expected like PID-3[2].1.1): {text!r}")
        segment, field, repetition, component, subcomponent = match.groups()
        return cls(
            segment,
            int(field),
            None if component is None else int(component),
            None if subcomponent is None else int(subcomponent),
            None if repetition is None else int(repetition),
        )

    def __str__(self) -> str:
        text = f"{self.segment}-{self.field}"
        if self.repetition is not None:
            text += f"[{self.repetition}]"
        if self.component is not None:
            text += f".{self.component}"
            if self.subcomponent is not None:
                text += f".{self.subcomponent}"
        return text
