"""The argument parser, built from the table of commands (``reprokit.cli.commands``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from reprokit.cli.commands import BY_NAME, COMMANDS
from reprokit.errors import ERROR_PREFIX, EXIT_USAGE


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors under the prefix every other reprokit error has
    (``reprokit: error: ...`` rather than ``reprokit runs: error: ...``); exit 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{ERROR_PREFIX}{message}\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that command's sub-parser is really built.

    Each sub-parser costs ~0.15 ms (gettext look-ups per help string): ~2 ms for all of
    them on every launch. The top-level usage names no commands (metavar COMMAND), so
    ``reprokit launch ...`` parses and reports errors exactly as with the full parser.
    """
    if only is not None and only not in BY_NAME:
        only = None  # not a command: argparse's error lists every command
    p = _Parser(
        prog="reprokit",
        description="Git-integrated lineage and reproducibility for Python/PyTorch experiments.",
    )
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        if only is None or command.name == only:
            command.add_arguments(sub.add_parser(command.name, help=command.help))
    return p


def attach_dash_values(argv: Sequence[str]) -> list[str]:
    """``--sort -val_acc`` -> ``--sort=-val_acc``: argparse would take ``-val_acc`` for an option."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] == "--sort" and arg.startswith("-") and arg != "--":
            out[-1] = f"--sort={arg}"
        else:
            out.append(arg)
    return out
