"""Key rotation in the store (hub/store/rotation.py) on SQLite and PostgreSQL: rows under an
older key are re-encrypted under the current one batch by batch; an interrupted rotation leaves
every row whole under one key or the other and the next run finishes it; purged raw copies are
left alone; a running hub's keyring learns the new key from the file."""
from datetime import timedelta

from sqlalchemy import select

from hub.jobs.key_rotation import reencrypt_old_rows
from hub.store.job_store import JobStore
from hub.store.keyring import Keyring
from hub.store.rotation import ENCRYPTED, KeyRotation
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.dossier_rows import T0, assert_all_decrypt, write_dossiers


def _key_ids(engine) -> set[str]:
    with engine.connect() as connection:
        return {row[0] for spec in ENCRYPTED
                for row in connection.execute(select(spec.table.c[spec.key_column]))}


def test_an_interrupted_rotation_leaves_whole_rows_and_the_next_run_finishes(engine, keyring,
                                                                            uow_factory):
    written = write_dossiers(uow_factory, 3)
    assert _key_ids(engine) == {"k1"}
    new = keyring.add_key()
    rotation = KeyRotation(engine, keyring)
    assert rotation.pending() == 12  # 3 rows in each of the 4 tables

    batches = []
    done = rotation.run(2, keep_going=lambda: len(batches) < 3, on_batch=batches.append)
    # a batch stays within one table: patients 2 + 1, then messages 2
    assert batches == [2, 1, 2] and done == 5
    assert _key_ids(engine) == {"k1", new} and rotation.pending() == 7
    assert_all_decrypt(uow_factory, written)       # the stopped rotation broke nothing

    assert rotation.run(5) == 7
    assert _key_ids(engine) == {new} and rotation.pending() == 0
    assert rotation.counts() == {**{t: {new: 3} for t in ("patients", "messages", "entries",
                                                           "deliveries")},
                                 "representatives": {}}  # (tests/integration/test_representatives.py)
    assert_all_decrypt(uow_factory, written)
    assert rotation.run(5) == 0


def test_a_hub_started_before_the_rotation_reads_rotated_rows(engine, keyring, uow_factory):
    written = write_dossiers(uow_factory, 2)
    running_hub = Keyring.load(keyring.path)      # a hub that loaded the file before `rotate`
    new = keyring.add_key()
    KeyRotation(engine, keyring).run(50)
    assert _key_ids(engine) == {new}
    assert_all_decrypt(lambda: UnitOfWork(engine, running_hub), written)
    assert running_hub.current_key_id == new      # and writes under the new key from then on


def test_the_rotation_job_adopts_the_new_key_and_skips_purged_copies(engine, keyring,
                                                                     uow_factory):
    written = write_dossiers(uow_factory, 2)
    assert JobStore(engine, keyring).purge_raw(T0 + timedelta(days=1)) == 2
    scheduler_keyring = Keyring.load(keyring.path)  # the scheduler's own copy of the keyring
    new = keyring.add_key()                          # `hub keys rotate` in another process
    done = reencrypt_old_rows(KeyRotation(engine, scheduler_keyring), scheduler_keyring,
                              batch_size=1, budget=60)
    assert done == 6                                 # patients, entries, deliveries; no raw
    assert _key_ids(engine) == {new, "purged"}
    with uow_factory() as uow:
        for w in written:
            assert uow.patients.get(w["patient_id"]).family_name == w["family_name"]
            assert uow.deliveries.payload(w["delivery_id"]) == w["payload"]


def test_a_run_stops_at_its_time_budget_and_the_next_continues(engine, keyring, uow_factory):
    written = write_dossiers(uow_factory, 2)
    new = keyring.add_key()
    ticks = iter(range(100))
    rotation = KeyRotation(engine, keyring)
    # The clock moves 1 s per look: with a 2.5 s budget a run does two batches, then stops.
    assert reencrypt_old_rows(rotation, keyring, 1, 2.5, monotonic=lambda: next(ticks)) == 2
    assert rotation.pending() == 6
    while reencrypt_old_rows(rotation, keyring, 1, 2.5, monotonic=lambda: next(ticks)):
        pass
    assert _key_ids(engine) == {new}
    assert_all_decrypt(uow_factory, written)
