"""Shared fixtures: real git repositories in tmp_path, and a guard against stray outputs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# The smallest experiment every check accepts (a base with a frozen config, main, smoke).
MINIMAL_EXPERIMENT = """
from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    lr: float = 0.1


config = Config()


def main(config: Config) -> dict[str, float]:
    return {"score": config.lr}


def smoke(config: Config) -> Config:
    return config
"""
MINIMAL_MAIN_BODY = '    return {"score": config.lr}\n'


def minimal_experiment(main_body: str, *, imports: str = "") -> str:
    """:data:`MINIMAL_EXPERIMENT` with ``main``'s body replaced by ``main_body`` (indented
    four spaces) and ``imports`` on top: an experiment whose ``main`` does what a test needs."""
    assert MINIMAL_MAIN_BODY in MINIMAL_EXPERIMENT  # else the replacement would do nothing
    return imports + MINIMAL_EXPERIMENT.replace(MINIMAL_MAIN_BODY, main_body)


GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@pytest.fixture(autouse=True)
def _isolated_git_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test gets a git identity and no user/system git config."""
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    home = tmp_path / "_home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.delenv("REPROKIT_OUTPUTS", raising=False)
    # scikit-learn sets these in os.environ when a test imports it in-process; every later
    # launch subprocess would inherit and record them, so a test's outcome would depend on
    # which tests ran before it.
    for key in ("KMP_INIT_AT_FORK", "KMP_DUPLICATE_LIB_OK"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture(autouse=True)
def _no_outputs_in_source_tree() -> Iterator[None]:
    """A test must never write run records into the project's own outputs/ folder."""
    outputs = REPO_ROOT / "outputs"
    before = sorted(p.name for p in outputs.iterdir()) if outputs.is_dir() else []
    yield
    after = sorted(p.name for p in outputs.iterdir()) if outputs.is_dir() else []
    assert after == before, f"a test wrote into {outputs}: {sorted(set(after) - set(before))}"


@pytest.fixture(autouse=True)
def _no_leaked_imports() -> Iterator[None]:
    """In-process commands put a test's project on sys.path and import its `experiments`
    package; the next test's project has its own. A left-over regular `experiments`
    package would win over that project's namespace package, so each test starts clean."""
    saved_path = list(sys.path)
    before = set(sys.modules)
    yield
    sys.path[:] = saved_path
    for name in set(sys.modules) - before:
        if name.split(".", 1)[0] == "experiments":
            del sys.modules[name]


def git(cwd: Path, *args: str) -> str:
    """Run git in cwd and return stdout as text (tests only; the library uses gitcmd)."""
    out = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)
    return out.stdout.decode()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """An empty git repository with a pyproject.toml and an experiments/ package, committed."""
    root = tmp_path / "project"
    root.mkdir()
    subprocess.run(
        ["git", "init", "-q", "-b", "main", "--template=", str(root)],
        check=True,
        capture_output=True,
    )
    write(root / "pyproject.toml", '[project]\nname = "toy"\nversion = "0"\n\n[tool.reprokit]\n')
    write(root / ".gitignore", "outputs/\n__pycache__/\n")
    write(root / "experiments" / "__init__.py", "")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def diverge(repo: Path, branch: str) -> None:
    """``f.txt`` committed on main, then changed one way on a new ``branch`` and another way
    on main, which is checked out at the end: merging or rebasing stops on a conflict."""
    write(repo / "f.txt", "base\n")
    git(repo, "add", "f.txt")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "-b", branch)
    write(repo / "f.txt", f"{branch}\n")
    git(repo, "commit", "-q", "-am", branch)
    git(repo, "checkout", "-q", "main")
    write(repo / "f.txt", "main\n")
    git(repo, "commit", "-q", "-am", "main")


def add_submodule(repo: Path, tmp_path: Path) -> Path:
    """A one-commit repository ``tmp_path/lib`` added to ``repo`` as the submodule
    ``vendor/lib`` and committed; returns the submodule's folder in ``repo``."""
    lib = tmp_path / "lib"
    git(tmp_path, "init", "-q", "-b", "main", "--template=", str(lib))
    write(lib / "lib.py", "v = 1\n")
    git(lib, "add", "-A")
    git(lib, "commit", "-q", "-m", "lib")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "vendor/lib")
    git(repo, "commit", "-q", "-m", "add submodule")
    return repo / "vendor/lib"


def run_cli(
    cwd: Path, *argv: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the real `reprokit` CLI in a subprocess (where the process boundary matters)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "reprokit", *argv],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
