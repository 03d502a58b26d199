"""Applies a compiled mapping to a parsed message: demographics and dossier entries. Hot path.

Pure: no I/O, no hl7apy, nothing kept between calls. Every rule is already a tuple of indexes
(see `hub.mapping.spec`), so mapping a message is a walk over its segments and direct reads.
Errors name the entry kind, the field and the path, never a value: values are patient data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub.domain.consent import stricter
from hub.domain.models import Confidentiality, Entry, Patient
from hub.errors import MappingError
from hub.hl7.message import Message, Segment
from hub.mapping import values as hl7_values
from hub.mapping.values import NULL
from hub.mapping.sensitive import SensitiveCodes
from hub.mapping.spec import Accessor, EntryRule, FieldRule, Mapping

Context = dict[str, Segment]


@dataclass
class Mapped:
    """What one message maps to. `patient.matricule` is "": identity is the caller's business."""

    patient: Patient | None
    entries: list[Entry] = field(default_factory=list)


_NONE = SensitiveCodes()


def map_message(msg: Message, mapping: Mapping, sensitive: SensitiveCodes = _NONE) -> Mapped:
    """Map one message with one mapping; raise MappingError naming the field when it cannot.
    An entry read from segments that carry one of the `sensitive` codes is restricted at
    least."""
    first: Context = {}
    for segment in msg.segments:
        first.setdefault(segment.name, segment)
    patient = _patient(mapping, first)
    entries: list[Entry] = []
    for rule in mapping.entries:
        if rule.each is None:
            if not _applies(rule, first):
                continue
            entry = _entry(rule, first, msg, sensitive)
            if entry is not None:
                entries.append(entry)
            elif rule.required:
                raise MappingError(f"{rule.kind}: every field is empty, and the mapping requires "
                                   f"this entry")
        else:
            _each(rule, msg, entries, sensitive)
    return Mapped(patient, entries)


def _applies(rule: EntryRule, context: Context) -> bool:
    """Whether the entry's `when`/`unless` conditions let it be made from this context."""
    for accessor, codes, wanted in rule.conditions:
        if (_read(context, accessor).strip().upper() in codes) != wanted:
            return False
    return True


def _each(rule: EntryRule, msg: Message, out: list[Entry], sensitive: SensitiveCodes) -> None:
    """One entry per occurrence of `rule.each`, reading other segments from the nearest before it.

    Segments of `rule.group` (say ORC and OBR) are forgotten whenever a new run of them starts,
    so an order group without an ORC does not borrow the previous group's.
    """
    group = rule.group
    context: Context = {}
    # Values of the fields read from other segments only (ORC-12, OBR-4...), kept while the
    # context holds the same ones: ten OBX of one order read their order's fields once.
    shared: dict[int, Any] = {}
    outside = _outside_each(rule)
    previous_in_group = False
    found = 0
    for segment in msg.segments:
        name = segment.name
        in_group = name in group
        if in_group and not previous_in_group:
            for member in group:
                context.pop(member, None)
            shared.clear()
        previous_in_group = in_group
        context[name] = segment
        if name == rule.each:
            found += 1
            if not _applies(rule, context):
                continue
            entry = _entry(rule, context, msg, sensitive, shared, outside)
            if entry is not None:
                out.append(entry)
        elif shared:
            shared.clear()  # another segment came into the context: read again
    if not found and rule.required:
        raise MappingError(f"{rule.kind}: no {rule.each} segment, and the mapping requires one")


_OUTSIDE: dict[int, tuple[EntryRule, frozenset[int]]] = {}


def _outside_each(rule: EntryRule) -> frozenset[int]:
    """The indexes of the rule's fields that read no `each` segment (sources and data type):
    their value is the same for every occurrence of `each` in one context. Kept by the rule's
    id (hashing a rule walks all its tuples), with the rule, so that the id stays its own."""
    known = _OUTSIDE.get(id(rule))
    if known is not None and known[0] is rule:
        return known[1]
    outside = frozenset(
        n for n, f in enumerate(rule.fields)
        if not f.all and all(a[0] != rule.each for a in f.sources)
        and (f.datatype is None or f.datatype[0] != rule.each))
    if len(_OUTSIDE) > 256:  # mappings reloaded many times over: start afresh
        _OUTSIDE.clear()
    _OUTSIDE[id(rule)] = (rule, outside)
    return outside


def _entry(rule: EntryRule, context: Context, msg: Message, sensitive: SensitiveCodes,
           shared: dict[int, Any] | None = None,
           outside: frozenset[int] = frozenset()) -> Entry | None:
    payload: dict[str, Any] = {}
    for n, field_rule in enumerate(rule.fields):
        if field_rule.all:
            value = _joined(field_rule, context, msg, rule.kind)
        elif shared is not None and n in outside:
            if n in shared:
                value = _copy(shared[n])
            else:
                value = shared[n] = _field(field_rule, context, rule.kind)
                value = _copy(value)
        else:
            value = _field(field_rule, context, rule.kind)
        if value:
            payload[field_rule.name] = value
    for name in rule.require:
        if name not in payload:
            raise MappingError(f"{rule.kind}: field \"{name}\" is empty and the mapping requires "
                               f"it")
    if not payload:
        return None
    effective_at = None
    for accessor in rule.effective_at:
        text = _read(context, accessor, first_component=True)
        if text:
            effective_at = hl7_values.iso_timestamp(text)
            if effective_at is None:
                raise MappingError(f"{rule.kind}: effective_at: {_path(accessor)} is not an HL7 "
                                   f"timestamp")
            break
    source = rule.confidentiality_source
    if shared is not None and (source is None or source[0] != rule.each):
        # ORC-28 is the order's: read once for its OBX too (-1 is no field's index)
        level = shared[-1] if -1 in shared else shared.setdefault(-1, _level(rule, context))
    else:
        level = _level(rule, context)
    if sensitive.matches(context):
        level = stricter(level, Confidentiality.RESTRICTED)
    return Entry(rule.kind, payload, level, effective_at)


def _copy(value: Any) -> Any:
    """A value of its own for each entry: xcn/pl give flat dicts, list a list of strings."""
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value


def _level(rule: EntryRule, context: Context) -> Confidentiality:
    """The sender's confidentiality: the rule's constant, or its field read through its map; an
    empty field gives the default, a code the map does not know the rule's `unknown`
    (restricted unless the mapping says otherwise: fail closed)."""
    if rule.confidentiality_source is None:
        return rule.confidentiality
    code = _read(context, rule.confidentiality_source).strip().upper()
    if not code:
        return rule.confidentiality
    for known, level in rule.confidentiality_map:
        if known == code:
            return level
    return rule.confidentiality_unknown


def _patient(mapping: Mapping, first: Context) -> Patient | None:
    """Demographics; a value that does not convert (a birth date "DOB") is left out rather than
    holding up the message: the matricule identifies the patient, not these fields."""
    values = {rule.name: _lenient_field(rule, first) for rule in mapping.patient}
    if not any(values.values()):
        return None
    return Patient(matricule="", **values)


def _lenient_field(rule: FieldRule, context: Context) -> Any:
    try:
        return _field(rule, context, "patient")
    except MappingError:
        return ""


def _read(context: Context, accessor: Accessor, first_component: bool = False) -> str:
    """The text at an accessor ("" when absent or HL7 null); a whole field reads its first
    component when `first_component` (a TS field is its time, TS.1)."""
    segment = context.get(accessor[0])
    if segment is None:
        return ""
    _, number, component, subcomponent, repetition = accessor
    if component is None and first_component:
        component = 1
    text = segment.value(number, component, subcomponent, repetition)
    return "" if text == NULL else text


def _joined(rule: FieldRule, context: Context, msg: Message, kind: str) -> str:
    """A field read from every occurrence of its segment, in message order, joined by a line
    break; each occurrence reads its own other fields (OBX-2 for its OBX-5)."""
    name = rule.sources[0][0]
    values = []
    for segment in msg.segments_named(name):
        value = _field(rule, {**context, name: segment}, kind)
        if value:
            values.append(value)
    return "\n".join(values)


def _field(rule: FieldRule, context: Context, kind: str) -> Any:
    """The first non-empty value of a field's sources, converted to the field's type."""
    type_ = rule.type
    for accessor in rule.sources:
        if type_ == "text":
            value: Any = _read(context, accessor)
        elif type_ in ("timestamp", "date"):
            text = _read(context, accessor, first_component=True)
            if not text:
                continue
            convert = hl7_values.iso_timestamp if type_ == "timestamp" else hl7_values.iso_date
            value = convert(text)
            if value is None:
                raise MappingError(f"{kind}: field \"{rule.name}\": {_path(accessor)} is not an "
                                   f"HL7 {'timestamp' if type_ == 'timestamp' else 'date'}")
        elif type_ == "number":
            text = _read(context, accessor)
            if not text:
                continue
            value = hl7_values.number(text)
            if value is None:
                raise MappingError(f"{kind}: field \"{rule.name}\": {_path(accessor)} is not a "
                                   f"number")
        else:
            value = _structured(rule, context, accessor)
        if value:
            return value
    return ""


def _structured(rule: FieldRule, context: Context, accessor: Accessor) -> Any:
    """Values read from the segment itself: xcn, pl, list and varies."""
    segment = context.get(accessor[0])
    if segment is None:
        return ""
    _, number, component, subcomponent, repetition = accessor
    if rule.type == "xcn":
        return hl7_values.xcn(segment, number, repetition)
    if rule.type == "pl":
        return hl7_values.pl(segment, number, repetition)
    if rule.type == "list":
        values = (segment.value(number, component, subcomponent, index)
                  for index in range(len(segment.repetitions(number))))
        return [value for value in values if value and value != NULL]
    datatype = _read(context, rule.datatype) if rule.datatype else ""
    return hl7_values.varies(segment, number, datatype)


def _path(accessor: Accessor) -> str:
    segment, number, component, subcomponent, repetition = accessor
    text = f"{segment}-{number}" + (f"[{repetition + 1}]" if repetition else "")
    if component is not None:
        text += f".{component}" + (f".{subcomponent}" if subcomponent is not None else "")
    return text
