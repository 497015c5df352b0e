"""The dynamic checks run in a child under `check_timeout`: an experiment that hangs at
import (or in smoke) becomes RK506 naming the file and line, never a hung check or hook.

Every command runs in a subprocess with a timeout, so a regression fails instead of
hanging CI.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import MINIMAL_EXPERIMENT, git, run_cli, write
from reprokit.errors import ReprokitError
from reprokit.settings import load_settings

SLOW = "experiments/toy/slow_02_01.py"
KID = "experiments/toy/kid_03_02.py"
OTHER = "experiments/other/base_01_01.py"
SLEEPS_AT_IMPORT = """
import time
from dataclasses import replace

from experiments.toy.base_01_01 import config as parent, main, smoke

time.sleep(600)
config = replace(parent, lr=0.2)
"""
IMPORTS_SLOW = """
from dataclasses import replace

from experiments.toy.slow_02_01 import config as parent, main, smoke

config = replace(parent, lr=0.3)
"""
HINT = (
    "  hint: move slow work (loading data, downloads, waiting) from module level into"
    " main(config); or raise check_timeout in [tool.reprokit]"
)


@pytest.fixture
def project(repo: Path) -> Path:
    """A family whose second file sleeps at import, its child, and a healthy family."""
    (repo / "pyproject.toml").write_text(
        (repo / "pyproject.toml").read_text() + "check_timeout = 1\n"
    )
    write(repo / "experiments/toy/base_01_01.py", MINIMAL_EXPERIMENT)
    write(repo / OTHER, MINIMAL_EXPERIMENT)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "healthy")
    write(repo / SLOW, SLEEPS_AT_IMPORT)
    write(repo / KID, IMPORTS_SLOW)
    return repo


def test_a_sleeping_import_is_a_finding_with_file_and_line(project: Path) -> None:
    for _ in range(2):  # a timeout is never cached: the second check tries again
        start = time.monotonic()
        proc = run_cli(project, "check", timeout=60)
        took = time.monotonic() - start
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert proc.stdout.splitlines() == [
            f"{KID}:3:1: RK506 not checked: slow_02_01.py did not finish within the check"
            " timeout (see slow_02_01.py:6)",
            "  hint: fix slow_02_01.py; this finding goes away with it",
            f"{SLOW}:6:1: RK506 importing it did not finish within 1 s, the check timeout"
            " (stuck at line 6)",
            HINT,
            "checked 4 experiments: 2 problems in 2 files",
        ]
        # One timeout, not one per file that imports the stuck one.
        assert took < 20, took


def test_a_sleeping_smoke_names_the_check(project: Path) -> None:
    (project / SLOW).unlink()
    (project / KID).unlink()
    write(
        project / OTHER,
        MINIMAL_EXPERIMENT.replace(
            "def smoke(config: Config) -> Config:\n    return config",
            "def smoke(config: Config) -> Config:\n    import time\n\n    time.sleep(600)\n"
            "    return config",
        ),
    )
    proc = run_cli(project, "check", timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.startswith(
        f"{OTHER}:19:1: RK506 checking its config (round trip, smoke) did not finish within"
        " 1 s, the check timeout (stuck at line 19)\n"
    ), proc.stdout


def test_stdin_at_import_is_end_of_file_not_a_hang(project: Path) -> None:
    (project / SLOW).unlink()
    (project / KID).unlink()
    write(project / OTHER, "answer = input()\n" + MINIMAL_EXPERIMENT)
    proc = run_cli(project, "check", OTHER, timeout=60)
    assert proc.returncode == 1
    assert "RK500 cannot import experiments.other.base_01_01: EOFError" in proc.stdout


def test_the_commit_hook_fails_instead_of_hanging(project: Path) -> None:
    assert run_cli(project, "install-hooks", timeout=60).returncode == 0
    git(project, "add", "-A")
    commit = subprocess.run(
        ["git", "commit", "-q", "-m", "slow"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert commit.returncode == 1, commit.stdout + commit.stderr
    # git sends a hook's stdout to stderr.
    assert f"{SLOW}:6:1: RK506 importing it did not finish within 1 s" in commit.stderr
    assert "checked 3 experiments: 2 problems in 2 files" in commit.stderr
    assert "slow" not in git(project, "log", "--format=%s")


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", '"soon"', "true"])
def test_check_timeout_is_validated(tmp_path: Path, value: str) -> None:
    write(tmp_path / "pyproject.toml", f"[tool.reprokit]\ncheck_timeout = {value}\n")
    with pytest.raises(ReprokitError, match="check_timeout"):
        load_settings(tmp_path)


def test_check_timeout_default_and_value(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.reprokit]\n")
    assert load_settings(tmp_path).check_timeout == 60.0
    write(tmp_path / "pyproject.toml", "[tool.reprokit]\ncheck_timeout = 2.5\n")
    assert load_settings(tmp_path).check_timeout == 2.5


@pytest.mark.parametrize(
    ("first_line", "how"),
    [("import os; os._exit(3)", "exit 3"), ("import ctypes; ctypes.string_at(0)", "signal 11")],
)
def test_an_import_that_ends_the_interpreter_is_a_finding(
    project: Path, first_line: str, how: str
) -> None:
    (project / SLOW).unlink()
    (project / KID).unlink()
    write(project / "experiments/toy/base_01_01.py", first_line + "\n" + MINIMAL_EXPERIMENT)
    proc = run_cli(project, "check", timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(
        "experiments/toy/base_01_01.py:1:1: RK500 importing or checking it ended the"
        f" interpreter ({how})"
    ), proc.stdout
    # The other family is still checked, in a fresh child.
    assert lines[-1] == "checked 2 experiments: 1 problem in 1 file"


def test_a_fifo_among_the_experiments_or_as_the_cache_never_blocks(project: Path) -> None:
    (project / SLOW).unlink()
    (project / KID).unlink()
    os.mkfifo(project / "experiments/toy/pipe_02_01.py")
    cache = project / ".git" / "reprokit" / "check-cache.json"
    cache.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(cache)
    proc = run_cli(project, "check", timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "experiments/toy/pipe_02_01.py:1:1: RK500 cannot import" in proc.stdout
    assert proc.stdout.endswith("checked 3 experiments: 2 problems in 1 file\n"), proc.stdout
