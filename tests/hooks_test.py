"""The plain git hook (hooks/pre-commit) and `reprokit install-hooks`, with real commits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import MINIMAL_EXPERIMENT, REPO_ROOT, git, write
from reprokit.checks.install_hooks import HOOK_SCRIPT
from reprokit.cli import main

GOOD = MINIMAL_EXPERIMENT
NOT_FROZEN = GOOD.replace("@dataclass(frozen=True)", "@dataclass")
EXP = "experiments/toy/base_01_01.py"


def commit(repo: Path, message: str = "change") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "commit", "-q", "-m", message], cwd=repo, capture_output=True, text=True
    )


def test_hook_file_matches_the_installed_text() -> None:
    assert (REPO_ROOT / "hooks" / "pre-commit").read_text() == HOOK_SCRIPT
    assert os.access(REPO_ROOT / "hooks" / "pre-commit", os.X_OK)


def test_install_refuses_a_foreign_hook(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo)
    hook = repo / ".git" / "hooks" / "pre-commit"
    write(hook, "#!/bin/sh\necho mine\n")
    assert main(["install-hooks"]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"reprokit: error: {hook} already exists and is not reprokit's hook\n"
        "  hint: `reprokit install-hooks --force` replaces it (a copy is kept as"
        " pre-commit.old)\n"
    )
    assert hook.read_text() == "#!/bin/sh\necho mine\n"
    assert main(["install-hooks", "--force"]) == 0
    assert (hook.parent / "pre-commit.old").read_text() == "#!/bin/sh\necho mine\n"
    assert f"reprokit_python={sys.executable}\n" in hook.read_text()
    assert os.access(hook, os.X_OK)
    capsys.readouterr()
    assert main(["install-hooks"]) == 0
    assert capsys.readouterr().out == f"the reprokit hook is already installed in {hook}\n"


def test_force_never_overwrites_an_earlier_backup(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo)
    hooks = repo / ".git" / "hooks"
    write(hooks / "pre-commit.old", "#!/bin/sh\necho first\n")
    write(hooks / "pre-commit", "#!/bin/sh\necho second\n")
    assert main(["install-hooks", "--force"]) == 0
    assert f"kept the previous hook as {hooks / 'pre-commit.old.2'}" in capsys.readouterr().out
    assert (hooks / "pre-commit.old").read_text() == "#!/bin/sh\necho first\n"
    assert (hooks / "pre-commit.old.2").read_text() == "#!/bin/sh\necho second\n"


@pytest.mark.slow
def test_installed_hook_checks_the_staged_content(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    assert main(["install-hooks"]) == 0
    # Staged content bad, working tree good: rejected, with the real path.
    write(repo / EXP, NOT_FROZEN)
    git(repo, "add", EXP)
    write(repo / EXP, GOOD)
    result = commit(repo)
    assert result.returncode == 1, result.stdout + result.stderr
    # git sends a hook's stdout to stderr.
    assert result.stderr == (
        "experiments/toy/base_01_01.py:5:1: RK503 config is a Config, a dataclass without"
        " frozen=True\n"
        "  hint: declare it @dataclass(frozen=True) so code cannot change config during a run"
        " (nested dataclasses too)\n"
        "checked 1 experiment: 1 problem in 1 file\n"
    )
    # Staged content good, working tree bad: accepted.
    git(repo, "add", EXP)
    write(repo / EXP, NOT_FROZEN)
    result = commit(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == "checked 1 experiment: all good\n"
    # A commit that does not touch the experiments tree is not checked at all.
    write(repo / "README.md", "hello\n")
    git(repo, "add", "README.md")
    result = commit(repo)
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.slow
def test_hooks_path_with_a_missing_parent_and_a_deletion(repo: Path) -> None:
    git(repo, "config", "core.hooksPath", str(REPO_ROOT / "hooks"))
    env_path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    write(repo / EXP, GOOD)
    write(
        repo / "experiments/toy/wide_02_01.py",
        "from experiments.toy.base_01_01 import config, main\n",
    )
    git(repo, "add", "-A")
    run = {"cwd": repo, "capture_output": True, "text": True}
    env = {**os.environ, "PATH": env_path}
    ok = subprocess.run(["git", "commit", "-qm", "family"], env=env, **run)  # type: ignore[call-overload]
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # Deleting the base leaves the child without a parent: the whole family is checked.
    git(repo, "rm", "-q", EXP)
    bad = subprocess.run(["git", "commit", "-qm", "drop base"], env=env, **run)  # type: ignore[call-overload]
    assert bad.returncode == 1
    assert "experiments/toy/wide_02_01.py:1:1: RK202 this family has no base" in bad.stderr
    assert "wide_02_01.py:1:1: RK301 parent 01 does not exist in this family (toy/)" in bad.stderr


def test_install_leaves_a_tracked_hooks_path_alone(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo)
    write(repo / "hooks" / "pre-commit", HOOK_SCRIPT)
    git(repo, "config", "core.hooksPath", "hooks")
    assert main(["install-hooks"]) == 0
    hook = (repo / "hooks" / "pre-commit").resolve()
    assert capsys.readouterr().out == (
        f"the reprokit hook is already used through core.hooksPath: {hook}\n"
    )
    assert hook.read_text() == HOOK_SCRIPT


@pytest.mark.slow
def test_an_unstaged_parent_is_named_with_git_add(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parent exists in the working tree but was never added: the hook says so, not
    "parent 02 does not exist" plus an import error that succeeds in the working tree."""
    monkeypatch.chdir(repo)
    assert main(["install-hooks"]) == 0
    write(repo / EXP, GOOD)
    git(repo, "add", EXP)
    assert commit(repo, "base").returncode == 0
    assert main(["new", EXP, "wide", "--set", "lr=0.2"]) == 0
    assert main(["new", "experiments/toy/wide_02_01.py", "deep", "--set", "lr=0.3"]) == 0
    git(repo, "add", "experiments/toy/deep_03_02.py")  # the parent wide_02_01.py is not
    result = commit(repo, "deep")
    assert result.returncode == 1
    assert result.stderr == (
        "experiments/toy/deep_03_02.py:1:1: RK301 its parent experiments/toy/wide_02_01.py"
        " is not staged: it is in the working tree but not in this commit, so the commit"
        " would be broken\n"
        "  hint: stage it too: git add experiments/toy/wide_02_01.py\n"
        "checked 2 experiments: 1 problem in 1 file\n"
    )
    assert "does not exist" not in result.stderr and "python -c" not in result.stderr
    git(repo, "add", "experiments/toy/wide_02_01.py")
    result = commit(repo, "deep")
    assert result.returncode == 0, result.stderr
