"""The two things the snapshot needs from git's index file itself.

:func:`flagged_entries`: the entries marked ``assume-unchanged`` or ``skip-worktree``.
``git status`` never looks at those files on disk, so a snapshot built from status alone
recorded an edited, flagged file as committed (the record said "clean", replay ran other
code). Reading the flags straight from the index file costs no git process: ~4 ms for
20,000 entries, and nothing is done with them when there are none.

:class:`TempIndexes`: where the temporary index copies live, and sweeping the ones left by
killed launches (each SIGKILL of a launch used to leave a ``reprokit-index-*`` folder in
the system temp folder for good).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path
from typing import NamedTuple

from reprokit.capture import process
from reprokit.gitcmd import run_git

_ASSUME_VALID = 0x8000
_EXTENDED = 0x4000
_SKIP_WORKTREE = 0x4000  # in the extended flags (index version 3 and later)
_NAME_MASK = 0xFFF
_STAT_BYTES = 40  # ctime, mtime, dev, ino, mode, uid, gid, size


class Flagged(NamedTuple):
    """An index entry git treats as unchanged whatever is on disk."""

    path: str
    assume_unchanged: bool
    skip_worktree: bool


def flagged_entries(index: Path, top: Path, hash_bytes: int = 20) -> list[Flagged]:
    """The ``assume-unchanged`` / ``skip-worktree`` entries of the index file ``index``.

    Versions 2 and 3 are read directly (``hash_bytes``: 20 for SHA-1 repositories, 32 for
    SHA-256); version 4 (prefix-compressed names) and split indexes ask ``git ls-files -v``
    in ``top``. An unreadable index yields no entries: the snapshot then is what it was.
    """
    try:
        data = index.read_bytes()
    except OSError:
        return []
    if len(data) < 12 or data[:4] != b"DIRC":
        return []
    version, count = struct.unpack_from(">II", data, 4)
    if version in (2, 3) and _none_flagged(data, count, hash_bytes):
        return []
    found = _walk(data, count, hash_bytes) if version in (2, 3) else None
    if found is None:
        return _from_ls_files(top, index)
    return found


def _none_flagged(data: bytes, count: int, hash_bytes: int) -> bool:
    """True when no entry has a flag (or an extended-flags word): the usual case, on every
    launch, so this loop is as lean as Python allows (~2.5 ms for 20,000 entries).
    False when some may (or a name of 0xFFF bytes or more needs the full walk)."""
    pos = 12 + _STAT_BYTES + hash_bytes  # the first entry's flags
    step = _STAT_BYTES + hash_bytes + 2 + 8
    try:
        for _ in range(count):
            high = data[pos]
            # 0xC0: assume-valid or extended flags; 0x0F: a name of 3,840 bytes or more.
            if high & 0xC0 or high & 0x0F == 0x0F:
                return False
            # The entry's length, 1 to 8 NULs padding it to a multiple of 8 bytes.
            pos += (step + ((high << 8) | data[pos + 1])) & ~7
    except IndexError:
        return False
    # A split index keeps entries in a shared file too, flagged ones perhaps: ask git.
    extensions = pos - _STAT_BYTES - hash_bytes
    return data[extensions : extensions + 4] != b"link"


def _walk(data: bytes, count: int, hash_bytes: int) -> list[Flagged] | None:
    """Entries of a version 2/3 index; None when it needs git's help (a split index)."""
    flags_at = _STAT_BYTES + hash_bytes
    unpack, pos, found = struct.unpack_from, 12, []
    try:
        for _ in range(count):
            (flags,) = unpack(">H", data, pos + flags_at)
            name_at = pos + flags_at + 2
            extended = 0
            if flags & _EXTENDED:
                (extended,) = unpack(">H", data, name_at)
                name_at += 2
            size = flags & _NAME_MASK
            if size == _NAME_MASK:
                size = data.index(b"\0", name_at + size) - name_at
            if flags & _ASSUME_VALID or extended & _SKIP_WORKTREE:
                name = data[name_at : name_at + size].decode("utf-8", "surrogateescape")
                found.append(
                    Flagged(name, bool(flags & _ASSUME_VALID), bool(extended & _SKIP_WORKTREE))
                )
            # 1 to 8 NULs pad each entry to a multiple of 8 bytes.
            pos += (name_at - pos + size + 8) & ~7
    except (struct.error, ValueError):
        return None
    # A split index keeps most entries in a shared file: only git knows them all.
    return None if data[pos : pos + 4] == b"link" else found


def _from_ls_files(top: Path, index: Path) -> list[Flagged]:
    out = run_git("ls-files", "-v", "-z", cwd=top, env={"GIT_INDEX_FILE": str(index)})
    found = []
    for rec in out.split(b"\0"):
        tag, path = rec[:1], rec[2:]
        if tag.islower() or tag == b"S":
            name = path.decode("utf-8", "surrogateescape")
            found.append(Flagged(name, tag.islower(), tag in (b"S", b"s")))
    return found


def _host_tag() -> str:
    """This host, and on Linux its pid namespace: containers that share one repository
    (and perhaps a host name) each see only their own processes, so one must never judge
    another's pids."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{zlib.crc32(f'{process.hostname()}{namespace}'.encode()):08x}"


def _pid_started(pid: int) -> str:
    started = process.pid_started(pid)
    return "x" if started is None else str(started)


class TempIndexes:
    """The folder ``base`` (``.git/reprokit-tmp`` of the working tree) of temporary
    index copies, one sub-folder per launch named ``index-<host>-<pid>-<start>-<random>``
    (``<host>``: a hash of the host name and pid namespace, ``<start>``: the process's start
    time, :func:`reprokit.capture.process.pid_started`, ``x`` where unknown).

    A launch killed with SIGKILL cannot clean up, so :meth:`new` first removes the
    sub-folders of this host whose process is gone (its pid is dead, or is a later
    process: another start time). A listing of one small folder, no git process. Folders
    of other hosts or containers (a repository on a shared disk) are never touched.
    """

    def __init__(self, base: Path) -> None:
        self.base = base

    def new(self) -> Path:
        """Sweep leftovers, then make this launch's folder; returns its path."""
        host = _host_tag()
        self._sweep(host)
        self.base.mkdir(exist_ok=True)
        pid = os.getpid()
        prefix = f"index-{host}-{pid}-{_pid_started(pid)}-"
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.base))

    def _sweep(self, host: str) -> None:
        with contextlib.suppress(OSError), os.scandir(self.base) as entries:
            for entry in entries:
                parts = entry.name.split("-")
                if len(parts) != 5 or parts[:2] != ["index", host] or not parts[2].isdigit():
                    continue
                if not _alive(int(parts[2]), parts[3]):
                    shutil.rmtree(entry.path, ignore_errors=True)


def _alive(pid: int, started: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return started == "x" or _pid_started(pid) in ("x", started)
