"""``reprokit lineage``: the family tree with run counts and metric means."""

from __future__ import annotations

from pathlib import Path

import pytest
from _helpers import write_run

from conftest import write
from reprokit.cli import main

FAMILY = "experiments/toy"


def _family(repo: Path) -> None:
    write(repo / FAMILY / "__init__.py", "")
    for name in (
        "base_01_01.py",
        "wide_02_01.py",
        "deep_03_01.py",
        "deeper_04_03.py",
        "lost_06_05.py",
    ):
        write(repo / FAMILY / name, "config = None\n")
    write(repo / FAMILY / "_helper.py", "")
    write(repo / "experiments" / "other" / "__init__.py", "")
    write(repo / "experiments" / "other" / "solo_01_01.py", "config = None\n")
    outputs = repo / "outputs"
    write_run(outputs, 1, f"{FAMILY}/base_01_01.py", seed=0, summary={"val_acc": 0.5})
    write_run(outputs, 2, f"{FAMILY}/base_01_01.py", seed=1, summary={"val_acc": 0.7})
    write_run(outputs, 3, f"{FAMILY}/wide_02_01.py", seed=0, summary={"val_acc": 0.8})
    write_run(outputs, 4, f"{FAMILY}/wide_02_01.py", smoke=True, summary={"val_acc": 0.1})
    write_run(outputs, 5, f"{FAMILY}/deep_03_01.py", status="failed")
    # A replay repeats run_3's seed: no new evidence, not counted.
    write_run(outputs, 6, f"{FAMILY}/wide_02_01.py", replay_of="run_3", summary={"val_acc": 0.9})


def test_lineage_tree_with_metric(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _family(repo)
    monkeypatch.chdir(repo)
    assert main(["lineage", FAMILY, "--metric", "val_acc"]) == 0
    assert capsys.readouterr().out == (
        "experiments/toy\n"
        "├─ base_01_01.py  2 runs  val_acc 0.6 ± 0.14\n"
        "│  ├─ wide_02_01.py  1 run  val_acc 0.8\n"
        "│  └─ deep_03_01.py  0 runs\n"
        "│     └─ deeper_04_03.py  0 runs\n"
        "└─ lost_06_05.py  0 runs  (parent 05 missing)\n"
    )


def test_lineage_of_all_families(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _family(repo)
    monkeypatch.chdir(repo)
    assert main(["lineage"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "experiments/other\n└─ solo_01_01.py  0 runs\n\nexperiments/toy\n├─ base_01_01.py  2 runs\n"
    )


def test_lineage_of_a_folder_without_experiments(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo)
    assert main(["lineage", "experiments"]) == 1
    assert "experiments: no experiment files here" in capsys.readouterr().err
