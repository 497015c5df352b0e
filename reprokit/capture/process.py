"""This host and process, as a run's record names them (``host``, ``pid_started``) and as
readers test a "running" record's liveness against them.

Kept apart from the store so capture (snapshot refs, temporary index files named by host and
process) never needs the record layer: both read the same two facts from here.
"""

from __future__ import annotations

import os


def hostname() -> str:
    """This machine's name (``os.uname`` avoids importing socket on the launch path)."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    return os.environ.get("COMPUTERNAME", "")


def proc_stat(pid: int) -> tuple[bytes, int] | None:
    """(state, start time in clock ticks since boot) of ``pid`` from ``/proc/<pid>/stat``
    (Linux; fields 3 and 22); None where there is no /proc or no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces or ")".
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def pid_started(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (Linux), as run.json's
    ``pid_started`` records it; None where this cannot be read cheaply.

    A pid and this number together name one process: a pid reused by a later process has
    a later start. Elsewhere (macOS, Windows) no cheap source exists (a ``ps`` subprocess
    would cost every launch ~10 ms), so records carry null and readers rely on the heartbeat.
    """
    stat = proc_stat(pid)
    return None if stat is None else stat[1]
