from __future__ import annotations

import json
from pathlib import Path

import pytest
from _helpers import make_run

from conftest import write
from reprokit import tables
from reprokit.analysis import rows as runrows
from reprokit.capture import process
from reprokit.cli import main as cli_main


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    write(root / "pyproject.toml", "[tool.reprokit]\n")
    outputs = root / "outputs"
    make_run(outputs, 1, summary={"val_acc": 0.91234, "val_loss": 0.3})
    make_run(outputs, 2, summary={"val_acc": 0.95, "val_loss": 0.25})
    make_run(outputs, 3, summary={"val_acc": 0.5}, smoke=True)
    make_run(outputs, 4, status="failed", exit_code=1, summary={"val_loss": 2.5}, duration_s=4000.0)
    make_run(outputs, 5, ablation_of={"field": "optim.lr"}, summary={"val_acc": 0.1})
    monkeypatch.chdir(root)
    return root


def test_runs_table(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["runs"]) == 0
    assert capsys.readouterr().out == (
        "id     experiment             status     git        started           duration  val_acc  val_loss\n"
        "run_4  digits/mlp/wide_04_01  failed     44444444*  2026-11-25 20:04     1h06m        -       2.5\n"
        "run_2  digits/mlp/wide_02_01  completed  22222222*  2026-11-25 20:02     1m00s     0.95      0.25\n"
        "run_1  digits/mlp/wide_01_01  completed  11111111   2026-11-25 20:01     30.0s   0.9123       0.3\n"
    )


def test_runs_all_json_and_filters(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["runs", "--all", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in listed] == ["run_5", "run_4", "run_3", "run_2", "run_1"]
    assert listed[2]["smoke"] is True and listed[0]["ablation"] is True
    assert listed[3]["summary"] == {"val_acc": 0.95, "val_loss": 0.25}
    assert listed[3]["git_sha"] == "2" * 40 and listed[3]["git_dirty"] is True

    assert cli_main(["runs", "--status", "failed", "--format", "csv"]) == 0
    # CSV is for analysis: the full SHA, ISO 8601 UTC, seconds, empty cells for missing.
    assert capsys.readouterr().out == (
        "id,experiment,status,git.sha,git.dirty,started_at,duration_s,seed,replay_of,val_loss\n"
        f"run_4,experiments/digits/mlp/wide_04_01.py,failed,{'4' * 40},true,"
        "2026-11-25T20:04:00.000000+00:00,4000.0,4,,2.5\n"
    )
    assert cli_main(["runs", "--exp", "*wide_02*", "--columns", "id,val_acc,config.optim.lr"]) == 0
    assert (
        capsys.readouterr().out
        == "id     val_acc  config.optim.lr\nrun_2     0.95              0.2\n"
    )
    assert cli_main(["runs", "--limit", "1", "--columns", "id"]) == 0
    assert capsys.readouterr().out == "id\nrun_4\n"


def test_runs_where_and_sort(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["runs", "--where", "val_acc>0.9", "--sort", "val_acc", "--columns", "id"]) == 0
    assert capsys.readouterr().out == "id\nrun_1\nrun_2\n"


def test_bad_status_is_a_readable_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["runs", "--status", "done"]) == 2
    assert capsys.readouterr().err == (
        "reprokit: error: --status 'done'\n"
        "  hint: one of completed, failed, interrupted, crashed, running, incomplete\n"
    )


def test_no_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "p" / "pyproject.toml", "")
    monkeypatch.chdir(tmp_path / "p")
    assert cli_main(["runs"]) == 0
    assert capsys.readouterr().err == "no runs in outputs\n"


def test_load_runs_rows(project: Path) -> None:
    from reprokit.settings import load_settings

    rows = runrows.load_runs(load_settings(project), include_all=True)
    assert [r.id for r in rows] == ["run_5", "run_4", "run_3", "run_2", "run_1"]
    row = rows[-1]
    assert row.config == {"seed": 1, "optim": {"lr": 0.1}}
    assert row.dir == project / "outputs" / "run_1"
    assert row.as_record()["summary"] == {"val_acc": 0.91234, "val_loss": 0.3}
    assert row.record["experiment"]["name"] == "wide"


def test_format_duration() -> None:
    assert [tables.format_duration(s) for s in (None, 0.04, 59.9, 61, 3599, 3600, 90000)] == [
        "-",
        "0.0s",
        "59.9s",
        "1m01s",
        "59m59s",
        "1h00m",
        "25h00m",
    ]


def test_runs_trusts_a_live_process_over_a_stale_heartbeat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A run stuck in a long C call (or stopped) misses heartbeats but is not crashed; the
    # same pid with another start time is another process, so that run is crashed.
    import os

    started = process.pid_started(os.getpid())
    if started is None:
        pytest.skip("no /proc: liveness goes by the heartbeat alone here")
    outputs = tmp_path / "outputs"
    old_beat = "2026-01-01T00:00:00+00:00"
    for n, pid_started in ((1, started), (2, started + 1)):
        make_run(
            outputs, n, status="running", host=process.hostname(), pid=os.getpid(),
            pid_started=pid_started, heartbeat_at=old_beat, started_at=old_beat,
        )  # fmt: skip
    monkeypatch.chdir(tmp_path)
    assert cli_main(["runs", "--columns", "id,status", "--outputs", str(outputs)]) == 0
    assert capsys.readouterr().out == "id     status\nrun_2  crashed\nrun_1  running\n"
