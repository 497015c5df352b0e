"""The layout of shared runs (``reprokit push`` / ``reprokit pull``): names, files, remotes.

A shared run is one commit under ``refs/reprokit/shared/<user>@<host>/run_N``. Its tree
holds the run's record files (:data:`RECORD_FILES`, those present) and, when asked, an
``artifacts`` folder of the other files of the run folder; its first parent is the run's
snapshot commit, so fetching the ref brings the code with the record (and keeps it from
garbage collection). A re-push with changed files (an annotation added) makes a commit
whose second parent is the previous one, so the ref only moves forward. docs/sharing.md
describes the model; :mod:`reprokit.record.push` and :mod:`reprokit.record.pull` use it.
"""

from __future__ import annotations

import re
from pathlib import Path

from reprokit.capture.process import hostname
from reprokit.errors import ReprokitError, UsageError
from reprokit.gitcmd import run_git
from reprokit.record import store, trust

SHARED_REFS = "refs/reprokit/shared"
# Written by `reprokit annotate` (another module); pushed when present.
ANNOTATIONS_FILE = "annotations.json"
# The files of a run folder that make its record: always pushed when present, and the only
# names a pulled commit may hold at its top (besides ARTIFACTS).
RECORD_FILES = (
    store.RECORD_FILE,
    store.CONFIG_FILE,
    store.METRICS_FILE,
    store.SUMMARY_FILE,
    ANNOTATIONS_FILE,
    store.PATCH_FILE,
    store.TRACEBACK_FILE,
)
ARTIFACTS = "artifacts"
# An artifact's name: a plain file name that no shell, git or file system reads as anything
# else (no leading dot or dash, no separator, no control character).
ARTIFACT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+=-]{0,199}")
# The most one record file of a pulled run may hold (also metrics.jsonl: a teammate's run
# past this is pulled without it being readable anyway).
MAX_RECORD_FILE_BYTES = store.MAX_FILE_BYTES
DEFAULT_MAX_ARTIFACT_MB = 10.0
# The trailer of a shared commit: which run of which outputs folder it was made for, so a
# second outputs folder (or one deleted and started again) never replaces a shared run.
RUN_TRAILER = "Reprokit-Shared-Run"
_USER_BAD = re.compile(r"[^A-Za-z0-9_.-]+")
_HOST_BAD = re.compile(r"[^A-Za-z0-9.-]+")


def shared_ref(namespace: str, run_id: str) -> str:
    """``refs/reprokit/shared/alice@gpu-3/run_7``."""
    return f"{SHARED_REFS}/{namespace}/{run_id}"


def parse_shared_ref(ref: str) -> tuple[str, str] | None:
    """(namespace, run id) of a shared ref; None when it is not one (anything a remote
    holds under ``refs/reprokit/shared/`` is checked here before it names a folder)."""
    prefix = SHARED_REFS + "/"
    if not ref.startswith(prefix):
        return None
    return trust.shared_run_id(ref[len(prefix) :])


def _clean(text: str, bad: re.Pattern[str], most: int) -> str:
    cleaned = bad.sub("-", text).strip("-._")
    return cleaned[:most].rstrip("-._")


def own_namespace(top: Path) -> str:
    """This person's namespace, ``<user>@<host>``: the user from git's ``user.email``
    (the part before ``@``; else ``user.name``), the host from this machine's name (the
    part before the first dot), each reduced to the characters a namespace may hold."""
    cwd = top
    email = run_git("config", "--get", "user.email", cwd=cwd, check=False).decode().strip()
    name = run_git("config", "--get", "user.name", cwd=cwd, check=False).decode().strip()
    if not email and not name:
        # Not in any config file: git's own identity (GIT_AUTHOR_EMAIL and friends).
        ident = run_git("var", "GIT_AUTHOR_IDENT", cwd=cwd, check=False).decode()
        email = ident.partition("<")[2].partition(">")[0].strip()
    user = _clean(email.partition("@")[0] if email else name, _USER_BAD, 64)
    host = _clean(hostname().partition(".")[0], _HOST_BAD, 128) or "host"
    namespace = f"{user}@{host}"
    if not user or not trust.is_namespace(namespace):
        raise ReprokitError(
            "cannot name your shared runs: git has no user.email or user.name here",
            hint='set one (`git config user.email "you@example.com"`), then try again',
        )
    return namespace


def configured_remote(top: Path, remote: str | None) -> str:
    """The remote to push to or pull from: one configured in this repository (a URL or a
    name git does not know is refused, exit 2); by default ``origin``, or the only one."""
    out = run_git("remote", cwd=top, check=False).decode("utf-8", "replace")
    names = [n for n in out.splitlines() if n]
    if remote is None:
        if "origin" in names:
            return "origin"
        if len(names) == 1:
            return names[0]
        raise UsageError(
            "no remote given, and this repository has "
            + ("no remotes" if not names else f"several and no 'origin': {', '.join(names)}"),
            hint="name one (`git remote add origin URL` to add it)",
        )
    if remote not in names:
        known = ", ".join(names) if names else "none"
        raise UsageError(
            f"{remote!r} is not a remote of this repository (its remotes: {known})",
            hint="reprokit talks only to configured remotes: `git remote add NAME URL` first",
        )
    return remote
