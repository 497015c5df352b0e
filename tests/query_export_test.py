"""``reprokit runs``: CSV/JSON carry exact values, replays are left out unless --all (in
``runs``, ``reprokit.runs()`` and ``reprokit.runs_frame()`` alike), and an empty answer
says why."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest
from _helpers import write_run

import reprokit
from reprokit.cli import main

BASE = "experiments/toy/base_01_01.py"
# Values whose 4-significant-digit display differs from the value itself.
THIRD, POINT3, TINY = 1 / 3, 0.1 + 0.2, 1.2345678901234e-12


@pytest.fixture
def project(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    out = repo / "outputs"
    config = {"optim": {"lr": 0.001}, "model": {"sizes": [64, 64]}}
    # Started at 12:00 in UTC+2: CSV and JSON must say 10:00 UTC.
    write_run(out, 1, BASE, seed=0, config=config, summary={"val_acc": THIRD, "loss": POINT3},
              started_at="2026-11-25T12:00:00.123456+02:00")  # fmt: skip
    write_run(out, 2, BASE, seed=1, config=config, summary={"val_acc": TINY, "loss": 7.0})
    write_run(out, 3, BASE, seed=0, config=config, summary={"val_acc": THIRD}, replay_of="run_1")
    write_run(out, 4, BASE, seed=2, config=config, summary={"val_acc": 0.5}, smoke=True)
    write_run(out, 5, BASE, seed=0, config={"optim": {"lr": 0.01}}, summary={"val_acc": 0.4},
              ablation_of={"experiment": BASE, "field": "optim.lr", "step": "01"})  # fmt: skip
    write_run(out, 6, BASE, seed=3, config=config, status="failed", dirty=True)
    monkeypatch.chdir(repo)
    return repo


def test_csv_round_trips_the_recorded_values(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "--format", "csv", "--sort", "id"]) == 0
    parsed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    records = {r["id"]: r for r in reprokit.runs()}
    assert [row["id"] for row in parsed] == ["run_1", "run_2", "run_6"]
    assert list(parsed[0]) == [
        "id", "experiment", "status", "git.sha", "git.dirty", "started_at", "duration_s",
        "seed", "replay_of", "loss", "val_acc",
    ]  # fmt: skip
    for row in parsed:
        record = records[row["id"]]
        for metric in ("val_acc", "loss"):
            if metric in record["summary"]:
                # Exactly the recorded float, not its display form (0.3333).
                assert float(row[metric]) == record["summary"][metric]
            else:
                assert row[metric] == ""
        assert float(row["duration_s"]) == record["duration_s"]
        assert int(row["seed"]) == record["seed"]
        assert row["git.sha"] == record["git"]["sha"]
        assert row["git.dirty"] == ("true" if record["git"]["dirty"] else "false")
        assert row["experiment"] == record["experiment"]["path"]
        assert row["replay_of"] == ""
    assert parsed[0]["started_at"] == "2026-11-25T10:00:00.123456+00:00"
    assert parsed[0]["val_acc"] == repr(THIRD) and parsed[1]["val_acc"] == repr(TINY)
    # The table keeps its display form.
    assert main(["runs", "--columns", "id,val_acc,duration,started", "--sort", "id"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "run_1     0.3333      1.5s  2026-11-25 10:00"


def test_csv_columns_use_exact_forms_of_table_names_and_json_lists(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    columns = "id,git,started,duration,note,model.sizes,optim.lr,metric.loss"
    assert main(["runs", "--format", "csv", "--columns", columns, "--where", "seed==0"]) == 0
    (row,) = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert row == {
        "id": "run_1",
        "git": "a" * 40,
        "started": "2026-11-25T10:00:00.123456+00:00",
        "duration": "1.5",
        "note": "",
        "model.sizes": "[64, 64]",
        "optim.lr": "0.001",
        "metric.loss": repr(POINT3),
    }
    assert json.loads(row["model.sizes"]) == [64, 64]


def test_json_is_exact_with_utc_times(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--json", "--where", "seed==0"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert run["summary"] == {"val_acc": THIRD, "loss": POINT3}
    assert run["started_at"] == "2026-11-25T10:00:00.123456+00:00"
    assert (run["duration_s"], run["replay_of"], run["note"]) == (1.5, None, None)


def test_replays_are_left_out_unless_all_everywhere(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    originals = ["run_6", "run_2", "run_1"]
    assert main(["runs", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == originals
    assert [r["id"] for r in reprokit.runs()] == originals
    frame = reprokit.runs_frame()
    assert list(frame["id"]) == originals
    # The groupby in docs/reference.md counts each seed once: the replay of run_1 is not a sample.
    counts = frame[frame["status"] == "completed"].groupby("experiment")["metric.val_acc"]
    assert counts.count().to_dict() == {BASE: 2}
    assert frame["replay_of"].isna().all()
    # ... but an original says it was replayed, and how that went.
    assert frame.set_index("id").loc["run_1", "replayed_by"] == "run_3"
    assert frame.set_index("id")["replayed_by"].drop("run_1").isna().all()

    everything = ["run_6", "run_5", "run_4", "run_3", "run_2", "run_1"]
    assert main(["runs", "--all", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == everything
    assert [r["id"] for r in reprokit.runs(include_all=True)] == everything
    full = reprokit.runs_frame(include_all=True).set_index("id")
    assert list(full.index) == everything
    assert full.loc["run_3", "replay_of"] == "run_1"
    assert full.loc["run_5", "ablation_of.field"] == "optim.lr"
    assert full["replay_of"].drop("run_3").isna().all()
    # Replays can be picked out of --all like any field.
    assert main(["runs", "--all", "--where", "replay_of==run_1", "--columns", "id,replay"]) == 0
    assert capsys.readouterr().out == "id     replay\nrun_3  of run_1\n"
    assert main(["runs", "--all", "--where", "replay_of==null", "--where", "smoke==false",
                 "--where", "ablation==false", "--columns", "id"]) == 0  # fmt: skip
    assert capsys.readouterr().out == "id\nrun_6\nrun_2\nrun_1\n"


def test_no_match_names_the_filters_and_what_there_is(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "--where", "loss>100"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    # No hidden run has loss>100 either: naming them would read as if they were the cause.
    assert captured.err == "no run matches --where 'loss>100' (3 runs in outputs)\n"
    # Hidden runs that would match are named: --all is then the real hint.
    assert main(["runs", "--where", "val_acc>=0.4", "--where", "val_acc<=0.5"]) == 0
    assert capsys.readouterr().err == (
        "no run matches --where 'val_acc>=0.4' --where 'val_acc<=0.5' (3 runs in outputs; "
        "1 ablation, 1 smoke runs hidden: --all lists them)\n"
    )
    assert main(["runs", "--exp", "base_01_01", "--status", "completed,running",
                 "--where", "seed==0", "--where", "val_acc<0.3"]) == 0  # fmt: skip
    assert capsys.readouterr().err == (
        "no run matches --exp 'base_01_01' --status completed,running --where 'seed==0' "
        "--where 'val_acc<0.3' (3 runs in outputs)\n"
    )
    assert main(["runs", "--all", "--status", "running", "--exp", "*base*", "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("id,experiment,status,") and captured.out.count("\n") == 1
    assert captured.err == ("no run matches --exp '*base*' --status running (6 runs in outputs)\n")


def test_only_hidden_runs(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_run(repo / "outputs", 1, BASE, smoke=True)
    monkeypatch.chdir(repo)
    assert main(["runs"]) == 0
    assert capsys.readouterr().err == (
        "no runs to list (0 runs in outputs; 1 smoke run hidden: --all lists it)\n"
    )


@pytest.mark.parametrize(
    ("expr", "error"),
    [
        (
            "optim.lr>abc",
            "--where 'optim.lr>abc': optim.lr holds numbers, not text\n"
            "  hint: compare it with a number, e.g. optim.lr>0.001",
        ),
        (
            "experiment>5",
            "--where 'experiment>5': experiment holds text, not a number\n"
            "  hint: quote the value to compare it as text: experiment>'5'",
        ),
    ],
)
def test_type_mismatch_is_an_error_not_an_empty_table(
    project: Path, capsys: pytest.CaptureFixture[str], expr: str, error: str
) -> None:
    assert main(["runs", "--where", expr]) == 1
    assert capsys.readouterr().err == f"reprokit: error: {error}\n"


def test_non_finite_metrics_survive_csv(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_run(repo / "outputs", 1, BASE, summary={"loss": math.inf})
    monkeypatch.chdir(repo)
    assert main(["runs", "--format", "csv", "--columns", "loss"]) == 0
    assert float(capsys.readouterr().out.splitlines()[1]) == math.inf


def test_json_is_strict_and_metric_headers_never_collide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A diverged run (NaN) and a metric named like a run column ("seed").
    out = tmp_path / "outputs"
    write_run(
        out,
        1,
        BASE,
        seed=7,
        summary={"loss": float("nan"), "seed": 1.5, "hist": [1.0, float("inf")]},
    )
    monkeypatch.chdir(tmp_path)
    assert main(["runs", "--format", "json", "--outputs", str(out)]) == 0

    def refuse(constant: str) -> object:
        raise AssertionError(f"--format json printed {constant}")

    (run,) = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert run["summary"] == {"loss": "nan", "seed": 1.5, "hist": [1.0, "inf"]}
    assert main(["runs", "--format", "csv", "--outputs", str(out)]) == 0
    header = capsys.readouterr().out.splitlines()[0].split(",")
    assert len(header) == len(set(header))
    assert "metric.seed" in header and "loss" in header


def test_data_cells_need_no_settings(tmp_path: Path) -> None:
    from reprokit.analysis.cells import data_cells
    from reprokit.analysis.rows import load_runs
    from reprokit.settings import load_settings

    write_run(tmp_path / "outputs", 1, BASE, summary={"loss": 0.5})
    settings = load_settings(tmp_path).with_outputs(tmp_path / "outputs")
    (row,) = load_runs(settings)
    assert data_cells(row, ["id", "duration", "loss"]) == ["run_1", "1.5", "0.5"]


def test_bare_keys_agree_with_the_flat_rows(tmp_path: Path) -> None:
    from reprokit.analysis.cells import bare_keys
    from reprokit.analysis.rows import light_record, load_runs
    from reprokit.analysis.where import SHADOWING, flat_row
    from reprokit.settings import load_settings

    config = {"duration": 5.0, "code": {}, "replay": {"a": 1}, "git": [1]}
    write_run(tmp_path / "outputs", 1, BASE, config=config, summary={"started": 1, "note": [2]})
    settings = load_settings(tmp_path).with_outputs(tmp_path / "outputs")
    rows = load_runs(settings)
    names = [*SHADOWING, "note"]
    flat = flat_row(light_record(rows[0]))
    expected = {p + n for n in names for p in ("config.", "metric.") if p + n in flat}
    assert bare_keys(rows, names) == expected == {
        "config.duration", "config.code", "config.git", "metric.started",
    }  # fmt: skip
