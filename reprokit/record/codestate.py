"""What a run's code state is: its HEAD commit and, when the working tree was dirty, what
its snapshot held. Blame's code states, plot's count of them and the ``code`` column of
``runs`` all name a state through this module, so they group runs the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def changes(
    git: Mapping[str, Any], *, tree: str | None = None, patch: str | None = None
) -> str | None:
    """What a dirty run changed on top of its HEAD; None for a clean run (or one with no
    snapshot), whose HEAD says it all.

    Each dirty run has its own snapshot commit, so the state is named by the snapshot's
    *tree* (same files, same state): ``tree:<sha>`` as recorded at launch (``git.tree``),
    else the ``tree`` the caller asked git for; records from before ``git.tree`` fall back
    to ``patch:<sha256>``, the digest of their diff.patch (``patch``, kept by the index);
    with neither, ``snapshot:<sha>``: the snapshot names a state of its own.
    """
    snapshot = git.get("snapshot")
    if not git.get("dirty") or not snapshot:
        return None
    tree = git.get("tree") or tree
    if tree:
        return f"tree:{tree}"
    return f"patch:{patch}" if patch else f"snapshot:{snapshot}"


def code_state(
    git: Mapping[str, Any], *, tree: str | None = None, patch: str | None = None
) -> tuple[str | None, str | None]:
    """A run's code state from its ``git`` record: (HEAD sha, :func:`changes`)."""
    return git.get("sha"), changes(git, tree=tree, patch=patch)


def code_label(git: Mapping[str, Any]) -> str | None:
    """A run's code state as ``runs`` shows it: ``<sha>`` clean, ``<sha>+<snapshot>`` dirty
    (:attr:`reprokit.analysis.rows.RunRow.code` names one snapshot per :func:`code_state`)."""
    sha, snapshot = git.get("sha"), git.get("snapshot")
    if git.get("dirty") and snapshot:
        return f"{sha}+{snapshot}" if sha else str(snapshot)
    return None if sha is None else str(sha)
