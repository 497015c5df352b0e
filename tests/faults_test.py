"""Faults of a live run end in a clear state: write errors, signals during set-up, kills at
any moment, values logged right before the process dies. Real launches in subprocesses
(signals and exit codes need the process boundary), each bounded by a timeout so a
regression fails instead of hanging CI."""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import git, run_cli, write
from reprokit.cli import main as cli_main
from reprokit.record import store

TIMEOUT_S = 60

CONFIG = """
from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    seed: int = 0


config = Config()
"""

# Prints without end; the file-size limit stops output.log long before the loop ends.
PRINTS = (
    CONFIG
    + """

def main(config):
    for i in range(200_000):
        print(f"line {i} " + "x" * 100, flush=True)
    return {"done": 1.0}
"""
)

# One large print, then a long sleep: the stop must wake main, not wait for its next print.
PRINTS_THEN_SLEEPS = (
    CONFIG
    + """
import time


def main(config):
    print("y" * 600_000, flush=True)
    time.sleep(120)
"""
)

# Set-up made slow deterministically: the import waits (in short sleeps, so a signal is
# handled at once) until the test creates `release`, after saying it has started.
SLOW_IMPORT = (
    """
import time
from pathlib import Path

Path("importing").touch()
_deadline = time.monotonic() + 60
while not Path("release").exists() and time.monotonic() < _deadline:
    time.sleep(0.02)
"""
    + CONFIG
    + """

def main(config):
    return {"score": 1.0}
"""
)

LOGS_THEN_EXITS = (
    CONFIG
    + """
import os

import reprokit


def main(config):
    for step in range(500):
        reprokit.log(step=step, loss=step / 2, acc=step / 1000, lr=0.1)
    os._exit(0)
"""
)


def _exp(repo: Path, name: str, source: str) -> str:
    write(repo / "experiments/faults/__init__.py", "")
    rel = f"experiments/faults/{name}_01_01.py"
    write(repo / rel, source)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", name)
    return rel


def _popen(repo: Path, exp: str, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "reprokit", "launch", exp, "--no-check"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _record(repo: Path, run_id: str = "run_1") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((repo / "outputs" / run_id / "run.json").read_text())
    return data


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def _limit_file_size(size: int) -> Any:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


@pytest.mark.parametrize("source", [PRINTS, PRINTS_THEN_SLEEPS], ids=["prints", "sleeps"])
def test_a_write_error_on_output_log_fails_the_run_instead_of_hanging(
    repo: Path, source: str
) -> None:
    # A file-size limit (as a full disk would) makes writing output.log fail with EFBIG;
    # the tee thread died on it and the run hung forever in its next print.
    exp = _exp(repo, "loud", source)
    proc = _popen(repo, exp, preexec_fn=_limit_file_size(512 * 1024))
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        proc.kill()  # a hung run (the regression) must not outlive the test
    assert proc.returncode == 1, err
    log = repo / "outputs/run_1/output.log"
    assert f"reprokit: error: {log}: File too large\n" in err
    assert "hint: free disk space or raise the file-size limit (`ulimit -f`)" in err
    assert "reprokit: run_1 failed in " in err
    assert out  # the output was still shown while it could not be saved
    rec = _record(repo)
    assert rec["status"] == "failed" and rec["exit_code"] == 1
    assert rec["error"]["type"] == "OSError"
    assert rec["error"]["message"] == f"cannot write {log}: [Errno 27] File too large"
    assert rec["ended_at"] is not None and rec["git"] is not None
    assert not [p.name for p in log.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("signum", "group"),
    [(signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGHUP, False)],
    ids=["ctrl-c", "sigterm", "sighup"],
)
def test_a_signal_during_import_records_the_git_state_and_says_set_up_did_not_finish(
    repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    signum: int,
    group: bool,
) -> None:
    exp = _exp(repo, "slow", SLOW_IMPORT)
    # Ctrl-C in a terminal reaches the whole process group (git's processes too).
    proc = _popen(repo, exp, start_new_session=True)
    try:
        _wait_for(repo / "importing", proc)
        (os.killpg if group else os.kill)(proc.pid, signum)
        _, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        (repo / "release").touch()
        proc.kill()
    name = signal.Signals(signum).name
    assert proc.returncode == 130, err
    assert f"reprokit: interrupted ({name}) during set-up, before main started\n" in err
    assert "Traceback" not in err
    rec = _record(repo)
    assert rec["status"] == "interrupted"
    assert rec["error"]["message"] == name and rec["error"]["phase"] == "setup"
    assert "missing" not in rec["error"]  # everything set-up had begun was captured
    snapshot = rec["git"]["snapshot"]
    assert git(repo, "rev-parse", rec["git"]["snapshot_ref"]).strip() == snapshot
    monkeypatch.chdir(repo)
    assert cli_main(["show", "run_1"]) == 0
    assert "\nset-up      did not finish: main never started\n" in capsys.readouterr().out
    assert cli_main(["runs", "--columns", "id,status"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split() == ["run_1", "interrupted"]
    # Its code state is known, but the config was never resolved: replay says so.
    assert cli_main(["replay", "run_1"]) == 1
    err = capsys.readouterr().err
    assert "run_1 was interrupted during set-up, before main started: its config " in err
    assert "hint: launch the experiment again, or replay it with --smoke" in err


FSMONITOR_HOOK = """#!/bin/sh
# Slow only the first time: the capture's `git status` waits here until the test's Ctrl-C.
if [ ! -e "$HOOK_MARK" ]; then touch "$HOOK_MARK"; sleep 30; fi
exit 1
"""


def test_a_ctrl_c_that_kills_the_git_capture_still_records_the_git_state(
    repo: Path, tmp_path: Path
) -> None:
    # A terminal's Ctrl-C also kills the capture's git processes: the record said git: null
    # and the run could not be replayed. An fsmonitor hook (run by `git status`) holds the
    # capture so the signal lands inside it.
    exp = _exp(repo, "plain", SLOW_IMPORT)
    hook = write(tmp_path / "fsmonitor.sh", FSMONITOR_HOOK)
    hook.chmod(0o755)
    git(repo, "config", "core.fsmonitor", str(hook))
    mark = tmp_path / "hook-started"
    env = {**os.environ, "HOOK_MARK": str(mark)}
    proc = _popen(repo, exp, start_new_session=True, env=env)
    try:
        _wait_for(mark, proc)
        _wait_for(repo / "outputs/run_1/run.json", proc)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        (repo / "release").touch()
        proc.kill()
    assert proc.returncode == 130, err
    rec = _record(repo)
    assert rec["status"] == "interrupted" and rec["error"]["phase"] == "setup"
    assert isinstance(rec["git"], dict), err
    assert git(repo, "rev-parse", rec["git"]["snapshot_ref"]).strip() == rec["git"]["snapshot"]


# As FSMONITOR_HOOK, but what the hook waits in survives the Ctrl-C (ignores SIGINT) and
# keeps git's output pipe open after git itself died: what a Ctrl-C landing as the hook
# forks leaves. Until the test's `release`, at most 60 s.
SURVIVING_HOOK = """#!/bin/sh
if [ ! -e "$HOOK_MARK" ]; then
  touch "$HOOK_MARK"
  (trap '' INT; n=0; while [ ! -e release ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n+1)); done)
fi
exit 1
"""


def test_a_ctrl_c_whose_git_capture_hangs_on_a_surviving_hook_still_records_the_git_state(
    repo: Path, tmp_path: Path
) -> None:
    # The first capture waited for the survivor (not for git, which was dead), and the
    # second capture waited for the first: the record said git: null after the whole
    # 10 s grace (flaky under load). Now the second starts after a short wait.
    exp = _exp(repo, "plain", SLOW_IMPORT)
    hook = write(tmp_path / "fsmonitor.sh", SURVIVING_HOOK)
    hook.chmod(0o755)
    git(repo, "config", "core.fsmonitor", str(hook))
    mark = tmp_path / "hook-started"
    env = {**os.environ, "HOOK_MARK": str(mark)}
    proc = _popen(repo, exp, start_new_session=True, env=env)
    try:
        _wait_for(mark, proc)
        _wait_for(repo / "outputs/run_1/run.json", proc)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        (repo / "release").touch()
        proc.kill()
    assert proc.returncode == 130, err
    rec = _record(repo)
    assert rec["status"] == "interrupted" and "missing" not in rec["error"], err
    assert isinstance(rec["git"], dict), err
    assert git(repo, "rev-parse", rec["git"]["snapshot_ref"]).strip() == rec["git"]["snapshot"]
    assert rec["duration_s"] < 9, rec["duration_s"]  # not the whole grace


def test_a_run_folder_without_run_json_is_listed_shown_and_refused_as_incomplete(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    exp = _exp(repo, "plain", CONFIG + "\n\ndef main(config):\n    return {'score': 1.0}\n")
    assert run_cli(repo, "launch", exp, "--no-check").returncode == 0
    # What a launch of an older reprokit killed between its mkdir and its first record left.
    (repo / "outputs/run_2").mkdir()
    (repo / "outputs/run_2/output.log").write_text("")
    monkeypatch.chdir(repo)
    assert cli_main(["runs", "--columns", "id,status"]) == 0
    captured = capsys.readouterr()
    assert [line.split() for line in captured.out.splitlines()[1:]] == [
        ["run_2", "incomplete"],
        ["run_1", "completed"],
    ]
    assert "reprokit: run_2: no run.json (incomplete: the launch was killed" in captured.err
    assert cli_main(["runs", "--status", "incomplete", "--format", "json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == ["run_2"]
    for command in (["show", "run_2"], ["replay", "run_2"]):
        assert cli_main(command) == 1
        err = capsys.readouterr().err
        assert err.startswith("reprokit: error: run_2: incomplete run folder: it has no run.json")
        assert "hint: it holds output.log; delete outputs/run_2 if" in err


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_kills_the_moment_a_run_folder_appears_never_leave_it_without_a_record(
    repo: Path, signum: int
) -> None:
    # Killed as soon as run_N exists (the old window: mkdir, then the first record), 25 of
    # 30 SIGKILLs left a folder without run.json; now the folder appears with it.
    exp = _exp(repo, "plain", CONFIG + "\n\ndef main(config):\n    return {'score': 1.0}\n")
    outputs = repo / "outputs"
    rng = random.Random(signum)
    for n in range(1, 9):
        proc = _popen(repo, exp)
        try:
            deadline = time.monotonic() + TIMEOUT_S
            while not (outputs / f"run_{n}").exists() and proc.poll() is None:
                assert time.monotonic() < deadline, "no run folder appeared"
                time.sleep(0.001)  # polls often enough to kill within the old window
            time.sleep(rng.choice([0, 0, 0.001, 0.01]))
            proc.send_signal(signum)
            proc.communicate(timeout=TIMEOUT_S)
        finally:
            proc.kill()
    assert [p.name for p in store.run_dirs(outputs)] == [f"run_{n}" for n in range(1, 9)]
    for run in store.run_dirs(outputs):
        rec = store.read_record(run)  # every folder has a readable record
        if signum == signal.SIGTERM:  # and a SIGTERM is always recorded
            assert rec["status"] in ("completed", "interrupted"), run


def test_a_stale_claim_folder_is_hidden_from_readers_and_removed_by_the_next_launch(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # What a launch killed between creating its claim folder and renaming it leaves.
    exp = _exp(repo, "plain", CONFIG + "\n\ndef main(config):\n    return {'score': 1.0}\n")
    claim = repo / "outputs/.claim-4242.1"
    claim.mkdir(parents=True)
    (claim / "run.json").write_text('{"id": "run_1"')  # torn
    fresh = repo / "outputs/.claim-4243.2"  # another launch's claim, in progress
    fresh.mkdir()
    os.utime(claim, (time.time() - 3600, time.time() - 3600))
    monkeypatch.chdir(repo)
    assert cli_main(["runs"]) == 0
    assert "no runs in outputs" in capsys.readouterr().err
    assert run_cli(repo, "launch", exp, "--no-check").returncode == 0
    assert sorted(p.name for p in (repo / "outputs").iterdir() if p.name != ".index.sqlite") == [
        ".claim-4243.2",
        "run_1",
    ]


def test_metrics_logged_right_before_os_exit_reach_the_file(repo: Path) -> None:
    exp = _exp(repo, "quitter", LOGS_THEN_EXITS)
    result = run_cli(repo, "launch", exp, "--no-check", timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    # os._exit skipped the finalization: the record says running (read as crashed)...
    assert _record(repo)["status"] == "running"
    rows = store.read_metrics(repo / "outputs/run_1")
    assert [r["step"] for r in rows] == list(range(500))
    assert rows[-1]["loss"] == 249.5 and rows[-1]["acc"] == 0.499 and rows[-1]["lr"] == 0.1


def test_a_claim_makes_the_folder_with_its_record_and_skips_taken_ids(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (outputs / "run_1").mkdir()  # empty: what a launch killed mid-claim by older versions left
    (outputs / "run_2").mkdir()
    (outputs / "run_2" / "run.json").write_text("{}")

    def first(run_id: str) -> dict[str, Any]:
        return {"id": run_id, "status": "running"}

    run_id, path = store.new_run_dir(outputs, first)
    assert run_id == "run_3" and json.loads((path / "run.json").read_text())["id"] == "run_3"
    assert sorted(p.name for p in outputs.iterdir()) == ["run_1", "run_2", "run_3"]


def test_a_failed_atomic_write_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    target.mkdir()
    (target / "inside").write_text("x")  # os.replace onto a non-empty folder fails
    with pytest.raises(OSError):
        store.write_json(target, {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_home", "summary.json"]


def test_a_metrics_write_error_fails_the_run_naming_the_file(repo: Path) -> None:
    exp = _exp(
        repo,
        "chatty",
        CONFIG + "\nimport reprokit\n\n\ndef main(config):\n"
        "    for i in range(100_000):\n        reprokit.log(step=i, loss=0.5, acc=0.1)\n",
    )
    proc = _popen(repo, exp, preexec_fn=_limit_file_size(256 * 1024))
    try:
        _, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    rec = _record(repo)
    metrics_file = repo / "outputs/run_1/metrics.jsonl"
    assert rec["status"] == "failed" and rec["error"]["type"] == "OSError"
    assert rec["error"]["message"] == (
        f"[Errno 27] cannot write metrics: File too large: '{metrics_file}'"
    )


def test_main_that_closes_its_streams_still_gets_a_final_record_and_message(repo: Path) -> None:
    exp = _exp(
        repo,
        "closer",
        CONFIG + "\nimport sys\n\n\ndef main(config):\n"
        "    sys.stdout.close()\n    sys.stderr = None\n    raise ValueError('after closing')\n",
    )
    result = run_cli(repo, "launch", exp, "--no-check", timeout=TIMEOUT_S)
    assert result.returncode == 1
    assert "ValueError: after closing\n" in result.stderr
    assert "reprokit: run_1 failed in " in result.stderr
    assert _record(repo)["status"] == "failed"


@pytest.mark.slow
def test_a_child_that_outlives_main_delays_the_end_by_at_most_five_seconds(repo: Path) -> None:
    exp = _exp(
        repo,
        "parent",
        CONFIG + "\nimport subprocess\n\n\ndef main(config):\n"
        "    subprocess.Popen(['sleep', '30'])\n    print('main done')\n",
    )
    proc = _popen(repo, exp, start_new_session=True)
    start = time.monotonic()
    try:
        _wait_for(repo / "outputs/run_1", proc)
        while proc.poll() is None and time.monotonic() - start < TIMEOUT_S:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sleeping child too
        _, err = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 0, err
    assert time.monotonic() - start < 20
    assert "reprokit: warning: a process started by the run still holds its output open" in err
    rec = _record(repo)
    assert rec["status"] == "completed" and rec["duration_s"] < 5
    assert "main done\n" in (repo / "outputs/run_1/output.log").read_text()


def test_an_outputs_path_that_is_a_file_is_a_clear_error(repo: Path) -> None:
    exp = _exp(repo, "plain", CONFIG + "\n\ndef main(config):\n    return {'score': 1.0}\n")
    (repo / "outputs").write_text("")
    result = run_cli(repo, "launch", exp, "--no-check", timeout=TIMEOUT_S)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "reprokit: error: outputs: cannot create a run folder: it is not a folder\n"
    )
    assert git(repo, "for-each-ref", "refs/reprokit") == ""


def test_a_record_whose_set_up_lost_its_git_state_is_explained_by_show_and_replay(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from _helpers import make_run

    error = {"type": "KeyboardInterrupt", "message": "SIGINT", "traceback_file": None}
    make_run(
        repo / "outputs",
        1,
        status="interrupted",
        exit_code=130,
        git=None,
        error={**error, "phase": "setup", "missing": ["git"]},
    )
    monkeypatch.chdir(repo)
    assert cli_main(["show", "run_1"]) == 0
    out = capsys.readouterr().out
    assert "\nstatus      interrupted (exit 130)\n" in out
    assert "\nset-up      did not finish: main never started; not recorded: git\n" in out
    assert cli_main(["replay", "run_1"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: run_1 was interrupted during set-up, before main started: its code "
        "state (git) was never recorded, so the run cannot be rebuilt\n"
        "  hint: launch the experiment again\n"
    )


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_storm_of_signals_never_leaves_a_record_running(repo: Path, signum: int) -> None:
    # One signal every 2 ms from a moment in the launch on: whichever window it lands in
    # (claim, set-up, its handler, main, finalizing), the record ends finalized.
    exp = _exp(repo, "plain", CONFIG + "\n\ndef main(config):\n    return {'score': 1.0}\n")
    for i in range(8):
        proc = _popen(repo, exp)
        try:
            time.sleep(0.05 * i)
            deadline = time.monotonic() + TIMEOUT_S
            while proc.poll() is None and time.monotonic() < deadline:
                proc.send_signal(signum)
                time.sleep(0.002)
            proc.communicate(timeout=TIMEOUT_S)
        finally:
            proc.kill()
    for run in store.run_dirs(repo / "outputs"):
        assert store.read_record(run)["status"] in ("completed", "interrupted"), run


def test_an_outputs_folder_deleted_while_the_run_runs_is_a_clear_error(repo: Path) -> None:
    exp = _exp(
        repo,
        "deleter",
        CONFIG + "\nimport shutil\n\nimport reprokit\n\n\ndef main(config):\n"
        "    shutil.rmtree(reprokit.current_run().dir.parent)\n"
        "    reprokit.log(step=1, loss=1.0)\n    print('still running')\n",
    )
    result = run_cli(repo, "launch", exp, "--no-check", timeout=TIMEOUT_S)
    assert result.returncode == 1
    assert "still running\n" in result.stdout
    record = repo / "outputs/run_1/run.json"
    assert f"reprokit: error: {record}: cannot write the final record: " in result.stderr
    assert "hint: the disk is full, or the run folder was deleted or made read-only" in (
        result.stderr
    )
