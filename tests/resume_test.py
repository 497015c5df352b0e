"""``reprokit launch --resume run_N`` on real repositories: the same code, config and seed
run again as the next attempt, which finds the earlier attempt's checkpoints and carries on
its steps; readers treat the chain as one run."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from conftest import git, run_cli, write
from reprokit.analysis import plot
from reprokit.launch.request import LaunchRequest, entry_argv
from reprokit.record import chain

# Crashes at step 3 the first time; a resume loads the checkpoint from the earlier attempt's
# folder and continues at step 4.
CHECKPOINTED = """
import json
from dataclasses import dataclass

import reprokit


@dataclass(frozen=True)
class Config:
    seed: int = 0
    lr: float = 0.5
    steps: int = 6


config = Config()


def main(config: Config) -> dict[str, object]:
    run = reprokit.current_run()
    start = 0
    if run.is_resume:
        start = json.loads((run.previous_dir / "ckpt.json").read_text())["step"] + 1
    for step in range(start, config.steps):
        reprokit.log(step, loss=config.lr / (step + 1))
        (run.dir / "ckpt.json").write_text(json.dumps({"step": step}))
        if step == 3 and not run.is_resume:
            raise RuntimeError("crashed at step 3")
    return {
        "loss": config.lr / config.steps,
        "start": start,
        "start_step": run.start_step,
        "resumed_from": run.resumed_from,
        "seed": config.seed,
        "lr": config.lr,
    }


def smoke(config: Config) -> Config:
    return config
"""
EXP = "experiments/ck/base_01_01.py"


def _project(repo: Path) -> None:
    write(repo / "experiments/ck/__init__.py", "")
    write(repo / EXP, CHECKPOINTED)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "checkpointed")


def _record(repo: Path, run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((repo / "outputs" / run_id / "run.json").read_text())
    return data


def _steps(rows: list[dict[str, Any]]) -> list[int]:
    return [row["step"] for row in rows]


def test_a_resumed_run_continues_from_its_checkpoint_at_the_next_step(repo: Path) -> None:
    _project(repo)
    first = run_cli(repo, "launch", EXP, "--seed", "7", "--note=x")
    assert first.returncode == 1, first.stderr
    assert _record(repo, "run_1")["status"] == "failed"
    proc = run_cli(repo, "launch", "--resume", "run_1")
    assert proc.returncode == 0, proc.stderr
    record = _record(repo, "run_2")
    assert record["resumed_from"] == "run_1"
    assert (record["status"], record["seed"], record["note"]) == ("completed", 7, "x")
    assert record["git"]["tree"] == _record(repo, "run_1")["git"]["tree"]
    summary = json.loads((repo / "outputs/run_2/summary.json").read_text())
    assert summary["start"] == 4 and summary["start_step"] == 4
    assert summary["resumed_from"] == "run_1" and summary["seed"] == 7
    run_1, run_2 = repo / "outputs/run_1", repo / "outputs/run_2"
    assert _steps(chain.chain_metrics(run_1)) == [0, 1, 2, 3]
    # The chain is one run: its metrics by step, the resume's after the first attempt's.
    assert chain.attempts(run_2) == [run_1, run_2]
    assert _steps(chain.chain_metrics(run_2)) == [0, 1, 2, 3, 4, 5]
    # plot draws the chain: every step of both attempts.
    curve = plot.series(plot.run_metrics(run_2, record), "loss")
    assert curve == {float(s): 0.5 / (s + 1) for s in range(6)}
    shown = run_cli(repo, "show", "run_2")
    assert "resumes run_1" in shown.stdout


def test_the_recorded_config_is_resumed_not_the_files_default(repo: Path, tmp_path: Path) -> None:
    _project(repo)
    # A run with a config other than the file's (as a replay or an ablation variant makes
    # one): through the launch child entry and a request.
    wanted = LaunchRequest(EXP, config={"seed": 1, "lr": 0.25, "steps": 6})
    (tmp_path / "request.json").write_text(wanted.to_json())
    first = subprocess.run(
        entry_argv(str(tmp_path / "request.json"), str(tmp_path / "result.json")),
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert first.returncode == 1, first.stderr
    proc = run_cli(repo, "launch", "--resume", "run_1")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((repo / "outputs/run_2/summary.json").read_text())
    assert (summary["lr"], summary["seed"], summary["start"]) == (0.25, 1, 4)


def test_runs_shows_a_chain_as_its_latest_attempt(repo: Path) -> None:
    _project(repo)
    assert run_cli(repo, "launch", EXP).returncode == 1
    assert run_cli(repo, "launch", "--resume", "run_1").returncode == 0
    listed = run_cli(repo, "runs", "--json")
    assert [r["id"] for r in json.loads(listed.stdout)] == ["run_2"]
    everything = run_cli(repo, "runs", "--all", "--json")
    assert [r["id"] for r in json.loads(everything.stdout)] == ["run_2", "run_1"]
    hidden = run_cli(repo, "runs", "--status", "failed")
    assert "1 resumed run hidden: --all lists it" in hidden.stdout + hidden.stderr


def test_what_cannot_be_resumed_is_refused_with_the_way_forward(repo: Path) -> None:
    _project(repo)
    assert run_cli(repo, "launch", EXP).returncode == 1
    assert run_cli(repo, "launch", "--resume", "run_1").returncode == 0
    again = run_cli(repo, "launch", "--resume", "run_1")
    assert again.returncode == 1
    assert "run_1 was already resumed by run_2" in again.stderr
    assert "reprokit launch --resume run_2" in again.stderr
    done = run_cli(repo, "launch", "--resume", "run_2")
    assert done.returncode == 1 and "run_2 is completed" in done.stderr
    # Changed code: a resume would continue a different computation.
    assert run_cli(repo, "launch", EXP).returncode == 1  # run_3 crashes at step 3
    write(repo / EXP, CHECKPOINTED.replace("lr: float = 0.5", "lr: float = 0.6"))
    changed = run_cli(repo, "launch", "--resume", "run_3")
    assert changed.returncode == 1
    assert "the code here differs from what run_3 ran" in changed.stderr
    assert "git stash" in changed.stderr
    assert sorted(p.name for p in (repo / "outputs").glob("run_*")) == ["run_1", "run_2", "run_3"]
    # A teammate's pulled run is theirs to resume.
    shutil.copytree(repo / "outputs/run_3", repo / "outputs/alice@gpu-3/run_3")
    pulled = run_cli(repo, "launch", "--resume", "alice@gpu-3/run_3")
    assert pulled.returncode == 1
    assert "alice@gpu-3/run_3 was pulled from alice@gpu-3: its owner resumes it" in pulled.stderr


def test_chain_metrics_let_a_later_attempt_replace_the_steps_it_relogged() -> None:
    first = [{"step": s, "loss": 1.0} for s in range(5)] + [{"step": None, "loss": 9.0}]
    second = [{"step": s, "loss": 2.0} for s in range(3, 7)]
    merged = chain.merged_metrics([first, second])
    assert [(r["step"], r["loss"]) for r in merged] == [
        (0, 1.0), (1, 1.0), (2, 1.0), (None, 9.0), (3, 2.0), (4, 2.0), (5, 2.0), (6, 2.0)
    ]  # fmt: skip
    assert chain.merged_metrics([first, []]) == first


def test_a_hand_edited_record_is_refused_before_it_is_resumed_or_followed(repo: Path) -> None:
    _project(repo)
    assert run_cli(repo, "launch", EXP).returncode == 1
    record_file = repo / "outputs/run_1/run.json"
    original = json.loads(record_file.read_text())
    for key, value, message in (
        ("experiment", {**original["experiment"], "path": "../../x_01_01.py"}, "experiment.path"),
        ("git", {**original["git"], "tree": "--output=x"}, "git.tree"),
    ):
        record_file.write_text(json.dumps({**original, key: value}))
        proc = run_cli(repo, "launch", "--resume", "run_1")
        assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    assert sorted(p.name for p in (repo / "outputs").glob("run_*")) == ["run_1"]
    # A chain link that is no run id is never followed as a path.
    record_file.write_text(json.dumps({**original, "resumed_from": "../../etc"}))
    assert chain.attempts(repo / "outputs/run_1") == [repo / "outputs/run_1"]
    listed = run_cli(repo, "runs", "--json")
    assert [r["id"] for r in json.loads(listed.stdout)] == ["run_1"]
