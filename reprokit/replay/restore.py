"""Rebuild a run's snapshot as a temporary git worktree (for ``reprokit replay``).

The user's repository is left as it is: no branches are created and HEAD, index and
working tree are untouched. A worktree only adds bookkeeping under ``.git/worktrees``,
which :func:`remove_worktree` clears again; a fetched snapshot keeps its
``refs/reprokit/runs/<id>`` ref. Submodules are not checked out inside the worktree.

The record says which commit, ref and tree; it never says where to fetch from (only the
user's configured remotes are asked, over transports that cannot run a command, with a
time limit), and whatever the rebuild, the worktree's tree must be the recorded one.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from reprokit.errors import ReprokitError
from reprokit.gitcmd import (
    REMOTE_CONFIG,
    REMOTE_ENV,
    REMOTE_TIMEOUT_S,
    REPROKIT_IDENTITY,
    GitError,
    GitTimeout,
    require_toplevel,
    run_git,
)
from reprokit.record import store, trust

# Only the user's configured remotes, over transports that cannot run a command, with a
# time limit (gitcmd.REMOTE_ENV says why each setting is there).
_FETCH_ENV = REMOTE_ENV
_FETCH_CONFIG = REMOTE_CONFIG
FETCH_TIMEOUT_S = REMOTE_TIMEOUT_S
# A fixed date makes the empty base commit the same object every time.
_EMPTY_BASE_IDENTITY = MappingProxyType(
    {
        **REPROKIT_IDENTITY,
        "GIT_AUTHOR_DATE": "1970-01-01T00:00:00+0000",
        "GIT_COMMITTER_DATE": "1970-01-01T00:00:00+0000",
    }
)


@dataclass(frozen=True)
class Rebuilt:
    """How :func:`materialize` rebuilt a snapshot, and what its tree check found.

    ``how``: ``"ref"``, ``"commit"``, ``"fetched"`` or ``"patch"``; ``remote``: the
    configured remote it was fetched from; ``expected_tree``: the recorded ``git.tree``
    (None for records older than it); ``tree``: the tree the worktree holds.
    """

    how: str
    tree: str
    expected_tree: str | None = None
    remote: str | None = None

    @property
    def tree_matches(self) -> bool | None:
        """Whether the worktree holds the recorded tree; None when none was recorded."""
        return None if self.expected_tree is None else self.tree == self.expected_tree


def _top(cwd: Path) -> Path:
    return require_toplevel(cwd, hint="run this from the repository the run was launched in")


def _commit_of(top: Path, rev: str) -> str | None:
    """The commit ``rev`` names here, or None when git does not have it."""
    out = run_git(
        "rev-parse", "-q", "--verify", "--end-of-options", f"{rev}^{{commit}}",
        cwd=top, check=False,
    )  # fmt: skip
    return out.decode().strip() or None


def _checked(
    git_record: Mapping[str, Any], run_dir: Path
) -> tuple[str | None, str | None, str | None]:
    """The record's snapshot sha, snapshot ref and base sha, refused unless well formed.

    A record is a file that may come from someone else: its values reach git's command
    line, so a ref outside ``refs/reprokit/`` (``refs/heads/main``) or an "sha" that is an
    option must never get there.
    """
    record_file = run_dir / "run.json"
    snapshot = trust.commit_id(git_record.get("snapshot"), record_file, "git.snapshot")
    base = trust.commit_id(git_record.get("sha"), record_file, "git.sha")
    ref = trust.snapshot_ref(git_record.get("snapshot_ref"), record_file, "git.snapshot_ref")
    return snapshot, ref, base


def _fetch_sources(top: Path, recorded: Any) -> list[str]:
    """The remotes configured in this repository, the ones the record names first.

    A record's remote list is information, never an instruction: a URL it names is never
    fetched (one that is not the user's served another commit, which replay then ran).
    """
    out = run_git("remote", cwd=top, check=False).decode("utf-8", "replace")
    local = [name for name in out.splitlines() if name]
    named = set(recorded) if isinstance(recorded, Mapping) else set()
    return [n for n in local if n in named] + [n for n in local if n not in named]


def _fetch_snapshot(
    top: Path, snapshot: str, ref: str, remotes: Any
) -> tuple[str | None, list[str]]:
    """Fetch ``ref`` from each configured remote in turn until it points at ``snapshot``;
    the remote that had it (None when none did), and the remotes tried. ``snapshot`` and
    ``ref`` must have passed :func:`_checked`."""
    tried: list[str] = []
    for remote in _fetch_sources(top, remotes):
        # No "+": a same-named ref from another outputs folder must not be clobbered.
        try:
            run_git(
                *_FETCH_CONFIG, "fetch", "--quiet", "--no-tags", "--end-of-options",
                remote, f"{ref}:{ref}",
                cwd=top, env=_FETCH_ENV, check=False, timeout=FETCH_TIMEOUT_S,
            )  # fmt: skip
        except GitTimeout:
            tried.append(f"{remote} (no answer within {FETCH_TIMEOUT_S:g} s)")
            continue
        tried.append(remote)
        if _commit_of(top, ref) == snapshot:
            return remote, tried
    return None, tried


def snapshot_commit(cwd: Path, git_record: Mapping[str, Any], run_dir: Path) -> str:
    """The commit holding a run's code, fetched as :func:`materialize` fetches it when it is
    not here (for ``reprokit diff --code``): the snapshot, else the recorded HEAD.

    The record is checked before git sees any of its values; raises ReprokitError naming
    the commit and the remotes tried when it is not here and cannot be fetched.
    """
    top = _top(cwd)
    snapshot, ref, base = _checked(git_record, run_dir)
    commit = snapshot or base
    if commit is None:
        raise ReprokitError(
            f"{run_dir / 'run.json'}: the run has no git record, so there is no code to compare"
        )
    if _commit_of(top, commit) == commit:
        return commit
    tried: list[str] = []
    if snapshot and ref:
        fetched, tried = _fetch_snapshot(top, snapshot, ref, git_record.get("remotes"))
        if fetched:
            return snapshot
    if tried:
        where = f"could not be fetched from {', '.join(tried)}"
    else:
        where = "there is no remote to fetch it from" if ref else "the record names no ref"
    remote = tried[0] if tried else "origin"
    raise ReprokitError(
        f"snapshot commit {commit[:12]} of {run_dir.name} is not in this repository and {where}",
        hint=f"push the snapshots from the machine that ran it "
        f"(`git push {remote} 'refs/reprokit/*:refs/reprokit/*'`), then try again",
    )


def _worktree_add(top: Path, dest: Path, commit: str) -> None:
    # git checks files out one at a time unless told otherwise; parallel checkout writes
    # the same files 2-4x faster on a large tree (measured on 20,000 files). A user who
    # set checkout.workers (slow network disks, say) keeps their setting.
    configured = run_git("config", "--get", "checkout.workers", cwd=top, check=False)
    workers = () if configured.strip() else ("-c", "checkout.workers=0")
    run_git(*workers, "worktree", "add", "--detach", "--quiet", str(dest), commit, cwd=top)


def _empty_base(top: Path) -> str:
    """A parentless commit of the empty tree: the base for runs launched with HEAD unborn."""
    tree = run_git("mktree", cwd=top, input=b"").decode().strip()
    msg = "reprokit: empty base for a run launched before the first commit"
    out = run_git(
        "commit-tree", "--no-gpg-sign", tree, "-m", msg, cwd=top, env=_EMPTY_BASE_IDENTITY
    )
    return out.decode().strip()


def _missing_error(record: Mapping[str, Any], tried: list[str]) -> ReprokitError:
    snap = str(record.get("snapshot") or "?")[:12]
    ref = record.get("snapshot_ref")
    base = record.get("sha")
    where = f"from {', '.join(tried)}" if tried else "(no remotes are configured)"
    message = (
        f"cannot rebuild the code: snapshot commit {snap} ({ref}) is not in this repository "
        f"and could not be fetched {where}; its base commit {str(base)[:12]} is missing too"
    )
    branch = record.get("branch")
    on = f"it was on branch '{branch}'" if branch else "HEAD was detached"
    remote = tried[0] if tried else "origin"
    hint = (
        f"fetch the base commit (`git fetch {remote} {base}`; {on} when the run started), "
        f"or push the snapshots from the machine that ran it "
        f"(`git push {remote} 'refs/reprokit/*:refs/reprokit/*'`), then try again"
    )
    return ReprokitError(message, hint=hint)


def materialize(
    cwd: Path,
    git_record: Mapping[str, Any],
    run_dir: Path,
    dest: Path,
    *,
    allow_tree_mismatch: bool = False,
    from_patch: bool = False,
) -> Rebuilt:
    """Check out a run's snapshot as a detached worktree at ``dest``; say how it was rebuilt.

    ``how`` is ``"ref"`` when ``refs/reprokit/runs/<id>`` points at the snapshot here,
    ``"commit"`` when the ref does not but the snapshot commit is still here,
    ``"fetched"`` when that ref was fetched from one of this repository's configured
    remotes (never from a URL the record names), or ``"patch"`` when the worktree was
    rebuilt from the recorded HEAD (an empty base when it was unborn) plus
    ``run_dir/diff.patch``, which only ``from_patch`` allows: that code comes from the
    run folder, not from this repository or its remotes. Every rebuild ends by comparing the worktree's tree with the
    recorded ``git.tree``: a difference removes the worktree and raises, unless
    ``allow_tree_mismatch``. Raises ReprokitError naming what is missing, the remotes tried
    and how to recover when no rebuild works. ``dest`` must not exist or be empty.
    """
    top = _top(cwd)
    if dest.exists() and any(dest.iterdir()):
        raise ReprokitError(
            f"cannot rebuild the code into {dest}: the folder is not empty",
            hint="remove it or choose another folder",
        )
    snapshot, ref, base = _checked(git_record, run_dir)
    expected = trust.commit_id(git_record.get("tree"), run_dir / "run.json", "git.tree")
    how, remote = _checkout(
        top, git_record, run_dir, dest, (snapshot, ref, base), from_patch=from_patch
    )
    try:
        tree = _worktree_tree(dest, how)
    except BaseException:
        remove_worktree(cwd, dest)
        raise
    rebuilt = Rebuilt(how, tree, expected, remote)
    if rebuilt.tree_matches is False and not allow_tree_mismatch:
        remove_worktree(cwd, dest)
        raise ReprokitError(
            f"refusing to run: the code rebuilt {_SOURCE_WORDS[how]} has tree {tree[:12]}, "
            f"but {run_dir / 'run.json'} records git.tree {str(expected)[:12]}: "
            "this is not the code the run ran",
            hint="the run folder or the snapshot was changed after the run; restore it, "
            "or pass --allow-tree-mismatch to run this code anyway (recorded in the replay)",
        )
    return rebuilt


_SOURCE_WORDS = {
    "ref": "from its snapshot ref",
    "commit": "from its snapshot commit",
    "fetched": "from the fetched snapshot",
    "patch": "from its base commit + diff.patch",
}


def _checkout(
    top: Path,
    git_record: Mapping[str, Any],
    run_dir: Path,
    dest: Path,
    commits: tuple[str | None, str | None, str | None],
    *,
    from_patch: bool,
) -> tuple[str, str | None]:
    """The worktree at ``dest`` by the first way that works; (how, remote fetched from).
    ``commits`` is the checked (snapshot, ref, base) of :func:`_checked`."""
    snapshot, ref, base = commits
    # The usual case first, in one git call: the ref points at the snapshot.
    if snapshot and ref and _commit_of(top, ref) == snapshot:
        _worktree_add(top, dest, snapshot)
        return "ref", None
    if snapshot and _commit_of(top, snapshot) == snapshot:
        # Still exact: the ref is gone (deleted, or moved) but git has not collected the
        # commit.
        _worktree_add(top, dest, snapshot)
        return "commit", None
    tried: list[str] = []
    if snapshot and ref:
        remote, tried = _fetch_snapshot(top, snapshot, ref, git_record.get("remotes"))
        if remote is not None:
            _worktree_add(top, dest, snapshot)
            return "fetched", remote
    if base is not None and _commit_of(top, base) is None:
        raise _missing_error(git_record, tried)
    patch, data = _patch_file(git_record, run_dir, tried)
    if not from_patch:
        raise _patch_consent_error(top, patch, data, tried)
    _worktree_add(top, dest, base if base is not None else _empty_base(top))
    if data:
        try:
            # --index: the patch goes into the worktree's own index too, whose tree is then
            # compared with the recorded one (git also checks that both agree).
            run_git(
                "apply", "--index", "--binary", "--whitespace=nowarn", "-",
                cwd=dest, input=data,
            )  # fmt: skip
        except GitError as e:
            remove_worktree(top, dest)
            raise ReprokitError(
                f"cannot rebuild the code: {patch} does not apply to {str(base)[:12]}:\n  "
                + e.stderr.replace("\n", "\n  "),
                hint="the patch or the base commit was changed after the run",
            ) from e
    return "patch", None


def _patch_file(
    git_record: Mapping[str, Any], run_dir: Path, tried: list[str]
) -> tuple[Path, bytes]:
    """The run's ``diff.patch`` and its bytes, read as every file of a run folder is
    (:func:`reprokit.record.store.read_regular`: a regular file, no link out of the run folder,
    size-capped)."""
    name = git_record.get("patch_file") or "diff.patch"
    patch = trust.path_inside(
        name, run_dir, run_dir / "run.json", "git.patch_file", folder_name="the run folder"
    )
    try:
        return patch, store.read_regular(patch)
    except FileNotFoundError:
        where = f"could not be fetched from {', '.join(tried)}" if tried else "there is no remote"
        raise ReprokitError(
            f"cannot rebuild the code: the snapshot is not in this repository, {where}, "
            f"and {patch} is missing",
            hint="restore the run folder from a backup, or fetch refs/reprokit/* from a remote "
            "(`git remote add` the one that has it)",
        ) from None


def _patch_consent_error(top: Path, patch: Path, data: bytes, tried: list[str]) -> ReprokitError:
    """Why a patch rebuild needs ``--from-patch``, with the patch's diffstat.

    The patch is code that came with the run folder: whoever wrote the folder wrote it,
    and the recorded ``git.tree`` it is checked against came from the same hand (a record
    once ran an added ``os.system`` after a "no git.tree" note). So running it is the
    user's decision, made after seeing what it changes.
    """
    from reprokit.tables import safe_text

    try:
        stat = run_git("apply", "--stat", "-", cwd=top, input=data).decode("utf-8", "replace")
    except GitError as e:
        stat = f"(git apply --stat cannot read it: {e.stderr.strip()})"
    diffstat = stat.rstrip() or "(an empty patch)"
    where = f"could not be fetched from {', '.join(tried)}" if tried else "there is no remote"
    return ReprokitError(
        f"not rebuilding from {patch}: the snapshot commit is not in this repository and "
        f"{where}, so the code would come from the run folder's diff.patch, not from your "
        "repository or remotes; it changes:\n  "
        + safe_text(diffstat, lines=True).replace("\n", "\n  "),
        hint="read the patch; if you trust whoever made the run folder, pass --from-patch "
        "to rebuild the code from it (recorded in the replay's record)",
    )


def _worktree_tree(dest: Path, how: str) -> str:
    """The tree the worktree holds: HEAD's, or for a patch rebuild its index's."""
    if how == "patch":
        return run_git("write-tree", cwd=dest).decode().strip()
    return run_git("rev-parse", "--verify", "HEAD^{tree}", cwd=dest).decode().strip()


def remove_worktree(cwd: Path, dest: Path) -> None:
    """Remove a worktree made by :func:`materialize` and prune git's bookkeeping of it."""
    top = _top(cwd)
    try:
        run_git("worktree", "remove", "--force", str(dest), cwd=top)
    except GitError:
        pass  # removed by hand below; prune then clears git's bookkeeping
    else:
        if not dest.exists():
            return  # git removed the folder and its bookkeeping: nothing left to prune
    if dest.exists():
        # Only a folder that looks like a worktree (a `.git` *file*) is deleted by hand: a
        # wrong path must never cost the user a real folder.
        if not (dest / ".git").is_file():
            raise ReprokitError(
                f"{dest} is not a git worktree; not removing it",
                hint="remove it yourself if it is a leftover of `reprokit replay`",
            )
        shutil.rmtree(dest)
    run_git("worktree", "prune", cwd=top)


def snapshot_diff(cwd: Path, sha_a: str, sha_b: str, *, stat_only: bool) -> bytes:
    """The diff between two snapshot commits, for ``reprokit diff --code`` (bytes)."""
    top = _top(cwd)
    for sha in (sha_a, sha_b):
        if _commit_of(top, sha) is None:
            raise ReprokitError(
                f"snapshot commit {sha[:12]} is not in this repository",
                hint="fetch the snapshots: `git fetch origin 'refs/reprokit/*:refs/reprokit/*'`",
            )
    what = ("--stat",) if stat_only else ("--patch",)
    return run_git("diff", "--no-color", "--no-ext-diff", "-M", *what, sha_a, sha_b, "--", cwd=top)
