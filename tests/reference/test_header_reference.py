"""The one MSH reader (hub/hl7/header.py) against python-hl7 on every corpus message: MSH-3,
-4, -7, -9 (code^event), -10, -12 and -18 as python-hl7 reads them from the same first message
of each file. A message python-hl7 cannot parse is left out (it is no reference there)."""
from __future__ import annotations

import re

import hl7

from hub.hl7.header import read_header
from tests.fixtures.corpus import corpus_files

FILES = corpus_files()


def _first_message(raw: bytes) -> str:
    text = raw.decode("latin-1").lstrip("\ufeff\xef\xbb\xbf")
    text = re.sub(r"\r\n|\n|\r", "\r", text)
    start = text.find("MSH")
    end = text.find("\rMSH", start + 3)
    return text[start:end if end > 0 else None].strip("\r")


def _reference(text: str) -> dict[str, str] | None:
    try:
        msh = hl7.parse(text).segment("MSH")
    except Exception:  # noqa: BLE001 - no reference for this message
        return None

    def field(n: int) -> str:
        return str(msh(n)) if len(msh) > n else ""

    # python-hl7 splits the fields; MSH-9's components are split on MSH-2's first character
    components = field(9).split(field(2)[:1] or "^") + ["", ""]
    code, event = components[0], components[1]
    return {"3": field(3), "4": field(4), "7": field(7), "10": field(10), "12": field(12),
            "18": field(18), "type": f"{code}^{event}" if event else code}


def test_the_msh_reader_agrees_with_python_hl7_on_the_corpus():
    compared, disagreements = 0, []
    for corpus_file in FILES:
        text = _first_message(corpus_file.path.read_bytes())
        reference = _reference(text) if text.startswith("MSH") else None
        if reference is None:
            continue
        header = read_header(text)
        assert header is not None, corpus_file.name
        ours = {"3": header.field(3), "4": header.field(4), "7": header.field(7),
                "10": header.field(10), "12": header.field(12), "18": header.field(18),
                "type": header.type}
        compared += 1
        disagreements += [(corpus_file.name, k, ours[k], v) for k, v in reference.items()
                          if ours[k] != v]
    print(f"MSH reader vs python-hl7: {compared} corpus headers, {len(disagreements)} disagreements")
    assert compared > 400
    assert not disagreements, disagreements[:10]
