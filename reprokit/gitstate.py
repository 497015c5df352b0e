"""Capture the exact working state of a git repository for a run.

:func:`capture` records HEAD, branch, remotes (credentials removed) and the dirty file
lists, and writes the complete working state (tracked files as they are on disk, staged or
not, plus untracked files that ``.gitignore`` does not exclude) as a *snapshot commit*
under ``refs/reprokit/runs/<run_id>``, parented on HEAD. The user's index, working tree,
HEAD, branches and stash are never touched: the snapshot is built in a temporary copy of
the index (``GIT_INDEX_FILE``), and ``git status`` runs with ``--no-optional-locks`` so it
does not even refresh the real index.

Rebuilding a snapshot lives in :mod:`reprokit.gitrestore` and is re-exported here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar
from urllib.parse import urlsplit, urlunsplit

from reprokit.gitcmd import locate, run_git

if TYPE_CHECKING:
    from reprokit.gitrestore import materialize, remove_worktree, snapshot_diff

__all__ = [
    "SNAPSHOT_IDENTITY",
    "PendingCapture",
    "capture",
    "materialize",
    "redact_url",
    "remove_worktree",
    "snapshot_diff",
    "snapshot_ref",
    "start_capture",
]

_RESTORE_NAMES = frozenset({"materialize", "remove_worktree", "snapshot_diff"})


def __getattr__(name: str) -> Any:
    """The re-exported restore functions, imported on first use: launch never needs them."""
    if name in _RESTORE_NAMES:
        from reprokit import gitrestore

        return getattr(gitrestore, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# A fixed identity, so snapshots work on machines with no git user configured and never
# leak the user's name/email into refs that may be pushed.
SNAPSHOT_IDENTITY = MappingProxyType(
    {
        "GIT_AUTHOR_NAME": "reprokit",
        "GIT_AUTHOR_EMAIL": "reprokit@localhost",
        "GIT_COMMITTER_NAME": "reprokit",
        "GIT_COMMITTER_EMAIL": "reprokit@localhost",
    }
)
_GITLINK_MODE = b"160000"
_HASH_CHUNK = 1 << 20
# --no-optional-locks: status must not refresh (rewrite) the user's index file.
_STATUS_ARGS = (
    "--no-optional-locks", "status", "--porcelain=v2", "-z", "--branch", "--untracked-files=all",
)  # fmt: skip
# Adds new and changed files, drops deleted ones, turns a nested repository into a gitlink;
# applies .gitattributes clean filters like `git add`.
_UPDATE_INDEX_ARGS = (
    "-c", "core.splitIndex=false", "update-index", "--add", "--remove", "-z", "--stdin",
)  # fmt: skip
# diff-tree (plumbing) ignores diff.noprefix, color and external-diff settings that would
# make `git diff` print something `git apply` rejects; --root diffs an unborn-HEAD snapshot
# against the empty tree.
_PATCH_ARGS = (
    "diff-tree", "-r", "-p", "--root", "--no-commit-id", "--binary", "--full-index",
    "--no-color", "--no-ext-diff", "--no-textconv", "--src-prefix=a/", "--dst-prefix=b/",
)  # fmt: skip


_T = TypeVar("_T")


class _Job(Generic[_T]):
    """One call on a background thread: independent git processes run concurrently.

    (A bare thread, not concurrent.futures: that import pulls in logging, and this is the
    launch path.)
    """

    def __init__(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> None:
        self._value: _T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, args, kwargs), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[..., _T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            self._value = fn(*args, **kwargs)
        except BaseException as e:  # re-raised in the caller's thread by result()
            self._error = e

    def wait(self) -> None:
        self._thread.join()

    def result(self) -> _T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


def snapshot_ref(run_id: str) -> str:
    """The ref that keeps a run's snapshot commit alive: ``refs/reprokit/runs/<run_id>``."""
    return f"refs/reprokit/runs/{run_id}"


def redact_url(url: str) -> str:
    """Remove credentials from a remote URL.

    ``https://user:token@host/x`` and ``https://token@host/x`` become ``https://host/x``;
    for ssh-like schemes the user name is kept (it is needed to connect and is not a
    secret) but a password is dropped. scp-like ``git@host:x`` has no password and is kept.
    """
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    if parts.scheme in ("ssh", "git+ssh", "ssh+git") and user:
        hostport = f"{user}@{hostport}"
    return urlunsplit(parts._replace(netloc=hostport))


@dataclass
class _Status:
    """What one ``git status --porcelain=v2 -z --branch`` call says."""

    sha: str | None = None
    branch: str | None = None
    modified: list[str] = field(default_factory=list)
    staged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    untracked: list[str] = field(default_factory=list)
    renamed: list[dict[str, str]] = field(default_factory=list)
    # Tracked paths whose working-tree file differs from the index: the only index
    # entries the snapshot has to re-hash (status already compared all the others).
    changed_on_disk: list[str] = field(default_factory=list)
    has_submodule_entries: bool = False


def _decode(raw: bytes) -> str:
    # surrogateescape keeps non-UTF-8 file names round-trippable to the file system.
    return raw.decode("utf-8", "surrogateescape")


def _parse_status(out: bytes) -> _Status:
    st = _Status()
    records = out.split(b"\0")
    i = 0
    while i < len(records):
        rec = records[i]
        i += 1
        if not rec:
            continue
        kind = rec[:1]
        if kind == b"#":
            key, _, value = _decode(rec[2:]).partition(" ")
            if key == "branch.oid":
                st.sha = None if value == "(initial)" else value
            elif key == "branch.head":
                st.branch = None if value == "(detached)" else value
        elif kind == b"?":
            st.untracked.append(_decode(rec[2:]))
        elif kind in (b"1", b"2", b"u"):
            nfields = {b"1": 9, b"2": 10, b"u": 11}[kind]
            fields = rec.split(b" ", nfields - 1)
            xy, sub, path = fields[1], fields[2], _decode(fields[-1])
            st.has_submodule_entries |= sub.startswith(b"S")
            if kind == b"u":
                st.modified.append(path)
                st.staged.append(path)
                st.changed_on_disk.append(path)
                continue
            x, y = xy[:1], xy[1:2]
            if y != b".":
                st.changed_on_disk.append(path)
            if x != b".":
                st.staged.append(path)
            if y in (b"M", b"T"):
                st.modified.append(path)
            if b"D" in (x, y):
                st.deleted.append(path)
            if kind == b"2":
                # -z puts the original path in the next NUL-separated record.
                orig = _decode(records[i])
                i += 1
                st.renamed.append({"from": orig, "to": path})
    for names in (st.modified, st.staged, st.deleted, st.untracked):
        names.sort()
    st.renamed.sort(key=lambda r: (r["to"], r["from"]))
    return st


def _remotes(top: Path) -> dict[str, str]:
    out = run_git("config", "-z", "--get-regexp", r"^remote\..*\.url$", cwd=top, check=False)
    remotes: dict[str, str] = {}
    for rec in out.split(b"\0"):
        if not rec:
            continue
        key, _, url = _decode(rec).partition("\n")
        remotes[key[len("remote.") : -len(".url")]] = redact_url(url)
    return remotes


def _remotes_and_pushed(top: Path) -> tuple[dict[str, str], bool | None]:
    """The remotes, and whether HEAD is pushed: only asked when there is a remote (the
    record says null otherwise), which saves a git process where there is none."""
    remotes = _remotes(top)
    return remotes, _pushed(top) if remotes else None


def _pushed(top: Path) -> bool:
    """Whether HEAD is in some remote-tracking branch (False when unborn: git errors)."""
    out = run_git(
        "for-each-ref", "--count=1", "--contains=HEAD", "--format=%(refname)", "refs/remotes/",
        cwd=top, check=False,
    )  # fmt: skip
    return bool(out.strip())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _split_untracked(
    top: Path, untracked: list[str], cap: int
) -> tuple[list[str], list[dict[str, Any]]]:
    """Untracked paths to add, and the ones over ``cap`` bytes left out (loudly)."""
    keep: list[str] = []
    skipped: list[dict[str, Any]] = []
    for name in untracked:
        path = top / name
        # An untracked nested repository shows as "dir/"; git add takes it without the slash.
        if name.endswith("/"):
            keep.append(name.rstrip("/"))
            continue
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue  # deleted since status listed it: it is not part of the state any more
        if path.is_symlink() or st.st_size <= cap:
            keep.append(name)
            continue
        skipped.append({"path": name, "size": st.st_size, "sha256": _sha256(path)})
    return keep, skipped


def _warn_skipped(skipped: list[dict[str, Any]], cap: int) -> None:
    for item in skipped:
        print(
            f"reprokit: warning: untracked file {item['path']} ({item['size']:,} bytes) is "
            f"larger than the untracked size cap ({cap:,} bytes) and is NOT in the run's "
            "snapshot; its size and sha256 are recorded. Commit it, ignore it, or raise the cap.",
            file=sys.stderr,
        )


def _gitlinks(top: Path, env: dict[str, str]) -> list[dict[str, str]]:
    out = run_git("ls-files", "-s", "-z", cwd=top, env=env)
    subs = []
    for rec in out.split(b"\0"):
        if rec.startswith(_GITLINK_MODE + b" "):
            meta, _, path = rec.partition(b"\t")
            subs.append({"path": _decode(path), "sha": _decode(meta.split(b" ")[1])})
    return sorted(subs, key=lambda s: s["path"])


def _locate(cwd: Path) -> tuple[Path, Path] | None:
    """(top level, index file) in one process; None outside a working tree."""
    out = locate("--git-path", "index", cwd=cwd)
    lines = _decode(out).splitlines() if out is not None else []
    if len(lines) != 2 or not lines[0]:
        return None
    # --git-path answers relative to cwd (and honours GIT_INDEX_FILE, as in a git hook).
    return Path(lines[0]), Path(cwd, lines[1])


def _exclude_pathspecs(top: Path, cwd: Path, exclude: Sequence[Path]) -> list[str]:
    """``git status`` pathspecs leaving out the ``exclude`` folders that lie in ``top``.

    Only status needs them: the snapshot adds exactly the paths status names.
    """
    specs: list[str] = []
    real_top = os.path.realpath(top)
    for folder in exclude:
        rel = os.path.relpath(os.path.realpath(Path(cwd, folder)), real_top)
        if rel == os.curdir or rel == os.pardir or rel.startswith(os.pardir + os.sep):
            continue  # outside the working tree (or all of it): nothing to leave out
        # literal: a folder named `o[1]` is not a glob; status runs at the top level.
        specs.append(f":(exclude,literal){Path(rel).as_posix()}")
    return ["--", *specs] if specs else []


class _Tree(NamedTuple):
    status: _Status
    skipped: list[dict[str, Any]]
    tree: str
    env: dict[str, str]


def _build_tree(
    top: Path, real_index: Path, temp_index: Path, status_job: _Job[bytes], cap: int
) -> _Tree:
    """The working state as a tree object, through a temporary copy of the index.

    Writes only objects (no ref, no commit), so it runs before the run id is known.
    """
    if real_index.exists():
        # copy2 keeps the mtime, so git's racy-clean detection still holds, and the copied
        # stat info means only the files status names need hashing.
        shutil.copy2(real_index, temp_index)
    env = {"GIT_INDEX_FILE": str(temp_index)}
    status = _parse_status(status_job.result())
    to_add, skipped = _split_untracked(top, status.untracked, cap)
    if status.changed_on_disk or to_add:
        # Plumbing on exactly the paths status named: no second scan of the tree, so this
        # costs the hashing of changed files only (`git add -A` would re-walk everything).
        paths = b"\0".join(os.fsencode(p) for p in [*status.changed_on_disk, *to_add])
        run_git(*_UPDATE_INDEX_ARGS, cwd=top, env=env, input=paths)
    tree = _decode(run_git("write-tree", cwd=top, env=env)).strip()
    return _Tree(status, skipped, tree, env)


def _commit(
    top: Path, built: _Tree, run_id: str, label: str | None, patch_path: Path
) -> tuple[str, list[dict[str, str]]]:
    """The snapshot commit and its ref; the patch. Returns (commit, submodules)."""
    status = built.status
    subs_job = None
    if (
        status.has_submodule_entries
        or (top / ".gitmodules").exists()
        or any(p.endswith("/") for p in status.untracked)
    ):
        subs_job = _Job(_gitlinks, top, built.env)
    message = f"reprokit snapshot {run_id}" + (f" of {label}" if label else "")
    parents = ("-p", status.sha) if status.sha else ()
    commit_args = ("commit-tree", "--no-gpg-sign", built.tree, *parents, "-m", message)
    commit = _decode(run_git(*commit_args, cwd=top, env=SNAPSHOT_IDENTITY)).strip()
    ref_job = _Job(run_git, "update-ref", "-m", message, snapshot_ref(run_id), commit, cwd=top)
    try:
        patch_path.write_bytes(run_git(*_PATCH_ARGS, commit, cwd=top))
    finally:
        ref_job.wait()
    ref_job.result()
    return commit, subs_job.result() if subs_job is not None else []


class PendingCapture:
    """The first half of :func:`capture`, started before the run id is known.

    Launch starts it before the pre-launch checks, so ``git status``, the remotes and
    "pushed" look-ups and the snapshot's tree (a temporary index: it writes objects, never
    a ref or the user's index) are built while Python imports the rest. Only
    :meth:`finish` makes the commit and the ref. Call :meth:`finish` or :meth:`cancel`
    exactly once.
    """

    def __init__(
        self, top: Path, real_index: Path, status_args: Sequence[str], untracked_size_cap: int
    ) -> None:
        self.top = top
        self._cap = untracked_size_cap
        self._tmp = tempfile.TemporaryDirectory(prefix="reprokit-index-")
        self._status = _Job(run_git, *status_args, cwd=top)
        self._remotes = _Job(_remotes_and_pushed, top)
        self._tree = _Job(
            _build_tree, top, real_index, Path(self._tmp.name, "index"), self._status,
            untracked_size_cap,
        )  # fmt: skip

    def cancel(self) -> None:
        """Wait for the git processes (never leave them running) and remove the temp index."""
        try:
            for job in (self._tree, self._status, self._remotes):
                job.wait()
        finally:
            self._tmp.cleanup()

    def finish(self, run_id: str, *, patch_path: Path, label: str | None = None) -> dict[str, Any]:
        """Write the snapshot commit and ref and the patch; the ``git`` object of run.json."""
        top = self.top
        try:
            built = self._tree.result()
            _warn_skipped(built.skipped, self._cap)
            commit, submodules = _commit(top, built, run_id, label, patch_path)
        finally:
            # Never leave git processes running behind a failed capture.
            self.cancel()
        status = built.status
        remotes, pushed = self._remotes.result()
        return {
            "sha": status.sha,
            "branch": status.branch,
            "detached": status.branch is None,
            "remotes": remotes,
            "dirty": bool(status.modified or status.staged or status.deleted or status.untracked),
            "modified": status.modified,
            "staged": status.staged,
            "deleted": status.deleted,
            "untracked": status.untracked,
            "renamed": status.renamed,
            "pushed": pushed if remotes and status.sha else None,
            "snapshot": commit,
            "snapshot_ref": snapshot_ref(run_id),
            "patch_file": patch_path.name,
            "skipped_untracked": built.skipped,
            "submodules": submodules,
        }


def start_capture(
    cwd: Path, *, untracked_size_cap: int, exclude: Sequence[Path] = ()
) -> PendingCapture | None:
    """Locate the working tree and start the git work that needs no run id; None outside git.

    See :func:`capture` for the arguments and for what :meth:`PendingCapture.finish` records.
    """
    located = _locate(cwd)
    if located is None:
        return None
    top, real_index = located
    status_args = (*_STATUS_ARGS, *_exclude_pathspecs(top, cwd, exclude))
    return PendingCapture(top, real_index, status_args, untracked_size_cap)


def capture(
    cwd: Path,
    run_id: str,
    *,
    untracked_size_cap: int,
    patch_path: Path,
    label: str | None = None,
    exclude: Sequence[Path] = (),
) -> dict[str, Any] | None:
    """Record the git state at ``cwd`` and snapshot the working tree; None outside git.

    Returns the ``git`` object of ``run.json`` (docs/architecture.md). Lists hold paths
    relative to the top level, posix, sorted: ``modified`` (working tree differs from the
    index), ``staged`` (index differs from HEAD), ``deleted`` (deleted in the index or on
    disk), ``untracked`` (not ignored), ``renamed`` (``{"from", "to"}``, staged renames).

    The snapshot commit (message ``reprokit snapshot <run_id> of <label>``, fixed identity)
    goes under ``refs/reprokit/runs/<run_id>``, replacing a stale ref of the same name. The
    binary patch from HEAD (or the empty tree when unborn) to it is written to
    ``patch_path``; it is empty when the tree is clean. Untracked files larger than
    ``untracked_size_cap`` bytes are left out with a warning on stderr and listed in
    ``skipped_untracked``. Submodules are recorded by path and commit (the gitlink, which
    follows the submodule's checked-out HEAD); their own uncommitted changes are NOT
    snapshotted.

    ``exclude`` names folders (absolute, or relative to ``cwd``) whose files are neither
    listed nor snapshotted even when ``.gitignore`` does not ignore them: launch passes
    the outputs folder, so a run never records every earlier run's files as untracked.
    """
    pending = start_capture(cwd, untracked_size_cap=untracked_size_cap, exclude=exclude)
    if pending is None:
        return None
    return pending.finish(run_id, patch_path=patch_path, label=label)
