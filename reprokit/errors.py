"""The one user-facing error type and the one handler that maps errors to exit codes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

# Documented exit codes (README "Exit codes"). Kept in one place so commands agree.
EXIT_OK = 0
EXIT_FAILURE = 1  # a finding, a failed run, or a ReprokitError
EXIT_USAGE = 2  # argparse's own code for bad command lines
EXIT_MISMATCH = 3  # replay --verify: the numbers did not match
EXIT_ENV_REFUSED = 4  # replay --strict: the environment differs
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGTERM


class ReprokitError(Exception):
    """An error meant for a person: what is wrong, where, and what to do next."""

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int = EXIT_FAILURE):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


def _write_crash_log(exc: BaseException) -> Path:
    # Imported here: every command imports this module, and tempfile (shutil, random,
    # bz2, lzma) plus traceback cost ~4 ms of start-up that only a crash needs.
    import tempfile
    import traceback

    fd, name = tempfile.mkstemp(prefix="reprokit-crash-", suffix=".log")
    with os.fdopen(fd, "w") as f:
        f.write("".join(traceback.format_exception(exc)))
    return Path(name)


def run_with_handler(func: Callable[[], int]) -> int:
    """Run a command; turn errors into a message on stderr and a documented exit code."""
    try:
        return func()
    except ReprokitError as e:
        from reprokit.tables import safe_text

        # Messages quote records and file names: control characters escaped.
        print(f"reprokit: error: {safe_text(e, lines=True)}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("reprokit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `reprokit runs | head` closes the pipe early; that is not an error.
        return EXIT_OK
    except Exception as e:
        from reprokit.tables import safe_text

        log = _write_crash_log(e)
        print(
            f"reprokit: unexpected error: {type(e).__name__}: {safe_text(e)}\n"
            f"  the full traceback is in {log}; please include it in a bug report",
            file=sys.stderr,
        )
        return EXIT_FAILURE
