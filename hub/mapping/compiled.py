"""A mapping's rules compiled once into plain functions of the context (segment name → segment).

Mapping a 10-OBX report reads some 150 values; dispatching on each field's type, unpacking its
accessors and walking its sources at every read cost more than the reads. Here each field
becomes one function chosen for its type and sources when the mapping is first used, so the
mapper (hub/mapping/mapper.py) calls one function per field; and what an entry reads of its
`each` segment (an OBX: OBX-2, OBX-3.1, .2, .3 …) is read in one pass per occurrence (Slots).
A reader returns the field's first non-empty value, "" when there is none, or raises
MappingError naming the field and the path, never a value.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hub.errors import MappingError
from hub.hl7.message import Segment, Wanted
from hub.mapping import values as hl7_values
from hub.mapping.spec import Accessor, EntryRule, FieldRule, Mapping
from hub.mapping.values import NULL

Context = dict[str, Segment]
# A reader takes the context and what was read from the current `each` segment in one pass
# (Slots below; [] when there is none).
Reader = Callable[[Context, list[str]], Any]
TextReader = Callable[[Context, list[str]], str]


class Slots:
    """The values an entry reads from its `each` segment, numbered as its readers are compiled,
    then read once per occurrence in one pass (`Segment.values`) rather than one read each."""

    def __init__(self, each: str | None) -> None:
        self.each = each
        self.slots: dict[tuple[int, int | None, int | None, int], int] = {}

    def slot(self, accessor: Accessor) -> int | None:
        """The slot of a value of the `each` segment; None for another segment's."""
        name, number, component, subcomponent, repetition = accessor
        if name != self.each:
            return None
        return self.slots.setdefault((number, component, subcomponent, repetition),
                                     len(self.slots))

    def wanted(self) -> Wanted:
        """The slots by field and repetition, as `Segment.values` takes them."""
        by_field: dict[tuple[int, int], list[tuple[int, int | None, int | None]]] = {}
        for (number, component, subcomponent, repetition), slot in self.slots.items():
            by_field.setdefault((number, repetition), []).append((slot, component, subcomponent))
        return tuple((number, repetition, tuple(reads))
                     for (number, repetition), reads in by_field.items())


_NO_SLOTS = Slots(None)
_MUTABLE = frozenset({"xcn", "pl", "list"})


@dataclass(frozen=True, slots=True)
class CompiledField:
    """One output field: its name, its reader, and whether it joins every occurrence of its
    segment (`all`, read by the mapper) or reads no `each` segment (`outside`: the same value
    for every occurrence of `each` in one context)."""

    name: str
    read: Reader
    all: bool
    outside: bool
    segment: str          # the segment of its first source (what `all` walks)
    mutable: bool         # xcn/pl give dicts, list a list: each entry needs a copy of its own
    # A text read only from the `each` segment: the slots of its sources, which the mapper
    # reads itself (the first one neither empty nor HL7 null), calling no reader; else None.
    slots: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class CompiledEntry:
    """An entry rule's readers, beside the rule itself."""

    rule: EntryRule
    conditions: tuple[tuple[TextReader, frozenset[str], bool], ...]   # read value by value
    wanted: Wanted                       # what its fields read from each occurrence of `each`
    slot_count: int
    fields: tuple[CompiledField, ...]
    effective_at: tuple[tuple[TextReader, Accessor], ...]
    level_source: TextReader | None      # the confidentiality field, when read from the message
    level_outside: bool                  # that field reads no `each` segment


@dataclass(frozen=True, slots=True)
class CompiledMapping:
    """A mapping's readers: its patient fields by name, and its entries."""

    mapping: Mapping
    patient: tuple[tuple[str, Reader], ...]
    entries: tuple[CompiledEntry, ...]
    # The entries in order, consecutive ones made for each occurrence of the same segment in
    # the same groups (an ORU's lab results and documents, one per OBX) run together: the
    # mapper walks the message once for them all.
    runs: tuple[tuple[CompiledEntry, ...], ...] = ()


_COMPILED: dict[int, CompiledMapping] = {}


def compiled(mapping: Mapping) -> CompiledMapping:
    """The mapping's readers, compiled on first use. Kept by the mapping's id (hashing a
    mapping walks all its tuples), with the mapping, so that the id stays its own."""
    known = _COMPILED.get(id(mapping))
    if known is not None and known.mapping is mapping:
        return known
    entries = tuple(_entry(rule) for rule in mapping.entries)
    result = CompiledMapping(
        mapping,
        tuple((rule.name, field_reader(rule, "patient")) for rule in mapping.patient),
        entries, _runs(entries))
    if len(_COMPILED) > 256:  # mappings reloaded many times over: start afresh
        _COMPILED.clear()
    _COMPILED[id(mapping)] = result
    return result


def _runs(entries: tuple[CompiledEntry, ...]) -> tuple[tuple[CompiledEntry, ...], ...]:
    """The entries cut into runs (CompiledMapping.runs): an entry without `each` alone."""
    runs: list[list[CompiledEntry]] = []
    for plan in entries:
        rule = plan.rule
        if runs and rule.each is not None and any(
                rule.each == other.rule.each and rule.group == other.rule.group
                for other in runs[-1][:1]):
            runs[-1].append(plan)
        else:
            runs.append([plan])
    return tuple(tuple(run) for run in runs)


def _entry(rule: EntryRule) -> CompiledEntry:
    each = rule.each
    slots = Slots(each)
    # `all` joins every occurrence of its segment, each read in a context of its own.
    fields = tuple(
        CompiledField(f.name, field_reader(f, rule.kind, _NO_SLOTS if f.all else slots), f.all,
                      not f.all and all(a[0] != each for a in f.sources)
                      and (f.datatype is None or f.datatype[0] != each),
                      f.sources[0][0], f.type in _MUTABLE, _text_slots(f, slots))
        for f in rule.fields)
    effective_at = tuple((text_reader(accessor, slots, first_component=True), accessor)
                         for accessor in rule.effective_at)
    source = rule.confidentiality_source
    level_source = None if source is None else text_reader(source, slots)
    return CompiledEntry(
        rule,
        # Read before the slots: an entry whose condition fails reads nothing else.
        tuple((text_reader(accessor, _NO_SLOTS), codes, wanted)
              for accessor, codes, wanted in rule.conditions),
        slots.wanted(), len(slots.slots),
        fields, effective_at, level_source,
        source is None or source[0] != each)


def _text_slots(rule: FieldRule, slots: Slots) -> tuple[int, ...] | None:
    """The slots of a text field whose sources are all on the `each` segment (taken by its
    reader, compiled just before), or None."""
    if rule.all or rule.type != "text" or any(a[0] != slots.each for a in rule.sources):
        return None
    found = []
    for accessor in rule.sources:
        slot = slots.slot(accessor)
        if slot is None:
            return None
        found.append(slot)
    return tuple(found)


def text_reader(accessor: Accessor, slots: Slots = _NO_SLOTS,
                first_component: bool = False) -> TextReader:
    """The text at an accessor ("" when absent or HL7 null); a whole field reads its first
    component when `first_component` (a TS field is its time, TS.1). A value of the `each`
    segment comes from its slot."""
    name, number, component, subcomponent, repetition = accessor
    if component is None and first_component:
        component = 1
    slot = slots.slot((name, number, component, subcomponent, repetition))
    if slot is not None:
        def from_slot(context: Context, texts: list[str]) -> str:
            text = texts[slot]
            return "" if text == NULL else text
        return from_slot

    def read(context: Context, texts: list[str]) -> str:
        segment = context.get(name)
        if segment is None:
            return ""
        text = segment.value(number, component, subcomponent, repetition)
        return "" if text == NULL else text
    return read


def field_reader(rule: FieldRule, kind: str, slots: Slots = _NO_SLOTS) -> Reader:
    """The first non-empty value of a field's sources, converted to the field's type; "" when
    every source is empty."""
    sources = tuple(_source(rule, accessor, kind, slots) for accessor in rule.sources)
    if len(sources) == 1:
        return sources[0]

    def read(context: Context, texts: list[str]) -> Any:
        for source in sources:
            value = source(context, texts)
            if value:
                return value
        return ""
    return read


def _source(rule: FieldRule, accessor: Accessor, kind: str, slots: Slots) -> Reader:
    """One source of a field: its converted value, or "" when it is empty."""
    type_ = rule.type
    if type_ == "text":
        return text_reader(accessor, slots)
    if type_ in ("timestamp", "date"):
        return _converted(rule, accessor, kind, slots, first_component=True)
    if type_ == "number":
        return _converted(rule, accessor, kind, slots, first_component=False)
    return _structured(rule, accessor, slots)


def _converted(rule: FieldRule, accessor: Accessor, kind: str, slots: Slots,
               first_component: bool) -> Reader:
    type_ = rule.type
    text_at = text_reader(accessor, slots, first_component)
    convert: Callable[[str], Any]
    if type_ == "timestamp":
        convert, noun = hl7_values.iso_timestamp, "an HL7 timestamp"
    elif type_ == "date":
        convert, noun = hl7_values.iso_date, "an HL7 date"
    else:
        convert, noun = hl7_values.number, "a number"
    problem = f"{kind}: field \"{rule.name}\": {path_of(accessor)} is not {noun}"

    def read(context: Context, texts: list[str]) -> Any:
        text = text_at(context, texts)
        if not text:
            return ""
        value = convert(text)
        if value is None:
            raise MappingError(problem)
        return value or ""
    return read


def _structured(rule: FieldRule, accessor: Accessor, slots: Slots) -> Reader:
    """Values read from the segment itself: xcn, pl, list and varies."""
    name, number, component, subcomponent, repetition = accessor
    if rule.type in ("xcn", "pl"):
        person_or_place = hl7_values.xcn if rule.type == "xcn" else hl7_values.pl

        def read(context: Context, texts: list[str]) -> Any:
            segment = context.get(name)
            return "" if segment is None else person_or_place(segment, number, repetition) or ""
        return read
    if rule.type == "list":
        def read_list(context: Context, texts: list[str]) -> Any:
            segment = context.get(name)
            if segment is None:
                return ""
            values = (segment.value(number, component, subcomponent, index)
                      for index in range(len(segment.repetitions(number))))
            return [value for value in values if value and value != NULL] or ""
        return read_list
    datatype_at = text_reader(rule.datatype, slots) if rule.datatype else None

    def read_varies(context: Context, texts: list[str]) -> Any:
        segment = context.get(name)
        if segment is None:
            return ""
        datatype = datatype_at(context, texts) if datatype_at else ""
        return hl7_values.varies(segment, number, datatype)
    return read_varies


def path_of(accessor: Accessor) -> str:
    """The accessor as a path ("OBX-14", "PID-3[2].1") for error messages."""
    segment, number, component, subcomponent, repetition = accessor
    text = f"{segment}-{number}" + (f"[{repetition + 1}]" if repetition else "")
    if component is not None:
        text += f".{component}" + (f".{subcomponent}" if subcomponent is not None else "")
    return text
