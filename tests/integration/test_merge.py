"""ADT^A40 in the worker, on real databases: the merged patient's entries move to the survivor,
both journals say so, the merged matricule files into the survivor from then on, and a merge
that cannot be read is parked without touching either dossier."""
from __future__ import annotations

import json

import pytest

from hub.domain.models import Confidentiality, Entry, MessageState
from tests.fixtures.hub_process import HubEnv
from tests.fixtures.messages import adt_a01, adt_a40, encoded, oru_r01, patient
from tests.fixtures.routing import (  # noqa: F401 - broker and worker are fixtures
    ORDERER, broker, dossier, receive, register, worker)

SURVIVOR, MERGED, THIRD = patient(51), patient(52), patient(53)


def file(broker, worker, *texts: str) -> None:
    """Receive the messages (one worker batch) and file them."""
    receive(broker, *(encoded(text) for text in texts))
    worker.drain()


def kinds_of(uow_factory, person) -> list[str]:
    with uow_factory() as uow:
        return sorted(e.kind for e in uow.entries.for_patient(uow.patients.find(person.matricule)))


def merge_events(uow_factory, person) -> list[tuple[str, str]]:
    with uow_factory() as uow:
        assert uow.audit.verify().ok
        return [(e.actor, e.reason) for e in uow.audit.journal(uow.patients.find(person.matricule))
                if e.action == "patient.merged"]


def message(uow_factory, control_id):
    with uow_factory() as uow:
        [record] = uow.messages.search(control_id=control_id)
        return record


@pytest.fixture
def merged(broker, worker, uow_factory):
    """SURVIVOR with an encounter, MERGED with three results, then MERGED merged into SURVIVOR."""
    file(broker, worker, adt_a01(SURVIVOR, "S-1"), oru_r01(MERGED, "M-1", n_obx=3))
    file(broker, worker, adt_a40(SURVIVOR, MERGED, "A40-1"))
    return message(uow_factory, "A40-1")


def test_the_merged_patients_entries_move_and_both_journals_say_so(merged, uow_factory):
    assert merged.state is MessageState.STORED
    assert kinds_of(uow_factory, SURVIVOR) == ["encounter"] + ["lab_result"] * 3
    assert kinds_of(uow_factory, MERGED) == []
    with uow_factory() as uow:
        survivor_id = uow.patients.find(SURVIVOR.matricule)
        merged_id = uow.patients.find(MERGED.matricule)
        assert merged_id != survivor_id
        assert uow.patients.merged_into(merged_id) == survivor_id
        assert uow.patients.merged_into(survivor_id) is None
        assert uow.patients.id_for(MERGED.matricule) == survivor_id
        events = [e for pid in (merged_id, survivor_id) for e in uow.audit.journal(pid)
                  if e.action == "patient.merged"]
    assert [(e.patient_id, e.message_id, e.actor) for e in events] == [
        (merged_id, merged.id, "hub"), (survivor_id, merged.id, "hub")]
    assert events[0].reason == f"ADT^A40: 3 entries moved into dossier {survivor_id}"
    assert events[1].reason == f"ADT^A40: 3 entries moved from dossier {merged_id}"


def test_the_cli_shows_the_merge_in_both_journals_and_the_merged_dossier(
        merged, tmp_path, database_url, uow_factory):
    env = HubEnv(tmp_path, database_url, broker_url="memory://")
    env.env["HUB_KEY_FILE"] = str(tmp_path / "keys" / "hub-keys.json")  # the fixture keyring's
    for person in (MERGED, SURVIVOR):
        journal = env.hub_json("journal", person.matricule)
        merges = [(j["actor"], j["outcome"]) for j in journal if j["action"] == "patient.merged"]
        assert merges == [("hub", "ok")]
    shown = env.hub_json("dossier", "show", MERGED.matricule)
    assert shown["merged_into"] == SURVIVOR.matricule and shown["entries"] == []
    assert shown["patient"]["matricule"] == MERGED.matricule
    text = env.hub("dossier", "show", MERGED.matricule)
    assert "Traceback" not in text.stderr
    assert f"merged into the dossier of {SURVIVOR.matricule} (ADT^A40)" in text.stdout
    assert "merged_into" not in env.hub_json("dossier", "show", SURVIVOR.matricule)
    register(uow_factory, ORDERER)
    as_doctor = env.hub_json("dossier", "show", MERGED.matricule, "--as", ORDERER)
    assert as_doctor["merged"] is True and "merged_into" not in as_doctor
    assert SURVIVOR.matricule not in json.dumps(as_doctor)


def test_a_message_for_the_merged_matricule_files_into_the_survivor(
        merged, broker, worker, uow_factory):
    with uow_factory() as uow:
        before = uow.patients.get(uow.patients.find(SURVIVOR.matricule))
    file(broker, worker, oru_r01(MERGED, "M-2", n_obx=2))
    assert message(uow_factory, "M-2").state is MessageState.STORED
    assert kinds_of(uow_factory, SURVIVOR) == ["encounter"] + ["lab_result"] * 5
    assert kinds_of(uow_factory, MERGED) == []
    with uow_factory() as uow:
        survivor_id = uow.patients.find(SURVIVOR.matricule)
        assert message(uow_factory, "M-2").patient_id == survivor_id
        # Sent under the old matricule: the survivor's own demographics stand.
        assert uow.patients.get(survivor_id) == before


def test_the_survivors_consent_decides_after_the_merge(broker, worker, uow_factory):
    register(uow_factory, ORDERER)
    dossier(uow_factory, MERGED, grant=ORDERER)
    file(broker, worker, oru_r01(MERGED, "M-1", n_obx=1))
    file(broker, worker, adt_a40(SURVIVOR, MERGED, "A40-1"))
    file(broker, worker, oru_r01(MERGED, "M-2", n_obx=1))
    with uow_factory() as uow:
        routed = [(d.message_id, d.state.value) for d in uow.deliveries.search()]
        denied = [e.message_id for e in uow.audit.journal(uow.patients.find(SURVIVOR.matricule))
                  if e.action == "deny"]
    assert routed == [(message(uow_factory, "M-1").id, "pending")]
    assert denied == [message(uow_factory, "M-2").id]


@pytest.mark.parametrize("mrg, reason", [
    ("OLD7^^^CHL^MR", "MappingError: MRG-1: no matricule (identifier type NN)"),
    ("12345^^^CNS^NN", "MappingError: MRG-1: matricule must have 13 digits"),
])
def test_a_missing_or_invalid_mrg1_parks_the_message_and_merges_nothing(
        broker, worker, uow_factory, mrg, reason):
    file(broker, worker, adt_a01(SURVIVOR, "S-1"), oru_r01(MERGED, "M-1", n_obx=1))
    file(broker, worker, adt_a40(SURVIVOR, None, "A40-1", mrg=mrg))
    record = message(uow_factory, "A40-1")
    assert record.state is MessageState.PARKED and record.reason.startswith(reason)
    assert "12345" not in record.reason
    assert kinds_of(uow_factory, MERGED) == ["lab_result"]
    assert merge_events(uow_factory, SURVIVOR) == merge_events(uow_factory, MERGED) == []


def test_a_patient_merged_into_itself_is_parked(broker, worker, uow_factory):
    file(broker, worker, adt_a01(SURVIVOR, "S-1"), adt_a40(SURVIVOR, SURVIVOR, "A40-1"))
    record = message(uow_factory, "A40-1")
    assert record.state is MessageState.PARKED
    assert "MRG-1: names the same patient as PID-3" in record.reason
    assert kinds_of(uow_factory, SURVIVOR) == ["encounter"]
    with uow_factory() as uow:
        assert uow.patients.merged_into(uow.patients.find(SURVIVOR.matricule)) is None


def test_merging_again_or_the_other_way_round_changes_nothing(
        merged, broker, worker, uow_factory):
    file(broker, worker, adt_a40(SURVIVOR, MERGED, "A40-2"), adt_a40(MERGED, SURVIVOR, "A40-3"))
    assert [message(uow_factory, c).state for c in ("A40-2", "A40-3")] == [MessageState.STORED] * 2
    assert len(merge_events(uow_factory, SURVIVOR)) == len(merge_events(uow_factory, MERGED)) == 1
    assert kinds_of(uow_factory, SURVIVOR) == ["encounter"] + ["lab_result"] * 3
    with uow_factory() as uow:
        survivor_id = uow.patients.find(SURVIVOR.matricule)
        assert uow.patients.merged_into(survivor_id) is None
        assert uow.patients.merged_into(uow.patients.find(MERGED.matricule)) == survivor_id


def test_a_survivor_merged_later_takes_the_earlier_merged_dossier_along(
        merged, broker, worker, uow_factory):
    file(broker, worker, adt_a01(THIRD, "T-1"), adt_a40(THIRD, SURVIVOR, "A40-2"))
    assert kinds_of(uow_factory, THIRD) == ["encounter"] * 2 + ["lab_result"] * 3
    with uow_factory() as uow:
        third_id = uow.patients.find(THIRD.matricule)
        for person in (SURVIVOR, MERGED):
            assert uow.patients.merged_into(uow.patients.find(person.matricule)) == third_id
    # MERGED (merged into SURVIVOR before) merged into THIRD again: already one dossier.
    file(broker, worker, adt_a40(THIRD, MERGED, "A40-3"), oru_r01(MERGED, "M-2", n_obx=1))
    assert kinds_of(uow_factory, THIRD) == ["encounter"] * 2 + ["lab_result"] * 4
    assert len(merge_events(uow_factory, MERGED)) == 1
    assert len(merge_events(uow_factory, SURVIVOR)) == 2


def test_a_never_seen_merged_patient_and_a_message_in_the_same_batch_end_in_the_survivor(
        broker, worker, uow_factory):
    file(broker, worker, adt_a01(SURVIVOR, "S-1"), adt_a40(SURVIVOR, MERGED, "A40-1"),
         oru_r01(MERGED, "M-1", n_obx=2))
    assert kinds_of(uow_factory, SURVIVOR) == ["encounter"] + ["lab_result"] * 2
    assert kinds_of(uow_factory, MERGED) == []
    assert [message(uow_factory, c).state for c in ("S-1", "A40-1", "M-1")] == [
        MessageState.STORED] * 3
    assert len(merge_events(uow_factory, MERGED)) == 1


def test_entries_filed_to_the_merged_dossier_after_the_merge_still_show_in_the_survivors(
        merged, uow_factory):
    # A worker that looked MERGED up before the merge committed files to MERGED's own dossier.
    with uow_factory() as uow:
        merged_id = uow.patients.find(MERGED.matricule)
        late = uow.messages.search(control_id="M-1")[0]
        uow.entries.add(merged_id, late.id, 99, Entry("lab_result", {"code": "LATE"},
                                                      Confidentiality.NORMAL, None))
        uow.commit()
    assert kinds_of(uow_factory, SURVIVOR) == ["encounter"] + ["lab_result"] * 4
