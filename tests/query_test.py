from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import write
from reprokit import query, store
from reprokit.cli import main as cli_main


def make_run(
    outputs: Path, n: int, *, summary: dict[str, Any] | None = None, **fields: Any
) -> Path:
    """A run folder with a complete, fixed record (no launch needed)."""
    run = outputs / f"run_{n}"
    run.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {key: None for key in store.RECORD_KEYS}
    record.update(
        format_version=1,
        id=run.name,
        status="completed",
        exit_code=0,
        started_at=f"2026-11-25T20:0{n}:00.000000+00:00",
        ended_at=f"2026-11-25T20:0{n}:30.000000+00:00",
        duration_s=30.0 * n,
        heartbeat_at=f"2026-11-25T20:0{n}:30.000000+00:00",
        pid=4242,
        host="gpu-box",
        experiment={
            "path": f"experiments/digits/mlp/wide_0{n}_01.py",
            "module": f"experiments.digits.mlp.wide_0{n}_01",
            "family": "experiments/digits/mlp",
            "name": "wide",
            "id": f"0{n}",
            "parent": "01",
            "config_type": "experiments.digits.mlp.baseline_01_01:Config",
            "lineage": [
                {"id": "01", "name": "baseline", "path": "x", "sha256": "0" * 64},
                {"id": f"0{n}", "name": "wide", "path": "y", "sha256": "1" * 64},
            ],
        },
        seed=n,
        seed_source="config",
        smoke=False,
        deterministic=False,
        checked=True,
        git={
            "sha": f"{n}" * 40,
            "branch": "main",
            "dirty": n % 2 == 0,
            "modified": ["train.py"] if n % 2 == 0 else [],
            "untracked": [],
            "snapshot": "f" * 40,
            "snapshot_ref": f"refs/reprokit/runs/run_{n}",
        },
        environment={"python": {"version": "3.11.9"}, "packages": {"torch": "2.13.0"}},
        hardware={
            "cpu": {"model": "Xeon", "logical_cores": 8},
            "memory_bytes": 16 * 2**30,
            "gpus": [],
            "cuda_visible_devices": None,
        },
        rank=0,
        world_size=1,
        inputs=[],
    )
    record.update(fields)
    store.write_json(run / "run.json", record)
    store.write_json(run / "summary.json", summary if summary is not None else {})
    (run / "config.yaml").write_text(f"seed: {n}\noptim:\n  lr: 0.{n}\n")
    return run


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
    assert capsys.readouterr().out == (
        "id,experiment,status,git,started,duration,val_loss\n"
        "run_4,digits/mlp/wide_04_01,failed,44444444*,2026-11-25 20:04,1h06m,2.5\n"
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
    assert cli_main(["runs", "--status", "done"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: --status 'done'\n"
        "  hint: one of completed, failed, interrupted, crashed, running\n"
    )


def test_no_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "p" / "pyproject.toml", "")
    monkeypatch.chdir(tmp_path / "p")
    assert cli_main(["runs"]) == 0
    assert capsys.readouterr().err == f"no runs in {tmp_path / 'p' / 'outputs'}\n"


def test_load_runs_rows(project: Path) -> None:
    from reprokit.settings import load_settings

    rows = query.load_runs(load_settings(project), include_all=True)
    assert [r.id for r in rows] == ["run_5", "run_4", "run_3", "run_2", "run_1"]
    row = rows[-1]
    assert row.config == {"seed": 1, "optim": {"lr": 0.1}}
    assert row.dir == project / "outputs" / "run_1"
    assert row.as_record()["summary"] == {"val_acc": 0.91234, "val_loss": 0.3}
    assert row.record["experiment"]["name"] == "wide"


def test_format_duration() -> None:
    assert [query.format_duration(s) for s in (None, 0.04, 59.9, 61, 3599, 3600, 90000)] == [
        "-",
        "0.0s",
        "59.9s",
        "1m01s",
        "59m59s",
        "1h00m",
        "25h00m",
    ]
