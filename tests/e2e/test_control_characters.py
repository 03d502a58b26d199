"""Control characters through a real hub (listener, RabbitMQ, worker, store), read back by the
commands and the dashboard people use.

A raw ESC in a field is refused as a data type error of that field, and its ACK (read by
python-hl7) echoes MSH-10; a raw form feed (a page break) is accepted. `\\X1B\\` escapes are
decoded and stored in entries as the sender sent them (NUL and FS included), and no human output
sends them to a terminal or a page: `hub dossier show` shows `\\x1b`, while `--json` carries the
character escaped as JSON does. A sender (MSH-3/MSH-4, a key kept in clear) decoded to control
characters is kept in hub.text.inert's notation: a NUL there once made PostgreSQL refuse the
message forever after its AA.
"""
from __future__ import annotations

import base64
import json
import unicodedata
import urllib.request

from hub.dashboard.auth import hash_password
from tests.fixtures.acks import send_with_python_hl7
from tests.fixtures.messages import oru_r01, patient

USER, PASSWORD = "ops", "a test password, not a real one"
CLEAR = "\x1b[2J"                      # clear the screen
LEAD = "value=4.1, unit=mmol/L, abnormal_flag=N, reference_range=3.0-5.0"


def _message(control_id: str, n: int, *extra_obx: str, sending_app: str = "LABSYS") -> bytes:
    text = oru_r01(patient(n), control_id, n_obx=1).replace("MSH|^~\\&|LABSYS|",
                                                            f"MSH|^~\\&|{sending_app}|", 1)
    return (text + "".join(f"{line}\r" for line in extra_obx)).encode("utf-8")


def _controls(text: str) -> set[str]:
    return {c for c in text if unicodedata.category(c) in ("Cc", "Cf") and c != "\n"}


def _page(env, path: str) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{env.http_port}/dashboard/{path}")
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode("utf-8")


def test_control_characters_are_refused_raw_and_shown_inert_once_decoded(hub_env):
    raw_esc = _message("CTL-RAW", 81, "OBX|2|ST|8251-1^Note||before\x1b[2Jafter||||||F")
    page_break = _message("CTL-FF", 82, "OBX|2|ST|8251-1^Report||page 1\x0cpage 2||||||F")
    escaped = _message("CTL-ESC", 83, "OBX|2|ST|8251-1^Note||\\X1B\\[2J||||||F",
                       "OBX|3|ST|8251-1^Note||a\\X00\\b\\X1C\\c||||||F",
                       sending_app="LAB\\X1B\\]0;owned\\X07\\\\X00\\")
    hub_env.start(HUB_DASHBOARD__PASSWORD_HASH=hash_password(PASSWORD, n=2**10),
                  HUB_DASHBOARD__USER=USER)

    acks = send_with_python_hl7(hub_env.mllp_port, [raw_esc, page_break, escaped])

    refused = acks[0]
    assert (refused.code, refused.control_id, refused.err_code, refused.err_location) == (
        "AR", "CTL-RAW", "102", "OBX^2^5")
    assert "0x1B" in refused.text and "before" not in refused.text
    assert [(a.code, a.control_id) for a in acks[1:]] == [("AA", "CTL-FF"), ("AA", "CTL-ESC")]
    assert hub_env.wait_until(lambda: hub_env.hub_json("status")["messages"]["stored"] == 2), \
        hub_env.logs()

    values = [e["value"] for e in hub_env.hub_json("dossier", "show", patient(82).matricule)
              ["entries"]]
    assert values == ["4.1", "page 1\x0cpage 2"]

    # The stored entry keeps what the sender sent; --json escapes it as JSON does.
    shown = hub_env.hub("dossier", "show", patient(83).matricule, "--json").stdout
    assert "\x1b" not in shown and "\\u001b[2J" in shown
    assert [e["value"] for e in json.loads(shown)["entries"]] == ["4.1", CLEAR, "a\x00b\x1cc"]

    human = hub_env.hub("dossier", "show", patient(83).matricule).stdout
    assert not _controls(human), repr(human)
    assert "value=\\x1b[2J, code=8251-1" in human and "value=a\\x00b\\x1cc, " in human
    first = next(line for line in human.splitlines() if "value=4.1" in line)
    assert LEAD in first and first.rstrip().endswith("…")   # cut after what matters, marked

    # The sender as kept (its backslashes shown doubled where they would read as an escape).
    sender = "LAB\\x1b]0;owned\\x07\\x00^CHL"
    assert json.loads(hub_env.hub("trace", "CTL-ESC", "--json").stdout)["message"]["sender"] \
        == sender
    story = hub_env.hub("trace", "CTL-ESC").stdout
    assert not _controls(story), repr(story)
    assert "from LAB\\\\x1b]0;owned\\\\x07\\\\x00^CHL" in story

    page = _page(hub_env, "trace?q=CTL-ESC")
    assert not _controls(page)
    assert '<dd data-field="sender">LAB\\\\x1b]0;owned\\\\x07\\\\x00^CHL</dd>' in page
