from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from conftest import run_cli, write
from reprokit.cli import main

BASE = """
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Config:
    seed: int = 0
    steps: int = 1000


config = Config()


def main(config):
    print("ran", config.steps, "steps")
    return {"steps": config.steps}


def smoke(config):
    return replace(config, steps=3)
"""

BROKEN = """
from experiments.toy.exp.base_01_01 import config, smoke


def main(config):
    print("about to fail")
    raise RuntimeError(f"boom at {config.steps} steps")
"""

HANGING = """
import time

from experiments.toy.exp.base_01_01 import config, smoke


def main(config):
    time.sleep(60)
"""

# Inherits smoke from its parent through the import: passes.
INHERITS = """
from dataclasses import replace

from experiments.toy.exp.base_01_01 import config as parent_config, main, smoke

config = replace(parent_config, seed=1)
"""

NO_SMOKE = """
from experiments.toy.exp.base_01_01 import config, main
"""


@pytest.fixture
def toy(repo: Path) -> Path:
    fam = repo / "experiments" / "toy" / "exp"
    write(repo / "experiments" / "toy" / "__init__.py", "")
    write(fam / "__init__.py", "")
    write(fam / "base_01_01.py", BASE)
    write(fam / "broken_02_01.py", BROKEN)
    write(fam / "hang_03_01.py", HANGING)
    write(fam / "inherits_04_01.py", INHERITS)
    write(fam / "nosmoke_05_01.py", NO_SMOKE)
    write(fam / "_helpers.py", "raise RuntimeError('not an experiment, never run')\n")
    return repo


def test_smoke_reports_pass_fail_timeout_and_missing_smoke(
    toy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(toy)
    start = time.monotonic()
    code = main(["smoke", "--timeout", "2"])
    elapsed = time.monotonic() - start
    out = capsys.readouterr().out
    assert code == 1
    # Durations vary; everything else is pinned.
    text = re.sub(r"\(\d+\.\d s\)", "(T s)", out)
    text = re.sub(r"in \d+\.\d s$", "in T s", text.rstrip())
    assert text == (
        "PASS    experiments/toy/exp/base_01_01.py  (T s)\n"
        "FAIL    experiments/toy/exp/broken_02_01.py  (T s)\n"
        "        | about to fail\n"
        "        | Traceback (most recent call last):\n"
        f'        |   File "{toy}/experiments/toy/exp/broken_02_01.py", line 6, in main\n'
        '        |     raise RuntimeError(f"boom at {config.steps} steps")\n'
        "        | RuntimeError: boom at 3 steps\n"
        "TIMEOUT experiments/toy/exp/hang_03_01.py  (T s)\n"
        "        timed out after 2 s (raise it with --timeout or [tool.reprokit] smoke_timeout)\n"
        "PASS    experiments/toy/exp/inherits_04_01.py  (T s)\n"
        "FAIL    experiments/toy/exp/nosmoke_05_01.py  (T s)\n"
        "        | reprokit smoke: experiments.toy.exp.nosmoke_05_01 has no smoke(config); define "
        "one, or import it from the parent: from <parent module> import config as "
        "parent_config, main, smoke\n"
        "smoke: 2 passed, 3 failed in T s"
    )
    # The hanging run was killed at its limit, not waited for.
    assert elapsed < 20
    # Smoke runs are not recorded.
    assert not (toy / "outputs").exists()


def test_smoke_selected_files_pass_with_exit_zero(toy: Path) -> None:
    # Through a real subprocess: the exit code as a shell or a git hook sees it.
    proc = run_cli(
        toy, "smoke", "experiments/toy/exp/base_01_01.py", "experiments/toy/exp/inherits_04_01.py"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:2]] == [
        ["PASS", "experiments/toy/exp/base_01_01.py"],
        ["PASS", "experiments/toy/exp/inherits_04_01.py"],
    ]
    assert lines[2].startswith("smoke: 2 passed, 0 failed in ")


def test_smoke_default_timeout_comes_from_settings(
    toy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pyproject = toy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "smoke_timeout = 1\n")
    monkeypatch.chdir(toy)
    assert main(["smoke", "experiments/toy/exp/hang_03_01.py"]) == 1
    assert "timed out after 1 s" in capsys.readouterr().out


def test_smoke_without_experiments_is_an_error(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo)
    assert main(["smoke"]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"reprokit: error: no experiments found in {repo}/experiments\n"
        "  hint: experiment files are named <name>_<id>_<parent>.py\n"
    )


PID_WRITER = """
import os
import time
from pathlib import Path

from experiments.toy.exp.base_01_01 import config, smoke


def main(config):
    Path("child.pid").write_text(str(os.getpid()))
    time.sleep(60)
"""


def test_ctrl_c_kills_running_children(toy: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    write(toy / "experiments" / "toy" / "exp" / "pid_06_01.py", PID_WRITER)
    proc = subprocess.Popen(
        [sys.executable, "-m", "reprokit", "smoke", "experiments/toy/exp/pid_06_01.py"],
        cwd=toy,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pid_file = toy / "child.pid"
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the smoke child never started"
        time.sleep(0.05)
    child = int(pid_file.read_text())
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err == "reprokit: interrupted\n"
    deadline = time.monotonic() + 10
    while True:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        # A killed child lingers as a zombie until its parent (gone) is reaped by init.
        assert time.monotonic() < deadline, f"smoke child {child} still alive after Ctrl-C"
        time.sleep(0.05)
