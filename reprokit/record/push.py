"""``reprokit push [REMOTE]``: publish this outputs folder's runs as git objects.

Each finished run becomes one commit under ``refs/reprokit/shared/<user>@<host>/run_N``
(the layout: :mod:`reprokit.record.share`), made locally with git's plumbing and pushed
with one ``git push`` of every such ref. Pushing never forces: a ref only moves forward (a
changed run's new commit has the old one as second parent), so a push can never rewrite a
teammate's runs or a run pushed from another clone; the same run pushed twice is the same
ref, which git reports as up to date.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprokit.errors import ReprokitError, UsageError
from reprokit.gitcmd import (
    REMOTE_CONFIG,
    REMOTE_ENV,
    REMOTE_TIMEOUT_S,
    REPROKIT_IDENTITY,
    GitError,
    require_toplevel,
    run_git,
)
from reprokit.paths import shown
from reprokit.record import share, store, trust
from reprokit.settings import Settings


@dataclass(frozen=True)
class _Shared:
    """One run made ready to push: its ref and its shared commit."""

    run_id: str
    ref: str
    commit: str


def push(
    remote: str | None,
    *,
    settings: Settings,
    runs: list[str] | None = None,
    artifacts: bool = False,
    max_artifact_mb: float = share.DEFAULT_MAX_ARTIFACT_MB,
) -> int:
    """Push the runs of ``settings.outputs`` (or only ``runs``) to ``remote``; exit code."""
    if max_artifact_mb <= 0:
        raise UsageError(f"--max-artifact-mb must be > 0, not {max_artifact_mb:g}")
    top = require_toplevel(settings.root, hint="push from the repository the runs were launched in")
    name = share.configured_remote(top, remote)
    namespace = share.own_namespace(top)
    _fetch_own(top, name, namespace)
    existing = _existing(top, namespace)
    limit = int(max_artifact_mb * 2**20) if artifacts else None
    ready: list[_Shared] = []
    failed = 0
    for run_dir in _chosen(runs, settings):
        try:
            shared = _prepare(top, run_dir, namespace, existing, limit)
        except ReprokitError as e:
            # One damaged run must not keep the others from being shared.
            print(f"reprokit: not pushing {run_dir.name}: {e.message}", file=sys.stderr)
            failed += 1
            continue
        if shared is not None:
            ready.append(shared)
    if ready:
        _push_refs(top, name, namespace, ready)
    else:
        print(f"reprokit: no finished runs in {shown(settings.outputs)} to push")
    return 1 if failed else 0


def _fetch_own(top: Path, remote: str, namespace: str) -> None:
    """Your runs as the remote has them (pushed from another clone of yours, or before
    this one was cloned), so a push builds on them instead of being refused. Never forced:
    a ref here that is ahead of the remote's stays, and a failure here is the push's to
    report."""
    mine = f"{share.SHARED_REFS}/{namespace}/*"
    run_git(
        *REMOTE_CONFIG, "fetch", "--quiet", "--no-tags", remote, f"{mine}:{mine}",
        cwd=top, env=REMOTE_ENV, check=False, timeout=REMOTE_TIMEOUT_S,
    )  # fmt: skip


def _chosen(runs: list[str] | None, settings: Settings) -> list[Path]:
    """The run folders to push: those named (never a teammate's pulled run), else every
    run of the outputs folder."""
    if not runs:
        return store.run_dirs(settings.outputs, shared=False)
    chosen = []
    for spec in runs:
        run_dir = store.resolve_run(spec, settings)
        if store.namespace_of(run_dir) is not None:
            raise UsageError(
                f"{spec} is a run pulled from {store.namespace_of(run_dir)}; only your own"
                " runs are pushed",
                hint="its author pushes it; everyone who pulls gets it from there",
            )
        chosen.append(run_dir)
    return chosen


@dataclass(frozen=True)
class _Existing:
    """A run already shared from here: its commit, tree, run key and artifacts tree."""

    commit: str
    tree: str
    key: str
    artifacts: str | None


def _existing(top: Path, namespace: str) -> dict[str, _Existing]:
    """This namespace's shared refs here, in two git calls whatever their number."""
    fmt = f"%(refname)%00%(objectname)%00%(tree)%00%(trailers:key={share.RUN_TRAILER},valueonly)"
    out = run_git(
        "for-each-ref", f"--format={fmt}", f"{share.SHARED_REFS}/{namespace}/", cwd=top
    ).decode("utf-8", "replace")
    rows = [line.split("\0") for line in out.splitlines()]
    rows = [r for r in rows if len(r) == 4]
    if not rows:
        return {}
    # Their artifacts, kept by a push without --artifacts: "<sha> tree" or "<name> missing".
    query = "".join(f"{r[1]}:{share.ARTIFACTS}\n" for r in rows).encode()
    checked = run_git("cat-file", "--batch-check", cwd=top, input=query).decode().splitlines()
    found = {}
    for (ref, commit, tree, key), answer in zip(rows, checked, strict=True):
        sha, _, kind = answer.partition(" ")
        artifacts = sha if kind.startswith("tree") else None
        found[ref] = _Existing(commit, tree, key.strip(), artifacts)
    return found


def run_key(record: dict[str, Any]) -> str:
    """What tells this run from any other that had its id: the host, start time and pid
    of its launch (hashed: no host name is pushed with it). A second outputs folder, or one
    deleted and started again, has runs with the same ids and other keys."""
    where = f"{record.get('host')}\0{record.get('started_at')}\0{record.get('pid')}"
    return hashlib.sha256(where.encode("utf-8", "surrogateescape")).hexdigest()[:24]


def _prepare(
    top: Path,
    run_dir: Path,
    namespace: str,
    existing: dict[str, _Existing],
    artifact_limit: int | None,
) -> _Shared | None:
    """The run's shared commit (made when its files changed); None when it is skipped."""
    record = store.read_record(run_dir)
    run_id = run_dir.name
    if store.effective_status(record) == "running":
        print(f"reprokit: skipping {run_id}: it is still running (push it when it ends)")
        return None
    ref = share.shared_ref(namespace, run_id)
    key = run_key(record)
    old = existing.get(ref)
    if old is not None and old.key != key:
        print(
            f"reprokit: warning: not pushing {run_id}: {namespace}/{run_id} is already shared"
            " from another outputs folder (or an earlier run of this id); each outputs folder"
            " of one person on one host shares its own run ids, so push from one of them",
            file=sys.stderr,
        )
        return None
    # Without --artifacts, the artifacts pushed before stay (a plain push removes nothing).
    kept = old.artifacts if old is not None and artifact_limit is None else None
    tree = _tree(top, run_dir, artifact_limit, kept)
    if old is not None and old.tree == tree:
        return _Shared(run_id, ref, old.commit)
    parents = _parents(top, record.get("git"), run_dir)
    if old is not None:
        parents.append(old.commit)
    message = f"reprokit: {run_id} shared by {namespace}\n\n{share.RUN_TRAILER}: {key}\n"
    args = [a for p in parents for a in ("-p", p)]
    commit = run_git(
        "commit-tree", "--no-gpg-sign", tree, *args, "-m", message,
        cwd=top, env=REPROKIT_IDENTITY,
    ).decode().strip()  # fmt: skip
    run_git("update-ref", "-m", "reprokit push", ref, commit, old.commit if old else "", cwd=top)
    return _Shared(run_id, ref, commit)


def _parents(top: Path, git_record: Any, run_dir: Path) -> list[str]:
    """The snapshot commit (else the recorded HEAD) when git has it: fetching the shared
    ref then brings the run's code too."""
    if not isinstance(git_record, dict):
        return []
    record_file = run_dir / store.RECORD_FILE
    for key in ("snapshot", "sha"):
        commit = trust.commit_id(git_record.get(key), record_file, f"git.{key}")
        if commit is None:
            continue
        out = run_git(
            "rev-parse", "-q", "--verify", "--end-of-options", f"{commit}^{{commit}}",
            cwd=top, check=False,
        )  # fmt: skip
        if out.decode().strip() == commit:
            if key == "sha":
                print(
                    f"reprokit: warning: {run_dir.name}'s snapshot commit is gone from this"
                    " repository; its recorded HEAD is pushed instead (a dirty run then"
                    " replays only with --from-patch)",
                    file=sys.stderr,
                )
            return [commit]
    return []


def _regular(path: Path) -> int | None:
    """The size of ``path`` when it is a regular file (not a link); None otherwise."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def _tree(top: Path, run_dir: Path, artifact_limit: int | None, kept: str | None) -> str:
    """The tree of the run's record files and, with a limit, its artifacts (else the
    artifacts tree ``kept`` from its previous push)."""
    names = [n for n in share.RECORD_FILES if _regular(run_dir / n) is not None]
    for name in names:
        size = _regular(run_dir / name) or 0
        if size > share.MAX_RECORD_FILE_BYTES:
            raise ReprokitError(
                f"{name} is {size // 2**20} MiB, more than a teammate's pull accepts"
                f" ({share.MAX_RECORD_FILE_BYTES // 2**20} MiB)"
            )
    entries = [
        ("100644", "blob", sha, n) for n, sha in zip(names, _hash(top, run_dir, names), strict=True)
    ]
    sub = kept if artifact_limit is None else _artifacts_tree(top, run_dir, artifact_limit)
    if sub is not None:
        entries.append(("040000", "tree", sub, share.ARTIFACTS))
    return _mktree(top, entries)


def _hash(top: Path, run_dir: Path, names: list[str]) -> list[str]:
    if not names:
        return []
    paths = "".join(f"{run_dir / n}\n" for n in names).encode("utf-8", "surrogateescape")
    out = run_git(
        "hash-object", "-w", "--no-filters", "--stdin-paths", cwd=top, input=paths
    ).decode()
    return out.split()


def _mktree(top: Path, entries: list[tuple[str, str, str, str]]) -> str:
    data = "".join(f"{mode} {kind} {sha}\t{name}\0" for mode, kind, sha, name in entries)
    return run_git("mktree", "-z", cwd=top, input=data.encode()).decode().strip()


def _artifacts_tree(top: Path, run_dir: Path, limit: int) -> str | None:
    """The run folder's other regular files (``output.log``, checkpoints) up to ``limit``
    bytes each; a larger one, a link or a subfolder is left out with a note."""
    names = []
    for entry in sorted(os.scandir(run_dir), key=lambda e: e.name):
        if entry.name in share.RECORD_FILES or entry.name.startswith("."):
            continue
        size = _regular(Path(entry.path))
        if size is None or not share.ARTIFACT_NAME.fullmatch(entry.name):
            print(f"reprokit: {run_dir.name}: not pushing {entry.name!r} (not a plain file)")
        elif size > limit:
            print(
                f"reprokit: {run_dir.name}: not pushing {entry.name} ({size / 2**20:.1f} MiB,"
                f" over --max-artifact-mb {limit / 2**20:g})"
            )
        else:
            names.append(entry.name)
    if not names:
        return None
    shas = _hash(top, run_dir, names)
    return _mktree(top, [("100644", "blob", s, n) for n, s in zip(names, shas, strict=True)])


def _push_refs(top: Path, remote: str, namespace: str, ready: list[_Shared]) -> None:
    """One ``git push --porcelain`` of every ref, never forced; its verdicts counted."""
    refspecs = [f"{s.ref}:{s.ref}" for s in ready]
    try:
        out = run_git(
            *REMOTE_CONFIG, "push", "--porcelain", remote, *refspecs,
            cwd=top, env=REMOTE_ENV, timeout=REMOTE_TIMEOUT_S,
        )  # fmt: skip
    except GitError as e:
        raise ReprokitError(
            f"pushing {len(refspecs)} shared runs to {remote} failed:\n  "
            + e.stderr.replace("\n", "\n  "),
            hint="check that the remote answers and that you may write to it; a rejected"
            " ref means a run of yours was pushed from another clone meanwhile: push again"
            " (it builds on that one)",
        ) from e
    flags = {}
    for line in out.decode("utf-8", "replace").splitlines():
        flag, _, rest = line.partition("\t")
        if len(flag) == 1 and ":" in rest:
            flags[rest.split(":", 1)[1].split("\t")[0]] = flag
    new = sum(flags.get(s.ref) == "*" for s in ready)
    updated = sum(flags.get(s.ref) in (" ", "+") for s in ready)
    same = len(ready) - new - updated
    print(
        f"reprokit: pushed {len(ready)} runs to {remote} as {namespace}: {new} new,"
        f" {updated} updated, {same} already there"
    )
