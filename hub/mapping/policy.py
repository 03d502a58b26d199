"""What reading a message depends on besides the mappings: the settings `interpret` reads.

The worker's `RoutingPolicy` (hub/routing/outcome.py) is this plus what only routing needs
(routes, the hub's own MSH-3/4, consent defaults), and it reads what a message does to a
dossier besides entries (merges, référents, résumés, registry updates: the patient-action
table of hub/routing/patient_actions.py). The mapping engine never imports routing: it asks
the policy it is given through `actions_for`, and a plain `ReadingPolicy` reads no actions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.domain.identity import Verdict
from hub.hl7.message import Message


@dataclass(frozen=True)
class ReadingPolicy:
    """Settings that decide how a message is read (shared by the worker, `hub map` and
    `hub remap`)."""

    fallback_charset: str = "utf-8"
    authorities: frozenset[str] = frozenset()
    referent_senders: tuple[str, ...] = ("CNS^*",)  # who declares référents (A31)
    resume_document_type: str = "60591-5"  # TXA-2 of a résumé patient ([resume] document_type)

    def actions_for(self, message: Message, verdict: Verdict | None) -> list[Any]:
        """What `message` does besides entries (patient actions, applied when filing), given
        the identity `verdict` (None for a registry message); raises like mapping does (a
        MappingError names the field). A plain reading policy reads none."""
        return []
