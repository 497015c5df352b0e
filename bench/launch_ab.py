"""A/B launch overhead of two reprokit source trees, alternating, CPU time as well as wall.

Wall time alone misled on a loaded machine (load ~5 on 2 cores): CPU time (user+sys of
the launch and every process it waited for, from ``os.wait4``) is what the code costs.
Each tree gets its own toy repository (the checks cache is per tree's code), warmed first.

Run: python bench/launch_ab.py OLD_TREE NEW_TREE [--rounds 20] [--no-check]
e.g. ``git archive be138e3 | tar -x -C /tmp/old`` then
``python bench/launch_ab.py /tmp/old .``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import env, git

EXPERIMENT = """\
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


def make_repo(root: Path) -> None:
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "toy"\nversion = "0"\n')
    (root / ".gitignore").write_text("outputs/\n__pycache__/\n")
    (root / "experiments" / "toy").mkdir(parents=True)
    (root / "experiments" / "__init__.py").write_text("")
    (root / "experiments" / "toy" / "base_01_01.py").write_text(EXPERIMENT)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "toy")


def one(tree: Path, repo: Path, extra: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user+sys of the process tree) of one launch."""
    argv = [sys.executable, "-m", "reprokit", "launch", "experiments/toy/base_01_01.py", *extra]
    e = {**env(), "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=repo, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: launch exited {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def show(label: str, samples: list[tuple[float, float]]) -> None:
    walls = [w for w, _ in samples]
    cpus = [c for _, c in samples]
    print(
        f"{label:<6} wall median {statistics.median(walls) * 1000:7.1f} ms"
        f" min {min(walls) * 1000:7.1f}   cpu median {statistics.median(cpus) * 1000:7.1f} ms"
        f" min {min(cpus) * 1000:7.1f}"
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("old", type=Path)
    p.add_argument("new", type=Path)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--no-check", action="store_true")
    p.add_argument(
        "--shared",
        action="store_true",
        help="one repository for both trees: each launch then finds the other tree's "
        "checks cache (a different fingerprint), i.e. a cold check every time",
    )
    p.add_argument(
        "--edit",
        action="store_true",
        help="change the experiment before every launch (the usual edit-then-launch: "
        "the checks run, cache cold for that file)",
    )
    args = p.parse_args()
    extra = ["--no-check"] if args.no_check else []
    work = Path(tempfile.mkdtemp(prefix="reprokit-bench-ab-"))
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    repos = {name: work / ("shared" if args.shared else name) for name in trees}
    for name in trees:
        if not repos[name].exists():
            make_repo(repos[name])
        for _ in range(3):  # .pyc files, the checks cache
            one(trees[name], repos[name], extra)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    for i in range(args.rounds):
        order = list(trees) if i % 2 == 0 else list(reversed(trees))
        for name in order:
            if args.edit:
                exp = repos[name] / "experiments" / "toy" / "base_01_01.py"
                exp.write_text(EXPERIMENT + f"# edit {i}\n")
            samples[name].append(one(trees[name], repos[name], extra))
    for name in trees:
        show(name, samples[name])
    print(f"(repos under {work})")


if __name__ == "__main__":
    main()
