"""The one user-facing error type and the one handler that maps errors to exit codes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

# Documented exit codes (docs/reference.md "Exit codes"). Kept in one place so commands agree.
EXIT_OK = 0
EXIT_FAILURE = 1  # a finding, a failed run, or a ReprokitError
EXIT_USAGE = 2  # a command-line mistake: argparse's own code, and UsageError's
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


class UsageError(ReprokitError):
    """A command-line mistake found after parsing (``--limit 0``, ``--seeds`` without
    ``--ablate``): exits 2 like argparse's own errors, so scripts tell a bad command line
    (fix the call) from a command that ran and failed (exit 1)."""

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message, hint=hint, exit_code=EXIT_USAGE)


# Every error line reprokit prints starts with this, whatever found the error (argparse,
# a command, a crash), so a script or a reader greps one prefix.
ERROR_PREFIX = "reprokit: error: "


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
        print(f"{ERROR_PREFIX}{safe_text(e, lines=True)}", file=sys.stderr)
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
            f"{ERROR_PREFIX}unexpected error: {type(e).__name__}: {safe_text(e)}\n"
            f"  the full traceback is in {log}; please include it in a bug report",
            file=sys.stderr,
        )
        return EXIT_FAILURE
