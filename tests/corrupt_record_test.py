"""A hand-edited or corrupt run.json: every reader says which file and key, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _helpers import make_run

from conftest import run_cli, write

PROBLEM = 'outputs/run_1/run.json: "git" should be an object or null, not a string'
HINT = "hint: restore run.json from a backup, or delete the run folder outputs/run_1"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Two runs, the first with `"git": "oops"` in its run.json."""
    root = tmp_path / "project"
    write(root / "pyproject.toml", "[tool.reprokit]\n")
    make_run(root / "outputs", 1)
    make_run(root / "outputs", 2)
    path = root / "outputs/run_1/run.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "git": "oops"}))
    return root


@pytest.mark.parametrize(
    "command", [["show", "run_1"], ["show", "run_1", "--json"], ["replay", "run_1"]]
)
def test_show_and_replay_name_the_file_and_key(project: Path, command: list[str]) -> None:
    result = run_cli(project, *command, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith(f"reprokit: error: {PROBLEM}\n  {HINT}")
    assert "unexpected error" not in result.stderr and "Traceback" not in result.stderr


def test_runs_skips_a_corrupt_record_with_a_warning(project: Path) -> None:
    for _ in range(2):  # the first listing builds the index, the second reads it
        result = run_cli(project, "runs", "--json", timeout=60)
        assert result.returncode == 0, result.stderr
        assert [r["id"] for r in json.loads(result.stdout)] == ["run_2"]
        # One line: the hint (restore or delete) is for `show`, not for every listing.
        assert result.stderr.splitlines() == [f"reprokit: warning: skipping run_1: {PROBLEM}"]
    # Once repaired, it is listed again.
    make_run(project / "outputs", 1)
    result = run_cli(project, "runs", "--json", timeout=60)
    assert [r["id"] for r in json.loads(result.stdout)] == ["run_2", "run_1"]
    assert result.stderr == ""
