"""Seeding as users write experiments: torch and NumPy imported inside ``main`` are seeded
the moment their import finishes, and the run's torch facts are still recorded."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import git, run_cli, write
from reprokit.capture import determinism
from reprokit.record import store

LAZY_TORCH = """
    import dataclasses

    import reprokit


    @dataclasses.dataclass(frozen=True)
    class Config:
        seed: int = 0


    config = Config()


    def main(config: Config) -> dict[str, float]:
        import numpy as np
        import torch  # inside main, as the README recommends: launch must still seed it

        reprokit.log(step=0, draw=float(torch.rand(1).item()))
        return {
            "torch_draw": float(torch.rand(1).item()),
            "numpy_draw": float(np.random.rand()),
            "torch_initial_seed": float(torch.initial_seed()),
            "deterministic": float(torch.are_deterministic_algorithms_enabled()),
        }
"""
EXP = "experiments/toy/lazy_01_01.py"


@pytest.fixture
def lazy_repo(repo: Path) -> Path:
    write(repo / ".gitignore", "outputs/\n__pycache__/\n")
    write(repo / "experiments" / "toy" / "__init__.py", "")
    write(repo / EXP, LAZY_TORCH)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "lazy torch")
    return repo


def _summary(repo: Path, run_id: str) -> dict[str, float]:
    return json.loads((repo / "outputs" / run_id / "summary.json").read_text())  # type: ignore[no-any-return]


def test_torch_imported_inside_main_is_seeded_recorded_and_replayed(lazy_repo: Path) -> None:
    repo = lazy_repo
    for _ in range(2):
        proc = run_cli(repo, "launch", EXP, "--seed", "7", "--no-check")
        assert proc.returncode == 0, proc.stderr
    first, second = _summary(repo, "run_1"), _summary(repo, "run_2")
    assert first == second
    assert first["torch_initial_seed"] == 7
    assert first["deterministic"] == 0
    record = store.read_record(repo / "outputs" / "run_1")
    assert record["torch"] is not None and record["torch"]["version"]
    proc = run_cli(repo, "replay", "run_1", "--verify")
    assert proc.returncode == 0, proc.stderr
    assert "verify: match" in proc.stderr
    assert _summary(repo, "run_3") == first


def test_deterministic_flags_reach_a_torch_imported_inside_main(lazy_repo: Path) -> None:
    proc = run_cli(lazy_repo, "launch", EXP, "--deterministic", "--no-check")
    assert proc.returncode == 0, proc.stderr
    assert _summary(lazy_repo, "run_1")["deterministic"] == 1
    assert store.read_record(lazy_repo / "outputs" / "run_1")["torch"]["deterministic_algorithms"]


def test_the_import_watch_ends_with_the_run() -> None:
    # Run in-process by tests and notebooks: nothing may stay on sys.meta_path.
    before = list(sys.meta_path)
    determinism.apply(3)
    watching = not {"numpy", "torch"} <= sys.modules.keys()
    assert len(sys.meta_path) == len(before) + watching
    determinism.release()
    assert sys.meta_path == before
