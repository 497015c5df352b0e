"""Which of two files with one id RK201 should tell the user to rename.

A newcomer added ``wider_02_01.py`` next to a committed ``wide_02_01.py`` (which a child
imports) and was told to rename the committed one, breaking the child. The file to rename
is the new one: untracked, else staged but not in HEAD, else added to git later; never one
that other experiments import; among equals, the later name. Only called when a family
has a duplicate id, so the git calls cost nothing on a healthy repository.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from reprokit.errors import ReprokitError
from reprokit.gitcmd import run_git

_UNTRACKED, _STAGED, _COMMITTED = 3, 2, 1
_WHY = {_UNTRACKED: "untracked", _STAGED: "staged, not yet committed"}


def _names(out: bytes) -> set[str]:
    return {Path(p.decode("utf-8", "surrogateescape")).name for p in out.split(b"\0") if p}


def _git_ages(folder: Path, names: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(state, commit time of the add) per name; all equal when git cannot tell."""
    try:
        indexed = _names(run_git("ls-files", "-z", "--", *names, cwd=folder))
        head = _names(
            run_git("ls-tree", "-z", "--name-only", "HEAD", "--", *names, cwd=folder, check=False)
        )
        ages: dict[str, tuple[int, int]] = {}
        for name in names:
            if name not in indexed:
                ages[name] = (_UNTRACKED, 0)
            elif name not in head:
                ages[name] = (_STAGED, 0)
            else:
                out = run_git(
                    "log", "-1", "--diff-filter=A", "--format=%ct", "--", name, cwd=folder
                )
                ages[name] = (_COMMITTED, int(out.strip() or 0))
        return ages
    except (ReprokitError, OSError, ValueError):
        return {name: (_COMMITTED, 0) for name in names}


def pick_to_rename(
    folder: Path, same: Sequence[str], importers: Mapping[str, Sequence[str]]
) -> tuple[str, str]:
    """The file of ``same`` (names sharing an id) to rename, and why, for the hint.

    ``folder`` is the family folder in the git working tree; ``importers`` maps a name to
    the family files that import it.
    """
    ages = _git_ages(folder, same)
    free = [n for n in same if not importers.get(n)]
    candidates = free or list(same)
    chosen = max(candidates, key=lambda n: (*ages[n], n))
    state, added = ages[chosen]
    others = [n for n in same if n != chosen]
    if state in _WHY:
        why = f"it is {_WHY[state]}"
    elif any(ages[n][1] < added for n in others):
        why = "it was added to git later"
    else:
        why = "the later name"
    kept = [n for n in others if importers.get(n)]
    if not free:
        why += f"; update the files that import it: {', '.join(importers[chosen])}"
    elif kept:
        users = sorted({u for n in kept for u in importers[n]})
        why += f"; {' and '.join(kept)} is imported by {', '.join(users)}"
    return chosen, why
