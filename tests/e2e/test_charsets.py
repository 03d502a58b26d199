"""Character sets through a real hub (listener, RabbitMQ, worker, store), on SQLite and
PostgreSQL: whatever MSH-18 says (UTF-8, 8859/1, 8859/15 with the characters where it differs
from 8859/1, or nothing, read as ASCII with the configured fallback), `hub dossier show --json`
gives back exactly the names sent; escapes are decoded in stored values; a Z-segment stays in
the stored raw copy and out of the entries; undecodable bytes are AR 102 at MSH-18, kept and
counted."""
from __future__ import annotations

from pathlib import Path

from hub.store.engine import make_engine
from hub.store.keyring import Keyring
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.acks import send_with_python_hl7
from tests.fixtures.messages import SyntheticPatient, oru_r01, patient

# (MSH-18, codec of the bytes, family name, given name, an ST value)
CASES = [
    ("UNICODE UTF-8", "utf-8", "Schmïtt-Müller", "Léa Gaëlle", "Œuvre Š 12 €"),
    ("8859/1", "latin-1", "Weiß-Kärcher", "Françoise Jürgen", "Gaëlle ß ü"),
    ("8859/15", "iso8859-15", "Šebek-Œlberg", "Gaëlle Jürgen", "Forfait 12 € Œ Š ž"),
    ("", "iso8859-15", "Kärcher-Weiß", "Léa Françoise", "Acompte 5 € Œ"),   # the fallback
    ("", "ascii", "Schmitt", "Lea", "plain"),
]
FALLBACK = "iso8859-15"   # configured: hl7.fallback_charset
ESCAPED = "A \\T\\ B \\F\\ C \\S\\ D \\E\\ E"


def _person(n: int, family: str, given: str) -> SyntheticPatient:
    base = patient(60 + n)
    return SyntheticPatient(base.matricule, family, given, base.birth_date)


def _message(n: int, person: SyntheticPatient, msh18: str, value: str) -> str:
    lines = oru_r01(person, f"CS-{n}", n_obx=1, charset=msh18).rstrip("\r").split("\r")
    lines += [f"OBX|2|ST|8251-1^Note||{value}||||||F", f"OBX|3|ST|8251-2^Escaped||{ESCAPED}||||||F",
              "ZLU|1|zlu-private-data"]
    return "\r".join(lines) + "\r"


def test_names_read_back_exactly_in_every_character_set(hub_env):
    people = [_person(n, family, given) for n, (_, _, family, given, _) in enumerate(CASES)]
    sent = [_message(n, person, msh18, value).encode(codec)
            for n, (person, (msh18, codec, _, _, value)) in enumerate(zip(people, CASES))]
    # MSH-2 with v2.7's truncation character, as real v2.5 senders send it.
    truncating = _person(8, "Weiß-Schmïtt", "Gaëlle")
    sent.append(_message(8, truncating, "UNICODE UTF-8", "ok").replace(
        "MSH|^~\\&|", "MSH|^~\\&#|", 1).encode("utf-8"))
    assert sent[-1].startswith(b"MSH|^~\\&#|")
    bad = _message(9, _person(9, "Kärcher", "Jürgen"), "UNICODE UTF-8", "x").encode("latin-1")
    hub_env.start(HUB_HL7__FALLBACK_CHARSET=FALLBACK)

    acks = send_with_python_hl7(hub_env.mllp_port, [*sent, bad])

    assert [a.code for a in acks] == ["AA"] * (len(CASES) + 1) + ["AR"]
    assert (acks[-1].err_code, acks[-1].err_location) == ("102", "MSH^1^18")
    assert "undecodable" in acks[-1].text and "Kärcher" not in acks[-1].text
    assert hub_env.wait_until(lambda: hub_env.hub_json("status")["messages"]["stored"]
                              == len(CASES) + 1), hub_env.logs()
    for person, (_, _, family, given, value) in zip(people, CASES):
        dossier = hub_env.hub_json("dossier", "show", person.matricule)
        assert (dossier["patient"]["family_name"], dossier["patient"]["given_name"]) == (
            family, given)
        values = [e["value"] for e in dossier["entries"] if e["kind"] == "lab_result"]
        assert values[1:] == [value, "A & B | C ^ D \\ E"]
        assert not any("zlu-private" in str(e) for e in dossier["entries"])

    dossier = hub_env.hub_json("dossier", "show", truncating.matricule)
    assert (dossier["patient"]["family_name"], dossier["patient"]["given_name"]) == (
        "Weiß-Schmïtt", "Gaëlle")
    assert [e["value"] for e in dossier["entries"]][1:] == ["ok", "A & B | C ^ D \\ E"]

    counts = hub_env.hub_json("status")["messages"]
    assert (counts["received"], counts["rejected"]) == (len(CASES) + 2, 1)
    stored = {m["control_id"]: m["id"] for m in hub_env.hub_json("messages")}
    raw = _raw_copies(hub_env, [stored[f"CS-{n}"] for n in (0, 9)])
    assert raw == [sent[0], bad]   # the Z-segment and the undecodable bytes kept as received
    assert b"ZLU|1|zlu-private-data" in raw[0]


def _raw_copies(env, ids: list[str]) -> list[bytes]:
    engine = make_engine(env.env["HUB_DATABASE_URL"])
    try:
        with UnitOfWork(engine, Keyring.load_or_create(Path(env.env["HUB_KEY_FILE"]))) as uow:
            return [uow.messages.raw(message_id) for message_id in ids]
    finally:
        engine.dispose()
