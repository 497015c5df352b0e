"""The project's own example family, experiments/digits/mlp: checks, smoke, determinism."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO_ROOT, git, run_cli
from reprokit.cli import main

FAMILY = REPO_ROOT / "experiments" / "digits" / "mlp"
MODULE = "experiments.digits.mlp"


def _python(code: str, *args: str) -> Any:
    """Run code (with ``sys.argv[1:]`` = ``args``) in a fresh interpreter at the project root;
    return the JSON it prints last."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_family_members_and_lineage() -> None:
    from reprokit.experiments.discovery import family_members, lineage

    names = [m.path.name for m in family_members(FAMILY)]
    assert names == ["baseline_01_01.py", "wide_02_01.py", "deep_03_02.py", "adam_04_03.py"]
    chain = [link.path.name for link in lineage(FAMILY / "adam_04_03.py")]
    assert chain == names


def test_importing_an_experiment_does_not_import_torch() -> None:
    # `reprokit check` imports every experiment; torch would cost ~1.3 s each time.
    loaded = _python(
        f"import json, sys; import {MODULE}.adam_04_03; "
        "print(json.dumps(sorted(m for m in ('torch', 'sklearn', 'numpy') if m in sys.modules)))"
    )
    assert loaded == []


@pytest.mark.slow
def test_reprokit_check_passes_on_the_family(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("reprokit.checks.command")
    pytest.importorskip("reprokit.config.codec")  # the round-trip checks need it
    monkeypatch.chdir(REPO_ROOT)
    code = main(["check", "--no-cache", "experiments"])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err


DIFFS = f"""
import json
from reprokit.config import codec as configio
from {MODULE} import adam_04_03, baseline_01_01, deep_03_02, wide_02_01

pairs = [(baseline_01_01, wide_02_01), (wide_02_01, deep_03_02), (deep_03_02, adam_04_03)]
print(json.dumps([[[c.path, c.old, c.new] for c in configio.diff(a.config, b.config)] for a, b in pairs]))
"""


def test_derived_configs_differ_from_their_parent_exactly_where_intended() -> None:
    pytest.importorskip("reprokit.config.codec")
    # In a fresh interpreter: importing experiments here would shadow the tmp projects'
    # `experiments` packages in other tests.
    wide, deep, adam = (sorted(map(tuple, d)) for d in _python(DIFFS))
    assert wide == [("model.hidden", 16, 64)]
    assert deep == [("model.depth", 1, 2)]
    assert adam == [("optim.lr", 0.003, 0.002), ("optim.name", "sgd", "adam")]


TRAIN_RUNS = f"""
import json, sys
from dataclasses import replace

import torch

from {MODULE} import adam_04_03, baseline_01_01

config, main, smoke = baseline_01_01.config, baseline_01_01.main, baseline_01_01.smoke
# Disturb the global RNG: the experiment must draw only from its own seeded generator.
torch.manual_seed(int(sys.argv[1]))
torch.rand(100)
out = {{"a": main(smoke(config)), "b": main(smoke(config))}}
if sys.argv[2] == "full":
    out["other"] = main(smoke(replace(config, seed=config.seed + 1)))
    out["base"] = main(config)
    out["deepest"] = adam_04_03.main(adam_04_03.config)
print(json.dumps(out))
"""


def _train_runs(global_seed: int, full: bool) -> Any:
    return _python(TRAIN_RUNS, str(global_seed), "full" if full else "smoke")


@pytest.fixture(scope="module")
def trained() -> Any:
    """One interpreter trains everything the tests below compare (torch imports are slow)."""
    return _train_runs(12345, full=True)


@pytest.mark.slow
def test_smoke_config_is_bit_for_bit_reproducible_given_the_seed(trained: Any) -> None:
    again = _train_runs(7, full=False)  # a fresh process, as `replay --verify` uses
    assert set(trained["a"]) == {"val_acc", "val_loss", "train_loss"}
    # JSON floats round-trip exactly, so == is a bit-for-bit comparison.
    assert trained["a"] == trained["b"] == again["a"] == again["b"]
    for metric in ("val_loss", "train_loss", "val_acc"):
        assert trained["other"][metric] != trained["a"][metric], metric


@pytest.mark.slow
def test_the_deepest_experiment_improves_val_acc_over_the_baseline(trained: Any) -> None:
    base, deepest = trained["base"], trained["deepest"]
    assert 0.7 < base["val_acc"] < 0.92
    assert deepest["val_acc"] > base["val_acc"] + 0.08
    assert deepest["val_loss"] < base["val_loss"]


@pytest.mark.slow
def test_every_experiment_smoke_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO_ROOT)
    code = main(["smoke", "experiments/digits/mlp"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert [line.split()[:2] for line in out.splitlines()[:-1]] == [
        ["PASS", f"experiments/digits/mlp/{name}"]
        for name in ("adam_04_03.py", "baseline_01_01.py", "deep_03_02.py", "wide_02_01.py")
    ]


@pytest.mark.slow
def test_launch_records_per_epoch_metrics(repo: Path) -> None:
    pytest.importorskip("reprokit.config.codec")
    pytest.importorskip("reprokit.launch.command")
    shutil.copytree(
        REPO_ROOT / "experiments",
        repo / "experiments",
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "digits")
    proc = run_cli(repo, "launch", "experiments/digits/mlp/wide_02_01.py", "--no-check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = repo / "outputs" / "run_1"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 11))
    assert all({"train_loss", "val_loss", "val_acc"} <= set(r) for r in rows)
    summary = json.loads((run / "summary.json").read_text())
    assert summary == {k: rows[-1][k] for k in ("train_loss", "val_loss", "val_acc")}
