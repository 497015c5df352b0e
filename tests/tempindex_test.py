"""Launches killed with SIGKILL leave temporary index copies; the next launch removes them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import MINIMAL_EXPERIMENT, git, run_cli, write
from reprokit.capture import gitindex

EXP = "experiments/toy/base_01_01.py"


def _leftovers(repo: Path, tmpdir: Path) -> list[str]:
    """Temporary index folders of reprokit, in the repository and in the temp folder."""
    base = repo / ".git" / "reprokit-tmp"
    inside = sorted(p.name for p in base.iterdir()) if base.is_dir() else []
    return inside + sorted(p.name for p in tmpdir.iterdir() if "reprokit" in p.name)


@pytest.fixture
def slow_repo(repo: Path) -> Path:
    """A repository whose snapshot takes ~0.4 s: a clean filter (as git-lfs or a CRLF
    filter runs) on a modified file, so a kill lands while the temp index exists."""
    write(repo / EXP, MINIMAL_EXPERIMENT)
    write(repo / "experiments/toy/__init__.py", "")
    write(repo / ".gitattributes", "*.dat filter=slow\n")
    write(repo / "big.dat", "v1\n")
    git(repo, "config", "filter.slow.clean", "sleep 0.4; cat")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "toy")
    write(repo / "big.dat", "v2, modified\n")
    return repo


def test_killed_launches_leave_no_temp_index_after_the_next_launch(
    slow_repo: Path, tmp_path: Path
) -> None:
    repo = slow_repo
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    base = repo / ".git" / "reprokit-tmp"
    # Killed at different moments: early, in the git work, later; twice exactly when the
    # temp index exists (polled), the last time just before the launch that must clean up.
    for delay in (0.05, "poll", 0.3, 0.6, 1.0, 1.6, "poll"):
        proc = subprocess.Popen(
            [sys.executable, "-m", "reprokit", "launch", EXP, "--no-check"],
            cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if delay == "poll":
            deadline = time.monotonic() + 20
            while not (base.is_dir() and any(base.iterdir())) and time.monotonic() < deadline:
                time.sleep(0.01)
        else:
            time.sleep(float(delay))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    # A killed launch's git process (and its filter) runs on, holding index.lock in the
    # temp folder until it is done: wait for it, so the sweep below races nothing.
    deadline = time.monotonic() + 30
    while any(base.rglob("*.lock")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    assert [n for n in _leftovers(repo, tmpdir) if n.startswith("index-")], "no kill landed"

    done = run_cli(repo, "launch", EXP, "--no-check", env={"TMPDIR": str(tmpdir)})
    assert done.returncode == 0, done.stderr
    assert _leftovers(repo, tmpdir) == []


def test_a_live_launchs_temp_index_is_never_swept(repo: Path, tmp_path: Path) -> None:
    base = tmp_path / "tmp-indexes"
    # Another launch of this host, still running (this very process), and one of a host
    # that shares the disk: both stay. A dead one and a reused pid (wrong start time) go.
    live = gitindex.TempIndexes(base).new()
    other_host = base / f"index-00000000-{os.getpid()}-x-abcdefgh"
    other_host.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = live.name.split("-")[1]
    gone = [base / f"index-{host}-{dead.pid}-x-aaaaaaaa", base / f"index-{host}-{os.getpid()}-1-b"]
    for folder in gone:
        folder.mkdir()
        (folder / "index").write_bytes(b"DIRC")
    unrelated = base / "notes.txt"
    unrelated.write_text("not ours\n")

    mine = gitindex.TempIndexes(base).new()

    assert sorted(p.name for p in base.iterdir()) == sorted(
        [live.name, other_host.name, mine.name, "notes.txt"]
    )
