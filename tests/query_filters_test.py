"""``reprokit runs`` filters (--exp, --status, --where, --sort, --columns, --format) and the
Python API ``reprokit.runs()`` / ``reprokit.runs_frame()``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from _helpers import launch_seeds, write_run

import reprokit
from reprokit.cli import main

RUNS = [
    # (experiment, seed, lr, act, val_acc, status, smoke)
    ("experiments/toy/base_01_01.py", 0, 1e-2, "relu", 0.91, "completed", False),
    ("experiments/toy/base_01_01.py", 1, 1e-2, "relu", 0.93, "completed", False),
    ("experiments/toy/slow_02_01.py", 0, 1e-4, "relu", 0.70, "completed", False),
    ("experiments/toy/gelu_03_01.py", 0, 1e-3, "gelu", 0.95, "completed", False),
    ("experiments/toy/gelu_03_01.py", 1, 1e-3, "gelu", None, "failed", False),
    ("experiments/toy/gelu_03_01.py", 2, 1e-3, "gelu", 0.10, "completed", True),
]


@pytest.fixture
def project(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for n, (exp, seed, lr, act, acc, status, smoke) in enumerate(RUNS, 1):
        write_run(
            repo / "outputs", n, exp, seed=seed, status=status, smoke=smoke,
            config={"optim": {"lr": lr}, "model": {"act": act, "sizes": [64, 64]}},
            summary={} if acc is None else {"val_acc": acc},
            started_at=f"2026-11-25T10:00:0{n}.500000+00:00",
        )  # fmt: skip
    monkeypatch.chdir(repo)
    return repo


def test_where_sort_columns_csv_round_trip(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["runs", "--where", "optim.lr>=1e-3", "--where", "model.act==relu", "--sort", "-val_acc"]
    assert main([*argv, "--columns", "id,seed,config.optim.lr,val_acc", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert out == "id,seed,config.optim.lr,val_acc\nrun_2,1,0.01,0.93\nrun_1,0,0.01,0.91\n"
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert [(r["id"], float(r["val_acc"])) for r in parsed] == [("run_2", 0.93), ("run_1", 0.91)]


def test_where_on_metric_and_sort_ascending_table(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "runs",
                "--where",
                "val_acc>0.8",
                "--sort",
                "val_acc",
                "--columns",
                "id,experiment,val_acc",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out == (
        "id     experiment      val_acc\n"
        "run_1  toy/base_01_01     0.91\n"
        "run_2  toy/base_01_01     0.93\n"
        "run_4  toy/gelu_03_01     0.95\n"
    )


def test_exp_glob_status_and_all(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--exp", "gelu_*", "--all", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == ["run_6", "run_5", "run_4"]
    assert main(["runs", "--status", "failed", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == ["run_5"]


def test_unknown_where_field_suggests(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--where", "optim.l>1"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: unknown field 'optim.l': no run has it\n  hint: did you mean optim.lr?\n"
    )


def test_python_runs_api(project: Path) -> None:
    records = reprokit.runs(where="val_acc>=0.93", sort="-val_acc")
    assert [r["id"] for r in records] == ["run_4", "run_2"]
    assert records[0]["config"]["model"]["act"] == "gelu"
    assert [r["id"] for r in reprokit.runs(include_all=True, limit=2)] == ["run_6", "run_5"]


def test_runs_frame_columns_and_dtypes(project: Path) -> None:
    frame = reprokit.runs_frame(sort="id")
    assert list(frame["id"]) == ["run_1", "run_2", "run_3", "run_4", "run_5"]
    for column in ("experiment", "status", "seed", "started_at", "git.sha", "config.optim.lr",
                   "config.model.act", "config.model.sizes", "metric.val_acc", "env.torch", "env.python"):  # fmt: skip
        assert column in frame.columns, column
    import pandas as pd

    assert isinstance(frame["started_at"].dtype, pd.DatetimeTZDtype)
    assert str(frame["started_at"].dt.tz) == "UTC"
    assert frame["started_at"].iloc[0].isoformat() == "2026-11-25T10:00:01.500000+00:00"
    assert frame["config.optim.lr"].dtype == "float64"
    assert frame["metric.val_acc"].dtype == "float64"
    assert frame["seed"].dtype == "int64"
    assert frame["metric.val_acc"].isna().tolist() == [False, False, False, False, True]
    assert set(frame["env.torch"]) == {"2.3.0"}
    assert frame["config.model.sizes"].iloc[0] == [64, 64]


@pytest.mark.slow
def test_where_and_sort_over_launched_runs(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from conftest import git, write

    write(repo / "experiments/toy/__init__.py", "")
    write(
        repo / "experiments/toy/base_01_01.py",
        """
        from __future__ import annotations

        from dataclasses import dataclass


        @dataclass(frozen=True)
        class Optim:
            lr: float = 0.1


        @dataclass(frozen=True)
        class Config:
            seed: int = 0
            optim: Optim = Optim()


        config = Config()


        def smoke(config: Config) -> Config:
            return config


        def main(config: Config) -> dict[str, float]:
            return {"val_acc": 0.5 + config.seed / 10}
        """,
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "toy")
    launch_seeds(repo, "experiments/toy/base_01_01.py", (0, 1, 2))
    monkeypatch.chdir(repo)
    argv = ["runs", "--where", "val_acc>=0.6", "--where", "optim.lr==0.1", "--sort", "-val_acc"]
    assert main([*argv, "--columns", "id,seed,optim.lr,val_acc", "--format", "csv"]) == 0
    assert capsys.readouterr().out == "id,seed,optim.lr,val_acc\nrun_3,2,0.1,0.7\nrun_2,1,0.1,0.6\n"
    frame = reprokit.runs_frame(sort="seed")
    assert frame["config.optim.lr"].tolist() == [0.1, 0.1, 0.1]
    assert frame["env.python"].notna().all()
    assert frame["git.sha"].str.len().tolist() == [40, 40, 40]


def test_unknown_column_suggests(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--columns", "id,val_ac"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: unknown field 'val_ac': no run has it\n  hint: did you mean val_acc?\n"
    )
