from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _helpers import make_run

from conftest import write
from reprokit.capture import process
from reprokit.cli import main as cli_main
from reprokit.record import store


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    write(root / "pyproject.toml", "[tool.reprokit]\n")
    monkeypatch.chdir(root)
    return root


def test_show_text(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_run(
        project / "outputs",
        2,
        summary={"val_acc": 0.95, "val_loss": 0.25},
        note="wider",
        error=None,
    )
    assert cli_main(["show", "run_2"]) == 0
    assert capsys.readouterr().out == (
        "run_2  outputs/run_2\n"
        "status      completed\n"
        "experiment  experiments/digits/mlp/wide_02_01.py "
        "(experiments.digits.mlp.baseline_01_01:Config)\n"
        "lineage     baseline_01 → wide_02\n"
        "started     2026-11-25 20:02 UTC\n"
        "duration    1m00s\n"
        "host        gpu-box (pid 4242)\n"
        "seed        2 (config)\n"
        "git         222222222222 on main, dirty: 1 modified\n"
        "              modified   train.py\n"
        "snapshot    ffffffffffff (refs/reprokit/runs/run_2)\n"
        "hardware    Xeon, 8 cores, 16.0 GiB\n"
        "note        wider\n"
        "summary\n"
        "  val_acc   0.95\n"
        "  val_loss  0.25\n"
    )


def test_show_crashed_and_failed(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    make_run(project / "outputs", 1, status="running", host=process.hostname(), pid=dead.pid)
    error = {"type": "ValueError", "message": "boom", "traceback_file": "traceback.txt"}
    make_run(project / "outputs", 2, status="failed", exit_code=1, error=error)
    assert cli_main(["show", "outputs/run_1"]) == 0
    out = capsys.readouterr().out
    assert "\nstatus      crashed (recorded as running; the process is gone)\n" in out
    assert cli_main(["show", str(project / "outputs" / "run_2")]) == 0
    out = capsys.readouterr().out
    assert "\nstatus      failed (exit 1)\n" in out
    assert "\nerror       ValueError: boom (see traceback.txt)\n" in out


def test_show_json(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_run(project / "outputs", 1, summary={"val_acc": 0.9})
    assert cli_main(["show", "run_1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    for key in (
        "id",
        "status",
        "experiment",
        "git",
        "config",
        "summary",
        "environment",
        "hardware",
    ):
        assert key in data, key
    assert data["config"] == {"seed": 1, "optim": {"lr": 0.1}}
    assert data["summary"] == {"val_acc": 0.9}
    assert data["git"]["sha"] == "1" * 40 and data["git"]["snapshot"] == "f" * 40
    assert data["environment"]["packages"] == {"torch": "2.13.0"}


def test_show_unknown_run(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["show", "run_9"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: no run 'run_9' in outputs\n"
        "  hint: there are no runs in outputs; start one with `reprokit launch`\n"
    )


KILLED_START = "2026-11-25T20:00:00+00:00"


def _killed_run(project: Path, heartbeat_at: str, rows: list[dict[str, float]]) -> None:
    """run_1 as SIGKILL leaves it: `running`, its pid gone, no summary.json, these rows."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run = make_run(
        project / "outputs", 1, status="running", host=process.hostname(), pid=dead.pid,
        duration_s=None, started_at=KILLED_START, heartbeat_at=heartbeat_at,
    )  # fmt: skip
    (run / store.SUMMARY_FILE).unlink(missing_ok=True)
    (run / store.METRICS_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_show_a_killed_run_with_what_it_logged(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # SIGKILL leaves no summary.json and no duration: show what the run did get to log.
    rows = [{"step": s, "time": 0.0, "loss": 1.0 / (s + 1)} for s in range(7)]
    _killed_run(project, "2026-11-25T20:01:10+00:00", rows)
    assert cli_main(["show", "run_1"]) == 0
    out = capsys.readouterr().out
    assert "\nduration    at least 1m10s (until its last heartbeat)\n" in out
    assert out.endswith(
        "summary     (none written; last logged values at step 6)\n  loss      0.1429\n"
    )


def test_a_killed_runs_duration_counts_its_last_logged_metric(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Killed 5 s after a heartbeat (they come every 10 s): the metrics it logged since say
    # it ran longer than the heartbeat alone would.
    from datetime import datetime

    t0 = datetime.fromisoformat(KILLED_START).timestamp()
    rows = [{"step": s, "time": t0 + 5 * s, "loss": 1.0} for s in range(6)]
    _killed_run(project, "2026-11-25T20:00:20+00:00", rows)
    assert cli_main(["show", "run_1"]) == 0
    assert (
        "\nduration    at least 25.0s (until its last logged metric)\n" in capsys.readouterr().out
    )
