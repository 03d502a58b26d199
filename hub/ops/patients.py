"""One dossier for a legacy 11-digit matricule and its 13-digit form, on an operator's word
(`hub patient link`) or by the successor rule for every legacy dossier at once; shared by the
`hub` command and any page that offers the same.

hub.routing.legacy_link merges and journals (`patient.merged` in both journals); each function
here is one committed transaction around it. What they return names dossiers by id, never by
matricule.
"""
from __future__ import annotations

from hub.domain.audit import Actor
from hub.domain.models import Merge
from hub.domain.operator import Operator
from hub.domain.ports import UnitOfWorkFactory
from hub.routing.legacy_link import link_all_legacy, link_forms


def link_legacy(uow_factory: UnitOfWorkFactory, legacy: str, matricule: str,
                by: Operator | None = None) -> Merge | None:
    """Link the dossier of `legacy` (11 digits, validated) into the one of `matricule` (13
    digits, validated), as the operator `by`; None when they already are one dossier."""
    with uow_factory() as uow:
        merge = link_forms(uow, legacy, matricule, actor=Actor.OPERATOR, why="operator",
                           operator=by.name if by else None)
        uow.commit()
    return merge


def link_every_legacy(uow_factory: UnitOfWorkFactory) -> list[Merge]:
    """Merge every legacy dossier into its successor's by the rule (what turning
    `[identity] link_legacy_forms` on asks of an existing store); the merges made."""
    with uow_factory() as uow:
        merges = link_all_legacy(uow)
        uow.commit()
    return merges
