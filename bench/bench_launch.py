"""Launch overhead: the same trivial `main` run by bare Python vs `reprokit launch`.

Goals (issue 3): reprokit adds <= 50 ms on a small repo, and <= 120 ms on a repo of
20,000 tracked files with 50 modified and 20 untracked files.
Also prints the cost of the git work alone (status + snapshot through a temporary index)
so the overhead can be read against it.
Run: python bench/bench_launch.py [--files N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _timing import env, git, python, row, time_command

EXPERIMENT = """\
from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    seed: int = 0
    n: int = 10


config = Config()


def main(config: Config) -> dict[str, float]:
    return {"total": float(sum(range(config.n)))}
"""


def make_repo(root: Path, files: int, modified: int, untracked: int) -> None:
    (root / "pyproject.toml").write_text('[project]\nname = "bench"\nversion = "0"\n')
    (root / ".gitignore").write_text("outputs/\n__pycache__/\n")
    fam = root / "experiments" / "toy" / "exp"
    fam.mkdir(parents=True)
    for folder in (root / "experiments", root / "experiments" / "toy", fam):
        (folder / "__init__.py").write_text("")
    (fam / "base_01_01.py").write_text(EXPERIMENT)
    for i in range(files):
        d = root / "src" / f"d{i // 100:03d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.txt").write_text(f"file {i}\n" * 4)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "bench")
    for i in range(0, files, max(1, files // modified))[:modified]:
        with open(root / "src" / f"d{i // 100:03d}" / f"f{i:05d}.txt", "a") as f:
            f.write("changed\n")
    for i in range(untracked):
        (root / "new" / f"u{i // 10}").mkdir(parents=True, exist_ok=True)
        (root / "new" / f"u{i // 10}" / f"n{i}.txt").write_text(f"untracked {i}\n")


def git_work(root: Path) -> float:
    """What any snapshot must do: status, copy index, add -A to a temp index, write-tree."""
    samples = []
    for _ in range(7):
        tmp_index = root / ".git" / "bench-index"
        start = time.perf_counter()
        subprocess.run(
            ["git", "status", "--porcelain=v2", "-z"], cwd=root, capture_output=True, check=True
        )
        shutil.copyfile(root / ".git" / "index", tmp_index)
        e = {**env(), "GIT_INDEX_FILE": str(tmp_index)}
        subprocess.run(["git", "add", "-A"], cwd=root, env=e, check=True)
        subprocess.run(["git", "write-tree"], cwd=root, env=e, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
        os.unlink(tmp_index)
    samples.sort()
    return samples[len(samples) // 2]


def edited_launch(work: Path, exp: str, repeat: int = 5) -> float:
    """Median wall time of a launch right after the experiment changed: its checks are not
    cached, so checks 5-6 run in a child interpreter (reprokit.checks.isolate), ~50-70 ms
    of CPU more than a cached launch. Every edit-then-launch pays it once."""
    source = (work / exp).read_text()
    samples = []
    for i in range(repeat):
        (work / exp).write_text(f"{source}# edit {i}\n")
        start = time.perf_counter()
        subprocess.run(
            [python(), "-m", "reprokit", "launch", exp], cwd=work, env=env(), check=True,
            capture_output=True,
        )  # fmt: skip
        samples.append(time.perf_counter() - start)
    (work / exp).write_text(source)
    return statistics.median(samples)


def measure(label: str, files: int, goal: float) -> None:
    work = Path(tempfile.mkdtemp(prefix="reprokit-bench-launch-"))
    try:
        make_repo(work, files, modified=min(50, files), untracked=20 if files else 0)
        exp = "experiments/toy/exp/base_01_01.py"
        bare = time_command(
            [
                python(),
                "-c",
                "from experiments.toy.exp.base_01_01 import config, main; main(config)",
            ],
            work,
        )
        launch = time_command([python(), "-m", "reprokit", "launch", exp], work, repeat=5)
        nocheck = time_command(
            [python(), "-m", "reprokit", "launch", exp, "--no-check"], work, repeat=5
        )
        edited = edited_launch(work, exp)
        gitcost = git_work(work)
        print(f"\n{label}: {files} tracked files, {min(50, files)} modified, 20 untracked")
        print(row("bare python running main (baseline)", bare))
        print(row("git work alone (status + temp-index snapshot)", gitcost))
        print(row("reprokit launch (checks cached)", launch, base=bare))
        print(row("reprokit launch --no-check", nocheck, base=bare))
        print(row("reprokit launch after an edit (checks run)", edited, base=bare))
        print(row("  overhead added by reprokit launch", launch - bare, goal=goal))
        print(f"  overhead / git work: {(launch - bare) / gitcost:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--files", type=int, default=20_000)
    args = p.parse_args()
    measure("small repo", 20, goal=0.050)
    measure("large repo", args.files, goal=0.120)


if __name__ == "__main__":
    main()
