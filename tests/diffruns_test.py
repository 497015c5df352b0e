"""``reprokit diff``: config, metrics, git, environment and code differences of two runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _helpers import write_run

from conftest import git, write
from reprokit.cli import main

EXP = "experiments/toy/base_01_01.py"


def _two_runs(repo: Path) -> tuple[str, str]:
    write(repo / EXP, "config = None\n")
    write(repo / "experiments/toy/_helper.py", "SCALE = 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "toy")
    first = git(repo, "rev-parse", "HEAD").strip()
    write(repo / "experiments/toy/_helper.py", "SCALE = 2\n")
    git(repo, "commit", "-q", "-am", "double the scale")
    second = git(repo, "rev-parse", "HEAD").strip()
    outputs = repo / "outputs"
    write_run(
        outputs, 1, EXP, seed=0, sha=first, config={"optim": {"lr": 0.1}, "act": "relu"},
        summary={"val_acc": 0.5, "loss": 1.0}, packages={"torch": "2.3.0", "numpy": "1.26.4"},
    )  # fmt: skip
    write_run(
        outputs, 2, EXP, seed=1, sha=second, config={"optim": {"lr": 0.01}, "act": "relu"},
        summary={"val_acc": 0.75}, packages={"torch": "2.4.0", "numpy": "1.26.4", "tqdm": "4"},
    )  # fmt: skip
    return first, second


def test_diff_text(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = _two_runs(repo)
    monkeypatch.chdir(repo)
    assert main(["diff", "run_1", "outputs/run_2"]) == 0
    assert capsys.readouterr().out == (
        "diff run_1 → run_2\n"
        "  experiment: experiments/toy/base_01_01.py\n"
        "\n"
        "config:\n"
        "  optim.lr: 0.1 → 0.01\n"
        "  seed: 0 → 1\n"
        "\n"
        "metrics:\n"
        "  metric   run_1  run_2  Δ\n"
        "  val_acc    0.5   0.75  +0.25\n"
        "  loss         1      -\n"
        "\n"
        "git:\n"
        f"  sha: {first[:12]} → {second[:12]}\n"
        f"    {second[:7]} double the scale\n"
        "  dirty files: -\n"
        "\n"
        "environment and hardware:\n"
        "  package torch: 2.3.0 → 2.4.0\n"
        "  package tqdm: (absent) → 4\n"
    )


def test_diff_json_and_code(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _two_runs(repo)
    monkeypatch.chdir(repo)
    assert main(["diff", "run_1", "run_2", "--json", "--code"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["config"] == [
        {"path": "optim.lr", "old": 0.1, "new": 0.01},
        {"path": "seed", "old": 0, "new": 1},
    ]
    assert data["metrics"][0] == {"name": "val_acc", "a": 0.5, "b": 0.75, "delta": 0.25}
    assert "experiments/toy/_helper.py | 2 +-" in data["code"]["stat"]
    assert "-SCALE = 1\n+SCALE = 2" in data["code"]["patch"]


def test_diff_unknown_run(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo)
    assert main(["diff", "run_1", "run_9"]) == 1
    assert "no run 'run_1'" in capsys.readouterr().err
