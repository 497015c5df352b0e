from __future__ import annotations

import json
from pathlib import Path

import pytest

import reprokit
from reprokit.errors import ReprokitError
from reprokit.launch import metrics
from reprokit.record import store


def test_log_outside_a_run_is_a_silent_noop(tmp_path: Path) -> None:
    assert reprokit.current_run() is None
    reprokit.log(step=1, loss=0.5)  # must not raise or write anything
    reprokit.log(loss="not even a number")
    assert list(tmp_path.iterdir()) == [tmp_path / "_home"]


def test_each_logged_row_reaches_the_file_before_log_returns(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    writer = metrics.MetricsWriter(path)
    info = metrics.RunInfo("run_1", tmp_path, config=None, seed=3)
    metrics.activate(info, writer)
    try:
        assert reprokit.current_run() == info
        reprokit.log(step=0, loss=1.0)
        assert len(path.read_text().splitlines()) == 1  # no buffering: a kill loses nothing
        reprokit.log(step=1, loss=0.5, acc=0.25)
        assert len(path.read_text().splitlines()) == 2
        reprokit.log(loss=0.25)
    finally:
        metrics.activate(None, None)
        writer.close()
    writer.write(9, {"late": 1.0})  # a thread logging after close: dropped, never misrouted
    rows = store.read_metrics(tmp_path)
    assert [(r["step"], r["loss"]) for r in rows] == [(0, 1.0), (1, 0.5), (None, 0.25)]
    assert all(isinstance(r["time"], float) for r in rows)
    assert writer.last == {"loss": 0.25, "acc": 0.25}
    assert reprokit.current_run() is None


def test_numpy_and_torch_scalars_become_numbers(tmp_path: Path) -> None:
    import numpy as np

    writer = metrics.MetricsWriter(tmp_path / "metrics.jsonl")
    writer.write(3, {"a": np.float32(0.5), "b": np.int64(7), "c": True})
    with pytest.raises(ReprokitError) as e:
        writer.write(4, {"bad": [1, 2]})
    assert str(e.value) == (
        "reprokit.log: metric 'bad' is not a number: list\n"
        "  hint: log numbers (int, float, a NumPy scalar or a one-element tensor) or text (str)"
    )
    writer.close()
    row = json.loads((tmp_path / "metrics.jsonl").read_text())
    assert (row["a"], row["b"], row["c"], row["step"]) == (0.5, 7, True, 3)


def test_summary_prefers_the_returned_dict() -> None:
    last = {"loss": 0.1, "acc": 0.9}
    assert metrics.summary_from(None, last) == last
    returned = {"acc": 0.95, "name": "x", "curve": [1, 2], "obj": object()}
    assert metrics.summary_from(returned, last) == {"acc": 0.95, "name": "x", "curve": [1, 2]}
    # Logged text main did not return is kept, so show and runs show the last phase.
    with_text = {"loss": 0.1, "phase": "train", "name": "logged"}
    assert metrics.summary_from(returned, with_text) == {
        "acc": 0.95,
        "name": "x",
        "curve": [1, 2],
        "phase": "train",
    }


TEXT_LOGGING = """
from dataclasses import dataclass

import reprokit


@dataclass(frozen=True)
class Config:
    lr: float = 0.1


config = Config()


def main(config: Config) -> None:
    for step in range(4):
        phase = "warmup" if step < 2 else "train"
        reprokit.log(step=step, loss=1.0 / (step + 1), phase=phase)
    reprokit.log(note="token=hunter2 finished " + "x" * 2000)


def smoke(config: Config) -> Config:
    return config
"""


def test_text_values_are_stored_and_shown_never_plotted(repo: Path) -> None:
    """A run logging a phase name per step completes; the text is in metrics.jsonl and the
    summary, `show` prints it, and `plot` refuses it with the reason (issue 12)."""
    from conftest import run_cli, write

    write(repo / "experiments" / "toy" / "__init__.py", "")
    write(repo / "experiments" / "toy" / "base_01_01.py", TEXT_LOGGING)
    proc = run_cli(repo, "launch", "experiments/toy/base_01_01.py", "--seed", "0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = store.read_metrics(repo / "outputs" / "run_1")
    assert [(r["step"], r["loss"], r["phase"]) for r in rows[:4]] == [
        (0, 1.0, "warmup"),
        (1, 0.5, "warmup"),
        (2, 1.0 / 3, "train"),
        (3, 0.25, "train"),
    ]
    note = rows[4]["note"]
    assert "hunter2" not in note and len(note) == metrics.TEXT_LIMIT and note.endswith("…")
    summary = json.loads((repo / "outputs" / "run_1" / "summary.json").read_text())
    assert (summary["loss"], summary["phase"]) == (0.25, "train")
    shown = run_cli(repo, "show", "run_1")
    assert shown.returncode == 0, shown.stderr
    assert [line.split() for line in shown.stdout.splitlines() if "phase" in line] == [
        ["phase", "train"]
    ]
    pytest.importorskip("matplotlib")
    plotted = run_cli(repo, "plot", "phase", "run_1", "-o", str(repo / "p.png"))
    assert plotted.returncode == 1
    assert plotted.stderr == (
        "reprokit: error: 'phase' was logged as text (not numbers) in metrics.jsonl: text is"
        " shown (reprokit show), never plotted\n"
        "  hint: plot a metric logged as numbers\n"
    )
    plotted = run_cli(repo, "plot", "loss", "run_1", "-o", str(repo / "p.png"))
    assert plotted.returncode == 0, plotted.stderr
    assert (repo / "p.png").stat().st_size > 0
