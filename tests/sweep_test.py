"""``reprokit sweep METRIC PARENT``: a parent's children side by side, on files written by
``reprokit new --set lr=...`` and deterministic records (exact text), and on real launches."""

from __future__ import annotations

from pathlib import Path

import pytest
from _helpers import launch_seeds, write_run

from conftest import MINIMAL_EXPERIMENT, run_cli, write
from reprokit.cli import main

FAMILY = "experiments/toy"
BASE = f"{FAMILY}/base_01_01.py"


@pytest.fixture
def swept(repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    """A base, a sweep of three lr values written by `new`, and a grandchild."""
    monkeypatch.chdir(repo)
    write(repo / FAMILY / "__init__.py", "")
    write(repo / BASE, MINIMAL_EXPERIMENT)
    assert main(["new", BASE, "lr", "--set", "lr=0.3,0.2,0.05"]) == 0
    assert main(["new", f"{FAMILY}/lr_lr0p3_02_01.py", "deeper", "--set", "lr=0.4"]) == 0
    capsys.readouterr()
    outputs = repo / "outputs"
    scores = {
        "base_01_01": (0.1, [1.00, 1.02, 0.98]),
        "lr_lr0p3_02_01": (0.3, [2.00, 2.02, 1.98]),
        "lr_lr0p2_03_01": (0.2, [1.01, 0.99]),
        # lr_lr0p05_04_01: never launched; deeper_05_02: a grandchild, not in the view
        "deeper_05_02": (0.4, [9.0, 9.0]),
    }
    n = 0
    for stem, (lr, values) in scores.items():
        for seed, value in enumerate(values):
            n += 1
            write_run(
                outputs,
                n,
                f"{FAMILY}/{stem}.py",
                seed=seed,
                config={"lr": lr},
                summary={"score": value, "phase": "done"},
            )
    return repo


def test_sweep_shows_each_child_against_the_parent(
    swept: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep", "score", BASE]) == 0
    assert capsys.readouterr().out == (
        "score over the children of experiments/toy/base_01_01.py (higher is better;"
        " mean ± σ over seeds)\n"
        "experiment          lr    runs      score   Δ     Δ/σ  verdict\n"
        "base_01_01.py       0.1      3   1 ± 0.02              (parent)\n"
        "lr_lr0p3_02_01.py   0.3      3   2 ± 0.02  +1  +50.0σ  better\n"
        "lr_lr0p2_03_01.py   0.2      2  1 ± 0.014  +0   +0.0σ  within noise\n"
        "lr_lr0p05_04_01.py  0.05     0          -   -       -  no data\n"
    )


def test_sweep_refusals(swept: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "scor", BASE]) == 1
    err = capsys.readouterr().err
    assert "scor" in err and "did you mean score?" in err
    assert main(["sweep", "score", f"{FAMILY}/lr_lr0p05_04_01.py"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: experiments/toy/lr_lr0p05_04_01.py: no experiment derives from it\n"
        "  hint: write a sweep with: reprokit new experiments/toy/lr_lr0p05_04_01.py NAME"
        " --set PATH=V1,V2,V3\n"
    )
    assert main(["sweep", "score", f"{FAMILY}/nothere_09_01.py"]) == 1
    assert "not an experiment file" in capsys.readouterr().err


@pytest.mark.slow
def test_sweep_of_launched_runs(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """new writes the sweep, launch runs it, sweep reads it: no record written by hand."""
    monkeypatch.chdir(repo)
    write(repo / FAMILY / "__init__.py", "")
    write(repo / BASE, MINIMAL_EXPERIMENT)
    proc = run_cli(repo, "new", BASE, "lr", "--set", "lr=0.5,0.05")
    assert proc.returncode == 0, proc.stderr
    for exp in (BASE, f"{FAMILY}/lr_lr0p5_02_01.py", f"{FAMILY}/lr_lr0p05_03_01.py"):
        launch_seeds(repo, exp, [0, 1])
    proc = run_cli(repo, "sweep", "score", BASE)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()[2:]]
    # score = lr for every seed: σ is 0, so any move is beyond noise ("σ = 0").
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("base_01_01.py", "0.1", "2", "0.1"),
        ("lr_lr0p5_02_01.py", "0.5", "2", "0.5"),
        ("lr_lr0p05_03_01.py", "0.05", "2", "0.05"),
    ]
    assert rows[1][-1] == "better" and rows[2][-1] == "worse"
