"""``reprokit launch A.py B.py --seeds 0-2 --jobs 2``: launch sweeps on real repositories, each
run an ordinary launch in its own child process with its own record."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import git, run_cli, write
from reprokit.errors import ReprokitError
from reprokit.launch.sweep import Progress, gpu_pool, gpu_slices, parse_seeds

# Seed 1 of `flaky` fails; with SWEEP_WAIT set, main (but seed 0's) touches a file there
# and waits.
EXPERIMENT = """
import os
import time
from dataclasses import dataclass
from pathlib import Path

import reprokit


@dataclass(frozen=True)
class Config:
    seed: int = 0
    fails_on: int = -1


config = Config()


def main(config: Config) -> dict[str, float]:
    reprokit.log(0, loss=float(config.seed))
    wait = os.environ.get("SWEEP_WAIT")
    if wait and config.seed != 0:
        Path(wait, reprokit.current_run().id).touch()
        time.sleep(60)
    if config.seed == config.fails_on:
        raise RuntimeError(f"seed {config.seed} fails")
    return {"score": float(config.seed)}


def smoke(config: Config) -> Config:
    return config
"""


def _project(repo: Path) -> None:
    write(repo / "experiments/a/__init__.py", "")
    write(repo / "experiments/a/base_01_01.py", EXPERIMENT)
    write(repo / "experiments/b/__init__.py", "")
    write(repo / "experiments/b/flaky_01_01.py", EXPERIMENT.replace("= -1", "= 1"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "experiments")


def _records(repo: Path) -> dict[str, dict[str, Any]]:
    return {
        d.name: json.loads((d / "run.json").read_text())
        for d in sorted((repo / "outputs").glob("run_*"))
    }


def test_seeds_are_parsed_as_ranges_and_lists() -> None:
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("0,1,2") == [0, 1, 2]
    assert parse_seeds("0-2,7") == [0, 1, 2, 7]
    assert parse_seeds("3, 3,1") == [3, 1]
    for bad in ("a", "3-1", "-2", "1-", "0-99999"):
        with pytest.raises(ReprokitError, match="--seeds"):
            parse_seeds(bad)


def test_each_parallel_slot_gets_its_own_gpus() -> None:
    eight = [str(i) for i in range(8)]
    assert gpu_slices(eight, 8) == eight
    assert gpu_slices(eight, 2) == ["0,1,2,3", "4,5,6,7"]
    assert gpu_slices(eight, 3) == ["0,1", "2,3", "4,5"]
    # Fewer GPUs than slots: one each, shared round robin.
    assert gpu_slices(["0", "1"], 3) == ["0", "1", "0"]
    assert gpu_slices(eight, 1) == [None]
    assert gpu_slices([], 4) == [None] * 4


def test_the_gpu_pool_is_the_visible_devices_else_the_detected_ones() -> None:
    detected = lambda: ["0", "1"]  # noqa: E731
    assert gpu_pool({"CUDA_VISIBLE_DEVICES": "2,3, 5"}, detected) == ["2", "3", "5"]
    assert gpu_pool({"CUDA_VISIBLE_DEVICES": "GPU-a1,GPU-b2"}, detected) == ["GPU-a1", "GPU-b2"]
    assert gpu_pool({"CUDA_VISIBLE_DEVICES": ""}, detected) == []
    assert gpu_pool({"CUDA_VISIBLE_DEVICES": "1,-1,2"}, detected) == ["1"]
    assert gpu_pool({}, detected) == ["0", "1"]


def test_the_progress_line_is_redrawn_on_a_terminal_and_plain_elsewhere() -> None:
    terminal, log = io.StringIO(), io.StringIO()
    for stream, tty in ((terminal, True), (log, False)):
        progress = Progress(3, stream=stream, tty=tty)
        progress.running = 1
        progress.event("started a seed 0")
        progress.running, progress.done, progress.failed = 0, 1, 1
        progress.event("failed a seed 0 (run_1, exit 1)")
        progress.close()
    assert terminal.getvalue().startswith("\r\x1b[Kstarted a seed 0\nsweep: 0/3 done, 1 running")
    assert "\r\x1b[Kfailed a seed 0 (run_1, exit 1)\nsweep: 1/3 done, 0 running, 1 failed" in (
        terminal.getvalue()
    )
    assert terminal.getvalue().endswith("\r\x1b[K")  # the summary starts on a clean line
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("started a seed 0  [sweep: 0/3 done, 1 running, 0 failed, ")
    assert lines[1].startswith("failed a seed 0 (run_1, exit 1)  [sweep: 1/3 done, 0 running")
    assert "\r" not in log.getvalue() and len(lines) == 2


def test_a_sweep_of_two_families_and_three_seeds_records_six_runs(repo: Path) -> None:
    _project(repo)
    write(repo / "experiments/b/flaky_01_01.py", EXPERIMENT)  # no seed fails here
    git(repo, "commit", "-q", "-am", "no failure")
    gpus = {"CUDA_VISIBLE_DEVICES": "0,1,2,3"}
    proc = run_cli(
        repo, "launch", "experiments/a", "experiments/b/flaky_01_01.py",
        "--seeds", "0-2", "--jobs", "2", "--no-check", env=gpus,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    records = _records(repo)
    assert len(records) == 6
    ran = sorted((r["experiment"]["path"], r["seed"]) for r in records.values())
    assert ran == [
        (f"experiments/{exp}", seed)
        for exp in ("a/base_01_01.py", "b/flaky_01_01.py")
        for seed in (0, 1, 2)
    ]
    for run_id, record in records.items():
        assert record["status"] == "completed" and record["seed_source"] == "cli"
        # Each job had its own half of the four GPUs, and its record says which.
        assert record["hardware"]["cuda_visible_devices"] in ("0,1", "2,3"), run_id
        visible = record["environment"]["env"]["CUDA_VISIBLE_DEVICES"]
        assert visible == record["hardware"]["cuda_visible_devices"]
        summary = json.loads((repo / "outputs" / run_id / "summary.json").read_text())
        assert summary == {"score": float(record["seed"])}
    # Runs at the same time (two were, two slots) never share a GPU.
    spans = [
        (datetime.fromisoformat(r["started_at"]), datetime.fromisoformat(r["ended_at"]), r)
        for r in records.values()
    ]
    together = [
        (a, b)
        for start_a, end_a, a in spans
        for start_b, end_b, b in spans
        if a is not b and start_a < end_b and start_b < end_a
    ]
    assert together
    for a, b in together:
        assert a["hardware"]["cuda_visible_devices"] != b["hardware"]["cuda_visible_devices"]
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["run", "experiment", "seed", "gpus", "status", "exit", "duration"]
    assert sum(" completed " in line for line in lines) == 6
    assert "sweep: 6 jobs: 6 runs completed" in proc.stdout
    # Not a terminal: plain progress lines, no carriage returns.
    assert "[sweep: 6/6 done, 0 running, 0 failed," in proc.stderr
    assert "\r" not in proc.stderr


def test_a_failing_job_makes_the_sweep_fail_and_the_summary_names_it(repo: Path) -> None:
    _project(repo)
    proc = run_cli(repo, "launch", "experiments/b", "--seeds", "0,1", "--jobs", "2", "--no-check")
    assert proc.returncode == 1, proc.stderr
    records = _records(repo)
    by_seed = {r["seed"]: (run_id, r) for run_id, r in records.items()}
    failed_id, failed = by_seed[1]
    assert failed["status"] == "failed" and failed["error"]["message"] == "seed 1 fails"
    assert by_seed[0][1]["status"] == "completed"
    assert "sweep: 2 jobs: 1 run completed, 1 run failed" in proc.stdout
    assert f"  failed: flaky_01_01.py seed 1 ({failed_id})" in proc.stdout


def test_failing_checks_refuse_the_sweep_before_any_run(repo: Path) -> None:
    _project(repo)
    write(repo / "experiments/b/orphan_02_07.py", EXPERIMENT)  # its parent 07 is missing
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "orphan")
    proc = run_cli(repo, "launch", "experiments/a", "experiments/b", "--jobs", "2")
    assert proc.returncode == 1, proc.stderr
    assert "orphan_02_07.py:1:1: RK301 parent 07 does not exist" in proc.stderr
    assert "experiments/b/orphan_02_07.py: refusing to launch: the checks above failed" in (
        proc.stderr
    )
    assert not (repo / "outputs").exists()


def test_a_job_refused_before_its_run_folder_says_why_in_the_summary(repo: Path) -> None:
    _project(repo)
    write(repo / "experiments/b/orphan_02_07.py", EXPERIMENT)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "orphan")
    proc = run_cli(
        repo, "launch", "experiments/b/orphan_02_07.py", "experiments/a", "--jobs", "2",
        "--no-check",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "sweep: 2 jobs: 1 run completed, 1 run no record" in proc.stdout
    assert "  failed: orphan_02_07.py config seed (no run folder): reprokit: error: " in (
        proc.stdout
    )
    assert "parent 07 does not exist" in proc.stdout  # the child's own error
    assert [r["experiment"]["path"] for r in _records(repo).values()] == [
        "experiments/a/base_01_01.py"
    ]


@pytest.mark.parametrize(
    ("signum", "group"), [(signal.SIGINT, True), (signal.SIGTERM, False)], ids=["ctrl-c", "kill"]
)
def test_ctrl_c_stops_the_sweep_and_every_running_run_records_interrupted(
    repo: Path, tmp_path: Path, signum: int, group: bool
) -> None:
    _project(repo)
    waiting = tmp_path / "waiting"
    waiting.mkdir()
    env = {**os.environ, "SWEEP_WAIT": str(waiting)}
    sweep = ["launch", "experiments/a/base_01_01.py", "--seeds", "0-4", "--jobs", "2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "reprokit", *sweep, "--no-check"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(list(waiting.iterdir())) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        # A terminal's Ctrl-C reaches the whole process group; `kill` the sweep alone.
        (os.killpg if group else os.kill)(proc.pid, signum)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    name = signal.Signals(signum).name
    by_seed = {r["seed"]: r for r in _records(repo).values()}
    assert sorted(by_seed) == [0, 1, 2]  # seeds 3 and 4 never started
    assert by_seed[0]["status"] == "completed"
    for seed in (1, 2):
        assert by_seed[seed]["status"] == "interrupted"
        assert by_seed[seed]["error"]["message"] == name  # the signal, forwarded once
    assert f"sweep: stopped by {name}; 1 run finished" in out
    # Table rows by seed: [run, experiment, seed, status..., exit, duration].
    rows = {int(c[2]): c for line in out.splitlines()[1:6] if (c := line.split())}
    assert rows[0][3:5] == ["completed", "0"]
    assert rows[1][3:5] == rows[2][3:5] == ["interrupted", "130"]
    assert rows[3][3:] == rows[4][3:] == ["not", "started", "-", "-"]
    assert "failed:" not in out  # stopped, not failed
    assert "sweep: 5 jobs: 1 run completed, 2 runs interrupted, 2 runs not started" in out


def test_sweep_command_line_mistakes_exit_2(repo: Path) -> None:
    _project(repo)
    exp = "experiments/a/base_01_01.py"
    for args, message in (
        ([exp, "--seeds", "2-1"], "--seeds: '2-1'"),
        ([exp, "--seeds", "0-2", "--seed", "1"], "--seed and --seeds"),
        ([exp, "--jobs", "0"], "--jobs: must be at least 1"),
        ([], "name an experiment file"),
        (["--resume", "run_1", exp], "--resume runs the recorded experiment"),
    ):
        proc = run_cli(repo, "launch", *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)
    assert not (repo / "outputs").exists()
