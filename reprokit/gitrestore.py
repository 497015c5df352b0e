"""Rebuild a run's snapshot as a temporary git worktree (for ``reprokit replay``).

The user's repository is left as it is: no branches are created and HEAD, index and
working tree are untouched. A worktree only adds bookkeeping under ``.git/worktrees``,
which :func:`remove_worktree` clears again; a fetched snapshot keeps its
``refs/reprokit/runs/<id>`` ref. Submodules are not checked out inside the worktree.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from reprokit.errors import ReprokitError
from reprokit.gitcmd import REPROKIT_IDENTITY, GitError, git_toplevel, run_git

# Fetching must fail fast rather than wait for a password nobody will type. (A URL read
# from a record cannot pick the ext:: transport: git never allows it unless configured.)
_FETCH_ENV = MappingProxyType(
    {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "SSH_ASKPASS": "true"}
)
# A fixed date makes the empty base commit the same object every time.
_EMPTY_BASE_IDENTITY = MappingProxyType(
    {
        **REPROKIT_IDENTITY,
        "GIT_AUTHOR_DATE": "1970-01-01T00:00:00+0000",
        "GIT_COMMITTER_DATE": "1970-01-01T00:00:00+0000",
    }
)
_SHA = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
_SNAPSHOT_REFS = "refs/reprokit/"


def _top(cwd: Path) -> Path:
    top = git_toplevel(cwd)
    if top is None:
        raise ReprokitError(
            f"{cwd} is not inside a git repository",
            hint="run this from the repository the run was launched in",
        )
    return top


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
    snapshot, ref, base = (git_record.get(k) for k in ("snapshot", "snapshot_ref", "sha"))
    for key, value in (("snapshot", snapshot), ("sha", base)):
        if value is not None and not (isinstance(value, str) and _SHA.fullmatch(value)):
            raise ReprokitError(
                f"{run_dir / 'run.json'}: git.{key} is not a commit id: {value!r}",
                hint="the record was edited or damaged; restore it from a backup",
            )
    if ref is not None and not (
        isinstance(ref, str) and ref.startswith(_SNAPSHOT_REFS) and ".." not in ref
    ):
        raise ReprokitError(
            f"{run_dir / 'run.json'}: git.snapshot_ref must be under {_SNAPSHOT_REFS}: {ref!r}",
            hint="the record was edited or damaged; restore it from a backup",
        )
    return snapshot, ref, base


def _fetch_sources(top: Path, recorded: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, what to pass to git fetch): recorded remotes first, then other local ones.

    A recorded remote is fetched by name when this repository has one of that name, else
    by its recorded URL; a URL that would read as an option is left out.
    """
    out = run_git("remote", cwd=top, check=False).decode("utf-8", "replace")
    local = [name for name in out.splitlines() if name]
    sources = []
    for name, url in recorded.items():
        if name in local:
            sources.append((name, name))
        elif isinstance(url, str) and url and not url.startswith("-"):
            sources.append((name, url))
    sources += [(name, name) for name in local if name not in recorded]
    return sources


def _fetch_snapshot(
    top: Path, snapshot: str, ref: str, remotes: Mapping[str, Any]
) -> tuple[bool, list[str]]:
    """Fetch ``ref`` from each source in turn until it points at ``snapshot``; whether it
    does, and the remotes tried. ``snapshot`` and ``ref`` must have passed :func:`_checked`."""
    tried: list[str] = []
    for label, source in _fetch_sources(top, remotes):
        tried.append(label)
        # No "+": a same-named ref from another outputs folder must not be clobbered.
        run_git(
            "fetch", "--quiet", "--no-tags", "--end-of-options", source, f"{ref}:{ref}",
            cwd=top, env=_FETCH_ENV, check=False,
        )  # fmt: skip
        if _commit_of(top, ref) == snapshot:
            return True, tried
    return False, tried


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
        fetched, tried = _fetch_snapshot(top, snapshot, ref, git_record.get("remotes") or {})
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


def materialize(cwd: Path, git_record: Mapping[str, Any], run_dir: Path, dest: Path) -> str:
    """Check out a run's snapshot as a detached worktree at ``dest``; say how it was rebuilt.

    Returns ``"ref"`` when ``refs/reprokit/runs/<id>`` points at the snapshot here,
    ``"commit"`` when the ref does not but the snapshot commit is still here,
    ``"fetched"`` when that ref was fetched from a remote (the recorded remotes, then any
    other configured one), or ``"patch"`` when the worktree was rebuilt from the recorded
    HEAD (an empty base when it was unborn) plus ``run_dir/diff.patch``, applied
    uncommitted. Raises ReprokitError naming what is missing, the remotes tried and how to
    recover when none of these works. ``dest`` must not exist or be empty.
    """
    top = _top(cwd)
    if dest.exists() and any(dest.iterdir()):
        raise ReprokitError(
            f"cannot rebuild the code into {dest}: the folder is not empty",
            hint="remove it or choose another folder",
        )
    snapshot, ref, base = _checked(git_record, run_dir)
    # The usual case first, in one git call: the ref points at the snapshot.
    if snapshot and ref and _commit_of(top, ref) == snapshot:
        _worktree_add(top, dest, snapshot)
        return "ref"
    if snapshot and _commit_of(top, snapshot) == snapshot:
        # Still exact: the ref is gone (deleted, or moved) but git has not collected the
        # commit.
        _worktree_add(top, dest, snapshot)
        return "commit"
    tried: list[str] = []
    if snapshot and ref:
        fetched, tried = _fetch_snapshot(top, snapshot, ref, git_record.get("remotes") or {})
        if fetched:
            _worktree_add(top, dest, snapshot)
            return "fetched"
    if base is not None and _commit_of(top, base) is None:
        raise _missing_error(git_record, tried)
    patch = run_dir / str(git_record.get("patch_file") or "diff.patch")
    if not patch.is_file():
        raise ReprokitError(
            f"cannot rebuild the code: the snapshot is not available and {patch} is missing",
            hint="restore the run folder from a backup, or fetch refs/reprokit/* from a remote",
        )
    _worktree_add(top, dest, base if base is not None else _empty_base(top))
    if patch.stat().st_size:
        try:
            run_git("apply", "--binary", "--whitespace=nowarn", str(patch.resolve()), cwd=dest)
        except GitError as e:
            remove_worktree(cwd, dest)
            raise ReprokitError(
                f"cannot rebuild the code: {patch} does not apply to {str(base)[:12]}:\n  "
                + e.stderr.replace("\n", "\n  "),
                hint="the patch or the base commit was changed after the run",
            ) from e
    return "patch"


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
