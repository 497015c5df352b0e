"""The one subprocess helper for git (STYLE.md habit 5).

Every git call in reprokit goes through :func:`run_git`, so a failure always reads the
same way: the command, its exit code and git's own stderr. Output is bytes: callers
parse NUL-separated (``-z``) listings and binary patches, and decode only what is text.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from reprokit.errors import ReprokitError

# The author of every commit reprokit writes (snapshots, the empty base): snapshots work on
# machines with no git user configured and never leak the user's name/email into refs
# that may be pushed.
REPROKIT_IDENTITY = MappingProxyType(
    {
        "GIT_AUTHOR_NAME": "reprokit",
        "GIT_AUTHOR_EMAIL": "reprokit@localhost",
        "GIT_COMMITTER_NAME": "reprokit",
        "GIT_COMMITTER_EMAIL": "reprokit@localhost",
    }
)


# Talking to a remote (replay's fetch of a snapshot, push and pull of shared runs) must fail
# fast rather than wait for a password nobody will type, and only over transports that
# cannot run a command: an `ext::` remote runs one, and an `fd::` remote once made replay
# wait forever. GIT_ALLOW_PROTOCOL is git's own allow-list (it wins over any
# protocol.*.allow setting); GIT_PROTOCOL_FROM_USER=0 refuses "user"-only transports.
REMOTE_ENV = MappingProxyType(
    {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "true",
        "SSH_ASKPASS": "true",
        "GIT_ALLOW_PROTOCOL": "file:git:ssh:http:https",
        "GIT_PROTOCOL_FROM_USER": "0",
    }
)
REMOTE_CONFIG = ("-c", "protocol.ext.allow=never", "-c", "protocol.fd.allow=never")
# A fetch or push that has not finished by then is stopped (with everything it started).
REMOTE_TIMEOUT_S = 120.0


class GitError(ReprokitError):
    """A git command failed; the message shows the command, exit code and stderr."""

    def __init__(
        self,
        args: Sequence[str],
        cwd: Path,
        returncode: int,
        stderr: bytes,
        *,
        hint: str | None = None,
    ) -> None:
        self.args_run = tuple(args)
        self.cwd = cwd
        self.returncode = returncode
        self.stderr = stderr.decode("utf-8", "replace").strip()
        command = " ".join(["git", *args])
        message = f"`{command}` failed with exit code {returncode} in {cwd}"
        if self.stderr:
            message += ":\n  " + self.stderr.replace("\n", "\n  ")
        super().__init__(message, hint=hint)


def run_git(
    *args: str,
    cwd: Path,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float | None = None,
) -> bytes:
    """Run ``git *args`` in ``cwd`` and return its stdout as bytes.

    ``env`` adds to (and overrides) the current environment rather than replacing it, so
    callers pass only what they change (``GIT_INDEX_FILE``, an identity). With
    ``check=False`` a non-zero exit returns stdout instead of raising :class:`GitError`.
    With ``timeout`` (seconds) git and everything it started (ssh, a remote helper) are
    killed when it runs longer, and :class:`GitTimeout` is raised whatever ``check`` says.
    """
    full_env = None if env is None else {**os.environ, **env}
    try:
        if timeout is not None:
            return _run_bounded(args, cwd, input, full_env, check, timeout)
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            input=input,
            env=full_env,
            capture_output=True,
            # No stdin unless we feed one: git must never wait for a terminal prompt.
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except FileNotFoundError as e:
        if not Path(cwd).is_dir():
            raise ReprokitError(f"folder {cwd} does not exist") from e
        raise ReprokitError(
            "git is not installed or not on PATH",
            hint="install git (https://git-scm.com/downloads) and try again",
        ) from e
    if check and proc.returncode != 0:
        raise GitError(args, cwd, proc.returncode, proc.stderr)
    return proc.stdout


class GitTimeout(ReprokitError):
    """A git command ran past its time limit and was killed."""


def _run_bounded(
    args: Sequence[str],
    cwd: Path,
    input: bytes | None,
    env: dict[str, str] | None,
    check: bool,
    timeout: float,
) -> bytes:
    # A session of its own, so the kill reaches git's children too: a fetch over an
    # `fd::` remote once waited forever, and killing git alone leaves ssh or a remote
    # helper holding the pipes open, so reading them would wait forever as well.
    proc = subprocess.Popen(
        ["git", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        command = " ".join(["git", *args])
        raise GitTimeout(
            f"`{command}` did not finish within {timeout:g} s and was stopped",
            hint="check that the remote answers (network, a password prompt), then try again",
        ) from None
    except BaseException:
        _kill_group(proc)
        raise
    if check and proc.returncode != 0:
        raise GitError(args, cwd, proc.returncode, err)
    return out


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    import signal

    with contextlib.suppress(ProcessLookupError, PermissionError):
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # Windows: no process groups; git alone
            proc.kill()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    proc.wait()


# git's own words (LC_ALL=C keeps them English) for "there is no working tree here". Any
# other failure, such as "dubious ownership", is an error: swallowing it would silently
# record runs without their code state.
_NO_WORKTREE = ("not a git repository", "must be run in a work tree")
# ...except this one: "not a git repository: <path>" names the folder a `.git` file (or
# GIT_DIR) points at, which does not exist.
_BROKEN_GITFILE = "not a git repository: "
_C_LOCALE = MappingProxyType({"LC_ALL": "C"})


def locate(*args: str, cwd: Path) -> bytes | None:
    """``git rev-parse --show-toplevel *args``; None when ``cwd`` is in no working tree."""
    try:
        return run_git("rev-parse", "--show-toplevel", *args, cwd=cwd, env=_C_LOCALE)
    except GitError as e:
        if _BROKEN_GITFILE in e.stderr:
            # A `.git` file naming a folder that is gone (the main repository of a linked
            # worktree moved): not "no repository", or runs would be recorded without code.
            raise ReprokitError(
                f"{cwd}: git cannot open this working tree's repository:\n  {e.stderr}",
                hint="if the main repository moved, run `git worktree repair` in it "
                "(or `git worktree repair <this folder>`), then try again",
            ) from e
        if any(words in e.stderr for words in _NO_WORKTREE):
            return None
        raise


def git_toplevel(cwd: Path) -> Path | None:
    """The top folder of the working tree containing ``cwd``; None outside a repository."""
    out = locate(cwd=cwd)
    top = out.decode("utf-8", "surrogateescape").strip() if out is not None else ""
    return Path(top) if top else None


def not_a_repository(cwd: Path) -> str:
    """The one way reprokit says that ``cwd`` is in no git working tree."""
    return f"{cwd} is not in a git repository"


def require_toplevel(cwd: Path, *, hint: str, because: str = "") -> Path:
    """:func:`git_toplevel`, or a ReprokitError saying ``cwd`` is in no repository (plus
    ``because``, why this command needs one) with ``hint``, what to do about it."""
    top = git_toplevel(cwd)
    if top is None:
        raise ReprokitError(not_a_repository(cwd) + because, hint=hint)
    return top
