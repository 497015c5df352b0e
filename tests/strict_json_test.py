"""``show --json`` and ``diff --json`` print strict JSON, as ``runs --format json`` does:
a diverged metric (NaN, inf) reads ``"nan"``/``"inf"``, never the bare ``NaN`` that
``json.dumps`` writes by default and that jq, JavaScript and other strict parsers refuse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import git, minimal_experiment, run_cli, write

EXP = "experiments/toy/base_01_01.py"
DIVERGED = minimal_experiment(
    '    loss = float(os.environ["RK_LOSS"])\n'
    "    reprokit.log(step=0, loss=loss)\n"
    '    return {"loss": loss, "acc": float("nan"), "low": float("-inf"), "ok": 0.5}\n',
    imports="import os\n\nimport reprokit\n",
)


def _strict(text: str) -> Any:
    def refuse(constant: str) -> object:
        raise AssertionError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_show_and_diff_json_are_strict_with_non_finite_metrics(repo: Path) -> None:
    write(repo / EXP, DIVERGED)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "exp")
    for loss in ("inf", "nan"):
        proc = run_cli(repo, "launch", EXP, "--no-check", env={"RK_LOSS": loss})
        assert proc.returncode == 0, proc.stderr

    proc = run_cli(repo, "show", "run_1", "--json")
    assert proc.returncode == 0, proc.stderr
    record = _strict(proc.stdout)
    assert record["summary"] == {"loss": "inf", "acc": "nan", "low": "-inf", "ok": 0.5}
    assert record["id"] == "run_1" and record["status"] == "completed"

    proc = run_cli(repo, "diff", "run_1", "run_2", "--json")
    assert proc.returncode == 0, proc.stderr
    metrics = {m["name"]: m for m in _strict(proc.stdout)["metrics"]}
    assert metrics["loss"] == {"name": "loss", "a": "inf", "b": "nan", "delta": "nan"}
    assert metrics["low"] == {"name": "low", "a": "-inf", "b": "-inf", "delta": "nan"}
    assert metrics["ok"] == {"name": "ok", "a": 0.5, "b": 0.5, "delta": 0.0}
