"""The patient's default level and entries hidden from one professional, on real SQLite and
PostgreSQL (migration 0021): the consent state reads the default, the entry views of the
send-time re-check (one message, and a batch's) carry whom an entry is hidden from, a
dossier read sees it, and the rows go with their entry; filing and `hub remap` file at the
stricter of the source's level and the patient's default, and remap restricts entries whose
code was added to the sensitive list since."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from hub.domain.consent import EntryView
from hub.domain.models import Confidentiality, Entry
from hub.errors import StoreError
from hub.mapping.loader import load_mappings
from hub.mapping.sensitive import load_sensitive_codes
from hub.ops.remap import remap_messages
from hub.store import tables
from tests.fixtures.deliveries import store_message
from tests.fixtures.hub_process import REPO
from tests.fixtures.messages import oru_r01, patient
from tests.fixtures.remap_rows import POLICY, TODAY, file

DOCTOR, OTHER = "123456-78", "234561-07"
AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
N, R = Confidentiality.NORMAL, Confidentiality.RESTRICTED


@pytest.fixture
def filed(uow_factory):
    """One stored message of patient 1 with two entries; (message id, patient id, entry ids)."""
    with uow_factory() as uow:
        message_id, patient_id, _ = store_message(uow, 1)
        ids = uow.entries.add_many([(patient_id, message_id, 0, Entry("lab_result", {"v": 1})),
                                    (patient_id, message_id, 1, Entry("lab_result", {"v": 2},
                                                                      R))])
        uow.commit()
    return message_id, patient_id, ids


def test_the_default_level_is_normal_until_the_patient_sets_it(uow_factory, filed):
    _, patient_id, _ = filed
    with uow_factory() as uow:
        assert uow.consents.state(patient_id, AT, True).default_level is N
        uow.consents.state(patient_id, AT, True)  # memoised ...
        uow.consents.set_default_level(patient_id, "restricted")  # ... and forgotten
        assert uow.consents.state(patient_id, AT, True).default_level is R
        uow.commit()
    with uow_factory() as uow:
        assert uow.consents.states([patient_id], AT, False)[patient_id].default_level is R


def test_hidden_from_reaches_every_reader_of_entry_views(uow_factory, filed):
    message_id, patient_id, (first, second) = filed
    with uow_factory() as uow:
        assert uow.entries.set_hidden_from(first, DOCTOR, True, patient_id, AT) is True
        assert uow.entries.set_hidden_from(first, OTHER, True, patient_id, AT) is True
        assert uow.entries.set_hidden_from(first, DOCTOR, True, patient_id, AT) is False
        uow.commit()
    expected = [EntryView(N, False, frozenset({DOCTOR, OTHER})), EntryView(R, False)]
    with uow_factory() as uow:
        assert uow.entries.views_for_message(message_id) == expected
        assert uow.deliveries.entry_views([message_id, "none"]) == {message_id: expected,
                                                                   "none": []}
        by_id = {e.id: e.hidden_from for e in uow.entries.for_patient(patient_id)}
        assert by_id == {first: frozenset({DOCTOR, OTHER}), second: frozenset()}
        assert [e.hidden_from for e in uow.entries.for_message(message_id)] == [
            frozenset({DOCTOR, OTHER}), frozenset()]
        assert uow.entries.set_hidden_from(first, DOCTOR, False, patient_id, AT) is True
        assert uow.entries.set_hidden_from(first, DOCTOR, False, patient_id, AT) is False
        uow.commit()
    with uow_factory() as uow:
        assert uow.entries.views_for_message(message_id)[0].hidden_from == frozenset({OTHER})


def test_an_entry_of_another_dossier_cannot_be_hidden_through_this_one(uow_factory, filed):
    _, _, (first, _) = filed
    with uow_factory() as uow:
        _, other_patient, _ = store_message(uow, 2)
        with pytest.raises(StoreError, match="in this dossier"):
            uow.entries.set_hidden_from(first, DOCTOR, True, other_patient, AT)


def test_the_rows_go_with_their_entry(uow_factory, filed):
    _, patient_id, (first, _) = filed
    with uow_factory() as uow:
        uow.entries.set_hidden_from(first, DOCTOR, True, patient_id, AT)
        uow.commit()
    with uow_factory() as uow:
        uow.entries.remove([first])
        uow.commit()
    with uow_factory() as uow:
        count = uow._connection.execute(  # noqa: SLF001 - a look at the table itself
            select(func.count()).select_from(tables.entry_hidden_from)).scalar_one()
    assert count == 0


def test_a_code_added_to_the_list_restricts_entries_filed_before_on_remap(
        uow_factory, tmp_path):
    person = patient(42)
    message_id = file(uow_factory, TODAY, oru_r01(person, "R42", n_obx=3), 42)
    codes = tmp_path / "codes.toml"
    codes.write_text('[[code]]\nsystem = "LN"\ncode = "2093-2"\ntopic = "test"\n')
    listed = load_mappings(REPO / "mappings", load_sensitive_codes(codes))

    done = remap_messages(uow_factory, listed, POLICY, [message_id])
    assert done["changed"] == [{"id": message_id, "updated": 1, "added": 0, "removed": 0}]
    assert [e.confidentiality for e in entries_of(uow_factory, message_id)] == [N, R, N]
    assert remap_messages(uow_factory, listed, POLICY, [message_id])["unchanged"] == 1
    # A looser mapping never loosens a filed level.
    assert remap_messages(uow_factory, TODAY, POLICY, [message_id])["unchanged"] == 1


def test_filing_takes_the_stricter_of_the_source_and_the_default(uow_factory):
    person = patient(43)
    with uow_factory() as uow:
        uow.consents.set_default_level(uow.patients.id_for(person.matricule), "restricted")
        uow.commit()
    message_id = file(uow_factory, TODAY, oru_r01(person, "R43", n_obx=2), 43)
    assert [e.confidentiality for e in entries_of(uow_factory, message_id)] == [R, R]


def entries_of(uow_factory, message_id):
    with uow_factory() as uow:
        return uow.entries.for_message(message_id)
