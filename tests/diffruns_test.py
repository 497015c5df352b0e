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


def test_runs_outside_the_outputs_folder_are_labelled_by_folder(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Trial: `diff sweep/run_1 run_16` printed "diff run_1 → run_16", which reads as
    # outputs/run_1.
    write(repo / EXP, "config = None\n")
    write_run(repo / "sweep", 1, EXP, summary={"loss": 1.0})
    write_run(repo / "outputs", 16, EXP, summary={"loss": 0.5})
    monkeypatch.chdir(repo)
    assert main(["diff", "sweep/run_1", "run_16"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "diff sweep/run_1 → run_16"
    assert "  metric  sweep/run_1  run_16  Δ" in out
    assert main(["diff", "sweep/run_1", "run_16", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["runs"], data["labels"]) == (["run_1", "run_16"], ["sweep/run_1", "run_16"])


def _snapshot(repo: Path, n: int, text: str) -> str:
    """A snapshot commit of the tree with ``_helper.py`` set to ``text``, under its ref,
    made as launch makes it (a commit off HEAD that no branch points at)."""
    write(repo / "experiments/toy/_helper.py", text)
    git(repo, "add", "-A")
    tree = git(repo, "write-tree").strip()
    snap = git(repo, "commit-tree", tree, "-p", "HEAD", "-m", f"run_{n}").strip()
    git(repo, "update-ref", f"refs/reprokit/runs/run_{n}", snap)
    return snap


def _clone_with_runs(tmp_path: Path, repo: Path, *, push_snapshots: bool) -> Path:
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", "--template=", str(bare))
    write(repo / EXP, "config = None\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "toy")
    snaps = [_snapshot(repo, n, f"SCALE = {n}\n") for n in (1, 2)]
    git(repo, "push", "-q", str(bare), "main")
    if push_snapshots:
        git(repo, "push", "-q", str(bare), "refs/reprokit/*:refs/reprokit/*")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-local", str(bare), str(clone))
    for n, snap in enumerate(snaps, 1):
        run = write_run(clone / "outputs", n, EXP, dirty=True, snapshot=snap)
        record = json.loads((run / "run.json").read_text())
        record["git"].update(
            sha=git(repo, "rev-parse", "HEAD").strip(),
            snapshot_ref=f"refs/reprokit/runs/run_{n}",
            remotes={"origin": str(bare)},
        )
        (run / "run.json").write_text(json.dumps(record), encoding="utf-8")
    return clone


def test_diff_code_fetches_missing_snapshots_like_replay(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Trial: in a fresh clone `diff --code` failed with "snapshot commit ... is not in this
    # repository" where replay would have fetched it.
    clone = _clone_with_runs(tmp_path, repo, push_snapshots=True)
    assert git(clone, "for-each-ref", "refs/reprokit") == ""
    monkeypatch.chdir(clone)
    assert main(["diff", "run_1", "run_2", "--code", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "-SCALE = 1\n+SCALE = 2" in data["code"]["patch"]
    assert git(clone, "for-each-ref", "--format=%(refname)", "refs/reprokit") == (
        "refs/reprokit/runs/run_1\nrefs/reprokit/runs/run_2\n"
    )


def test_diff_code_says_what_is_missing_when_the_fetch_fails(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clone = _clone_with_runs(tmp_path, repo, push_snapshots=False)
    snap = json.loads((clone / "outputs/run_1/run.json").read_text())["git"]["snapshot"]
    monkeypatch.chdir(clone)
    assert main(["diff", "run_1", "run_2", "--code"]) == 1
    assert capsys.readouterr().err == (
        f"reprokit: error: snapshot commit {snap[:12]} of run_1 is not in this repository "
        "and could not be fetched from origin\n"
        "  hint: push the snapshots from the machine that ran it "
        "(`git push origin 'refs/reprokit/*:refs/reprokit/*'`), then try again\n"
    )


def test_diff_code_refuses_a_malformed_record_before_git_sees_it(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _two_runs(repo)
    run = repo / "outputs/run_1/run.json"
    record = json.loads(run.read_text())
    record["git"]["snapshot"] = "--upload-pack=touch pwned"
    run.write_text(json.dumps(record), encoding="utf-8")
    monkeypatch.chdir(repo)
    assert main(["diff", "run_1", "run_2", "--code"]) == 1
    err = capsys.readouterr().err
    assert "git.snapshot is not a commit id: '--upload-pack=touch pwned'" in err
    assert not (repo / "pwned").exists()
