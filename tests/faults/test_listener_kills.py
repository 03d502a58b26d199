"""The listener SIGKILLed ten times mid-run while senders resend whatever got no AA: every AA'd
message is stored (an AA is only sent after the broker's confirm, so a killed listener loses
only what it never acknowledged), and the resends of messages it had confirmed but not yet
answered are discarded, never stored twice.
"""
from __future__ import annotations

import time
import uuid

from tests.fixtures.kills import join_all, numbered_frames, replace, start_senders
from tests.fixtures.ledger import Ledger, StoreCount, poll

SENDERS = 4
PER_SENDER = 250
KILLS = 10
KILL_EVERY_S = 2.0
SETTLE_TIMEOUT_S = 60.0


def test_listener_sigkills_lose_nothing_acknowledged_and_double_nothing(fault_hub, fault_report):
    env, _postgres = fault_hub
    prefix = f"LKILL-{uuid.uuid4().hex[:6]}-"
    listener = env.start("listener")
    env.start("worker")
    ledger = Ledger()
    store = StoreCount(env.env["HUB_DATABASE_URL"], prefix)
    try:
        senders = start_senders(env.mllp_port, numbered_frames(prefix, SENDERS, PER_SENDER),
                                ledger, pace=0.08, timeout=5.0, max_tries=40)
        for _ in range(KILLS):
            time.sleep(KILL_EVERY_S)
            listener = replace(env, listener, "listener")
        last_restart = time.monotonic()
        assert join_all(senders, timeout=240), f"senders still running: {ledger.counts()}"
        acked = ledger.acked()
        settled = poll(lambda: store.tally(acked)["lost"] == 0, timeout=SETTLE_TIMEOUT_S)
        recovered_s = time.monotonic() - last_restart
        tally = store.tally(acked)
    finally:
        store.close()
    counts = {**ledger.counts(), **tally, "kills": KILLS,
              "seconds_to_recover": round(recovered_s, 1)}
    fault_report(f"{KILLS} listener SIGKILLs", counts)

    assert counts["aa"] == counts["sent"] == SENDERS * PER_SENDER, counts
    assert counts["resent"] > 0, f"no kill fell mid-send, the test proved nothing: {counts}"
    assert settled, counts
    assert (tally["lost"], tally["doubled"], tally["healthy_parked"]) == (0, 0, 0), counts
    assert tally["stored"] == SENDERS * PER_SENDER, counts
