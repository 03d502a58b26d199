"""Stored ORU^R01 messages filed as the worker files them, under yesterday's mappings (today's
with one change), for the re-mapping tests."""
from __future__ import annotations

import shutil
from pathlib import Path

from hub.broker import headers as h
from hub.broker.port import Delivery
from hub.routing.filing import file_batch
from hub.mapping.loader import MappingSet, load_mappings
from hub.routing.outcome import RoutingPolicy, decide
from hub.store.tables import new_id
from tests.fixtures.hub_process import REPO

POLICY = RoutingPolicy()
TODAY = load_mappings(REPO / "mappings")
TODAY_UNIT = "mmol/L"  # OBX-6.1 (the first of the unit's paths that has a value)


def mappings_where(tmp_path: Path, old: str, new: str) -> MappingSet:
    """The repository's mappings with one change to ORU_R01.toml (yesterday's, say)."""
    folder = tmp_path / f"mappings-{len(list(tmp_path.glob('mappings-*')))}"
    shutil.copytree(REPO / "mappings", folder)
    oru = folder / "ORU_R01.toml"
    text = oru.read_text()
    assert old in text
    oru.write_text(text.replace(old, new))
    return load_mappings(folder)


WITHOUT_UNIT = ('unit = ["OBX-6.1", "OBX-6.2"]\n', "")
WITHOUT_ST = ('unless = { path = "OBX-2", in = ["ED"] }',
              'unless = { path = "OBX-2", in = ["ED", "ST"] }')


def file(uow_factory, mappings: MappingSet, raw: str, n: int) -> str:
    """File one ORU as the worker does, with `mappings`; its message id."""
    return file_many(uow_factory, mappings, [raw], first=n)[0]


def file_many(uow_factory, mappings: MappingSet, raws: list[str], first: int = 0) -> list[str]:
    """File ORUs as the worker files a batch (one transaction), with `mappings`; their ids.
    Their control ids are R{first}, R{first + 1}, ..."""
    deliveries = [Delivery(tag=n, body=raw.encode(), message_id=new_id(), headers={
        h.VERDICT: h.ACCEPTED, h.SENDER: "LAB^CHL", h.CONTROL_ID: f"R{n}", h.TYPE: "ORU^R01",
        h.VERSION: "2.5"}) for n, raw in enumerate(raws, start=first)]
    with uow_factory() as uow:
        states = file_batch(uow, [decide(d, mappings, POLICY) for d in deliveries])
        uow.commit()
    assert {state.value for state in states} == {"stored"}
    return [d.message_id for d in deliveries]
