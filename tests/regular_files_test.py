"""Only regular files are read from a run folder: a FIFO, a link to a device or out of the
folder, or a huge file makes that run unreadable with the reason, never a hang or a crash.

Every CLI call runs in a subprocess with a timeout, so a regression that blocks on a FIFO
fails the test instead of hanging CI.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import MINIMAL_EXPERIMENT, git, run_cli, write

EXP = "experiments/toy/base_01_01.py"
TIMEOUT = 30


@pytest.fixture
def project(repo: Path) -> Path:
    """Three launched runs of one experiment (run_2 and run_3 copies of run_1's folder)."""
    write(repo / EXP, MINIMAL_EXPERIMENT)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "exp")
    proc = run_cli(repo, "launch", EXP, "--no-check", timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    outputs = repo / "outputs"
    for n in (2, 3):
        shutil.copytree(outputs / "run_1", outputs / f"run_{n}")
        record = json.loads((outputs / f"run_{n}" / "run.json").read_text())
        (outputs / f"run_{n}" / "run.json").write_text(json.dumps({**record, "id": f"run_{n}"}))
    return repo


def _replace(path: Path, how: str) -> None:
    """Put something that is not the run's regular file at ``path``."""
    path.unlink()
    if how == "fifo":
        os.mkfifo(path)
    elif how == "folder":
        path.mkdir()
    elif how.startswith("/"):
        path.symlink_to(how)
    else:
        path.symlink_to(how)  # relative: out of the folder, or to a sibling


CASES = [
    ("summary.json", "fifo", "a FIFO (named pipe), not a regular file"),
    ("summary.json", "/dev/zero", "a symbolic link to /dev/zero, outside its run folder"),
    ("summary.json", "/dev/urandom", "a symbolic link to /dev/urandom, outside its run folder"),
    ("summary.json", "folder", "a folder, not a regular file"),
    ("summary.json", "../run_1/summary.json", "outside its run folder"),
    ("run.json", "fifo", "a FIFO (named pipe), not a regular file"),
    ("run.json", "/dev/zero", "a symbolic link to /dev/zero, outside its run folder"),
    ("config.yaml", "fifo", "a FIFO (named pipe), not a regular file"),
    ("config.yaml", "/dev/urandom", "a symbolic link to /dev/urandom, outside its run folder"),
]


@pytest.mark.parametrize(("name", "how", "reason"), CASES)
def test_a_file_that_is_not_regular_makes_the_run_unreadable(
    project: Path, name: str, how: str, reason: str
) -> None:
    _replace(project / "outputs" / "run_2" / name, how)
    runs = run_cli(project, "runs", "--json", timeout=TIMEOUT)
    assert runs.returncode == 0, runs.stderr
    assert [r["id"] for r in json.loads(runs.stdout)] == ["run_3", "run_1"]
    assert runs.stderr.startswith(f"reprokit: warning: skipping run_2: outputs/run_2/{name}: ")
    assert reason in runs.stderr
    show = run_cli(project, "show", "run_2", timeout=TIMEOUT)
    assert show.returncode == 1
    assert show.stderr.startswith(f"reprokit: error: outputs/run_2/{name}: "), show.stderr
    assert reason in show.stderr and "Traceback" not in show.stderr
    for argv in (("lineage", EXP), ("blame", "score", EXP), ("diff", "run_1", "run_3")):
        proc = run_cli(project, *argv, timeout=TIMEOUT)
        assert proc.returncode == 0, (argv, proc.stdout, proc.stderr)


def test_metrics_from_a_device_or_fifo_are_refused_by_name(project: Path) -> None:
    metrics = project / "outputs" / "run_2" / "metrics.jsonl"
    metrics.write_text('{"step": 0, "time": 1.0, "score": 0.1}\n')
    _replace(metrics, "/dev/urandom")
    plot = run_cli(project, "plot", "score", "run_2", "-o", str(project / "p.png"), timeout=TIMEOUT)
    assert plot.returncode == 1
    assert "outputs/run_2/metrics.jsonl: a symbolic link to /dev/urandom" in plot.stderr
    _replace(metrics, "fifo")
    show = run_cli(project, "show", "run_2", timeout=TIMEOUT)
    assert show.returncode == 0, show.stderr  # show has the summary; metrics only add to it
    verify = run_cli(project, "replay", "run_2", "--verify", timeout=120)
    assert verify.returncode == 1, verify.stdout + verify.stderr
    assert "outputs/run_2/metrics.jsonl: a FIFO (named pipe)" in verify.stderr


def test_a_link_inside_the_run_folder_is_followed(project: Path) -> None:
    run_dir = project / "outputs" / "run_2"
    (run_dir / "summary.json").rename(run_dir / "final.json")
    (run_dir / "summary.json").symlink_to("final.json")
    show = run_cli(project, "show", "run_2", timeout=TIMEOUT)
    assert show.returncode == 0, show.stderr
    assert "score" in show.stdout


def test_a_huge_file_is_refused_by_name(project: Path) -> None:
    summary = project / "outputs" / "run_2" / "summary.json"
    with open(summary, "r+b") as f:
        f.truncate(65 * 2**20)  # sparse: costs no disk
    runs = run_cli(project, "runs", "--json", timeout=TIMEOUT)
    assert runs.returncode == 0, runs.stderr
    assert [r["id"] for r in json.loads(runs.stdout)] == ["run_3", "run_1"]
    assert "outputs/run_2/summary.json: larger than 64 MiB" in runs.stderr


@pytest.mark.parametrize("how", ["fifo", "folder", "/dev/zero"])
def test_an_index_that_is_not_a_regular_file(project: Path, how: str) -> None:
    index = project / "outputs" / ".index.sqlite"
    index.touch()
    _replace(index, how)
    for _ in range(2):
        runs = run_cli(project, "runs", "--json", timeout=TIMEOUT)
        assert runs.returncode == 0, runs.stderr
        assert [r["id"] for r in json.loads(runs.stdout)] == ["run_3", "run_2", "run_1"]
        assert "outputs/.index.sqlite is not a regular file; indexing in memory" in runs.stderr


def test_json_that_python_refuses(project: Path) -> None:
    """Valid JSON Python will not load: a 5,000-digit int, nesting past the recursion limit,
    a record that is a list."""
    run_dir = project / "outputs" / "run_2"
    cases = {
        "summary.json": ('{"score": ' + "9" * 5000 + "}", "cannot be read as JSON"),
        "run.json": ("[" * 100_000 + "]" * 100_000, "cannot be read as JSON: nested too deeply"),
    }
    for name, (text, reason) in cases.items():
        saved = (run_dir / name).read_bytes()
        (run_dir / name).write_text(text)
        runs = run_cli(project, "runs", "--json", timeout=TIMEOUT)
        assert runs.returncode == 0, runs.stderr
        assert f"skipping run_2: outputs/run_2/{name}: {reason}" in runs.stderr
        show = run_cli(project, "show", "run_2", timeout=TIMEOUT)
        assert show.returncode == 1 and reason in show.stderr, show.stderr
        (run_dir / name).write_bytes(saved)
    (run_dir / "run.json").write_text("[1, 2]")
    show = run_cli(project, "show", "run_2", timeout=TIMEOUT)
    assert "outputs/run_2/run.json: the run record is a JSON list, not an object" in show.stderr


@pytest.mark.parametrize("how", ["file", "fifo", "dangling"])
def test_a_run_folder_that_is_not_a_folder_is_not_a_run(project: Path, how: str) -> None:
    junk = project / "outputs" / "run_9"
    if how == "file":
        junk.write_text("not a folder")
    elif how == "fifo":
        os.mkfifo(junk)
    else:
        junk.symlink_to(project / "nowhere")
    runs = run_cli(project, "runs", "--json", timeout=TIMEOUT)
    assert runs.returncode == 0, runs.stderr
    assert [r["id"] for r in json.loads(runs.stdout)] == ["run_3", "run_2", "run_1"]
    show = run_cli(project, "show", "run_9", timeout=TIMEOUT)
    assert show.returncode == 1 and "Traceback" not in show.stderr, show.stderr
