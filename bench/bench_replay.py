"""Replay's own set-up on a 20,000-file repo, against `git worktree add` of the same commit
plus a bare Python start-up (the least any rebuild-and-rerun must do).

Goal (issue 4): `reprokit replay` within 1.5x of that baseline (the experiment is trivial,
so the replay's time is its set-up: worktree, environment comparison, child start, record).
Run: python bench/bench_replay.py [--files N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench_launch import make_repo

from _timing import env, git, python, row


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env(), check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--files", type=int, default=20_000)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reprokit-bench-replay-"))
    try:
        root = work / "repo"
        root.mkdir()
        make_repo(root, args.files, modified=50, untracked=20)
        exp = "experiments/toy/exp/base_01_01.py"
        subprocess.run(
            [python(), "-m", "reprokit", "launch", exp],
            cwd=root,
            env=env(),
            check=True,
            capture_output=True,
        )
        snapshot = subprocess.run(
            ["git", "rev-parse", "refs/reprokit/runs/run_1"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        serial, parallel, replay = [], [], []
        for i in range(args.repeat):
            for times, config in ((serial, ()), (parallel, ("-c", "checkout.workers=0"))):
                dest = work / f"wt{i}"
                start = time.perf_counter()
                git(root, *config, "worktree", "add", "--detach", "-q", str(dest), snapshot)
                subprocess.run([python(), "-c", "pass"], cwd=dest, check=True)
                times.append(time.perf_counter() - start)
                git(root, "worktree", "remove", "--force", str(dest))
            replay.append(timed([python(), "-m", "reprokit", "replay", "run_1"], root))
        # Replay checks out with parallel workers, so the fair baseline does too; the
        # serial one is what a hand-made `git worktree add` costs with git's defaults.
        base = statistics.median(parallel)
        rep = statistics.median(replay)
        print(
            f"replay on a repo of {args.files} tracked files (50 modified, 20 untracked at launch)"
        )
        print(row("git worktree add + bare python", statistics.median(serial)))
        print(row("git -c checkout.workers=0 worktree add + bare python (baseline)", base))
        print(row("reprokit replay run_1 (trivial main)", rep, base=base))
        print(f"  ratio: {rep / base:.2f}x the baseline (goal <= 1.5x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
