"""The code states behind one experiment's runs (HEAD sha, plus the snapshot's tree when the
tree was dirty), and the commits between two states."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprokit.analysis.evidence import by_seed
from reprokit.errors import ReprokitError
from reprokit.gitcmd import run_git
from reprokit.record.codestate import code_state


@dataclass(frozen=True)
class CodeState:
    """The runs of one experiment made at one code state (HEAD sha + snapshot content)."""

    sha: str | None
    dirty: bool
    snapshot: str | None
    runs: int  # runs with a finite value
    mean: float | None  # mean and std over seeds (one value per seed: evidence.by_seed)
    std: float | None
    commits_since_previous: tuple[str, ...] = ()
    seeds: int = 0  # distinct seeds among ``runs``
    diverged: int = 0  # runs whose value was NaN or ±inf, left out of mean and std
    # The files a dirty state changed from its HEAD (modified, staged, deleted, untracked).
    changed: tuple[str, ...] = ()


def _changed_files(record: Mapping[str, Any]) -> tuple[str, ...]:
    git = record.get("git") or {}
    names: set[str] = set()
    for key in ("modified", "staged", "deleted", "untracked"):
        names.update(str(p) for p in git.get(key) or [])
    return tuple(sorted(names))


def state_key(record: Mapping[str, Any], trees: Mapping[str, str]) -> tuple[str | None, str | None]:
    """A run's :func:`~reprokit.record.codestate.code_state`, with the snapshot trees that
    :func:`known_trees` asked of git for records that did not record theirs."""
    git = record.get("git") or {}
    return code_state(git, tree=trees.get(str(git.get("snapshot"))))


def code_states(runs: Sequence[Mapping[str, Any]], metric: str, cwd: Path) -> list[CodeState]:
    """Split runs by code state: HEAD sha, plus the snapshot's tree when the tree was dirty.

    Each run has its own snapshot commit, so dirty runs are grouped by the snapshot's tree
    (same files, same state) rather than by the commit itself.
    """
    ordered = sorted(runs, key=lambda r: str(r.get("started_at") or ""))
    trees = known_trees(ordered, cwd)
    groups: dict[tuple[str | None, str | None], list[Mapping[str, Any]]] = {}
    for record in ordered:
        groups.setdefault(state_key(record, trees), []).append(record)
    states: list[CodeState] = []
    previous_sha: str | None = None
    for (sha, tree), members in groups.items():
        evidence = by_seed(members, metric)
        summary = evidence.summary
        commits: tuple[str, ...] = ()
        if len(groups) > 1 and previous_sha and sha and previous_sha != sha:
            try:
                commits = tuple(commits_between(previous_sha, sha, cwd))
            except ReprokitError:
                commits = ("(commits unavailable: one of the SHAs is not in this clone)",)
        snap = (members[0].get("git") or {}).get("snapshot") if tree else None
        states.append(
            CodeState(
                sha,
                tree is not None,
                snap,
                evidence.runs,
                summary.mean,
                summary.std,
                commits,
                seeds=summary.n,
                diverged=evidence.diverged,
                changed=_changed_files(members[0]) if tree else (),
            )
        )
        previous_sha = sha
    return states


def known_trees(runs: Sequence[Mapping[str, Any]], cwd: Path) -> dict[str, str]:
    """The tree of each dirty run's snapshot, for :func:`state_key`: as recorded at launch
    (``git.tree``), else asked of git in one call, and only when the runs span more than
    one HEAD or snapshot (else there is nothing to tell apart)."""
    gits = [r.get("git") or {} for r in runs]
    dirty = [g for g in gits if g.get("dirty") and g.get("snapshot")]
    trees = {str(g["snapshot"]): str(g["tree"]) for g in dirty if g.get("tree")}
    missing = sorted({str(g["snapshot"]) for g in dirty} - trees.keys())
    if missing and (len({g.get("sha") for g in gits}) > 1 or len(dirty) > 1):
        trees.update(snapshot_trees(missing, cwd))
    return trees


def snapshot_trees(snapshots: Sequence[str], cwd: Path) -> dict[str, str]:
    """The tree of each snapshot commit (one git call); {} when one is not in this clone."""
    if not snapshots:
        return {}
    out = run_git("rev-parse", *[f"{s}^{{tree}}" for s in snapshots], cwd=cwd, check=False)
    lines = out.decode().split()
    # A snapshot gone from this clone: fall back to grouping by the snapshot commit itself.
    return dict(zip(snapshots, lines, strict=True)) if len(lines) == len(snapshots) else {}


def commits_between(old: str, new: str, cwd: Path) -> list[str]:
    """``git log --oneline`` of ``old..new``, newest first; ReprokitError when git cannot
    (a SHA missing from this clone): each caller says so its own way."""
    out = run_git("log", "--oneline", "--no-decorate", f"{old}..{new}", cwd=cwd)
    return [line for line in out.decode("utf-8", "replace").splitlines() if line]
