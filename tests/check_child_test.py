"""The import child of the dynamic checks (checks.isolate) never outlives its job: an
experiment whose process cannot exit at once is not a crash, and a signal to `reprokit
check`, to a launch during its checks or to the commit hook leaves no child process and no
temporary folder behind; a parent killed outright takes the child with it.

Real CLI processes and real signals; /proc tells whether a process still runs. Every wait
is bounded, so a regression fails instead of hanging CI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import MINIMAL_EXPERIMENT, git, run_cli, write

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)"
)

EXP = "experiments/toy/base_01_01.py"
# A non-daemon thread keeps the interpreter alive after the checks reported.
THREAD_AT_IMPORT = """
import threading
import time

threading.Thread(target=time.sleep, args=(30,)).start()
"""
# Starts a grandchild, says who is who (atomically), then blocks in the import.
STUCK_AT_IMPORT = """
import os
import subprocess
import sys
import time

_sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
with open(os.environ["PIDS"] + ".tmp", "w") as _f:
    _f.write(f"{os.getpid()} {_sleeper.pid} {__file__}")
os.replace(os.environ["PIDS"] + ".tmp", os.environ["PIDS"])
time.sleep(600)
"""
WAIT_S = 60


def _set_timeout(repo: Path, seconds: int) -> None:
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + f"check_timeout = {seconds}\n")


@pytest.mark.parametrize("command", ["check", "launch"])
def test_a_non_daemon_thread_at_import_is_not_a_crash(repo: Path, command: str) -> None:
    _set_timeout(repo, 2)
    write(repo / EXP, THREAD_AT_IMPORT + MINIMAL_EXPERIMENT)
    start = time.monotonic()
    proc = run_cli(repo, command, EXP, timeout=WAIT_S)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "unexpected error" not in proc.stderr
    if command == "check":
        assert proc.stdout == "checked 1 experiment: all good\n"
        # Returned once the job reported, not after the thread's 30 s.
        assert time.monotonic() - start < 20
    else:
        assert "reprokit: run_1 →" in proc.stderr


def _running(pid: int) -> bool:
    """Whether ``pid`` is a process that has not ended (a zombie has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def _gone(pids: list[int], within: float = 10.0) -> list[int]:
    """The pids still running after ``within`` seconds."""
    deadline = time.monotonic() + within
    while any(_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [p for p in pids if _running(p)]


class Stuck:
    """The processes of a check stuck at import: the CLI (or hook) process, the import
    child, its grandchild, the child's temporary folder and the experiment file it imports."""

    def __init__(self, cli: subprocess.Popen[str], pids_file: Path) -> None:
        deadline = time.monotonic() + WAIT_S
        while not pids_file.exists():
            if cli.poll() is not None or time.monotonic() > deadline:
                out, err = cli.communicate(timeout=WAIT_S)
                pytest.fail(f"the experiment was never imported: {out}{err}")
            time.sleep(0.05)
        child, grandchild, file = pids_file.read_text().split(" ", 2)
        self.cli, self.child, self.grandchild = cli, int(child), int(grandchild)
        self.file = Path(file)
        request = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[-2].decode()
        self.tmp = Path(request).parent
        assert self.tmp.name.startswith("reprokit-check-"), self.tmp
        self.checker = _parent_of(self.child)

    def stop(self) -> None:
        """Kill what a failed test left behind (only processes this test started)."""
        for pid in (self.checker, self.child, self.grandchild):
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        self.cli.communicate(timeout=WAIT_S)


@pytest.fixture
def stuck_project(repo: Path, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    _set_timeout(repo, 100)
    write(repo / EXP, STUCK_AT_IMPORT + MINIMAL_EXPERIMENT)
    yield repo, {**os.environ, "PIDS": str(tmp_path / "pids.txt")}


def _start(repo: Path, env: dict[str, str], *argv: str) -> Stuck:
    cli = subprocess.Popen(
        argv, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return Stuck(cli, Path(env["PIDS"]))


def _assert_cleaned_up(stuck: Stuck, *, returncode: int) -> str:
    try:
        out, err = stuck.cli.communicate(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        stuck.stop()
        pytest.fail("the signalled command did not end")
    left = _gone([stuck.child, stuck.grandchild])
    if left:
        stuck.stop()
    assert left == [], "the check child (or what it started) is still running"
    assert not stuck.tmp.exists(), "the check's temporary folder is left behind"
    assert stuck.cli.returncode == returncode, out + err
    assert "unexpected error" not in err
    return err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_to_check_ends_its_child(
    stuck_project: tuple[Path, dict[str, str]], signum: int
) -> None:
    repo, env = stuck_project
    stuck = _start(repo, env, sys.executable, "-m", "reprokit", "check", EXP)
    assert stuck.checker == stuck.cli.pid
    stuck.cli.send_signal(signum)
    err = _assert_cleaned_up(stuck, returncode=130)
    assert "reprokit: interrupted" in err


def test_sigterm_to_launch_during_its_checks_ends_the_child(
    stuck_project: tuple[Path, dict[str, str]],
) -> None:
    repo, env = stuck_project
    stuck = _start(repo, env, sys.executable, "-m", "reprokit", "launch", EXP)
    stuck.cli.send_signal(signal.SIGTERM)
    _assert_cleaned_up(stuck, returncode=130)
    assert not (repo / "outputs").exists() or list((repo / "outputs").iterdir()) == []


def test_sigterm_to_the_commit_hook_ends_the_child_and_the_export(
    stuck_project: tuple[Path, dict[str, str]],
) -> None:
    repo, env = stuck_project
    assert run_cli(repo, "install-hooks", timeout=WAIT_S).returncode == 0
    git(repo, "add", "-A")
    stuck = _start(repo, env, "git", "commit", "-q", "-m", "stuck")
    # The hook execs `reprokit check --staged`: the child's parent is the hook's process.
    assert stuck.checker != stuck.cli.pid
    staged = stuck.file.parents[2]  # <export>/experiments/toy/base_01_01.py
    assert staged.name.startswith("reprokit-staged-"), staged
    os.kill(stuck.checker, signal.SIGTERM)
    _assert_cleaned_up(stuck, returncode=1)
    assert not staged.exists(), "the hook's export of the index is left behind"
    assert git(repo, "log", "--format=%s").splitlines() == ["initial"]


def test_a_killed_check_takes_its_child_along(
    stuck_project: tuple[Path, dict[str, str]],
) -> None:
    repo, env = stuck_project
    stuck = _start(repo, env, sys.executable, "-m", "reprokit", "check", EXP)
    stuck.cli.kill()  # SIGKILL: no clean-up runs in the parent
    stuck.cli.communicate(timeout=WAIT_S)
    left = _gone([stuck.child, stuck.grandchild])
    if left:
        stuck.stop()
    assert left == [], "the check child outlived its killed parent"
    assert not stuck.tmp.exists(), "the check's temporary folder is left behind"
