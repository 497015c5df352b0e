"""Dispatch only: each command (``reprokit.cli.commands``) imports its module when it
runs, so ``reprokit --help`` and ``reprokit check`` stay fast; ``main`` is the entry point."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from reprokit.cli.commands import BY_NAME
from reprokit.cli.parser import attach_dash_values, build_parser
from reprokit.errors import run_with_handler
from reprokit.settings import load_settings


def _dispatch(args: argparse.Namespace) -> int:
    command = BY_NAME[args.command]
    # Command-line mistakes first: they exit 2 whatever the project's settings say.
    if command.check_args is not None:
        command.check_args(args)
    settings = load_settings()
    if getattr(args, "outputs", None) is not None:
        settings = settings.with_outputs(args.outputs)
    return command.run(args, settings)


def main(argv: Sequence[str] | None = None) -> int:
    # No argv: this is the process's entry point (console script, `python -m reprokit`),
    # which exits when the command returns; in-process callers pass argv.
    invocation = argparse.Namespace(exits_after=argv is None)
    argv = attach_dash_values(sys.argv[1:] if argv is None else argv)
    # A command first: build only its sub-parser (options first, as in `reprokit --help`,
    # get the full one).
    parser = build_parser(argv[0] if argv and not argv[0].startswith("-") else None)
    args = parser.parse_args(argv, namespace=invocation)
    if args.version:
        from reprokit import __version__

        print(f"reprokit {__version__}")
        return 0
    if args.command is None:
        parser.print_help()
        return 0
    return run_with_handler(lambda: _dispatch(args))


if __name__ == "__main__":
    sys.exit(main())
