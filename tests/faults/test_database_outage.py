"""PostgreSQL stopped for 30 s while senders keep sending: no healthy message parked, none
lost, none doubled, and the worker resumes by itself.

The listener does not need the database, so the senders keep getting AA during the outage and
the inbound queue fills; the worker holds what it fetched, unacked, and files it once the
database is back. Before the fix every failed batch was requeued message by message, each
requeue counted toward the quorum queue's delivery limit, and the messages that reached it
were parked as "dead-lettered: delivery-limit".
"""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid

from tests.fixtures.ledger import Ledger, StoreCount, poll, send_numbered
from tests.fixtures.hub_process import free_port
from tests.fixtures.messages import encoded, oru_r01, patient

SENDERS = 4
PER_SENDER = 150
PACE_S = 0.25           # one sender's pause between messages: 16 messages a second in all
OUTAGE_AFTER_S = 5.0
OUTAGE_S = 30.0
SETTLE_TIMEOUT_S = 180.0


def test_a_database_outage_parks_no_healthy_message(fault_hub, fault_report):
    env, postgres = fault_hub
    prefix = f"PGOUT-{uuid.uuid4().hex[:6]}-"
    env.start("listener")
    worker_http = free_port()
    env.start("worker", HUB_HTTP__PORT=str(worker_http))
    worker_log = env.log_paths[-1]
    ledger = Ledger()
    frames = [[(f"{prefix}{n}", encoded(oru_r01(patient(n), f"{prefix}{n}", n_obx=2)))
               for n in range(k, SENDERS * PER_SENDER, SENDERS)] for k in range(SENDERS)]
    senders = [threading.Thread(target=send_numbered, args=(env.mllp_port, batch, ledger),
                                kwargs={"pace": PACE_S}) for batch in frames]
    store = StoreCount(env.env["HUB_DATABASE_URL"], prefix)
    try:
        for thread in senders:
            thread.start()
        time.sleep(OUTAGE_AFTER_S)
        postgres.stop()
        stopped_at = time.monotonic()
        ready = poll(lambda: _ready(worker_http), timeout=15)
        status = env.hub("status", check=False)
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped_at)))
        postgres.start()
        restarted_at = time.monotonic()
        for thread in senders:
            thread.join(timeout=300)
        acked = ledger.acked()
        settled = poll(lambda: store.tally(acked)["lost"] == 0, timeout=SETTLE_TIMEOUT_S)
        recovered_s = time.monotonic() - restarted_at
        tally = store.tally(acked)
        reasons = store.parked_reasons()
    finally:
        store.close()
    log = worker_log.read_text(errors="replace")
    counts = {**ledger.counts(), **tally, "outage_s": round(restarted_at - stopped_at, 1),
              "seconds_to_settle_after_restart": round(recovered_s, 1)}
    fault_report("PostgreSQL stopped 30 s", counts)

    assert counts["aa"] == SENDERS * PER_SENDER, counts
    assert settled, f"not settled {SETTLE_TIMEOUT_S:g} s after the restart: {counts}"
    assert (tally["lost"], tally["doubled"], tally["healthy_parked"]) == (0, 0, 0), \
        f"{counts}; parked for {dict(reasons)}"
    assert tally["stored"] == SENDERS * PER_SENDER
    # The readiness of the worker's process said so while the database was down.
    assert ready and ready[0] == 503 and "unreachable" in ready[1]["checks"]["database"], ready
    assert status.returncode == 1 and status.stderr.startswith("hub: database unreachable"), \
        status.stderr
    # One WARNING when the outage began, one INFO when it ended, and no traceback.
    assert log.count("database unreachable") == 1, _lines(log, "database")
    assert log.count("database reachable again") == 1, _lines(log, "database")
    assert "Traceback" not in log, log[-3000:]


def _ready(port: int) -> tuple[int, dict] | None:
    """(status, body) of /health/ready once it answers 503, else None."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=5) as r:
            return None if r.status == 200 else (r.status, json.loads(r.read()))
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return None


def _lines(log: str, word: str) -> str:
    return "\n".join(line for line in log.splitlines() if word in line)[-3000:]
