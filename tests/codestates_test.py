"""Code states from the tree recorded at launch: the same grouping in blame, plot and runs,
with no git call (the snapshots need not even be in this clone)."""

from __future__ import annotations

import json
from pathlib import Path

from _helpers import write_run

from reprokit.analysis.codestates import code_states, known_trees
from reprokit.analysis.rows import load_runs
from reprokit.settings import load_settings

EXP = "experiments/toy/base_01_01.py"


def _dirty(outputs: Path, n: int, snapshot: str, tree: str, score: float) -> None:
    run = write_run(outputs, n, EXP, seed=n, sha="a" * 40, dirty=True, snapshot=snapshot,
                    summary={"score": score})  # fmt: skip
    record = json.loads((run / "run.json").read_text())
    record["git"]["tree"] = tree
    (run / "run.json").write_text(json.dumps(record))


def test_recorded_trees_group_dirty_runs_without_git(tmp_path: Path) -> None:
    # tmp_path is no git repository: any git call would fail and leave one state per run.
    (tmp_path / "pyproject.toml").write_text("")
    outputs = tmp_path / "outputs"
    _dirty(outputs, 1, "1" * 40, "f" * 40, 1.0)
    _dirty(outputs, 2, "2" * 40, "f" * 40, 1.2)  # same files, its own snapshot commit
    _dirty(outputs, 3, "3" * 40, "e" * 40, 3.0)  # other files
    records = [json.loads((outputs / f"run_{n}" / "run.json").read_text()) for n in (1, 2, 3)]
    for r, n in zip(records, (1, 2, 3), strict=True):
        r["summary"] = json.loads((outputs / f"run_{n}" / "summary.json").read_text())
    assert known_trees(records, tmp_path) == {"1" * 40: "f" * 40, "2" * 40: "f" * 40,
                                              "3" * 40: "e" * 40}  # fmt: skip
    states = code_states(records, "score", tmp_path)
    assert [(s.snapshot, s.runs) for s in states] == [("1" * 40, 2), ("3" * 40, 1)]
    codes = {row.id: row.code for row in load_runs(load_settings(tmp_path))}
    assert codes["run_1"] == codes["run_2"] == f"{'a' * 40}+{'1' * 40}"
    assert codes["run_3"] == f"{'a' * 40}+{'3' * 40}"
