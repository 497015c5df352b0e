"""The launch request: JSON round trip, refusal of hostile requests, and the child entry
telling its parent which run it made (also when main crashes or the child is killed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from launch_test import CRASH, EXP, SLEEPY, add_toy_family

from conftest import write
from reprokit.errors import ReprokitError
from reprokit.launch import command as launch_command, request as launch_request
from reprokit.launch.request import LaunchedRun, LaunchRequest
from reprokit.record.schema import Ablation, Replay
from reprokit.settings import load_settings


@pytest.fixture
def toy(repo: Path) -> Path:
    add_toy_family(repo)
    return repo


def _full(tmp_path: Path) -> LaunchRequest:
    replay: Replay = {
        "source_path": "outputs/run_1",
        "rebuild": "patch",
        "smoke": False,
        "cwd": ".",
        "verify": None,
        "from_patch": True,
        "tree_mismatch": {"recorded": "a" * 40, "ran": "b" * 40},
        "env_refused": ["LD_PRELOAD"],
    }
    ablation: Ablation = {"experiment": EXP, "field": "model.width", "step": "02"}
    return LaunchRequest(
        experiment=EXP,
        outputs=tmp_path / "outputs",
        seed=7,
        smoke=True,
        deterministic=True,
        config={"steps": 2, "nested": {"lr": 0.1, "sizes": [1, 2]}, "x": float("inf")},
        check=False,
        note="a note",
        git_from=tmp_path / "outputs" / "run_1",
        replay_of="run_1",
        replay=replay,
        ablation_of=ablation,
        smoke_label=True,
    )


def test_a_request_survives_its_json_round_trip(tmp_path: Path) -> None:
    full = _full(tmp_path)
    assert launch_request.from_json(full.to_json()) == full
    plain = LaunchRequest(experiment=EXP)
    assert launch_request.from_json(plain.to_json()) == plain
    # Only the experiment is required; every other key has the CLI's default.
    assert launch_request.from_json(json.dumps({"experiment": EXP})) == plain


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seed": "5 --deterministic"}, "seed is not an integer"),
        ({"seed": True}, "seed is not an integer"),
        ({"experiment": "../elsewhere/x_01_01.py"}, "experiment must be a relative path"),
        ({"experiment": "/etc/x_01_01.py"}, "it is an absolute path"),
        ({"experiment": "experiments/toy/notes.txt"}, "it is not a .py file"),
        ({"outputs": "relative/outputs"}, "outputs must be an absolute path"),
        ({"git_from": "run_1"}, "git_from must be an absolute path"),
        ({"pid_started": 1}, "unknown key pid_started (known: experiment, outputs,"),
        ({"replay_of": "--help"}, "replay_of is not a run id"),
        ({"check": "no"}, "check must be true or false"),
        ({"config": [1, 2]}, "config must be an object"),
        ({"replay": {"cwd": ".", "status": "x"}}, "replay has unknown keys status"),
        ({"replay": {"cwd": 3}}, '"replay.cwd" should be a string or null, not an integer'),
        ({"ablation_of": "field"}, '"ablation_of" should be an object or null, not a string'),
    ],
)
def test_a_hostile_request_is_refused(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    data = json.loads(_full(tmp_path).to_json()) | change
    with pytest.raises(ReprokitError, match=r"^launch request: ") as e:
        launch_request.from_json(json.dumps(data))
    assert message in str(e.value)


def test_a_request_file_that_is_not_one_is_refused_naming_the_file(toy: Path) -> None:
    bad = toy / "request.json"
    write(bad, '{"experiment": "experiments/toy/base_01_01.py", "seed": 1.5}')
    argv = launch_request.entry_argv(str(bad), str(toy / "result.json"))
    result = subprocess.run(argv, cwd=toy, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.startswith(f"reprokit: error: {bad}: launch request: seed is not an")
    assert not (toy / "outputs").exists() and not (toy / "result.json").exists()


def test_paths_are_checked_against_the_project_and_outputs(
    toy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(toy)
    settings = load_settings()
    outside = LaunchRequest(experiment="../elsewhere/x_01_01.py")
    with pytest.raises(ReprokitError, match="experiment must be a relative path inside"):
        launch_command.run(outside, settings=settings)
    foreign = LaunchRequest(experiment=EXP, git_from=tmp_path / "elsewhere" / "run_1")
    with pytest.raises(ReprokitError, match="git_from must be a run folder inside"):
        launch_command.run(foreign, settings=settings)
    assert not (toy / "outputs").exists()


def test_the_child_names_its_run_when_main_crashes(toy: Path) -> None:
    wanted = LaunchRequest(experiment=CRASH, check=False, seed=5)
    with launch_request.child(wanted, toy / "outputs") as launching:
        result = subprocess.run(launching.argv(), cwd=toy, capture_output=True, text=True)
        made = launching.result(result.returncode)
    assert result.returncode == 1
    assert made == LaunchedRun("run_1", toy / "outputs/run_1", 1, "failed")
    record = json.loads((toy / "outputs/run_1/run.json").read_text())
    assert record["seed"] == 5 and record["error"]["type"] == "ValueError"


def test_the_child_names_its_run_before_it_is_killed(toy: Path) -> None:
    # The result file is written when the folder is claimed, not when the run ends.
    wanted = LaunchRequest(experiment=SLEEPY, check=False)
    with launch_request.child(wanted, toy / "outputs") as launching:
        proc = subprocess.Popen(launching.argv(), cwd=toy, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not launching.result_file.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        made = launching.result(proc.returncode)
    assert made is not None
    assert (made.run_id, made.run_dir) == ("run_1", toy / "outputs/run_1")
    assert made.exit_code == -signal.SIGKILL and made.status == "running"  # as it was left


def test_a_forged_result_is_refused(tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    outputs = tmp_path / "outputs"
    launch_request.write_claimed(result, "run_3", tmp_path / "elsewhere" / "run_3")
    with pytest.raises(ReprokitError, match="run_dir is not run_3 inside"):
        launch_request.read_claimed(result, outputs)
    write(result, json.dumps({"run_id": "--help", "run_dir": str(outputs / "run_1")}))
    with pytest.raises(ReprokitError, match="run_id is not a run id"):
        launch_request.read_claimed(result, outputs)
