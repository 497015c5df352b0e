"""The status line of `reprokit show` for a record stored as running: what readers conclude
(running or crashed) and why, for each way of telling."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _helpers import make_run

from reprokit.analysis import show
from reprokit.capture import process
from reprokit.record import store

NOW = store.parse_time("2026-11-25T20:10:00+00:00")
STALE = "2026-11-25T20:08:00.000000+00:00"  # 2 minutes before NOW
FRESH = "2026-11-25T20:09:50.000000+00:00"
PID = os.getpid()
OURS = process.pid_started(PID)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _status_line(tmp_path: Path, **fields: object) -> str:
    run = make_run(tmp_path / "outputs", 1, status="running", **fields)
    text = show.render(show.full_record(run), now=NOW)
    return next(line for line in text.splitlines() if line.startswith("status"))


@pytest.mark.skipif(OURS is None, reason="no /proc: pid_started is null here")
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"heartbeat_at": FRESH}, "running"),
        (
            {"heartbeat_at": STALE},
            f"running (no heartbeat for 2m00s; its process, pid {PID}, is alive here: "
            "stopped or busy)",
        ),
        (
            {"heartbeat_at": FRESH, "pid_started": (OURS or 0) + 1},
            f"crashed (recorded as running; the process is gone; pid {PID} is another process now)",
        ),
        (
            {"heartbeat_at": STALE, "pid_started": None},
            f"crashed (recorded as running; no heartbeat for 2m00s; pid {PID} is alive, "
            "but the record cannot tell if it is the run's)",
        ),
    ],
)
def test_a_live_pid_on_this_host(tmp_path: Path, fields: dict[str, object], expected: str) -> None:
    line = _status_line(
        tmp_path, host=process.hostname(), pid=PID, **{"pid_started": OURS, **fields}
    )
    assert line == f"status      {expected}"


def test_a_dead_pid_or_a_silent_host(tmp_path: Path) -> None:
    dead = _status_line(tmp_path, host=process.hostname(), pid=_dead_pid(), heartbeat_at=FRESH)
    assert dead == "status      crashed (recorded as running; the process is gone)"
    silent = _status_line(tmp_path, host="gpu-box", pid=PID, heartbeat_at=STALE)
    assert (
        silent == "status      crashed (recorded as running; no heartbeat for 2m00s from gpu-box)"
    )
    never = _status_line(tmp_path, host="gpu-box", heartbeat_at=None, started_at="garbled")
    assert never == "status      crashed (recorded as running; no valid heartbeat_at from gpu-box)"
    alive = _status_line(tmp_path, host="gpu-box", heartbeat_at=FRESH)
    assert alive == "status      running"
