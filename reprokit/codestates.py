"""The code states behind one experiment's runs (HEAD sha, plus the snapshot's tree when the
tree was dirty), and the commits between two states."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprokit import stats
from reprokit.errors import ReprokitError
from reprokit.evidence import metric_value


@dataclass(frozen=True)
class CodeState:
    """The runs of one experiment made at one code state (HEAD sha + snapshot content)."""

    sha: str | None
    dirty: bool
    snapshot: str | None
    runs: int
    mean: float | None
    std: float | None
    commits_since_previous: tuple[str, ...] = ()


def _run_key(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    git = record.get("git") or {}
    return git.get("sha"), (git.get("snapshot") if git.get("dirty") else None)


def code_states(runs: Sequence[Mapping[str, Any]], metric: str, cwd: Path) -> list[CodeState]:
    """Split runs by code state: HEAD sha, plus the snapshot's tree when the tree was dirty.

    Each run has its own snapshot commit, so dirty runs are grouped by the snapshot's tree
    (same files, same state) rather than by the commit itself.
    """
    ordered = sorted(runs, key=lambda r: str(r.get("started_at") or ""))
    keys = [_run_key(r) for r in ordered]
    snapshots = sorted({snap for _, snap in keys if snap})
    trees = _trees(snapshots, cwd) if len({k[0] for k in keys}) > 1 or len(snapshots) > 1 else {}
    groups: dict[tuple[str | None, str | None], list[Mapping[str, Any]]] = {}
    for record, (sha, snap) in zip(ordered, keys, strict=True):
        groups.setdefault((sha, trees.get(snap, snap) if snap else None), []).append(record)
    states: list[CodeState] = []
    previous_sha: str | None = None
    for (sha, tree), members in groups.items():
        summary = stats.summarize(
            [v for r in members if (v := metric_value(r, metric)) is not None]
        )
        commits: tuple[str, ...] = ()
        if len(groups) > 1 and previous_sha and sha and previous_sha != sha:
            try:
                commits = tuple(commits_between(previous_sha, sha, cwd))
            except ReprokitError:
                commits = ("(commits unavailable: one of the SHAs is not in this clone)",)
        snap = _run_key(members[0])[1] if tree else None
        states.append(
            CodeState(sha, tree is not None, snap, summary.n, summary.mean, summary.std, commits)
        )
        previous_sha = sha
    return states


def _trees(snapshots: Sequence[str], cwd: Path) -> dict[str, str]:
    from reprokit.gitcmd import run_git

    if not snapshots:
        return {}
    out = run_git("rev-parse", *[f"{s}^{{tree}}" for s in snapshots], cwd=cwd, check=False)
    lines = out.decode().split()
    # A snapshot gone from this clone: fall back to grouping by the snapshot commit itself.
    return dict(zip(snapshots, lines, strict=True)) if len(lines) == len(snapshots) else {}


def commits_between(old: str, new: str, cwd: Path) -> list[str]:
    """``git log --oneline`` of ``old..new``, newest first; ReprokitError when git cannot
    (a SHA missing from this clone): each caller says so its own way."""
    from reprokit.gitcmd import run_git

    out = run_git("log", "--oneline", "--no-decorate", f"{old}..{new}", cwd=cwd)
    return [line for line in out.decode("utf-8", "replace").splitlines() if line]
