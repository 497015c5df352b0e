"""reprokit under the real pre-commit framework: a `repo: local`, `language: system` hook."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import MINIMAL_EXPERIMENT, REPO_ROOT, git, write

BIN = Path(sys.executable).parent
PRE_COMMIT = BIN / "pre-commit"

BASE = MINIMAL_EXPERIMENT
CHILD = """
from dataclasses import replace

from experiments.toy.base_01_01 import config as parent_config, main, smoke

config = replace(parent_config, lr=0.5)
"""
LAMBDA = """
from dataclasses import dataclass
from typing import Callable

from experiments.toy.base_01_01 import main


@dataclass(frozen=True)
class Config:
    schedule: Callable[[int], float] = lambda step: 0.1


config = Config()
"""

LOOSE = """
from dataclasses import dataclass

from experiments.toy.base_01_01 import config as parent_config, main, smoke


@dataclass
class Loose:
    lr: float = 0.1


config = Loose(lr=parent_config.lr)
"""

pytestmark = pytest.mark.skipif(not PRE_COMMIT.exists(), reason="pre-commit is not installed")


def test_manifest_is_valid() -> None:
    out = subprocess.run(
        [str(PRE_COMMIT), "validate-manifest", str(REPO_ROOT / ".pre-commit-hooks.yaml")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture
def project(repo: Path) -> Path:
    write(
        repo / ".pre-commit-config.yaml",
        f"""
        repos:
          - repo: local
            hooks:
              - id: reprokit-check
                name: reprokit check
                entry: {BIN / "reprokit"} check
                language: system
                files: ^experiments/.*\\.py$
                require_serial: true
        """,
    )
    write(repo / "experiments" / "toy" / "base_01_01.py", BASE)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "family")
    subprocess.run([str(PRE_COMMIT), "install"], cwd=repo, check=True, capture_output=True)
    return repo


def try_commit(repo: Path, rel: str, text: str) -> subprocess.CompletedProcess[str]:
    write(repo / rel, text)
    git(repo, "add", rel)
    out = subprocess.run(
        ["git", "commit", "-m", f"add {rel}"], cwd=repo, capture_output=True, text=True
    )
    # git sends the hook's output to stderr; keep it in one place for the asserts.
    out.stdout += out.stderr
    if out.returncode != 0:
        git(repo, "rm", "-q", "--cached", rel)
        (repo / rel).unlink()
    return out


@pytest.mark.slow
def test_precommit_rejects_bad_experiments_and_accepts_good_ones(project: Path) -> None:
    bad = try_commit(project, "experiments/toy/WideNet.py", CHILD)
    assert bad.returncode == 1
    assert (
        "experiments/toy/WideNet.py:1:1: RK101 file name WideNet.py does not follow"
        " <name>_<id>_<parent>.py\n"
        "  hint: rename it, e.g. to wide_net_02_01.py (the next free id, derived from the base);"
        " helper modules start with _\n"
    ) in bad.stdout

    bad = try_commit(project, "experiments/toy/wide_03_02.py", CHILD)
    assert bad.returncode == 1
    assert (
        "experiments/toy/wide_03_02.py:1:1: RK301 parent 02 does not exist in this family (toy/)"
        in bad.stdout
    )

    bad = try_commit(project, "experiments/toy/loose_02_01.py", LOOSE)
    assert bad.returncode == 1
    assert (
        "loose_02_01.py:7:1: RK503 config is a Loose, a dataclass without frozen=True" in bad.stdout
    )

    bad = try_commit(project, "experiments/toy/sched_02_01.py", LAMBDA)
    assert bad.returncode == 1
    assert (
        "experiments/toy/sched_02_01.py:9:5: RK601 config does not round-trip: schedule: a lambda"
        " cannot be referenced by name"
    ) in bad.stdout

    good = try_commit(project, "experiments/toy/wide_02_01.py", CHILD)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "reprokit check" in good.stdout and "Passed" in good.stdout
    assert git(project, "log", "-1", "--format=%s").strip() == "add experiments/toy/wide_02_01.py"
