"""``reprokit pull [REMOTE]``: bring teammates' shared runs into ``outputs/<user>@<host>/``.

Fetches ``refs/reprokit/shared/*`` (not your own namespace) from a configured remote, then
makes a run folder for each shared run that is not here yet. What a commit holds came from
someone else, so before anything is written every entry is checked (a name from the
allow-list, a plain file, not a link or a submodule, within the size limits) and the
record is read the way every record is (``store.read_record``, then ``trust`` for the ids
and commits that reach git). The folder is filled under a hidden claim name and renamed
into place, so it appears complete or not at all, and a rename never replaces a run folder
that exists: a pull never overwrites a run. A refused run is named with the reason and
skipped; the rest are pulled.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from reprokit.errors import ReprokitError, UsageError
from reprokit.gitcmd import (
    REMOTE_CONFIG,
    REMOTE_ENV,
    REMOTE_TIMEOUT_S,
    GitError,
    require_toplevel,
    run_git,
)
from reprokit.paths import shown
from reprokit.record import share, store, trust
from reprokit.settings import Settings
from reprokit.tables import safe_text

_CLAIM_PREFIX = ".claim-pull-"
# A pulled file is written with these permissions whatever mode the commit says.
_FILE_MODE = 0o644


@dataclass
class _Tally:
    pulled: list[str] = field(default_factory=list)
    present: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Entry:
    """One file of a shared commit: its name in the run folder, blob and size."""

    name: str
    blob: str
    size: int


def pull(
    remote: str | None,
    *,
    settings: Settings,
    max_artifact_mb: float = share.DEFAULT_MAX_ARTIFACT_MB,
    max_file_bytes: int = share.MAX_RECORD_FILE_BYTES,
) -> int:
    """Fetch teammates' shared runs from ``remote`` into ``settings.outputs``; exit code
    (1 when any run was refused, after pulling the others)."""
    if max_artifact_mb <= 0:
        raise UsageError(f"--max-artifact-mb must be > 0, not {max_artifact_mb:g}")
    top = require_toplevel(settings.root, hint="pull into a clone of the repository you share")
    name = share.configured_remote(top, remote)
    try:
        own: str | None = share.own_namespace(top)
    except ReprokitError:
        own = None  # no identity: nothing here is yours to leave out
    _fetch(top, name, own)
    limits = (max_file_bytes, int(max_artifact_mb * 2**20))
    tally = _Tally()
    for ref, commit in _shared_refs(top):
        _pull_one(top, settings.outputs, ref, commit, own, limits, tally)
    for run_id, why in tally.refused:
        print(f"reprokit: refused {run_id}: {safe_text(why)}", file=sys.stderr)
    if tally.refused:
        print(
            "reprokit: hint: nothing of a refused run was written; ask its author to push it"
            " again with reprokit, or delete its ref on the remote"
            f" (`git push {name} :{share.SHARED_REFS}/<user>@<host>/run_N`)",
            file=sys.stderr,
        )
    print(
        f"reprokit: pulled {len(tally.pulled)} runs from {name}"
        + (f" ({', '.join(tally.pulled)})" if 0 < len(tally.pulled) <= 6 else "")
        + f"; {tally.present} already here, {len(tally.refused)} refused"
    )
    return 1 if tally.refused else 0


def _fetch(top: Path, remote: str, own: str | None) -> None:
    # "+": a teammate may rewrite their namespace; a folder already pulled stays as it is.
    # Never your own namespace: those refs are what `push` made here.
    refspecs = [f"+{share.SHARED_REFS}/*:{share.SHARED_REFS}/*"]
    if own is not None:
        refspecs.append(f"^{share.SHARED_REFS}/{own}/*")
    try:
        run_git(
            *REMOTE_CONFIG, "fetch", "--quiet", "--no-tags", remote, *refspecs,
            cwd=top, env=REMOTE_ENV, timeout=REMOTE_TIMEOUT_S,
        )  # fmt: skip
    except GitError as e:
        raise ReprokitError(
            f"fetching the shared runs from {remote} failed:\n  " + e.stderr.replace("\n", "\n  "),
            hint="check that the remote answers and that you may read it",
        ) from e


def _shared_refs(top: Path) -> list[tuple[str, str]]:
    """(ref, commit) of every shared ref here whose object is a commit."""
    out = run_git(
        "for-each-ref", "--format=%(refname)%00%(objectname)%00%(objecttype)",
        share.SHARED_REFS + "/", cwd=top,
    )  # fmt: skip
    found = []
    for line in out.decode("utf-8", "replace").splitlines():
        ref, _, rest = line.partition("\0")
        commit, _, kind = rest.partition("\0")
        found.append((ref, commit if kind == "commit" else ""))
    return found


def _pull_one(
    top: Path,
    outputs: Path,
    ref: str,
    commit: str,
    own: str | None,
    limits: tuple[int, int],
    tally: _Tally,
) -> None:
    parsed = share.parse_shared_ref(ref)
    if parsed is None or not commit:
        tally.refused.append((ref, "not <user>@<host>/run_<number> naming a commit"))
        return
    namespace, run_id = parsed
    if namespace == own:
        return
    shown_id = f"{namespace}/{run_id}"
    target = outputs / namespace / run_id
    if os.path.lexists(target):
        tally.present += 1
        return
    try:
        entries = _entries(top, commit, limits)
        if _materialize(top, outputs / namespace, run_id, entries):
            tally.pulled.append(shown_id)
        else:
            tally.present += 1
    except ReprokitError as e:
        tally.refused.append((shown_id, e.message))
    except OSError as e:  # the outputs folder: not writable, full, a file where a folder goes
        tally.refused.append((shown_id, f"cannot write {shown(target)}: {e.strerror or e}"))


def _ls_tree(top: Path, tree: str) -> list[tuple[str, str, str, str, str]]:
    """(mode, type, object, size, name) of each entry of ``tree``."""
    out = run_git("ls-tree", "-z", "-l", "--end-of-options", tree, cwd=top)
    rows = []
    for item in out.split(b"\0"):
        if not item:
            continue
        meta, _, name = item.partition(b"\t")
        mode, kind, obj, size = meta.decode().split()
        rows.append((mode, kind, obj, size, name.decode("utf-8", "replace")))
    return rows


def _entries(top: Path, commit: str, limits: tuple[int, int]) -> list[_Entry]:
    """The files a shared commit holds, each checked: names from the allow-list (record
    files at the top, plain names in ``artifacts/``), plain files only, within limits."""
    max_file, max_artifact = limits
    entries = []
    for mode, kind, obj, size, name in _ls_tree(top, f"{commit}^{{tree}}"):
        if name == share.ARTIFACTS and kind == "tree":
            for sub in _ls_tree(top, obj):
                entries.append(_checked(sub, max_artifact, artifact=True))
            continue
        entries.append(_checked((mode, kind, obj, size, name), max_file, artifact=False))
    if not any(e.name == store.RECORD_FILE for e in entries):
        raise ReprokitError(f"the shared commit {commit[:12]} holds no {store.RECORD_FILE}")
    return entries


def _checked(row: tuple[str, str, str, str, str], limit: int, *, artifact: bool) -> _Entry:
    mode, kind, obj, size, name = row
    where = f"{share.ARTIFACTS}/{name}" if artifact else name
    if artifact:
        allowed = bool(share.ARTIFACT_NAME.fullmatch(name)) and name not in share.RECORD_FILES
    else:
        allowed = name in share.RECORD_FILES
    if not allowed:
        what = "artifact name" if artifact else "record file name"
        raise ReprokitError(
            f"{where!r} is not an allowed {what} (a run folder holds only "
            f"{', '.join(share.RECORD_FILES)} and plain-named artifacts)"
        )
    if kind != "blob" or mode not in ("100644", "100755"):
        kinds = {"120000": "a symbolic link", "160000": "a submodule", "040000": "a folder"}
        raise ReprokitError(f"{where} is {kinds.get(mode, f'mode {mode}')}, not a plain file")
    if int(size) > limit:
        raise ReprokitError(
            f"{where} is {int(size) / 2**20:.1f} MiB, over the {limit / 2**20:g} MiB a pull"
            " accepts" + (" (--max-artifact-mb)" if artifact else "")
        )
    return _Entry(name, obj, int(size))


def _materialize(top: Path, folder: Path, run_id: str, entries: list[_Entry]) -> bool:
    """Write the run folder ``folder/run_id`` from ``entries`` (a claim folder renamed
    into place); False when a run folder appeared there meanwhile (it is kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    if not stat.S_ISDIR(os.lstat(folder).st_mode):
        raise ReprokitError(f"{shown(folder)} is not a folder (a link?); not writing into it")
    store.remove_stale_claims(folder)
    claim = folder / f"{_CLAIM_PREFIX}{os.getpid()}.{time.monotonic_ns()}"
    os.mkdir(claim)
    try:
        _write_files(top, claim, entries)
        try:
            _validate(claim, run_id)
        except ReprokitError as e:
            # Named as the file of the shared run, not of the hidden claim folder.
            for where in (f"{claim}{os.sep}", f"{shown(claim)}{os.sep}"):
                e.message = e.message.replace(where, "")
            raise
        try:
            # rename(2) never replaces a folder that has files: a run here is kept.
            os.rename(claim, folder / run_id)
        except OSError:
            if os.path.lexists(folder / run_id):
                return False  # another pull, or a folder made meanwhile
            raise
        return True
    finally:
        if claim.exists():
            shutil.rmtree(claim, ignore_errors=True)


def _write_files(top: Path, claim: Path, entries: list[_Entry]) -> None:
    """Each blob as a new file in the claim folder (never through a link, never over one)."""
    for entry in entries:
        data = run_git("cat-file", "blob", entry.blob, cwd=top)
        if len(data) != entry.size:
            raise ReprokitError(f"{entry.name}: its blob is not the size its tree says")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(claim / entry.name, flags, _FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)


def _validate(claim: Path, run_id: str) -> None:
    """The pulled record, read as every record is, and the values that reach git checked."""
    record = store.read_record(claim)
    record_file = Path(store.RECORD_FILE)
    if record.get("id") != run_id:
        raise trust.refusal(record_file, "id", f"is not {run_id}, the run it was shared as",
                            record.get("id"))  # fmt: skip
    git_record = record.get("git")
    if isinstance(git_record, dict):
        for key in ("sha", "snapshot", "tree"):
            trust.commit_id(git_record.get(key), record_file, f"git.{key}")
        trust.snapshot_ref(git_record.get("snapshot_ref"), record_file, "git.snapshot_ref")
    store.read_summary(claim)
    store.read_metrics(claim)
