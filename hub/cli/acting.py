"""Who is acting at the `hub` command: `--as CNS_CODE` names a professional; anyone else is the
operator, named by `--operator NAME`, else the environment's HUB_OPERATOR, else the OS user
(`getpass.getuser()`). hub.ops takes the result as an explicit parameter and journals it.
"""
from __future__ import annotations

import argparse
import getpass
import os

from hub.domain.operator import Operator
from hub.domain.professional import validate_cns_code
from hub.errors import HubError

ENV = "HUB_OPERATOR"


def add_operator_option(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give a command that reads or changes patient data its `--operator NAME`."""
    parser.add_argument("--operator", metavar="NAME",
                        help=f"who is at the command, for the patient's journal (default: "
                        f"${ENV}, else the OS user)")
    return parser


def operator(args: argparse.Namespace) -> Operator:
    """The operator at the command: --operator, else HUB_OPERATOR, else the OS user. HubError
    when none can be named."""
    name = getattr(args, "operator", None) or os.environ.get(ENV)
    if not name:
        try:
            name = getpass.getuser()
        except Exception:  # noqa: BLE001 - no login name (a container without a passwd entry)
            raise HubError(f"who is acting? give --operator NAME or set {ENV}") from None
    return Operator(name)


def reader(args: argparse.Namespace) -> str | Operator:
    """Who reads: the professional of `--as` (a validated CNS code), else the operator."""
    viewer = getattr(args, "viewer", None)
    return operator(args) if viewer is None else validate_cns_code(viewer)
