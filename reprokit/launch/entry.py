"""A launch in a child process: ``python -m reprokit.launch.entry REQUEST.json RESULT.json``.

Reads the :class:`~reprokit.launch.request.LaunchRequest` (checked), launches it from the
project of the working directory, and writes the claimed run's id and folder to
``RESULT.json`` as soon as its folder exists (:func:`reprokit.launch.request.write_claimed`),
so the parent learns where the record is even when ``main`` crashes. Exits with the run's
exit code, or a reprokit error's (the one handler, :func:`reprokit.errors.run_with_handler`).
Replay starts it through its own bootstrap (:mod:`reprokit.replay.child`) and calls
:func:`main` with the same two arguments.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from reprokit.errors import UsageError, run_with_handler


def _run(argv: Sequence[str]) -> int:
    if len(argv) != 2:
        raise UsageError(
            "usage: python -m reprokit.launch.entry REQUEST.json RESULT.json",
            hint="the request is written by reprokit (see reprokit/launch/request.py)",
        )
    from reprokit.launch import command, request
    from reprokit.settings import load_settings

    wanted = request.read_request(Path(argv[0]))
    result_file = Path(argv[1]).absolute()
    settings = load_settings()
    if wanted.outputs is not None:
        settings = settings.with_outputs(wanted.outputs)

    def claimed(run_id: str, run_dir: Path) -> None:
        request.write_claimed(result_file, run_id, run_dir)

    launched = command.run(wanted, settings=settings, exits_after=True, on_claimed=claimed)
    return launched.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    return run_with_handler(lambda: _run(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
