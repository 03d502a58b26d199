"""Two `hub serve --role scheduler` processes on one database (SQLite and PostgreSQL): an
expired grant is noted once in the journal, `hub keys rotate` is finished by the scheduler
with no `--now`, and when one hub is killed outright the other carries on."""
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from hub.store.keyring import Keyring
from hub.store.rotation import ENCRYPTED
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.hub_process import HubEnv
from tests.fixtures.messages import patient
from tests.fixtures.dossier_rows import assert_all_decrypt, write_dossiers

FAST_JOBS = {"HUB_JOBS__GRANT_EXPIRY_INTERVAL": "0.3", "HUB_JOBS__KEY_ROTATION_INTERVAL": "0.3",
             "HUB_JOBS__KEY_ROTATION_BATCH": "2", "HUB_JOBS__LEASE": "6"}


def _grant_expired(engine, keyring, person, cns_code: str) -> None:
    now = datetime.now(UTC)
    with UnitOfWork(engine, keyring) as uow:
        pid = uow.patients.id_for(person.matricule)
        uow.consents.grant(pid, cns_code, "normal", now - timedelta(hours=1),
                           now - timedelta(days=3))
        uow.commit()


def _expired(hub: HubEnv, person) -> list[str]:
    journal = hub.hub_json("journal", person.matricule)
    return [line["reason"].split()[2] for line in journal if line["action"] == "consent.expired"]


def _key_ids(engine) -> set[str]:
    with engine.connect() as connection:
        return {row[0] for spec in ENCRYPTED
                for row in connection.execute(select(spec.table.c[spec.key_column]))}


def test_two_scheduler_hubs_share_the_jobs_and_one_carries_on_alone(cli_hub):
    hub, engine, keyring = cli_hub
    written = write_dossiers(lambda: UnitOfWork(engine, keyring), 3)
    _grant_expired(engine, keyring, patient(1), "111111-11")
    first = hub.start(role="scheduler", wait=False, **FAST_JOBS)
    hub.start(role="scheduler", wait=False, **FAST_JOBS)

    assert hub.wait_until(lambda: _expired(hub, patient(1)), timeout=60) == ["111111-11"]
    hub.hub("keys", "rotate")
    assert hub.wait_until(lambda: _key_ids(engine) == {"k2"}, timeout=60)
    assert _expired(hub, patient(1)) == ["111111-11"]           # noted once by two hubs

    first.kill()                                                # no lease given back
    first.wait(timeout=30)
    _grant_expired(engine, keyring, patient(2), "222222-22")
    hub.hub("keys", "rotate")
    assert hub.wait_until(lambda: _expired(hub, patient(2)), timeout=60) == ["222222-22"]
    assert hub.wait_until(lambda: _key_ids(engine) == {"k3"}, timeout=60)
    assert_all_decrypt(lambda: UnitOfWork(engine, Keyring.load(keyring.path)), written)
    assert "failed" not in hub.logs()
