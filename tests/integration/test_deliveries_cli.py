"""`hub deliveries list|replay` on real databases: parked deliveries are visible and go back to
their queue, attempts reset; a delivery that is not parked is refused with exit 1."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from hub.cli.main import main
from hub.domain.models import MessageRecord, MessageState
from hub.store.engine import make_engine
from hub.store.keyring import Keyring
from hub.store.schema import upgrade
from hub.store.unit_of_work import UnitOfWork


@pytest.fixture
def store(database_url, tmp_path, monkeypatch):
    """The settings every `hub` call here reads, and a unit-of-work factory on the same store."""
    key_file = tmp_path / "keys.json"
    monkeypatch.setenv("HUB_DATABASE_URL", database_url)
    monkeypatch.setenv("HUB_KEY_FILE", str(key_file))
    monkeypatch.setenv("HUB_ENV_FILE", str(tmp_path / "none.env"))
    upgrade(database_url)
    engine = make_engine(database_url)
    keyring = Keyring.load_or_create(key_file)
    yield lambda: UnitOfWork(engine, keyring)
    engine.dispose()


def queue(uow_factory, n: int) -> list[str]:
    with uow_factory() as uow:
        pid = uow.patients.id_for("1893120105732")
        for i in range(n):
            uow.messages.add(MessageRecord(f"m{i}", "LAB^CHL", f"C{i}", "ORU^R01", "2.5",
                                           MessageState.STORED, datetime.now(timezone.utc),
                                           patient_id=pid), b"MSH|^~\\&|\r")
        ids = [uow.deliveries.add(message_id=f"m{i}", patient_id=pid, recipient="123456-78",
                                  destination="127.0.0.1:7001", control_id=f"c{i}",
                                  payload=b"MSH|^~\\&|\r").id for i in range(n)]
        uow.commit()
    return ids


def hub_json(capsys, *args: str):
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_parked_deliveries_are_listed_and_replayed(store, capsys):
    first, second, third = queue(store, 3)
    with store() as uow:
        uow.deliveries.mark_parked(first, "refused by recipient: AR", "AR")
        uow.deliveries.mark_parked(second, "gave up after 10 attempts: no-answer")
        uow.commit()

    parked = hub_json(capsys, "deliveries", "list", "--state", "parked")
    assert sorted(d["id"] for d in parked) == sorted([first, second])
    assert {d["last_error"] for d in parked} == {"refused by recipient: AR",
                                                 "gave up after 10 attempts: no-answer"}

    assert main(["deliveries", "replay", first]) == 0
    assert "1 delivery queued again" in capsys.readouterr().out
    with store() as uow:
        again = uow.deliveries.get(first)
    assert (again.state.value, again.attempts, again.ack_code) == ("pending", 0, None)

    assert main(["deliveries", "replay", "--all-parked"]) == 0
    assert "1 delivery queued again" in capsys.readouterr().out
    assert [d["state"] for d in hub_json(capsys, "deliveries", "list", "--state", "pending")
            ] == ["pending"] * 3


def test_replaying_what_is_not_parked_changes_nothing_and_says_so(store, capsys):
    (pending,) = queue(store, 1)
    assert main(["deliveries", "replay", pending, "no-such-id"]) == 1
    err = capsys.readouterr().err
    assert "not parked" in err and pending in err and "Traceback" not in err
    with store() as uow:
        assert uow.deliveries.get(pending).state.value == "pending"
