"""What git says about a working tree, parsed: ``git status`` (HEAD, branch, the dirty
file lists), the remotes with credentials removed, and whether HEAD is pushed.

Read-only: status runs with ``--no-optional-locks`` so it does not even refresh the
user's index. The snapshot built from these facts lives in :mod:`reprokit.capture.snapshot`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reprokit.gitcmd import run_git
from reprokit.redact import scrub_url

# --no-optional-locks: status must not refresh (rewrite) the user's index file.
STATUS_ARGS = (
    "--no-optional-locks", "status", "--porcelain=v2", "-z", "--branch", "--untracked-files=all",
)  # fmt: skip


def redact_url(url: str) -> str:
    """Remove credentials from a remote URL (:func:`reprokit.redact.scrub_url`).

    ``https://user:token@host/x`` and ``https://token@host/x`` become ``https://host/x``,
    ``?private_token=x`` becomes ``?private_token=<redacted>``; for ssh-like schemes the
    user name is kept (it is needed to connect and is not a secret) but a password is
    dropped. Never raises: a URL git accepts but Python's URL parser rejects
    (``https://[bad/x``) once made every launch fail.
    """
    return scrub_url(url)


@dataclass
class Status:
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
    # Paths new in the index (added, or the new name of a rename or copy): staged but never
    # committed, so the snapshot would be the first commit to hold them.
    added: list[str] = field(default_factory=list)
    has_submodule_entries: bool = False
    # Submodules with modified or untracked files of their own: the snapshot records only
    # their checked-out commit, so those changes are not in it.
    dirty_submodules: list[str] = field(default_factory=list)


def decode_path(raw: bytes) -> str:
    # surrogateescape keeps non-UTF-8 file names round-trippable to the file system.
    return raw.decode("utf-8", "surrogateescape")


def parse_status(out: bytes) -> Status:
    st = Status()
    records = out.split(b"\0")
    i = 0
    while i < len(records):
        rec = records[i]
        i += 1
        if not rec:
            continue
        kind = rec[:1]
        if kind == b"#":
            key, _, value = decode_path(rec[2:]).partition(" ")
            if key == "branch.oid":
                st.sha = None if value == "(initial)" else value
            elif key == "branch.head":
                st.branch = None if value == "(detached)" else value
        elif kind == b"?":
            st.untracked.append(decode_path(rec[2:]))
        elif kind in (b"1", b"2", b"u"):
            nfields = {b"1": 9, b"2": 10, b"u": 11}[kind]
            fields = rec.split(b" ", nfields - 1)
            xy, sub, path = fields[1], fields[2], decode_path(fields[-1])
            st.has_submodule_entries |= sub.startswith(b"S")
            if sub[:1] == b"S" and (sub[2:3] == b"M" or sub[3:4] == b"U"):
                st.dirty_submodules.append(path)
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
            if x == b"A" or kind == b"2":
                st.added.append(path)
            if kind == b"2":
                # -z puts the original path in the next NUL-separated record.
                orig = decode_path(records[i])
                i += 1
                st.renamed.append({"from": orig, "to": path})
    for names in (st.modified, st.staged, st.deleted, st.untracked):
        names.sort()
    st.renamed.sort(key=lambda r: (r["to"], r["from"]))
    return st


def remotes(top: Path) -> dict[str, str]:
    out = run_git("config", "-z", "--get-regexp", r"^remote\..*\.url$", cwd=top, check=False)
    remotes: dict[str, str] = {}
    for rec in out.split(b"\0"):
        if not rec:
            continue
        key, _, url = decode_path(rec).partition("\n")
        remotes[key[len("remote.") : -len(".url")]] = redact_url(url)
    return remotes


def remotes_and_pushed(top: Path) -> tuple[dict[str, str], bool | None]:
    """The remotes, and whether HEAD is pushed: only asked when there is a remote (the
    record says null otherwise), which saves a git process where there is none."""
    found = remotes(top)
    return found, pushed(top) if found else None


def pushed(top: Path) -> bool:
    """Whether HEAD is in some remote-tracking branch (False when unborn: git errors)."""
    out = run_git(
        "for-each-ref", "--count=1", "--contains=HEAD", "--format=%(refname)", "refs/remotes/",
        cwd=top, check=False,
    )  # fmt: skip
    return bool(out.strip())
