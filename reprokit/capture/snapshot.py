"""Capture the exact working state of a git repository for a run.

:func:`capture` records HEAD, branch, remotes (credentials removed) and the dirty file
lists, and writes the complete working state (tracked files as they are on disk, staged or
not, plus untracked files that ``.gitignore`` does not exclude) as a *snapshot commit*
under a ref unique to the run's working tree and outputs folder
(:mod:`reprokit.capture.refs`), parented on HEAD. The user's index, working tree,
HEAD, branches and stash are never touched: the snapshot is built in a temporary copy of
the index (``GIT_INDEX_FILE``, in ``.git/reprokit-tmp``: :class:`gitindex.TempIndexes`),
and ``git status`` runs with ``--no-optional-locks`` so it does not even refresh the real
index. Files flagged ``assume-unchanged`` or ``skip-worktree``, which status never looks
at, are snapshotted as they are on disk too (:func:`_unflag`).

The status and remote facts come from :mod:`reprokit.capture.gitstatus`; rebuilding a snapshot
lives in :mod:`reprokit.replay.restore`.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from reprokit import redact
from reprokit.background import Background
from reprokit.capture import gitindex, gitstatus, refs as snapshot_refs
from reprokit.errors import ReprokitError
from reprokit.files import file_digest
from reprokit.gitcmd import REPROKIT_IDENTITY, locate, run_git

_GITLINK_MODE = b"160000"
# Adds new and changed files, drops deleted ones, turns a nested repository into a gitlink;
# applies .gitattributes clean filters like `git add`.
# Commands that write the temporary index run no hooks: git runs the user's
# post-index-change hook after every index write, the temporary one included, so each
# launch ran it (twice) as if the user's own index had changed.
_TEMP_INDEX = ("-c", "core.hooksPath=/dev/null", "-c", "core.splitIndex=false")
_UPDATE_INDEX_ARGS = (*_TEMP_INDEX, "update-index", "--add", "--remove", "-z", "--stdin")
# diff-tree (plumbing) ignores diff.noprefix, color and external-diff settings that would
# make `git diff` print something `git apply` rejects; --root diffs an unborn-HEAD snapshot
# against the empty tree.
_PATCH_ARGS = (
    "diff-tree", "-r", "-p", "--root", "--no-commit-id", "--binary", "--full-index",
    "--no-color", "--no-ext-diff", "--no-textconv", "--src-prefix=a/", "--dst-prefix=b/",
)  # fmt: skip


# Untracked files that hold credentials, by name (.pgpass, token.txt, id_*, *.pem) or by
# content (a private key, a token's shape): see reprokit.redact. A snapshot is a commit
# under a ref meant to be pushed, and diff.patch is shared with the run folder: such files
# are never copied into either, only named (path and size, no hash: a hash of a short
# password can be reversed).


def _secret_content(path: Path, cap: int) -> str | None:
    """What credential an untracked or staged file holds; None when none or unreadable.

    The whole file is searched (up to ``cap``, the untracked size cap: a larger untracked
    file is never snapshotted): a notebook held its Hugging Face token at byte 9,000, past
    the 8 KiB once read. git reads and hashes these files anyway, and the search starts
    from plain substring scans (a few ms per MiB).
    """
    return redact.secret_file_content(path, cap)


def _secret_entry(path: str, size: int | None, found: str) -> dict[str, Any]:
    """A ``skipped_untracked`` entry for a secret; ``found`` (why), like ``staged``, is for
    the warning only and removed before the record is written (:func:`_warn_skipped`)."""
    return {"path": path, "size": size, "reason": "secret", "found": found}


def _split_untracked(
    top: Path, untracked: list[str], cap: int
) -> tuple[list[str], list[dict[str, Any]]]:
    """Untracked paths to add, and the ones left out (loudly): files over ``cap`` bytes,
    files that look like secrets (by name or content), and nested repositories with no
    commit to point at. A secret's entry carries ``found`` (why) for the warning only."""
    keep: list[str] = []
    skipped: list[dict[str, Any]] = []
    for name in untracked:
        path = top / name
        # An untracked nested repository shows as "dir/"; git add takes it without the slash,
        # as a gitlink to its HEAD, which must exist.
        if name.endswith("/"):
            name = name.rstrip("/")
            if run_git("rev-parse", "-q", "--verify", "HEAD", cwd=path, check=False).strip():
                keep.append(name)
            else:
                skipped.append({"path": name, "size": None, "reason": "empty-repository"})
            continue
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue  # deleted since status listed it: it is not part of the state any more
        if path.is_symlink():
            keep.append(name)  # snapshotted as a link (its target's path), never its content
        elif redact.secret_file_name(name):
            # Before the size test: a large secret is still named, never hashed.
            skipped.append(_secret_entry(name, st.st_size, "its name says so"))
        elif st.st_size > cap:
            skipped.append(
                {"path": name, "size": st.st_size, "sha256": file_digest(path), "reason": "size"}
            )
        elif found := _secret_content(path, cap):
            skipped.append(_secret_entry(name, st.st_size, f"it holds {found}"))
        else:
            keep.append(name)
    return keep, skipped


def _staged_secrets(top: Path, added: list[str], cap: int) -> list[dict[str, Any]]:
    """``skipped_untracked`` entries for files staged but never committed that look like
    secrets: `git add -A` before a launch must not put `.env` into a pushed snapshot. They
    leave the snapshot's (temporary) index only; the user's index keeps them."""
    found: list[dict[str, Any]] = []
    for name in added:
        path = top / name
        try:
            st = path.lstat()
        except FileNotFoundError:
            st = None  # deleted on disk since: only its name can tell
        if st is not None and path.is_symlink():
            continue
        why = "its name says so" if redact.secret_file_name(name) else None
        if why is None and st is not None and (content := _secret_content(path, cap)):
            why = f"it holds {content}"
        if why is not None:
            found.append(_secret_entry(name, st.st_size if st else None, why) | {"staged": True})
    return found


def _warn_skipped(skipped: list[dict[str, Any]], cap: int) -> None:
    for item in skipped:
        path, reason = item["path"], item.get("reason")
        if reason == "secret":
            # For this message only, never recorded: why, and whether it was staged.
            found, staged = item.pop("found", None), item.pop("staged", False)
            why = f" {found[0].upper()}{found[1:]}." if found else ""
            kind = "staged" if staged else "untracked"
            fix = "Unstage it (git rm --cached) and add it" if staged else "Add it"
            text = (
                f"{kind} file {path} looks like it holds secrets and is NOT in the run's "
                f"snapshot or diff.patch (only its name and size are recorded).{why} {fix} "
                "to .gitignore to silence this."
            )
        elif reason == "empty-repository":
            text = (
                f"untracked folder {path} is a git repository with no commit yet and is NOT "
                "in the run's snapshot. Commit in it, or add it to .gitignore."
            )
        else:
            text = (
                f"untracked file {path} ({item['size']:,} bytes) is larger than the untracked "
                f"size cap ({cap:,} bytes) and is NOT in the run's snapshot; its size and "
                "sha256 are recorded. Commit it, ignore it, or raise the cap."
            )
        print(f"reprokit: warning: {text}", file=sys.stderr)


def _warn_dirty_submodules(paths: list[str]) -> None:
    for path in paths:
        print(
            f"reprokit: warning: submodule {path} has uncommitted changes of its own; they "
            "are NOT in the run's snapshot (it records the submodule's checked-out commit). "
            "Commit them in the submodule to make the run replayable.",
            file=sys.stderr,
        )


def _gitlinks(top: Path, env: dict[str, str]) -> list[dict[str, str]]:
    out = run_git("ls-files", "-s", "-z", cwd=top, env=env)
    subs = []
    for rec in out.split(b"\0"):
        if rec.startswith(_GITLINK_MODE + b" "):
            meta, _, path = rec.partition(b"\t")
            subs.append(
                {
                    "path": gitstatus.decode_path(path),
                    "sha": gitstatus.decode_path(meta.split(b" ")[1]),
                }
            )
    return sorted(subs, key=lambda s: s["path"])


class _Where(NamedTuple):
    """What one ``git rev-parse`` says about the working tree of ``cwd``."""

    top: Path
    index_file: Path
    temp_base: Path  # where temporary index copies go (.git/reprokit-tmp)
    worktree: str | None  # a linked worktree's name (.git/worktrees/<name>), else None
    hash_bytes: int  # 20 (SHA-1) or 32 (SHA-256)


def _locate(cwd: Path) -> _Where | None:
    """Where the working tree of ``cwd`` keeps things, in one process; None outside one."""
    out = locate(
        "--git-path", "index", "--git-path", "reprokit-tmp", "--git-dir", "--git-common-dir",
        "--show-object-format", cwd=cwd,
    )  # fmt: skip
    if out is None:
        return None
    lines = gitstatus.decode_path(out).split("\n")[:-1]
    if len(lines) != 6 or not lines[0]:
        # A folder name with a newline: git's answer cannot be read line by line.
        raise ReprokitError(
            f"{cwd}: cannot read where git keeps this working tree: {lines!r}",
            hint="rename the folders whose names hold a line break",
        )
    # --git-path and --git-dir answer relative to cwd (--git-path index honours
    # GIT_INDEX_FILE, as in a git hook).
    top, index, temp, git_dir, common = (Path(cwd, line) for line in lines[:5])
    # A linked worktree has its own git dir (.git/worktrees/<name>) under the common one.
    linked = os.path.realpath(git_dir) != os.path.realpath(common)
    hash_bytes = 32 if lines[5] == "sha256" else 20
    return _Where(top, index, temp, git_dir.name if linked else None, hash_bytes)


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
    status: gitstatus.Status
    skipped: list[dict[str, Any]]
    tree: str
    env: dict[str, str]


def _build_tree(where: _Where, temp_index: Path, status_job: Background[bytes], cap: int) -> _Tree:
    """The working state as a tree object, through a temporary copy of the index.

    Writes only objects (no ref, no commit), so it runs before the run id is known.
    """
    top = where.top
    flagged: list[gitindex.Flagged] = []
    if where.index_file.exists():
        # copy2 keeps the mtime, so git's racy-clean detection still holds, and the copied
        # stat info means only the files status names need hashing.
        shutil.copy2(where.index_file, temp_index)
        flagged = gitindex.flagged_entries(temp_index, top, where.hash_bytes)
    env = {"GIT_INDEX_FILE": str(temp_index)}
    status = gitstatus.parse_status(status_job.result())
    if flagged:
        _unflag(top, env, flagged, status)
    to_add, skipped = _split_untracked(top, status.untracked, cap)
    staged_secrets = _staged_secrets(top, status.added, cap)
    if status.changed_on_disk or to_add:
        # Plumbing on exactly the paths status named: no second scan of the tree, so this
        # costs the hashing of changed files only (`git add -A` would re-walk everything).
        paths = b"\0".join(os.fsencode(p) for p in [*status.changed_on_disk, *to_add])
        run_git(*_UPDATE_INDEX_ARGS, cwd=top, env=env, input=paths)
    if staged_secrets:
        paths = b"\0".join(os.fsencode(item["path"]) for item in staged_secrets)
        run_git(
            *_TEMP_INDEX,
            "update-index",
            "--force-remove",
            "-z",
            "--stdin",
            cwd=top,
            env=env,
            input=paths,
        )
        skipped = sorted([*skipped, *staged_secrets], key=lambda item: str(item["path"]))
    tree = gitstatus.decode_path(run_git(*_TEMP_INDEX, "write-tree", cwd=top, env=env)).strip()
    return _Tree(status, skipped, tree, env)


_FLAG_OPTIONS = (
    ("--no-assume-unchanged", "assume_unchanged"),
    ("--no-skip-worktree", "skip_worktree"),
)
_MAX_SPECS = 1000


def _unflag(
    top: Path, env: dict[str, str], flagged: list[gitindex.Flagged], status: gitstatus.Status
) -> None:
    """Make flagged entries of the temporary index count like any other, and add the ones
    that differ on disk to ``status`` (modified / deleted, and re-hashed by the caller).

    ``git status`` trusts an ``assume-unchanged`` or ``skip-worktree`` entry without
    looking at the file, so an edited one was snapshotted as committed and the record said
    "clean". The flags are cleared in the temporary index only (``update-index`` ignores a
    skip-worktree path, or with ``--remove`` drops it), then status is asked again about
    those paths alone. A skip-worktree file that is absent (a sparse checkout leaves files
    out that way) stays as committed: it is not checked out, not deleted.
    """
    present = [f for f in flagged if not f.skip_worktree or os.path.lexists(top / f.path)]
    if not present:
        return
    for option, field in _FLAG_OPTIONS:
        paths = [os.fsencode(f.path) for f in present if getattr(f, field)]
        if paths:
            run_git(
                *_TEMP_INDEX, "update-index", option, "-z", "--stdin",
                cwd=top, env=env, input=b"\0".join(paths),
            )  # fmt: skip
    # Thousands of flagged files (some mark a whole tree assume-unchanged for speed) would
    # overflow the command line: then status looks at every file, flags now cleared.
    specs = [f":(literal){f.path}" for f in present] if len(present) <= _MAX_SPECS else []
    out = run_git(
        "--no-optional-locks", "status", "--porcelain=v2", "-z", "--untracked-files=no",
        "--ignore-submodules=all", "--", *specs, cwd=top, env=env,
    )  # fmt: skip
    again = gitstatus.parse_status(out)
    for name in ("modified", "deleted", "changed_on_disk"):
        listed: list[str] = getattr(status, name)
        listed.extend(p for p in getattr(again, name) if p not in listed)
        listed.sort()


def _commit(
    top: Path, built: _Tree, run_id: str, refs: tuple[str, str], label: str | None,
    patch_path: Path,
) -> tuple[str, str, list[dict[str, str]]]:  # fmt: skip
    """The snapshot commit and its ref; the patch. ``refs``: (the ref, the owner key).
    Returns (commit, the ref written, submodules)."""
    status = built.status
    subs_job = None
    if (
        status.has_submodule_entries
        or (top / ".gitmodules").exists()
        or any(p.endswith("/") for p in status.untracked)
    ):
        subs_job = Background(_gitlinks, top, built.env)
    message = f"reprokit snapshot {run_id}" + (f" of {label}" if label else "")
    ref, owner = refs
    trailer = f"{snapshot_refs.OWNER_TRAILER}: {owner}"
    parents = ("-p", status.sha) if status.sha else ()
    commit_args = (
        "commit-tree", "--no-gpg-sign", built.tree, *parents, "-m", message, "-m", trailer,
    )  # fmt: skip
    commit = gitstatus.decode_path(run_git(*commit_args, cwd=top, env=REPROKIT_IDENTITY)).strip()
    ref_job = Background(snapshot_refs.write_ref, top, ref, commit, message, owner)
    try:
        patch_path.write_bytes(run_git(*_PATCH_ARGS, commit, cwd=top))
    finally:
        ref_job.wait()
    return commit, ref_job.result(), subs_job.result() if subs_job is not None else []


class PendingCapture:
    """The first half of :func:`capture`, started before the run id is known.

    Launch starts it before the pre-launch checks, so ``git status``, the remotes and
    "pushed" look-ups and the snapshot's tree (a temporary index: it writes objects, never
    a ref or the user's index) are built while Python imports the rest. Only
    :meth:`finish` makes the commit and the ref. Call :meth:`finish` or :meth:`cancel`
    exactly once.
    """

    def __init__(
        self, where: _Where, status_args: Sequence[str], untracked_size_cap: int, outputs: Path
    ) -> None:
        self.top = top = where.top
        self._cap = untracked_size_cap
        self._ref_space = snapshot_refs.ref_space(top, outputs, where.worktree)
        self._outputs = outputs
        # In the repository, one folder per launch named by its process: the next launch
        # removes those of killed ones (gitindex.TempIndexes).
        self._tmp = gitindex.TempIndexes(where.temp_base).new()
        self._status = Background(run_git, *status_args, cwd=top)
        self._remotes = Background(gitstatus.remotes_and_pushed, top)
        self._tree = Background(
            _build_tree, where, self._tmp / "index", self._status, untracked_size_cap
        )

    def tree(self) -> str:
        """The working state's tree sha, as :meth:`finish` would record it (``git.tree``)."""
        return self._tree.result().tree

    def cancel(self) -> None:
        """Wait for the git processes (never leave them running) and remove the temp index."""
        try:
            for job in (self._tree, self._status, self._remotes):
                job.wait()
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def finish(self, run_id: str, *, patch_path: Path, label: str | None = None) -> dict[str, Any]:
        """Write the snapshot commit and ref and the patch; the ``git`` object of run.json."""
        top = self.top
        try:
            built = self._tree.result()
            _warn_skipped(built.skipped, self._cap)
            _warn_dirty_submodules(built.status.dirty_submodules)
            ref = snapshot_refs.snapshot_ref(run_id, self._ref_space)
            refs = (ref, snapshot_refs.owner_key(self._outputs, run_id))
            commit, ref, submodules = _commit(top, built, run_id, refs, label, patch_path)
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
            # The snapshot's tree: runs from the same files share it though each has its
            # own commit, so readers group code states without asking git.
            "tree": built.tree,
            "snapshot_ref": ref,
            "patch_file": patch_path.name,
            "skipped_untracked": built.skipped,
            "submodules": submodules,
        }


def start_capture(
    cwd: Path,
    *,
    untracked_size_cap: int,
    exclude: Sequence[Path] = (),
    outputs: Path | None = None,
) -> PendingCapture | None:
    """Locate the working tree and start the git work that needs no run id; None outside git.

    See :func:`capture` for the arguments and for what :meth:`PendingCapture.finish` records.
    """
    located = _locate(cwd)
    if located is None:
        return None
    status_args = (*gitstatus.STATUS_ARGS, *_exclude_pathspecs(located.top, cwd, exclude))
    folder = Path(cwd, outputs) if outputs is not None else located.top / "outputs"
    return PendingCapture(located, status_args, untracked_size_cap, folder)


def capture(
    cwd: Path,
    run_id: str,
    *,
    untracked_size_cap: int,
    patch_path: Path,
    label: str | None = None,
    exclude: Sequence[Path] = (),
    outputs: Path | None = None,
) -> dict[str, Any] | None:
    """Record the git state at ``cwd`` and snapshot the working tree; None outside git.

    Returns the ``git`` object of ``run.json`` (docs/architecture.md). Lists hold paths
    relative to the top level, posix, sorted: ``modified`` (working tree differs from the
    index), ``staged`` (index differs from HEAD), ``deleted`` (deleted in the index or on
    disk), ``untracked`` (not ignored), ``renamed`` (``{"from", "to"}``, staged renames).

    The snapshot commit (message ``reprokit snapshot <run_id> of <label>``, fixed identity,
    and a ``Reprokit-Run`` trailer naming the outputs folder by a hash, and the run id) goes under
    ``refs/reprokit/runs/<run_id>`` for the main working tree's ``outputs/``, else under
    the ref :func:`snapshot_refs.ref_space` gives ``outputs`` (the run's outputs folder, default
    ``<top>/outputs``) and the working tree. A ref of that name left by an earlier run of
    the same folder (deleted and restarted) is replaced; any other is kept and the snapshot
    goes under a distinct name, with a warning (:func:`snapshot_refs.write_ref`). The
    binary patch from HEAD (or the empty tree when unborn) to it is written to
    ``patch_path``; it is empty when the tree is clean. Untracked files larger than
    ``untracked_size_cap`` bytes, files that look like secrets (``.env``, ``*.pem``, ...)
    and nested repositories without a commit are left out with a warning on stderr and
    listed in ``skipped_untracked`` with a ``reason`` (``size``, ``secret``,
    ``empty-repository``). Submodules are recorded by path and commit (the gitlink, which
    follows the submodule's checked-out HEAD); their own uncommitted changes are NOT
    snapshotted. Tracked files flagged ``assume-unchanged`` or ``skip-worktree`` are
    snapshotted as they are on disk and listed like any other change.

    ``exclude`` names folders (absolute, or relative to ``cwd``) whose files are neither
    listed nor snapshotted even when ``.gitignore`` does not ignore them: launch passes
    the outputs folder, so a run never records every earlier run's files as untracked.
    """
    pending = start_capture(
        cwd, untracked_size_cap=untracked_size_cap, exclude=exclude, outputs=outputs
    )
    if pending is None:
        return None
    return pending.finish(run_id, patch_path=patch_path, label=label)
