"""Adding a data key: the key file gains a key that becomes current, and the audit chain says
so (actor operator), for `hub keys rotate` and any page that offers the same.

Re-encrypting the rows under older keys is the key-rotation job's (hub.store.key_rotation),
which `hub keys rotate --now|--resume` runs in the foreground.
"""
from __future__ import annotations

from hub.domain.audit import Actor, AuditAction, AuditEvent
from hub.domain.ports import UnitOfWorkFactory
from hub.store.keyring import Keyring


def add_current_key(uow_factory: UnitOfWorkFactory, keyring: Keyring) -> str:
    """Add a key to `keyring`'s file, make it current, and commit its `keys.rotate` audit
    event; the new key's id. The key is in the file before the event is written: a failed
    commit leaves an extra key, never an event naming a key that does not exist."""
    key_id = keyring.add_key()
    with uow_factory() as uow:
        uow.audit.record(AuditEvent(actor=Actor.OPERATOR, action=AuditAction.KEYS_ROTATE,
                                    reason=f"data key {key_id} added and made current"))
        uow.commit()
    return key_id
