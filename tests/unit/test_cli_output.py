"""What the CLI prints for people: control characters a sender put in a value never reach the
terminal, rich markup in a value is shown as written, JSON escapes controls as JSON does, and a
dossier entry's line shows its value, unit, flag and range before anything else."""
import io
import json
import unicodedata

from rich.table import Table

from hub.cli.dossier_view import entry_summary, print_dossier
from hub.cli.output import PeopleConsole, print_json, print_table

HOSTILE = "\x1b[2J\x1b]0;owned\x07[bold red]x[/bold red]\x9b31m\x00\u202e21"
SHOWN = "\\x1b[2J\\x1b]0;owned\\x07[bold red]x[/bold red]\\x9b31m\\x00\\u202e21"


def controls(text: str) -> set[str]:
    return {c for c in text if unicodedata.category(c) in ("Cc", "Cf") and c != "\n"}


def test_plain_tables_show_controls_inert(capsys):
    print_table(["when", "what"], [("today", HOSTILE)])
    out = capsys.readouterr().out
    assert not controls(out)
    assert SHOWN in out


def test_plain_tables_are_aligned_never_wrapped_and_uncoloured_when_piped(capsys):
    long = "x" * 500
    print_table(["id", "what", "note"],
                [("a1", long, None), ("b", ":warning: [bold]y[/bold]", "")])
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["id  " + "what".ljust(500) + "  note",
                     f"a1  {long}",
                     "b   :warning: [bold]y[/bold]"]
    assert not any("\x1b" in line for line in lines)


def test_rich_tables_show_controls_inert_and_markup_as_written():
    console = PeopleConsole(file=io.StringIO(), width=300, force_terminal=True)
    table = Table("sender", "reason", title="found")
    table.add_row(HOSTILE, "[link=http://x]click[/link]")
    console.print(table)
    console.print(f"from {HOSTILE}")
    out = console.file.getvalue()
    assert SHOWN in out and "[link=http://x]click[/link]" in out
    # Rich's own styling is the only escape sequence left: the table's bold title and header.
    assert "\x1b[2J" not in out and "\x1b]0" not in out and "\x9b" not in out and "\x00" not in out


def test_json_escapes_controls_as_json_does(capsys):
    print_json({"value": HOSTILE})
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\u001b[2J" in out and "\\u0000" in out
    assert json.loads(out) == {"value": HOSTILE}


LONG = {"id": "e1", "kind": "lab_result", "confidentiality": "normal", "hidden": False,
        "effective_at": "2026-11-25T09:30:00", "message_id": "m1", "created_at": "2026-11-25",
        "code": "2093-3", "code_text": "Cholesterol in serum or plasma, enzymatic assay " * 3,
        "code_system": "LN", "value_type": "NM", "value": "7.9", "unit": "mmol/L",
        "reference_range": "3.0-5.0", "abnormal_flag": "H", "status": "F",
        "ordering_provider": {"cns_code": "123456-78", "family_name": "Reuter",
                              "given_name": "Marc"}, "test_text": "Lipid panel"}


def test_a_long_entry_shows_value_unit_flag_and_range_first_and_marks_the_cut():
    line = entry_summary(LONG)
    assert line.startswith("value=7.9, unit=mmol/L, abnormal_flag=H, reference_range=3.0-5.0, ")
    assert line.endswith("…") and len(line) <= 160
    assert "Reuter" not in line   # cut off, and the cut says so


def test_a_long_value_is_cut_but_unit_flag_and_range_still_show():
    line = entry_summary({**LONG, "value": "x" * 500})
    assert line.startswith("value=" + "x" * 79 + "…, unit=mmol/L, abnormal_flag=H, "
                           "reference_range=3.0-5.0")


def test_a_short_entry_is_shown_whole():
    entry = {"kind": "lab_result", "code": "2093-3", "value": "7.9", "unit": "mmol/L",
             "abnormal_flag": "", "ordering_provider": {"cns_code": "123456-78", "family_name": ""}}
    assert entry_summary(entry) == "value=7.9, unit=mmol/L, code=2093-3, ordering_provider=123456-78"


def test_the_dossier_view_prints_no_control_character(capsys):
    entry = {**LONG, "value": "\x1b[2J", "code_text": "a\x00b"}
    print_dossier({"patient": {"matricule": "1893120105732", "family_name": "Mül\x1bler",
                               "given_name": "Jean\x07", "birth_date": "1989-12-01", "sex": "F"},
                   "entries": [entry], "cns_summary": []})
    out = capsys.readouterr().out
    assert not controls(out)
    assert "value=\\x1b[2J, unit=mmol/L" in out and "Mül\\x1bler, Jean\\x07" in out


def test_hub_map_shows_a_decoded_escape_inert_and_json_escaped(tmp_path):
    import os
    import subprocess
    import sys

    from tests.fixtures.messages import oru_r01, patient

    path = tmp_path / "esc.hl7"
    path.write_text(oru_r01(patient(1), "C\\X1B\\[2J", n_obx=1))
    env = {**os.environ, "HUB_ENV_FILE": str(tmp_path / "none.env")}

    def hub_map(*extra: str) -> str:
        return subprocess.run([sys.executable, "-m", "hub.cli.main", "map", str(path), *extra],
                              env=env, capture_output=True, text=True, check=True).stdout

    human = hub_map()
    assert not controls(human) and "C\\x1b[2J" in human
    assert json.loads(hub_map("--json"))[0]["control_id"] == "C\x1b[2J"
