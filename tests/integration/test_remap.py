"""Re-mapping stored messages (hub/ops/remap.py) on real SQLite and PostgreSQL: entries are
corrected in place with the patient's choices kept, added and removed as today's mapping says,
journaled, and a run stopped half-way leaves every message either done or untouched."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from hub.domain.operator import Operator
from hub.domain.audit import AuditAction
from hub.domain.models import Confidentiality
from hub.ops.remap import remap_messages
from hub.store.job_store import JobStore
from hub.store.tables import entries
from tests.fixtures.messages import oru_r01, patient
from tests.fixtures.remap_rows import (POLICY, TODAY, TODAY_UNIT, WITHOUT_ST, WITHOUT_UNIT,
                                          file, mappings_where)


def entries_of(uow_factory, message_id: str):
    with uow_factory() as uow:
        return uow.entries.for_message(message_id)


def with_a_text_result(raw: str) -> str:
    """The ORU with its second OBX a text (ST) result."""
    return raw.replace("OBX|2|NM|", "OBX|2|ST|")


def test_a_missed_field_is_filled_in_place_keeping_the_patients_choices(uow_factory, tmp_path):
    yesterday = mappings_where(tmp_path, *WITHOUT_UNIT)
    person = patient(41)
    message_id = file(uow_factory, yesterday, oru_r01(person, "R1", n_obx=3), 1)
    before = entries_of(uow_factory, message_id)
    assert [e.payload.get("unit") for e in before] == [None] * 3
    with uow_factory() as uow:  # the patient's choices, made since
        uow.entries.set_hidden(before[0].id, True)
        uow.entries.set_confidentiality(before[1].id, Confidentiality.SECRET)
        uow.commit()
    chosen = entries_of(uow_factory, message_id)

    dry = remap_messages(uow_factory, TODAY, POLICY, [message_id], dry_run=True)
    assert dry["changed"] == [{"id": message_id, "updated": 3, "added": 0, "removed": 0}]
    assert entries_of(uow_factory, message_id) == chosen

    done = remap_messages(uow_factory, TODAY, POLICY, [message_id], by=Operator("ops-gil"))
    assert done["changed"] == [{"id": message_id, "updated": 3, "added": 0, "removed": 0}]
    after = entries_of(uow_factory, message_id)
    assert [e.id for e in after] == [e.id for e in before]
    assert [e.payload["unit"] for e in after] == [TODAY_UNIT] * 3
    assert [e.payload["value"] for e in after] == [e.payload["value"] for e in before]
    assert [e.hidden for e in after] == [True, False, False]
    assert [e.confidentiality for e in after] == [Confidentiality.NORMAL,
                                                  Confidentiality.SECRET,
                                                  Confidentiality.NORMAL]
    with uow_factory() as uow:
        events = [e for e in uow.audit.journal(before[0].patient_id)
                  if e.action == AuditAction.ENTRIES_REMAPPED]
        verified = uow.audit.verify()
    assert [(e.actor, e.operator, e.message_id, e.reason) for e in events] == [
        ("operator", "ops-gil", message_id, "mapping changed: 3 updated, 0 added, 0 removed")]
    assert verified.ok

    again = remap_messages(uow_factory, TODAY, POLICY, [message_id])
    assert (again["unchanged"], again["changed"]) == (1, [])


def test_entries_the_mapping_now_makes_or_no_longer_makes_are_added_or_removed(
        uow_factory, tmp_path):
    narrow = mappings_where(tmp_path, *WITHOUT_ST)
    raw = with_a_text_result(oru_r01(patient(42), "R2", n_obx=3))
    grown, shrunk = file(uow_factory, narrow, raw, 2), file(uow_factory, TODAY, raw, 3)
    assert len(entries_of(uow_factory, grown)) == 2
    kept = entries_of(uow_factory, shrunk)

    result = remap_messages(uow_factory, TODAY, POLICY, [grown])
    assert result["changed"] == [{"id": grown, "updated": 1, "added": 1, "removed": 0}]
    assert [e.payload["value_type"] for e in entries_of(uow_factory, grown)] == \
        ["NM", "ST", "NM"]
    assert [e.seq for e in entries_of(uow_factory, grown)] == [0, 1, 2]

    result = remap_messages(uow_factory, narrow, POLICY, [shrunk])
    assert result["changed"] == [{"id": shrunk, "updated": 1, "added": 0, "removed": 1}]
    left = entries_of(uow_factory, shrunk)
    assert [e.id for e in left] == [e.id for e in kept[:2]]
    assert [e.payload["value_type"] for e in left] == ["NM", "NM"]
    with uow_factory() as uow:
        reasons = [e.reason for e in uow.audit.for_message(shrunk)
                   if e.action == AuditAction.ENTRIES_REMAPPED]
    assert reasons == [f"mapping changed: 1 updated, 0 added, 1 removed ({kept[2].id})"]


def test_a_mapping_that_fails_now_keeps_the_entries_and_says_why(uow_factory, tmp_path):
    message_id = file(uow_factory, TODAY, oru_r01(patient(43), "R4", n_obx=2), 4)
    before = entries_of(uow_factory, message_id)
    broken = mappings_where(tmp_path, 'types = ["ORU^R01"]', 'types = ["ORU^R99"]')

    result = remap_messages(uow_factory, broken, POLICY, [message_id, "no-such-id"])

    assert result["failed"] == [{"id": message_id, "reason":
                                 "MappingError: no mapping for ORU^R01 now"}]
    assert result["skipped"] == [{"id": "no-such-id", "reason": "no such message"}]
    assert entries_of(uow_factory, message_id) == before


def test_a_run_stopped_half_way_leaves_each_message_done_or_untouched(uow_factory, tmp_path):
    yesterday = mappings_where(tmp_path, *WITHOUT_UNIT)
    ids = [file(uow_factory, yesterday, oru_r01(patient(50 + n), f"S{n}", n_obx=2), 10 + n)
           for n in range(5)]
    stop = threading.Event()
    seen = []

    def after_each(result: dict) -> None:
        seen.append(result["id"])
        if len(seen) == 2:
            stop.set()  # Ctrl-C while the second message is settled

    result = remap_messages(uow_factory, TODAY, POLICY, ids, stop=stop, progress=after_each)

    assert (result["interrupted"], result["not_done"], len(result["changed"])) == (True, 3, 2)
    units = [[bool(e.payload.get("unit")) for e in entries_of(uow_factory, id)] for id in ids]
    assert units == [[True, True]] * 2 + [[False, False]] * 3
    rest = remap_messages(uow_factory, TODAY, POLICY, ids)
    assert (rest["unchanged"], len(rest["changed"])) == (2, 3)



def test_a_message_whose_raw_copy_was_purged_is_skipped_with_its_entries_kept(
        uow_factory, engine, keyring):
    message_id = file(uow_factory, TODAY, oru_r01(patient(44), "R5", n_obx=2), 5)
    before = entries_of(uow_factory, message_id)
    assert JobStore(engine, keyring).purge_raw(datetime.now(UTC) + timedelta(days=1)) == 1

    result = remap_messages(uow_factory, TODAY, POLICY, [message_id])

    assert result["skipped"] == [{"id": message_id,
                                  "reason": "its raw copy was purged (retention)"}]
    assert (result["failed"], entries_of(uow_factory, message_id)) == ([], before)


def test_an_entry_that_cannot_be_read_fails_its_message_and_the_run_goes_on(
        uow_factory, engine, tmp_path):
    yesterday = mappings_where(tmp_path, *WITHOUT_UNIT)
    broken, fine = (file(uow_factory, yesterday, oru_r01(patient(45 + n), f"R{6 + n}", n_obx=1),
                         6 + n) for n in range(2))
    with engine.begin() as connection:  # a row written under a key nobody has any more, say
        connection.execute(update(entries).where(entries.c.message_id == broken)
                           .values(payload_ct=b"\0" * 40))

    result = remap_messages(uow_factory, TODAY, POLICY, [broken, fine])

    [failed] = result["failed"]
    assert failed["id"] == broken and "failed authentication" in failed["reason"]
    assert [c["id"] for c in result["changed"]] == [fine]
