"""Applies a compiled mapping to a parsed message: demographics and dossier entries. Hot path.

Pure: no I/O, no hl7apy, nothing kept between calls but each mapping's compiled readers
(`hub.mapping.compiled`), so mapping a message is a walk over its segments and one call per field.
Errors name the entry kind, the field and the path, never a value: values are patient data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub.domain.consent import stricter
from hub.domain.models import Confidentiality, Entry, Patient
from hub.errors import MappingError
from hub.hl7.message import Message
from hub.mapping import values as hl7_values
from hub.mapping.compiled import (CompiledEntry, CompiledField, CompiledMapping, Context, Reader,
                                  compiled, path_of)
from hub.mapping.sensitive import SensitiveCodes
from hub.mapping.spec import Mapping
from hub.mapping.values import NULL


@dataclass
class Mapped:
    """What one message maps to. `patient.matricule` is "": identity is the caller's business."""

    patient: Patient | None
    entries: list[Entry] = field(default_factory=list)


_NONE = SensitiveCodes()
_NO_TEXTS: list[str] = []   # what an entry not made for each occurrence of a segment reads


def map_message(msg: Message, mapping: Mapping, sensitive: SensitiveCodes = _NONE) -> Mapped:
    """Map one message with one mapping; raise MappingError naming the field when it cannot.
    An entry read from segments that carry one of the `sensitive` codes is restricted at
    least."""
    plan = compiled(mapping)
    first: Context = {}
    for segment in msg.segments:
        first.setdefault(segment.name, segment)
    patient = _patient(plan, first)
    entries: list[Entry] = []
    for run in plan.runs:
        entry_plan = run[0]
        rule = entry_plan.rule
        if rule.each is None:
            if not _applies(entry_plan, first):
                continue
            entry = _entry(entry_plan, first, msg, sensitive)
            if entry is not None:
                entries.append(entry)
            elif rule.required:
                raise MappingError(f"{rule.kind}: every field is empty, and the mapping requires "
                                   f"this entry")
        else:
            _each(run, msg, entries, sensitive)
    return Mapped(patient, entries)


def _applies(plan: CompiledEntry, context: Context) -> bool:
    """Whether the entry's `when`/`unless` conditions let it be made from this context."""
    for read, codes, wanted in plan.conditions:
        if (read(context, _NO_TEXTS).strip().upper() in codes) != wanted:
            return False
    return True


def _each(plans: tuple[CompiledEntry, ...], msg: Message, out: list[Entry],
          sensitive: SensitiveCodes) -> None:
    """One entry per occurrence of `rule.each`, reading other segments from the nearest before it.

    Segments of `rule.group` (say ORC and OBR) are forgotten whenever a new run of them starts,
    so an order group without an ORC does not borrow the previous group's.

    `plans` share `each` and `group` (CompiledMapping.runs), so they see the same contexts: one
    walk serves them all. Each gives what it would alone, its entries after those of the plans
    before it, and the first plan (in order) that fails raises what it would alone: a plan's
    first error ends that plan only, and is raised once the plans before it are done.
    """
    first = plans[0].rule
    group, each = first.group, first.each
    context: Context = {}
    # Values of the fields read from other segments only (ORC-12, OBR-4...), kept while the
    # context holds the same ones: ten OBX of one order read their order's fields once.
    shared: list[dict[int, Any]] = [{} for _ in plans]
    made: list[list[Entry]] = [[] for _ in plans]
    errors: list[Exception | None] = [None] * len(plans)
    live = list(range(len(plans)))   # the plans not failed yet
    previous_in_group = False
    found = 0
    for segment in msg.segments:
        name = segment.name
        in_group = name in group
        if in_group and not previous_in_group:
            for member in group:
                context.pop(member, None)
            for values in shared:
                values.clear()
        previous_in_group = in_group
        context[name] = segment
        if name == each:
            found += 1
            for n in live:
                plan = plans[n]
                try:
                    if not _applies(plan, context):
                        continue
                    entry = _entry(plan, context, msg, sensitive, shared[n],
                                   segment.values(plan.wanted, plan.slot_count))
                except Exception as exc:  # noqa: BLE001 - raised below, in plan order
                    errors[n] = exc
                    live = [m for m in live if m != n]
                    continue
                if entry is not None:
                    made[n].append(entry)
        else:
            for values in shared:
                values.clear()  # another segment came into the context: read again
    for plan, entries, error in zip(plans, made, errors):
        if error is not None:
            raise error
        rule = plan.rule
        if not found and rule.required:
            raise MappingError(f"{rule.kind}: no {rule.each} segment, and the mapping requires "
                               "one")
        out.extend(entries)


def _entry(plan: CompiledEntry, context: Context, msg: Message, sensitive: SensitiveCodes,
           shared: dict[int, Any] | None = None, texts: list[str] = _NO_TEXTS) -> Entry | None:
    """The entry read from `context`; `texts` is what its fields read from the occurrence of
    `each` it is made for (compiled.Slots)."""
    rule = plan.rule
    payload: dict[str, Any] = {}
    for n, field_plan in enumerate(plan.fields):
        at = field_plan.slots
        if at is not None:
            # A text of the `each` segment, read in one pass already: what its reader returns.
            for slot in at:
                value = texts[slot]
                if value and value != NULL:
                    payload[field_plan.name] = value
                    break
            continue
        if field_plan.all:
            value = _joined(field_plan, context, msg)
        elif shared is not None and field_plan.outside:
            if n in shared:
                value = shared[n]
            else:
                value = shared[n] = field_plan.read(context, texts)
            if field_plan.mutable:
                value = _copy(value)
        else:
            value = field_plan.read(context, texts)
        if value:
            payload[field_plan.name] = value
    for name in rule.require:
        if name not in payload:
            raise MappingError(f"{rule.kind}: field \"{name}\" is empty and the mapping requires "
                               f"it")
    if not payload:
        return None
    effective_at = None
    for read, accessor in plan.effective_at:
        text = read(context, texts)
        if text:
            effective_at = hl7_values.iso_timestamp(text)
            if effective_at is None:
                raise MappingError(f"{rule.kind}: effective_at: {path_of(accessor)} is not an "
                                   f"HL7 timestamp")
            break
    if shared is not None and plan.level_outside:
        # ORC-28 is the order's: read once for its OBX too (-1 is no field's index)
        level = shared[-1] if -1 in shared else shared.setdefault(-1, _level(plan, context,
                                                                             texts))
    else:
        level = _level(plan, context, texts)
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


def _level(plan: CompiledEntry, context: Context, texts: list[str]) -> Confidentiality:
    """The sender's confidentiality: the rule's constant, or its field read through its map; an
    empty field gives the default, a code the map does not know the rule's `unknown`
    (restricted unless the mapping says otherwise: fail closed)."""
    rule = plan.rule
    if plan.level_source is None:
        return rule.confidentiality
    code = plan.level_source(context, texts).strip().upper()
    if not code:
        return rule.confidentiality
    for known, level in rule.confidentiality_map:
        if known == code:
            return level
    return rule.confidentiality_unknown


def _patient(plan: CompiledMapping, first: Context) -> Patient | None:
    """Demographics; a value that does not convert (a birth date "DOB") is left out rather than
    holding up the message: the matricule identifies the patient, not these fields."""
    values = {name: _lenient(read, first) for name, read in plan.patient}
    if not any(values.values()):
        return None
    return Patient(matricule="", **values)


def _lenient(read: Reader, context: Context) -> Any:
    try:
        return read(context, _NO_TEXTS)
    except MappingError:
        return ""


def _joined(field_plan: CompiledField, context: Context, msg: Message) -> str:
    """A field read from every occurrence of its segment, in message order, joined by a line
    break; each occurrence reads its own other fields (OBX-2 for its OBX-5)."""
    name = field_plan.segment
    values = []
    for segment in msg.segments_named(name):
        value = field_plan.read({**context, name: segment}, _NO_TEXTS)
        if value:
            values.append(value)
    return "\n".join(values)
