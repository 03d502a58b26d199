"""The key-rotation job: after `hub keys rotate` added a key, rows still under older keys are
re-encrypted with it, a batch per transaction (hub.store.rotation), until none is left.

Each run first re-reads the key file, so the hub running the job writes under the new key
from then on; a run stops after `budget` seconds (well within its job lease) and the next run
continues where it stopped."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

from hub.store.keyring import Keyring
from hub.store.rotation import KeyRotation

log = logging.getLogger(__name__)
JOB_ID = "key-rotation"


def reencrypt_old_rows(rotation: KeyRotation, keyring: Keyring, batch_size: int,
                       budget: float, monotonic: Callable[[], float] = time.monotonic) -> int:
    """Re-encrypt batches of rows under older keys for at most `budget` seconds; return how
    many rows were rewritten."""
    keyring.reload()
    deadline = monotonic() + budget
    done = rotation.run(batch_size, keep_going=lambda: monotonic() < deadline)
    if done:
        log.info("key rotation: %d row(s) re-encrypted under %s", done, keyring.current_key_id)
    return done
