"""Strings from a record reach the terminal with control characters escaped (ESC shown as
``\\x1b``, CR as ``\\r``), through one helper (tables.safe_text); JSON and CSV stay exact."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import git, write
from reprokit.tables import safe_text

ESC_CR = "\x1b[2J\x1b[31m\r"
SHOWN = "\\x1b[2J\\x1b[31m\\r"
BASE = "experiments/toy/base_01_01.py"
CHILD = "experiments/toy/tagged_02_01.py"


@pytest.fixture
def project(repo: Path) -> Path:
    """Two runs: run_1 of the base (a note and an untracked file name holding ESC and CR),
    run_2 of a child whose config string holds them."""
    write(
        repo / BASE,
        """
        from dataclasses import dataclass


        @dataclass(frozen=True)
        class Config:
            tag: str = "plain"


        config = Config()


        def main(config: Config) -> dict[str, float]:
            return {"score": 1.0}


        def smoke(config: Config) -> Config:
            return config
        """,
    )
    write(
        repo / CHILD,
        f"""
        from dataclasses import replace

        from experiments.toy.base_01_01 import config as parent, main, smoke

        config = replace(parent, tag={ESC_CR!r})
        """,
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "exps")
    (repo / f"evil{ESC_CR}.txt").write_text("x")
    proc = run_cli(repo, "launch", BASE, "--no-check", "--note", f"hi{ESC_CR}\tthere")
    assert proc.returncode == 0, proc.stderr
    proc = run_cli(repo, "launch", CHILD, "--no-check")
    assert proc.returncode == 0, proc.stderr
    return repo


def run_cli(cwd: Path, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess, its output decoded without newline translation
    (text mode would turn a raw CR into a newline and hide it)."""
    proc = subprocess.run(
        [sys.executable, "-m", "reprokit", *argv],
        cwd=cwd,
        env=dict(os.environ),
        capture_output=True,
        timeout=timeout,
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode()
    )


def _no_raw_controls(text: str) -> None:
    assert "\x1b" not in text and "\r" not in text, text


def test_show_runs_diff_blame_lineage_escape(project: Path) -> None:
    show = run_cli(project, "show", "run_1", timeout=60)
    assert show.returncode == 0, show.stderr
    _no_raw_controls(show.stdout)
    assert f"note        hi{SHOWN}\\tthere" in show.stdout
    assert f"untracked  evil{SHOWN}.txt" in show.stdout
    runs = run_cli(project, "runs", "--columns", "id,note,tag", timeout=60)
    assert runs.returncode == 0, runs.stderr
    _no_raw_controls(runs.stdout)
    assert f"hi{SHOWN}\\tthere" in runs.stdout and SHOWN in runs.stdout.splitlines()[1]
    for argv in (("diff", "run_1", "run_2"), ("blame", "score", CHILD), ("lineage",)):
        proc = run_cli(project, *argv, timeout=60)
        assert proc.returncode == 0, (argv, proc.stderr)
        _no_raw_controls(proc.stdout + proc.stderr)
    assert f"tag: plain → {SHOWN}" in run_cli(project, "blame", "score", CHILD).stdout
    assert f"tag: plain → {SHOWN}" in run_cli(project, "diff", "run_1", "run_2").stdout


def test_json_and_csv_stay_exact(project: Path) -> None:
    as_json = run_cli(project, "runs", "--json", "--columns", "id,note", timeout=60)
    assert json.loads(as_json.stdout)[-1]["note"] == f"hi{ESC_CR}\tthere"
    shown = json.loads(run_cli(project, "show", "run_1", "--json").stdout)
    assert shown["note"] == f"hi{ESC_CR}\tthere"
    assert shown["git"]["untracked"] == [f"evil{ESC_CR}.txt"]
    as_csv = run_cli(project, "runs", "--format", "csv", "--columns", "id,note", timeout=60)
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout, newline="")))
    assert rows[-1]["note"] == f"hi{ESC_CR}\tthere"


def test_check_findings_and_errors_escape_file_names(project: Path) -> None:
    write(project / "experiments" / "toy" / f"bad{ESC_CR}_03_01.py", "")
    check = run_cli(project, "check", timeout=60)
    assert check.returncode == 1
    _no_raw_controls(check.stdout + check.stderr)
    assert f"bad{SHOWN}_03_01.py" in check.stdout
    folder = project / f"not{ESC_CR}a run"
    folder.mkdir()
    show = run_cli(project, "show", str(folder), timeout=60)
    assert show.returncode == 1
    _no_raw_controls(show.stderr)
    assert "not\\x1b[2J" in show.stderr


def test_safe_text() -> None:
    assert safe_text("a\x1bb\rc\td\ne") == "a\\x1bb\\rc\\td\\ne"
    assert safe_text("a\x1bb\tc\nd", lines=True) == "a\\x1bb\tc\nd"
    assert safe_text("été 漢字 😀 ok") == "été 漢字 😀 ok"  # ordinary unicode kept
    assert safe_text("x\u202eexe.txt") == "x\\u202eexe.txt"  # reorders the line: escaped
    assert safe_text("\x7f\x9b") == "\\x7f\\x9b"  # DEL, and C1's CSI
    # A non-UTF-8 byte of a file name (surrogateescape) shows as the byte it was.
    assert safe_text(b"caf\xff".decode("utf-8", "surrogateescape")) == "caf\\xff"


def test_a_non_utf8_file_name_prints_everywhere(project: Path) -> None:
    """A file name that is not UTF-8 (kept by surrogateescape) is shown as its byte in
    text, and escaped in JSON, under a strict UTF-8 stdout, never a UnicodeEncodeError."""
    name = os.fsdecode(b"caf\xff.txt")
    (project / name).write_text("x")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    launch = subprocess.run(
        [sys.executable, "-m", "reprokit", "launch", BASE, "--no-check"],
        cwd=project, env=env, capture_output=True, timeout=60,
    )  # fmt: skip
    assert launch.returncode == 0, launch.stderr
    for argv, expected in (
        (["show", "run_3"], b"caf\\xff.txt"),
        (["show", "run_3", "--json"], b'"caf\\udcff.txt"'),
        (["diff", "run_1", "run_3"], b"caf\\xff.txt"),
        (["diff", "run_1", "run_3", "--json"], b'"caf\\udcff.txt"'),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "reprokit", *argv],
            cwd=project, env=env, capture_output=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 0, (argv, proc.stderr)
        assert expected in proc.stdout, (argv, proc.stdout)
