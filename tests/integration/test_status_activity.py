"""The figures behind `hub status` on real SQLite and PostgreSQL: windows count what falls in
them and nothing else, each destination's oldest pending delivery is its own, and
collect_status turns them into the rates and ages the dashboard and the CLI show."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.bootstrap import Hub
from hub.compose import status_sources
from hub.domain.models import MessageRecord, MessageState
from hub.ops.status import collect_status
from hub.settings import load_settings

A, B = "127.0.0.1:7001", "127.0.0.1:7002"


@pytest.fixture
def bare_hub(database_url, tmp_path, monkeypatch):
    """A hub on this database with an in-memory broker (its queues empty, nobody consuming
    them), schema current."""
    monkeypatch.setenv("HUB_DATABASE_URL", database_url)
    monkeypatch.setenv("HUB_BROKER_URL", "memory://")
    monkeypatch.setenv("HUB_KEY_FILE", str(tmp_path / "keys.json"))
    monkeypatch.setenv("HUB_ENV_FILE", str(tmp_path / "none.env"))
    hub = Hub(load_settings())
    hub.upgrade_database()
    hub.broker.declare_topology()
    yield hub
    hub.close()


@pytest.fixture
def hub(bare_hub):
    """`bare_hub` with a worker consuming the inbound queue, as a running hub has."""
    worker = bare_hub.broker.open_partition_consumer(bare_hub.topology.inbound_queues, prefetch=1)
    yield bare_hub
    worker.close()


def fill(hub: Hub, now: datetime) -> None:
    """Three messages received 30, 200 and 400 s before `now` and filed 20, 100 and 350 s
    before it; pending deliveries queued 500 and 50 s before `now` to A and 10 s before to B; one
    delivered to A (at the real time, just after `now`)."""
    ago = lambda s: now - timedelta(seconds=s)  # noqa: E731
    with hub.unit_of_work() as uow:
        pid = uow.patients.id_for("1893120105732")
        for i, (received, filed, state) in enumerate([(30, 20, MessageState.STORED),
                                                      (200, 100, MessageState.PARKED),
                                                      (400, 350, MessageState.REJECTED)]):
            uow.messages.add(MessageRecord(f"m{i}", "LAB^CHL", f"C{i}", "ORU^R01", "2.5", state,
                                           ago(received), processed_at=ago(filed),
                                           patient_id=pid), b"MSH|^~\\&|\r")
        for n, (destination, queued) in enumerate([(A, 500), (A, 50), (B, 10), (A, 5)]):
            delivery = uow.deliveries.add(message_id="m0", patient_id=pid, recipient=f"{n}23456-78",
                                          destination=destination, control_id=f"c{n}",
                                          payload=b"MSH|^~\\&|\r", now=ago(queued))
        uow.deliveries.mark_delivered(delivery.id, "AA")
        uow.commit()


def test_windows_and_ages_count_only_what_falls_in_them(hub):
    now = datetime.now(UTC)
    fill(hub, now)
    with hub.unit_of_work() as uow:
        a = uow.activity
        since = [now - timedelta(seconds=s) for s in (60, 300, 1000)]
        assert a.received_counts(since) == [1, 2, 3]
        assert a.filed_counts(since) == [1, 2, 3]
        assert a.received_counts([now + timedelta(seconds=1)]) == [0]
        assert a.delivered_counts([since[0], now + timedelta(seconds=60)]) == {A: [1, 0]}
        assert a.delivered_counts([now + timedelta(seconds=60)]) == {}
        assert a.oldest_pending() == {A: now - timedelta(seconds=500),
                                      B: now - timedelta(seconds=10)}
        last = a.last_filed()
        assert (last.received_at, last.processed_at) == (now - timedelta(seconds=30),
                                                         now - timedelta(seconds=20))


def test_collect_status_reports_rates_ages_and_the_health_line(hub):
    now = datetime.now(UTC)
    fill(hub, now)

    doc = collect_status(status_sources(hub), now)

    assert doc["at"] == now.isoformat()
    assert doc["messages"] == {"received": 3, "waiting": 0, "replays": 0, "stored": 1, "rejected": 1,
                               "parked": 1, "discarded": 0}
    assert doc["rates"]["received_per_s"] == {"1m": round(1 / 60, 3), "5m": round(2 / 300, 3)}
    assert doc["rates"]["filed_per_s"] == {"1m": round(1 / 60, 3), "5m": round(2 / 300, 3)}
    assert doc["rates"]["delivered_per_s"] == {"1m": round(1 / 60, 3), "5m": round(1 / 300, 3)}
    reachable = {"unreachable_s": None, "connection_failures": 0, "connection_error": None}
    assert doc["destinations"] == {
        A: {"delivered_per_s": {"1m": round(1 / 60, 3), "5m": round(1 / 300, 3)},
            "oldest_pending_age_s": 500.0, **reachable},
        B: {"delivered_per_s": {"1m": 0.0, "5m": 0.0}, "oldest_pending_age_s": 10.0,
            **reachable}}
    oldest = doc["oldest_unacknowledged"]
    assert oldest["pending_delivery"] == {"age_s": 500.0, "destination": A,
                                          "since": (now - timedelta(seconds=500)).isoformat()}
    assert (oldest["inbound_waiting"], oldest["last_filed_lag_s"]) == (0, 10.0)
    assert doc["health"]["summary"] == "unhealthy: 1 message parked"


def test_a_parked_message_whose_replay_was_stored_no_longer_makes_the_hub_unhealthy(hub):
    now = datetime.now(UTC)
    with hub.unit_of_work() as uow:
        for id, state, replay_of in [("p1", MessageState.PARKED, None),
                                     ("r1", MessageState.STORED, "p1"),  # resolved
                                     ("p2", MessageState.PARKED, None),
                                     ("r2", MessageState.PARKED, "p2")]:  # parked again
            uow.messages.add(MessageRecord(id, "LAB^CHL", id, "ORU^R01", "2.5", state, now,
                                           processed_at=now, replay_of=replay_of),
                             b"MSH|^~\\&|\r")
        uow.commit()

    doc = collect_status(status_sources(hub), now)

    assert doc["messages"]["parked"] == 3  # the states stay what they are
    # Only r2 waits for an operator: p1 was resolved, p2 lives on as its replay r2.
    assert doc["health"]["summary"] == "unhealthy: 1 message parked"
    with hub.unit_of_work() as uow:
        uow.messages.add(MessageRecord("r3", "LAB^CHL", "r3", "ORU^R01", "2.5",
                                       MessageState.STORED, now, processed_at=now,
                                       replay_of="r2"), b"MSH|^~\\&|\r")
        uow.commit()
    assert collect_status(status_sources(hub), now)["health"]["healthy"] is True



def test_no_worker_on_the_inbound_queue_is_named_even_when_it_is_empty(bare_hub):
    # No hub with the worker role runs: nothing waits yet, but whatever comes next would.
    assert collect_status(status_sources(bare_hub))["health"]["problems"] == [
        f"no worker consumes queue {bare_hub.topology.inbound_stream}"]
    bare_hub.broker.open_consumer(bare_hub.topology.dead, prefetch=1)  # not the inbound one
    assert collect_status(status_sources(bare_hub))["health"]["healthy"] is False

    bare_hub.broker.open_partition_consumer(bare_hub.topology.inbound_queues, prefetch=1)

    assert collect_status(status_sources(bare_hub))["health"]["healthy"] is True
