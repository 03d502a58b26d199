"""A fast, split-based HL7 v2 reader for the hot path.

It knows separators, segments, fields, repetitions, components, subcomponents and escapes, and
nothing about message structures (that is hl7apy's job, off the hot path). A segment's fields are
split only when one of them is first read, so a large message costs little until it is used.

Numbering is HL7's: MSH-1 is the field separator itself, MSH-2 the encoding characters, MSH-3
the first field after them; in any other segment SEG-1 is the first field after the name.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from hub.errors import HL7Error
from hub.hl7.constants import BOM_TEXT
from hub.hl7.escape import unescape
from hub.hl7.path import Path


@dataclass(frozen=True, slots=True)
class Separators:
    """The delimiters of one message, from MSH-1 and MSH-2 (`truncation` is MSH-2's 5th char)."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str | None = None

    @classmethod
    def from_header(cls, header: str) -> Separators:
        """Read the separators from an MSH segment's text; raise HL7Error when they are unusable."""
        if len(header) < 4 or header[3] in "\r\n":
            raise HL7Error("MSH-1: no field separator")
        field = header[3]
        end = header.find(field, 4)
        encoding = header[4:] if end < 0 else header[4:end]
        if len(encoding) not in (4, 5):
            raise HL7Error("MSH-2: encoding characters must be 4 or 5 characters")
        return _checked_separators(field, encoding)


@lru_cache(maxsize=64)  # every message is read with one of a few sets (unusable ones raise)
def _checked_separators(field: str, encoding: str) -> Separators:
    delimiters = field + encoding
    if len(set(delimiters)) != len(delimiters):
        raise HL7Error("MSH-2: encoding characters must differ from each other and MSH-1")
    if any(char.isalnum() or char.isspace() for char in delimiters):
        raise HL7Error("MSH-2: letters, digits and blanks cannot be delimiters")
    return Separators(field, *encoding[:4], encoding[4] if len(encoding) == 5 else None)


class Segment:
    """One segment. Values come back with escapes decoded; anything absent reads as ""."""

    __slots__ = ("text", "name", "_seps", "_fields")

    def __init__(self, text: str, seps: Separators) -> None:
        self.text = text
        end = text.find(seps.field)
        self.name = text if end < 0 else text[:end]
        self._seps = seps
        self._fields: list[str] | None = None

    def __repr__(self) -> str:
        return f"<Segment {self.name}>"  # never the text: it holds patient data

    def _split(self) -> list[str]:
        fields = self.text.split(self._seps.field)
        if self.name == "MSH":
            # MSH-1 is the separator itself, so MSH-n lands at index n as in other segments.
            fields.insert(1, self._seps.field)
        self._fields = fields
        return fields

    def _raw(self, field: int) -> str:
        if field < 1:
            raise ValueError(f"HL7 field numbers start at 1, not {field}")
        fields = self._fields or self._split()
        return fields[field] if field < len(fields) else ""

    def _is_delimiter_field(self, field: int) -> bool:
        return field <= 2 and self.name == "MSH"

    @property
    def is_split(self) -> bool:
        """Whether the fields were cut apart yet: not at parsing, only at the first read."""
        return self._fields is not None

    @property
    def field_count(self) -> int:
        """The number of the last field present (MSH counts MSH-1 and MSH-2)."""
        return len(self._fields or self._split()) - 1

    def repetitions(self, field: int) -> list[str]:
        """The field's repetitions as received (escapes not decoded); [] when it is empty."""
        raw = self._raw(field)
        if not raw:
            return []
        if self._is_delimiter_field(field):
            return [raw]
        return raw.split(self._seps.repetition)

    def decoded_repetitions(self, field: int) -> list[str]:
        """Every repetition of the field as `value(field, repetition=n)` reads it: escapes
        decoded (MSH-1 and MSH-2 as they are); [] when the field is empty. One split for all of
        them, where `value` splits the field again for each."""
        raw = self._raw(field)
        if not raw:
            return []
        if self._is_delimiter_field(field):
            return [raw]
        seps = self._seps
        escape = seps.escape
        if seps.repetition not in raw:
            return [unescape(raw, seps) if escape in raw else raw]
        return [unescape(text, seps) if escape in text else text
                for text in raw.split(seps.repetition)]

    def components(self, field: int, repetition: int = 0) -> list[str]:
        """The components of one repetition (0-based here), escapes decoded; [] when it is empty."""
        reps = self.repetitions(field)
        if repetition >= len(reps) or not reps[repetition]:
            return []
        if self._is_delimiter_field(field):
            return reps
        seps = self._seps
        return [unescape(part, seps) for part in reps[repetition].split(seps.component)]

    def value(
        self,
        field: int,
        component: int | None = None,
        subcomponent: int | None = None,
        repetition: int = 0,
    ) -> str:
        """One value, escapes decoded; "" when absent. `repetition` is 0-based (Python style).

        Without `component` the whole repetition comes back, components and subcomponents joined
        by their separators as received; with `component` but no `subcomponent` the whole
        component. Decoded escapes (\\S\\, \\T\\) then look like real separators, so read with a
        component or `components()` where the structure matters. MSH-1 and MSH-2 come back as is.
        """
        # The mapper's hot path (a hundred reads and more a message): `_raw` and
        # `_is_delimiter_field` are written out here rather than called.
        if repetition < 0:
            raise ValueError(f"repetition indexes start at 0, not {repetition}")
        if field < 1:
            raise ValueError(f"HL7 field numbers start at 1, not {field}")
        fields = self._fields or self._split()
        if field >= len(fields):
            return ""
        raw = fields[field]
        if not raw or (field <= 2 and self.name == "MSH"):
            return raw
        seps = self._seps
        if repetition or seps.repetition in raw:
            reps = raw.split(seps.repetition)
            if repetition >= len(reps):
                return ""
            raw = reps[repetition]
        if component is not None:
            raw = _part(raw, seps.component, component)
            if subcomponent is not None:
                raw = _part(raw, seps.subcomponent, subcomponent)
        elif subcomponent is not None:
            raise ValueError("a subcomponent needs a component")
        return unescape(raw, seps) if seps.escape in raw else raw


    def values(self, wanted: Wanted, count: int) -> list[str]:
        """Many values in one pass, each as `value` reads it: `wanted` lists, per field and
        0-based repetition, the (slot, component, subcomponent) to read there; the result has
        `count` slots. Each field is cut once and its components split once, where `value`
        cuts and splits again for every component (a mapper reads OBX-3.1, .2 and .3)."""
        out = [""] * count
        if self.name == "MSH":  # MSH-1 and MSH-2 read as they are: leave them to `value`
            for field, repetition, reads in wanted:
                for slot, component, subcomponent in reads:
                    out[slot] = self.value(field, component, subcomponent, repetition)
            return out
        fields = self._fields or self._split()
        seps = self._seps
        escape, component_sep = seps.escape, seps.component
        for field, repetition, reads in wanted:
            if field < 1:
                raise ValueError(f"HL7 field numbers start at 1, not {field}")
            raw = fields[field] if field < len(fields) else ""
            if raw and (repetition or seps.repetition in raw):
                reps = raw.split(seps.repetition)
                raw = reps[repetition] if repetition < len(reps) else ""
            if not raw:
                continue
            components: list[str] | None = None
            for slot, component, subcomponent in reads:
                if component is None:
                    text = raw
                else:
                    if components is None:
                        components = raw.split(component_sep)
                    if component < 1:
                        raise ValueError(f"HL7 component numbers start at 1, not {component}")
                    text = components[component - 1] if component <= len(components) else ""
                    if subcomponent is not None:
                        text = _part(text, seps.subcomponent, subcomponent)
                out[slot] = unescape(text, seps) if escape in text else text
        return out


# Per field and 0-based repetition, the (slot, component, subcomponent) to read: Segment.values.
Wanted = tuple[tuple[int, int, tuple[tuple[int, int | None, int | None], ...]], ...]


def _part(text: str, separator: str, number: int) -> str:
    """The 1-based `number`-th part of text split on separator; "" when absent."""
    if number < 1:
        raise ValueError(f"HL7 component numbers start at 1, not {number}")
    if separator not in text:
        return text if number == 1 else ""
    parts = text.split(separator)
    return parts[number - 1] if number <= len(parts) else ""


class Message:
    """A parsed HL7 v2 message: its separators and its segments, in order."""

    __slots__ = ("separators", "segments", "_by_name", "_type")

    def __init__(self, separators: Separators, segments: list[Segment]) -> None:
        self.separators = separators
        self.segments = segments
        self._by_name: dict[str, list[Segment]] | None = None
        self._type: str | None = None

    def __repr__(self) -> str:
        return f"<Message {self.type} {len(self.segments)} segments>"

    @classmethod
    def parse(cls, text: str) -> Message:
        """Read a decoded message. Segments end with CR, LF or CRLF; empty lines are ignored.

        Raises HL7Error when the first segment is not MSH or its delimiters are unusable.
        """
        if "\n" in text:
            text = text.replace("\r\n", "\r").replace("\n", "\r")
        lines = [line for line in text.lstrip(BOM_TEXT).split("\r") if line and not line.isspace()]
        if not lines or not lines[0].startswith("MSH"):
            raise HL7Error("no MSH segment")
        seps = Separators.from_header(lines[0])
        return cls(seps, [Segment(line, seps) for line in lines])

    def _index(self) -> dict[str, list[Segment]]:
        index: dict[str, list[Segment]] = {}
        for segment in self.segments:
            index.setdefault(segment.name, []).append(segment)
        self._by_name = index
        return index

    def segments_named(self, name: str) -> list[Segment]:
        """Every segment with this name, in message order."""
        return list((self._by_name or self._index()).get(name, ()))

    def first(self, name: str) -> Segment | None:
        """The first segment with this name, or None."""
        found = (self._by_name or self._index()).get(name)
        return found[0] if found else None

    def value(self, path: str | Path) -> str:
        """The value at a path such as "PID-5.1" in the first segment of that name; "" if absent.

        The path's repetition is 1-based ("PID-3[2]"); without one the first repetition is read.
        A path without a component gives the whole repetition and one without a subcomponent the
        whole component, as `Segment.value` does: separators kept as received, escapes decoded.
        """
        if isinstance(path, str):
            path = Path.parse(path)
        segment = self.first(path.segment)
        if segment is None:
            return ""
        repetition = 0 if path.repetition is None else path.repetition - 1
        return segment.value(path.field, path.component, path.subcomponent, repetition)

    def _header(self, field: int, component: int | None = None) -> str:
        return self.segments[0].value(field, component)

    @property
    def type(self) -> str:
        """MSH-9.1^MSH-9.2, e.g. "ORU^R01"; only MSH-9.1 (e.g. "ACK") when the event is empty."""
        # Read once: a worker asks it five times a message (interpret, mapping, routes).
        if self._type is not None:
            return self._type
        # Stripped as the listener's sniff reads them: "ORU^R01 " is answered AA as ORU^R01.
        code, event = self._header(9, 1).strip(), self._header(9, 2).strip()
        self._type = f"{code}^{event}" if event else code
        return self._type

    @property
    def structure(self) -> str:
        """MSH-9.3, the message structure (e.g. "ORU_R01"), or ""."""
        return self._header(9, 3).strip()

    @property
    def control_id(self) -> str:
        """MSH-10, the message control id."""
        return self._header(10)

    @property
    def version(self) -> str:
        """MSH-12.1, the version id (e.g. "2.5")."""
        return self._header(12, 1)

    @property
    def sender(self) -> str:
        """The sending application and facility as "APP^FACILITY".

        Each is the first component (HD namespace id) of MSH-3 and MSH-4, or the second (HD
        universal id, e.g. an OID) when a sender leaves the namespace id empty.
        """
        return "^".join(self._header(field, 1) or self._header(field, 2) for field in (3, 4))
