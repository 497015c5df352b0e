"""Sharing runs between people through one git remote, as docs/reference.md "Sharing runs with
teammates" recommends: one outputs folder per person, snapshot refs pushed to the remote."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import MINIMAL_EXPERIMENT, git, run_cli, write

EXP = "experiments/toy/base_01_01.py"


def _clone(bare: Path, dest: Path) -> Path:
    git(dest.parent, "clone", "-q", "--no-local", str(bare), str(dest))
    return dest


def _launch(clone: Path, person: str) -> Path:
    """A dirty launch (its snapshot is a commit only its ref reaches) into outputs/<person>."""
    write(clone / "experiments/toy/_helper.py", f"WHO = {person!r}\n")
    proc = run_cli(
        clone, "launch", EXP, "--seed", "0", env={"REPROKIT_OUTPUTS": f"outputs/{person}"}
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return clone / "outputs" / person / "run_1"


@pytest.mark.slow
def test_one_outputs_folder_per_person_pushes_and_replays_without_collisions(
    repo: Path, tmp_path: Path
) -> None:
    write(repo / EXP, MINIMAL_EXPERIMENT)
    write(repo / "experiments/toy/__init__.py", "")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "toy")
    bare = tmp_path / "shared.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", "--template=", str(bare))
    git(repo, "push", "-q", str(bare), "main")

    runs = {}
    for person in ("alice", "bob"):
        clone = _clone(bare, tmp_path / person)
        runs[person] = _launch(clone, person)
        # Both are run_1 of their own folder; the refs differ, so neither push is rejected
        # (git() raises on a non-zero exit) and neither overwrites the other's snapshot.
        git(clone, "push", "-q", "origin", "refs/reprokit/*:refs/reprokit/*")
    refs = git(bare, "for-each-ref", "--format=%(refname) %(objectname)", "refs/reprokit")
    pushed = dict(line.split() for line in refs.splitlines())
    assert sorted(pushed) == [
        "refs/reprokit/runs/outputs/alice/run_1",
        "refs/reprokit/runs/outputs/bob/run_1",
    ]
    for person, run in runs.items():
        git_record = json.loads((run / "run.json").read_text())["git"]
        assert git_record["dirty"] is True
        assert pushed[f"refs/reprokit/runs/outputs/{person}/run_1"] == git_record["snapshot"]

    # A third person gets the run folders (copied as files) and replays one of each: the
    # snapshots are fetched from the remote by replay itself.
    carol = _clone(bare, tmp_path / "carol")
    for person, run in runs.items():
        shutil.copytree(run, carol / "outputs" / person / "run_1")
    for person in ("alice", "bob"):
        proc = run_cli(carol, "replay", f"outputs/{person}/run_1")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        # A replay is recorded next to its original, in that person's folder.
        replayed = json.loads((carol / f"outputs/{person}/run_2/run.json").read_text())
        assert replayed["replay"]["rebuild"] == "fetched"
        assert replayed["replay"]["source_path"] == f"outputs/{person}/run_1"
        original = json.loads((runs[person] / "run.json").read_text())
        assert replayed["git"]["snapshot"] == original["git"]["snapshot"]
