"""A count given on the command line (`--limit`, `--batch-size`) must be a positive whole
number: argparse refuses the rest with its one-line error and exit 2. Before, `--limit -1`
meant "no limit" on SQLite and an SQL error on PostgreSQL, and `--limit 0` an empty answer."""
from __future__ import annotations

import pytest

from hub.cli.main import build_parser

COUNTED = [["messages", "--limit"], ["dlq", "list", "--limit"], ["trace", "--limit"],
           ["deliveries", "list", "--limit"], ["keys", "rotate", "--now", "--batch-size"]]


@pytest.mark.parametrize("command", COUNTED, ids=" ".join)
@pytest.mark.parametrize("value", ["-1", "0", "ten"])
def test_a_count_that_is_not_positive_is_refused_by_the_parser(command, value, capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([*command, value])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        f"argument {command[-1]}: not a positive whole number: {value!r}")


@pytest.mark.parametrize("command", COUNTED, ids=" ".join)
def test_a_positive_count_is_taken(command):
    args = build_parser().parse_args([*command, "5"])
    assert 5 in vars(args).values()
