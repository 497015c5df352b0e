"""Snapshot ref names (unique per working tree and outputs folder) and writing them safely.

Run ids are unique per outputs folder only, so a snapshot ref must say which folder (and
which working tree) its run belongs to. Two launches that once shared a ref name lost a
snapshot: a linked ``git worktree`` wrote ``refs/reprokit/runs/run_1`` over the main
checkout's ``run_1``, and after an amend and ``git gc --prune=now`` that run could not be
rebuilt; ``--outputs "my runs"`` and ``--outputs my_runs`` mapped to one name.

The names, by construction (``<name>`` is the linked worktree's name under
``.git/worktrees/``, ``<path>`` the outputs folder relative to that working tree's top):

=================================================  =======================================
``refs/reprokit/runs/run_7``                       main working tree, ``outputs/``
``refs/reprokit/runs/<path>/run_7``                main working tree, another folder in it
``refs/reprokit/runs/_wt/<name>/run_7``            linked worktree, its ``outputs/``
``refs/reprokit/runs/_wt/<name>/<path>/run_7``     linked worktree, another folder in it
``refs/reprokit/runs/_ext/<hash>/run_7``           a folder outside the working tree
=================================================  =======================================

Each folder name in ``<path>`` and ``<name>`` is written with :func:`encode_name`: ASCII
letters and digits stay, ``-`` stays (except first), ``_`` becomes ``__`` and every other
byte of its UTF-8 form becomes ``_x`` and two lowercase hex digits (``my runs`` →
``my_x20runs``, ``my_runs`` → ``my__runs``, ``.hidden`` → ``_x2ehidden``). The encoding
is injective (``__`` and ``_x`` are the only uses of ``_``), so different folders never
share a name; it never yields ``_wt``, ``_ext`` or a run id ``run_<digits>`` (an escape's
``_`` is followed by ``_`` or ``x``), so the kinds above cannot collide either. ``<hash>`` is 16 hex digits of the
sha256 of the folder's absolute path (run ids are unique in that folder whichever working
tree launches into it). Every name is a valid git ref made only of ``[A-Za-z0-9_.-]``.

Records made before this naming keep their refs: replay reads ``git.snapshot_ref`` from
the record, never recomputes it.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from reprokit.capture import process
from reprokit.gitcmd import GitError, run_git

RUNS = "refs/reprokit/runs"
_DEFAULT_OUTPUTS = Path("outputs")
_KEEP = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
# A trailer of every snapshot commit: the run it was made for, ``<folder key>/<run id>``
# (owner_key). Only a ref whose commit names this very run may be replaced (write_ref).
OWNER_TRAILER = "Reprokit-Run"


def encode_name(name: str) -> str:
    """One folder name as one ref component (the rule in the module docstring)."""
    out = []
    for i, byte in enumerate(name.encode("utf-8", "surrogateescape")):
        if byte in _KEEP or (byte == 0x2D and i):  # 0x2D: "-"
            out.append(chr(byte))
        elif byte == 0x5F:  # "_"
            out.append("__")
        else:
            out.append(f"_x{byte:02x}")
    return "".join(out) or "_x"  # "_x" alone: the empty name, never produced otherwise


def ref_space(top: Path, outputs: Path | None, worktree: str | None = None) -> str:
    """The part of the snapshot ref between ``refs/reprokit/runs/`` and the run id.

    ``top`` is the working tree's top folder, ``outputs`` the run's outputs folder (None:
    the default), ``worktree`` the linked worktree's name (None in the main working tree).
    """
    where = outputs.resolve() if outputs is not None else None
    if where is not None:
        try:
            rel: Path | None = where.relative_to(top.resolve())
        except ValueError:
            digest = hashlib.sha256(str(where).encode("utf-8", "surrogateescape")).hexdigest()
            return f"_ext/{digest[:16]}"
    else:
        rel = None
    parts = ["_wt", encode_name(worktree)] if worktree is not None else []
    if rel is not None and rel != _DEFAULT_OUTPUTS:
        # The working tree's top itself has no parts: "." is written like any name.
        parts += [encode_name(p) for p in rel.parts] or [encode_name(".")]
    return "/".join(parts)


def snapshot_ref(run_id: str, space: str = "") -> str:
    """The ref that keeps a run's snapshot commit alive (see :func:`ref_space`)."""
    return f"{RUNS}/{space}/{run_id}" if space else f"{RUNS}/{run_id}"


def owner_key(outputs: Path, run_id: str) -> str:
    """The ``Reprokit-Run`` trailer of a run's snapshot commit: the outputs folder on this
    host as a hash (no path or host name is pushed with it), and the run id."""
    where = f"{process.hostname()}\0{outputs.resolve()}"
    return hashlib.sha256(where.encode("utf-8", "surrogateescape")).hexdigest()[:16] + "/" + run_id


def write_ref(top: Path, ref: str, commit: str, reason: str, owner: str) -> str:
    """Point ``ref`` at ``commit`` unless that would drop another run's snapshot; returns
    the ref written (recorded as ``git.snapshot_ref``).

    The usual case costs one git call: ``update-ref REF NEW ""`` creates the ref only if it
    does not exist. When it exists, its commit decides:

    - made for this run id of this outputs folder on this host (its ``Reprokit-Run``
      trailer is ``owner``, :func:`owner_key`): the folder of that id was just created
      afresh, so the run it belonged to is gone (outputs deleted and restarted).
      The ref is replaced, compare-and-swap (``update-ref REF NEW OLD``).
    - anything else (a ref made by hand, fetched from a teammate, written by an older
      reprokit that named refs by run id alone, or by a folder since moved elsewhere): its
      run may still exist, so the ref is kept and this snapshot goes under
      ``<ref>-<first 12 digits of its commit>`` with a warning. Nothing is overwritten.
      (When the name cannot be made at all, a ref made by hand where it needs a folder:
      ``refs/reprokit/snapshots/<commit>``, with the same warning.)
    """
    try:
        run_git("update-ref", "-m", reason, ref, commit, "", cwd=top)
        return ref
    except GitError as e:
        first_error = e
    # log, not show: a ref made by hand may name a blob, whose content show would print.
    shown = run_git(
        "log", "-1", "--format=%H%n%B", "--end-of-options", ref, "--", cwd=top, check=False
    )
    old, _, message = shown.decode("utf-8", "replace").partition("\n")
    if old and f"\n{OWNER_TRAILER}: {owner}\n" in f"\n{message}":
        try:
            run_git("update-ref", "-m", reason, ref, commit, old, cwd=top)
            return ref
        except GitError:
            pass  # changed meanwhile: keep whatever is there now
    alt = _write_elsewhere(top, ref, commit, reason, first_error)
    if old:
        subject = message.partition("\n")[0]
        what = f"already holds {old[:12]} ({subject!r}), not made for this run; it is kept"
    else:
        said = (first_error.stderr.splitlines() or ["?"])[-1]
        what = f"cannot be written (git: {said})"
    print(
        f"reprokit: warning: {ref} {what}, and this run's snapshot is under {alt} "
        "(recorded in run.json)",
        file=sys.stderr,
    )
    return alt


def _write_elsewhere(top: Path, ref: str, commit: str, reason: str, error: GitError) -> str:
    """``<ref>-<12 digits>``, else ``refs/reprokit/snapshots/<commit>`` (a ref made by hand
    where this name needs a folder, ``refs/reprokit/runs/sweep`` for ``sweep/run_1``)."""
    for alt in (f"{ref}-{commit[:12]}", f"refs/reprokit/snapshots/{commit}"):
        try:
            run_git("update-ref", "-m", reason, alt, commit, "", cwd=top)
            return alt
        except GitError:
            continue
    raise error
