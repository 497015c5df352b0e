from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import git, run_cli, write
from reprokit.cli import main
from reprokit.errors import EXIT_ENV_REFUSED, EXIT_MISMATCH
from reprokit.record import store
from reprokit.replay import child as replayprep

NOISE = "experiments/toy/noise_01_01.py"
NOISE_SOURCE = '''
    """A pure-Python experiment: seeded noise, scaled by a number read from data/."""

    import dataclasses
    import random
    from pathlib import Path

    import reprokit


    @dataclasses.dataclass(frozen=True)
    class Config:
        seed: int = 3
        steps: int = 4
        data: Path = Path("data/scale.txt")
        fail_at: int = -1


    config = Config()


    def smoke(config: Config) -> Config:
        return dataclasses.replace(config, steps=1)


    def main(config: Config) -> dict[str, float]:
        scale = float(config.data.read_text())
        total = 0.0
        for step in range(config.steps):
            if step == config.fail_at:
                raise ValueError(f"step {step} failed")
            total += random.random() * scale
            reprokit.log(step=step, total=total)
        return {"total": total, "steps": config.steps}
'''


def _launch(repo: Path, exp: str, *args: str) -> subprocess.CompletedProcess[str]:
    # A subprocess, as a user would run it: the experiment modules (and torch) must not be
    # imported into the test process, where the next test's repo has different ones.
    return run_cli(repo, "launch", exp, "--no-check", *args)


def _record(repo: Path, run_id: str) -> dict[str, Any]:
    return store.read_record(repo / "outputs" / run_id)


def _series(repo: Path, run_id: str) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in row.items() if k != "time"}
        for row in store.read_metrics(repo / "outputs" / run_id)
    ]


def _repo_state(repo: Path) -> tuple[str, ...]:
    """Everything a replay must leave alone: status, HEAD, refs, worktrees, stash, index."""
    return (
        git(repo, "status", "--porcelain=v2", "--branch", "--untracked-files=all"),
        git(repo, "rev-parse", "HEAD"),
        git(repo, "for-each-ref"),
        git(repo, "worktree", "list", "--porcelain"),
        git(repo, "stash", "list"),
        git(repo, "ls-files", "--stage"),
    )


def _replay(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str, str]:
    monkeypatch.chdir(repo)
    code = main(["replay", *argv])
    out, err = capfd.readouterr()
    return code, out, err


@pytest.fixture
def noise_repo(repo: Path) -> Path:
    """The pure-Python experiment, committed, with an ignored data/ folder; run_1 launched."""
    write(repo / ".gitignore", "outputs/\n__pycache__/\ndata/\n")
    write(repo / "experiments" / "toy" / "__init__.py", "")
    write(repo / NOISE, NOISE_SOURCE)
    write(repo / "data" / "scale.txt", "2.0\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "noise experiment")
    proc = _launch(repo, NOISE)
    assert proc.returncode == 0, proc.stderr
    return repo


TORCH_TRAIN = '''
    """Training code shared by the family (tracked)."""

    import torch

    import reprokit


    def train(model: torch.nn.Module, config) -> dict[str, float]:
        g = torch.Generator().manual_seed(config.seed)
        x = torch.randn(128, 8, generator=g)
        y = (x.sum(1, keepdim=True) > 0).float()
        opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
        for step in range(config.steps):
            logits = model(x)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            reprokit.log(step=step, loss=loss)
        acc = ((model(x) > 0).float() == y).float().mean()
        return {"loss": loss.item(), "acc": acc.item()}
'''
TORCH_HELPER = '''
    """An untracked helper the experiment imports: the model."""

    import torch


    def make_model(hidden: int) -> torch.nn.Module:
        # Initialized from torch's global RNG, which launch seeds with the recorded seed.
        return torch.nn.Sequential(
            torch.nn.Linear(8, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1)
        )
'''
TORCH_EXP = '''
    """A tiny MLP on seeded random data."""

    import dataclasses

    from experiments.toy import _helper, _train


    @dataclasses.dataclass(frozen=True)
    class Config:
        seed: int = 7
        steps: int = 15
        lr: float = 0.05
        hidden: int = 16


    config = Config()


    def smoke(config: Config) -> Config:
        return dataclasses.replace(config, steps=2)


    def main(config: Config) -> dict[str, float]:
        return _train.train(_helper.make_model(config.hidden), config)
'''


NO_TORCH_REPLAY = """
import sys
from reprokit.cli import main
code = main(sys.argv[1:])
assert "torch" not in sys.modules, "the replay process imported torch"
sys.exit(code)
"""


@pytest.mark.slow
def test_replay_reproduces_a_dirty_tree_torch_run_bit_for_bit(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    exp = "experiments/toy/mlp_01_01.py"
    write(repo / "experiments" / "toy" / "__init__.py", "")
    write(repo / "experiments" / "toy" / "_train.py", TORCH_TRAIN)
    write(repo / exp, TORCH_EXP.replace("lr: float = 0.05", "lr: float = 0.01"))
    write(repo / "README.md", "toy\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "torch experiment")
    # Dirty at launch: a modified experiment, and an untracked helper it imports.
    write(repo / exp, TORCH_EXP)
    write(repo / "experiments" / "toy" / "_helper.py", TORCH_HELPER)
    proc = _launch(repo, exp)
    assert proc.returncode == 0, proc.stderr
    original = _record(repo, "run_1")
    assert original["git"]["dirty"] and "experiments/toy/_helper.py" in original["git"]["untracked"]

    # Move on: commit unrelated work, change the experiment and the training code, and
    # delete the untracked helper. None of it may leak into the replay.
    write(repo / "README.md", "toy, now documented\n")
    git(repo, "commit", "-q", "-am", "docs")
    write(repo / exp, TORCH_EXP.replace("steps: int = 15", "steps: int = 3"))
    train = (repo / "experiments" / "toy" / "_train.py").read_text()
    write(repo / "experiments" / "toy" / "_train.py", train.replace("momentum=0.9", "momentum=0.0"))
    (repo / "experiments" / "toy" / "_helper.py").unlink()
    before = _repo_state(repo)

    # In a subprocess, to check that the replay's own process never imports torch.
    proc = subprocess.run(
        [sys.executable, "-c", NO_TORCH_REPLAY, "replay", "run_1", "--verify"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    code, out, err = proc.returncode, proc.stdout, proc.stderr

    assert code == 0, err
    assert _repo_state(repo) == before
    assert "rebuilt snapshot" in err and "(from its snapshot ref)" in err
    assert "reprokit: run_2 completed, as run_1 did" in err
    assert "verify: match (3 compared, exact)" in err
    assert out.splitlines()[0].split() == [
        "metric", "step", "original", "replay", "abs", "diff", "rel", "diff", "verdict"
    ]  # fmt: skip
    replayed = _record(repo, "run_2")
    assert replayed["replay_of"] == "run_1"
    assert replayed["replay"] == {
        "source_path": "outputs/run_1",
        "rebuild": "ref",
        "smoke": False,
        "cwd": ".",
        "verify": {"verdict": "match", "rtol": 0.0, "atol": 0.0, "compared": 3, "mismatches": []},
    }
    assert replayed["git"] == original["git"]
    assert replayed["seed"] == original["seed"] == 7
    assert replayed["status"] == "completed"
    summary = store.read_summary(repo / "outputs" / "run_2")
    assert summary == store.read_summary(repo / "outputs" / "run_1")
    assert _series(repo, "run_2") == _series(repo, "run_1")
    assert len(_series(repo, "run_1")) == 15
    assert (repo / "outputs" / "run_2" / "config.yaml").read_text() == (
        repo / "outputs" / "run_1" / "config.yaml"
    ).read_text()
    assert replayed["torch"]["intra_op_threads"] == original["torch"]["intra_op_threads"]

    # The recorded thread counts (inter-op too, which no variable controls) and precision
    # flags are applied;
    # a variable set here but not at the original run does not reach the replay.
    path = repo / "outputs" / "run_1" / "run.json"
    data = json.loads(path.read_text())
    data["torch"].update(intra_op_threads=1, inter_op_threads=1, float32_matmul_precision="medium")
    path.write_text(json.dumps(data))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    code, _, err = _replay(repo, monkeypatch, capfd, "run_1")
    assert code == 0, err
    third = _record(repo, "run_3")
    facts = third["torch"]
    assert (facts["intra_op_threads"], facts["inter_op_threads"]) == (1, 1)
    assert facts["float32_matmul_precision"] == "medium"
    assert "OMP_NUM_THREADS" not in third["environment"]["env"]


def test_replay_of_a_replay_points_at_the_root(
    noise_repo: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    repo = noise_repo
    assert _replay(repo, monkeypatch, capfd, "run_1", "--verify")[0] == 0
    code, _, err = _replay(repo, monkeypatch, capfd, "outputs/run_2", "--verify")
    assert code == 0, err
    third = _record(repo, "run_3")
    assert third["replay_of"] == "run_1"
    assert third["replay"]["source_path"] == "outputs/run_2"
    assert third["replay"]["verify"]["verdict"] == "match"
    assert third["git"] == _record(repo, "run_1")["git"]
    assert store.read_summary(repo / "outputs" / "run_3") == store.read_summary(
        repo / "outputs" / "run_1"
    )
    # The ignored data/ folder was linked into the worktree, then unlinked: still here.
    assert "linked ignored data into the worktree" in err
    assert (repo / "data" / "scale.txt").read_text() == "2.0\n"
    # The runs table shows the verdict on the original's row (replays are listed only with
    # --all: they are not new samples), and with --all which run each replay reproduced.
    assert main(["runs", "--columns", "id,replay"]) == 0
    assert capfd.readouterr().out.splitlines() == ["id     replay", "run_1  by run_3: match"]
    assert main(["runs", "--all", "--columns", "id,replay"]) == 0
    assert capfd.readouterr().out.splitlines() == [
        "id     replay",
        "run_3  of run_1: match",
        "run_2  of run_1: match",
        "run_1  by run_3: match",
    ]


def test_replay_of_a_replay_runs_where_the_original_ran(
    noise_repo: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # Launched from a subfolder whose ignored data/ the config names by relative path: the
    # replay and the replay of the replay must both run there, not at the worktree root
    # (where data/scale.txt holds another number).
    repo = noise_repo
    write(repo / "work" / "README", "runs are launched from here\n")
    write(repo / "work" / "data" / "scale.txt", "5.0\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "work folder")
    proc = run_cli(repo / "work", "launch", f"../{NOISE}", "--no-check", "--outputs", "../outputs")
    assert proc.returncode == 0, proc.stderr
    assert _replay(repo, monkeypatch, capfd, "run_2", "--verify")[0] == 0
    assert _record(repo, "run_3")["replay"]["cwd"] == "work"
    code, _, err = _replay(repo, monkeypatch, capfd, "run_3", "--verify")
    assert code == 0, err
    fourth = _record(repo, "run_4")
    assert fourth["replay_of"] == "run_2"
    assert fourth["replay"]["cwd"] == "work"
    assert fourth["replay"]["verify"]["verdict"] == "match"


def test_snapshot_ref_deleted_rebuilds_from_the_patch(
    noise_repo: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    repo = noise_repo
    # Make run_1's snapshot differ from HEAD, so the patch matters.
    write(repo / NOISE, NOISE_SOURCE.replace("steps: int = 4", "steps: int = 6"))
    assert _launch(repo, NOISE).returncode == 0
    git(repo, "checkout", "-q", "--", NOISE)
    git(repo, "update-ref", "-d", "refs/reprokit/runs/run_2")
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "-q", "--prune=now")
    snapshot = _record(repo, "run_2")["git"]["snapshot"]
    assert subprocess.run(["git", "cat-file", "-e", snapshot], cwd=repo).returncode != 0

    code, _, err = _replay(repo, monkeypatch, capfd, "run_2", "--verify", "--from-patch")
    assert code == 0, err
    assert "(from its base commit + diff.patch)" in err
    replayed = _record(repo, "run_3")
    assert replayed["replay"]["rebuild"] == "patch"
    assert len(_series(repo, "run_3")) == 6


def test_replay_in_a_fresh_clone_fetches_the_snapshot(
    noise_repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    repo = noise_repo
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", "--template=", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main", "refs/reprokit/*:refs/reprokit/*")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-local", str(remote), str(clone))
    # Run folders are not in git: they travel separately (a shared disk, a copy).
    shutil.copytree(repo / "outputs", clone / "outputs")
    write(clone / "data" / "scale.txt", "2.0\n")
    assert git(clone, "for-each-ref", "refs/reprokit") == ""

    code, _, err = _replay(clone, monkeypatch, capfd, "run_1", "--verify")
    assert code == 0, err
    assert "(fetched from origin)" in err
    assert _record(clone, "run_2")["replay"]["rebuild"] == "fetched"
    assert _record(clone, "run_2")["replay"]["fetched_from"] == "origin"
    assert git(clone, "worktree", "list").count("\n") == 1


def test_a_changed_package_is_reported_and_strict_refuses(
    noise_repo: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    repo = noise_repo
    path = repo / "outputs" / "run_1" / "run.json"
    data = json.loads(path.read_text())
    installed = data["environment"]["packages"]["PyYAML"]
    data["environment"]["packages"]["PyYAML"] = "0.0.1"
    path.write_text(json.dumps(data))
    before = _repo_state(repo)

    code, _, err = _replay(repo, monkeypatch, capfd, "run_1", "--strict")
    assert code == EXIT_ENV_REFUSED
    assert "the environment differs from the recorded one (* can change results):" in err
    assert f"package pyyaml * | 0.0.1    | {installed}" in err
    assert (
        "reprokit: error: --strict: refusing to replay: 1 difference(s) can change results "
        "(package pyyaml)\n"
        "  hint: recreate the recorded environment (versions above), or drop --strict"
    ) in err
    assert [p.name for p in store.run_dirs(repo / "outputs")] == ["run_1"]
    assert _repo_state(repo) == before

    # Without --strict it warns and runs.
    code, _, err = _replay(repo, monkeypatch, capfd, "run_1", "--verify")
    assert code == 0, err
    assert "package pyyaml * | 0.0.1" in err


def test_a_changed_ignored_input_fails_verify_with_the_table(
    noise_repo: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    repo = noise_repo
    assert _record(repo, "run_1")["inputs"][0]["field"] == "data"
    write(repo / "data" / "scale.txt", "3.0\n")

    code, out, err = _replay(repo, monkeypatch, capfd, "run_1", "--verify")
    assert code == EXIT_MISMATCH
    assert "warning: input data (data/scale.txt) changed since the original run: content" in err
    # random.random() with seed 3 is the same on every platform: the text is pinned.
    assert out.splitlines() == [
        "metric  step   original           replay             abs diff  rel diff  verdict",
        "steps   final  4                  4                  0         0         match",
        "total   final  3.512138115064234  5.268207172596351  1.76      0.5       mismatch",
        "total   3      3.512138115064234  5.268207172596351  1.76      0.5       mismatch",
    ]
    assert "verify: MISMATCH (2 of 3 differ, exact)" in err
    causes = err.split("likely causes, most likely first:\n")[1].splitlines()
    assert causes[0] == ("    - an input changed since the original run (see the warnings above)")
    verdict = _record(repo, "run_2")["replay"]["verify"]
    assert (verdict["verdict"], verdict["compared"], len(verdict["mismatches"])) == (
        "mismatch",
        3,
        2,
    )
    # A tolerance wide enough for the change passes.
    assert _replay(repo, monkeypatch, capfd, "run_1", "--verify", "--rtol", "0.6")[0] == 0


def test_replaying_a_failed_run_reproduces_the_failure(
    noise_repo: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    repo = noise_repo
    write(repo / NOISE, NOISE_SOURCE.replace("fail_at: int = -1", "fail_at: int = 2"))
    proc = _launch(repo, NOISE)
    assert proc.returncode == 1
    assert _record(repo, "run_2")["error"]["type"] == "ValueError"

    code, out, err = _replay(repo, monkeypatch, capfd, "run_2", "--verify")
    assert code == 0, err
    assert "reprokit: run_3 reproduced the failure: both raised ValueError" in err
    rows = [line.split() for line in out.splitlines()]
    assert ["exception", "final", "ValueError", "ValueError", "-", "-", "match"] in rows
    assert [row[:2] for row in rows[1:]] == [
        ["total", "final"],
        ["total", "1"],
        ["exception", "final"],
    ]
    assert _record(repo, "run_3")["status"] == "failed"


def test_smoke_replay_runs_the_smoke_config_and_is_labelled(
    noise_repo: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    repo = noise_repo
    code, _, err = _replay(repo, monkeypatch, capfd, "run_1", "--smoke")
    assert code == 0, err
    replayed = _record(repo, "run_2")
    assert (replayed["smoke"], replayed["replay"]["smoke"], replayed["seed"]) == (True, True, 3)
    assert len(_series(repo, "run_2")) == 1

    code, _, err = _replay(repo, monkeypatch, capfd, "run_1", "--smoke", "--verify")
    assert code == 2
    assert err.startswith("reprokit: error: --smoke and --verify cannot be combined")


def test_keep_worktree_keeps_the_rebuilt_code(
    noise_repo: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    repo = noise_repo
    code, _, err = _replay(repo, monkeypatch, capfd, "run_1", "--keep-worktree")
    assert code == 0, err
    line = next(x for x in err.splitlines() if "kept the worktree at" in x)
    kept = Path(line.split("kept the worktree at ")[1].split(" (")[0])
    try:
        assert (kept / NOISE).read_text() == (repo / NOISE).read_text()
        # The data link stays, so the kept worktree runs as the replay did.
        assert (kept / "data").is_symlink()
        assert (kept / "data" / "scale.txt").read_text() == "2.0\n"
    finally:
        git(repo, "worktree", "remove", "--force", str(kept))
    assert (repo / "data" / "scale.txt").read_text() == "2.0\n"


def test_a_run_without_git_cannot_be_replayed(
    noise_repo: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    path = noise_repo / "outputs" / "run_1" / "run.json"
    data = json.loads(path.read_text())
    data["git"] = None
    path.write_text(json.dumps(data))
    code, _, err = _replay(noise_repo, monkeypatch, capfd, "run_1")
    assert code == 1
    assert err == (
        "reprokit: error: run_1 was launched outside a git repository (run.json has git: null), "
        "so its code state was not recorded and cannot be rebuilt\n"
        "  hint: set require_git = true in [tool.reprokit] so future runs always record it\n"
    )


def test_child_imports_this_reprokit_even_when_the_worktree_has_its_own(tmp_path: Path) -> None:
    # Replaying reprokit's own repository: its snapshot holds an old reprokit/ package.
    write(tmp_path / "reprokit" / "__init__.py", "raise ImportError('the snapshot copy')\n")
    proc = subprocess.run(
        replayprep.launch_command(["no-request"]), cwd=tmp_path, capture_output=True, text=True
    )
    # This reprokit's launch entry answered (the snapshot's copy would raise ImportError).
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("reprokit: error: usage: python -m reprokit.launch.entry ")


@pytest.mark.parametrize("go", [True, False])
def test_gated_child_runs_only_once_the_gate_opens(tmp_path: Path, go: bool) -> None:
    # Replay starts the child while it probes the environment; a refusal must run nothing.
    gate_read, gate = os.pipe()
    proc = subprocess.Popen(
        replayprep.launch_command(["no-request"], gate=gate_read),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        pass_fds=(gate_read,),
    )
    os.close(gate_read)
    if go:
        assert replayprep.open_gate(gate)
    os.close(gate)
    out, err = proc.communicate(timeout=60)
    assert out == ""
    # Opened, the child runs (and refuses the missing request); closed unopened, nothing runs.
    assert proc.returncode == (2 if go else 0), err
    assert err.startswith("reprokit: error: usage: ") if go else err == ""


def test_child_environment_applies_the_recorded_variables() -> None:
    record = {
        "environment": {
            "env": {"OMP_NUM_THREADS": "2", "PYTHONHASHSEED": "0", "CUDA_HOME": "/elsewhere"}
        },
        "torch": {
            "intra_op_threads": 2,
            "inter_op_threads": 1,
            "cuda": None,
            "cudnn_benchmark": False,
        },
    }
    here = {
        "PATH": "/bin",
        "MKL_NUM_THREADS": "8",
        "CUDA_HOME": "/usr/local/cuda",
        "REPROKIT_OUTPUTS": "elsewhere",
    }
    env, refused = replayprep.child_environment(record, "", base=here)
    assert refused == []
    assert env == {
        "PATH": "/bin",
        "CUDA_HOME": "/usr/local/cuda",  # a location: this machine's
        "OMP_NUM_THREADS": "2",
        "PYTHONHASHSEED": "0",
        "CUDA_VISIBLE_DEVICES": "",
        "REPROKIT_REPLAY_TORCH": '{"cudnn_benchmark": false, "inter_op_threads": 1, "intra_op_threads": 2}',
    }
    assert sys.executable  # the child runs this interpreter


def test_the_recorded_config_wins_over_the_snapshots_own(
    noise_repo: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    repo = noise_repo
    config = repo / "outputs" / "run_1" / "config.yaml"
    config.write_text(config.read_text().replace("steps: 4", "steps: 2"))
    code, _, err = _replay(repo, monkeypatch, capfd, "run_1")
    assert code == 0, err
    assert (
        "reprokit: note: the snapshot's experiment file resolves to a different config than "
        "the recorded one; the recorded config wins:\n"
        "--- recorded config.yaml\n"
        "+++ experiments/toy/noise_01_01.py in the snapshot\n"
        "@@ -2 +2 @@\n"
        "-steps: 2\n"
        "+steps: 4\n"
    ) in err
    assert len(_series(repo, "run_2")) == 2


def test_ignored_inputs_are_linked_but_not_caches_or_outputs(repo: Path, tmp_path: Path) -> None:
    write(repo / ".gitignore", "outputs/\n__pycache__/\ndata/\n*.npz\n.venv/\n")
    for rel in (
        "data/a.csv",
        "experiments/toy/cache.npz",
        "experiments/only_ignored/b.npz",
        ".venv/x",
    ):
        write(repo / rel, "x\n")
    write(repo / "outputs" / "run_1" / "run.json", "{}\n")
    write(repo / "experiments" / "__pycache__" / "m.pyc", "")
    work = tmp_path / "work"
    (work / "experiments" / "toy").mkdir(parents=True)
    (work / "data").mkdir()  # the snapshot has its own data/ folder: left alone
    write(repo / "big.npz", "x\n")

    linked = replayprep.link_ignored(repo, work, repo / "outputs")

    # A folder holding only ignored files is listed (and linked) as one entry.
    assert linked == ["big.npz", "experiments/only_ignored", "experiments/toy/cache.npz"]
    assert (work / "experiments" / "toy" / "cache.npz").resolve() == (
        repo / "experiments" / "toy" / "cache.npz"
    )
    replayprep.unlink_links(work, linked)
    assert sorted(p.name for p in work.rglob("*")) == ["data", "experiments", "toy"]
    assert (repo / "big.npz").is_file()


def test_large_untracked_files_left_out_of_the_snapshot_are_linked(tmp_path: Path) -> None:
    top, work = tmp_path / "top", tmp_path / "work"
    write(top / "weights" / "big.bin", "same\n")
    write(top / "changed.bin", "new!\n")
    (work / "weights").mkdir(parents=True)
    same_sha = hashlib.sha256(b"same\n").hexdigest()
    skipped = [
        {"path": "weights/big.bin", "size": 5, "sha256": same_sha},
        {"path": "changed.bin", "size": 5, "sha256": same_sha},
        {"path": "gone.bin", "size": 5, "sha256": same_sha},
        {"path": ".env", "size": 9, "reason": "secret"},
    ]
    write(top / ".env", "TOKEN=x\n")
    linked, warnings = replayprep.link_skipped_untracked(top, work, skipped)
    assert warnings == [
        "changed.bin (left out of the snapshot for its size) changed since the run (sha256 differs)",
        "gone.bin (left out of the snapshot for its size) is not here; the replay runs without it",
    ]  # a secret's size here is never compared, so never printed
    assert linked == ["weights/big.bin", "changed.bin", ".env"]
    assert (work / ".env").read_text() == "TOKEN=x\n"
    assert (work / "weights" / "big.bin").read_text() == "same\n"
    assert (work / "weights" / "big.bin").is_symlink()


def test_a_replay_is_recorded_next_to_its_original(
    noise_repo: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # Run ids are per outputs folder: the replay of sweep/run_1 belongs in sweep/, or its
    # `replay_of: run_1` would name outputs/run_1, another run.
    repo = noise_repo
    write(repo / ".gitignore", "outputs/\n__pycache__/\ndata/\nsweep/\n")
    proc = _launch(repo, NOISE, "--outputs", "sweep", "--seed", "11")
    assert proc.returncode == 0, proc.stderr
    before = sorted(p.name for p in (repo / "outputs").iterdir())
    code, _, err = _replay(repo, monkeypatch, capfd, "sweep/run_1", "--verify")
    assert code == 0, err
    assert sorted(p.name for p in (repo / "outputs").iterdir()) == before
    replayed = store.read_record(repo / "sweep" / "run_2")
    assert replayed["replay_of"] == "run_1" and replayed["seed"] == 11
    assert replayed["replay"]["source_path"] == "sweep/run_1"


@pytest.mark.parametrize("ended", ["interrupted", "crashed"])
def test_verify_of_an_unfinished_run_compares_the_steps_it_logged(
    noise_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    ended: str,
) -> None:
    # run_1 stopped after 2 of its 4 steps (as Ctrl-C or SIGKILL would leave it): its
    # replay runs to the end, and only the 2 steps the original logged are compared.
    repo = noise_repo
    run = repo / "outputs" / "run_1"
    rows = (run / "metrics.jsonl").read_text().splitlines()
    (run / "metrics.jsonl").write_text("\n".join(rows[:2]) + "\n")
    record = store.read_json(run / "run.json")
    if ended == "interrupted":
        record.update(status="interrupted", exit_code=130)
    else:  # SIGKILL: the record still says running, its process is gone
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        record.update(status="running", exit_code=None, pid=dead.pid, pid_started=None)
        (run / "summary.json").unlink()
    store.write_json(run / "run.json", record)
    code, out, err = _replay(repo, monkeypatch, capfd, "run_1", "--verify")
    assert code == 0, err
    assert f"reprokit: run_2 completed; the original run_1 was {ended}" in err
    assert f"note: run_1 was {ended}: compared only the steps it logged" in err
    assert "verify: match (1 compared, exact)" in err
    assert out.splitlines()[1].split()[:2] == ["total", "1"]


def test_verify_with_nothing_to_compare_is_inconclusive(
    noise_repo: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # Killed before it logged anything: a replay cannot be said to match it.
    repo = noise_repo
    run = repo / "outputs" / "run_1"
    (run / "metrics.jsonl").write_text("")
    record = store.read_json(run / "run.json")
    record.update(status="interrupted", exit_code=130)
    store.write_json(run / "run.json", record)
    code, _, err = _replay(repo, monkeypatch, capfd, "run_1", "--verify")
    assert code == EXIT_MISMATCH
    assert "verify: INCONCLUSIVE (nothing to compare" in err
    assert _record(repo, "run_2")["replay"]["verify"]["verdict"] == "inconclusive"
