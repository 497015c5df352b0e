"""`reprokit --help` and `reprokit check` over 1,000 synthetic experiments, cold and warm.

Goals (issue 2): --help <= 80 ms; check cold <= 2 s; check with nothing changed <= 0.3 s.
Run: python bench/bench_check.py
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _timing import env, git, python, row, time_command

FAMILIES = 50
PER_FAMILY = 20

BASE = """\
from dataclasses import dataclass


@dataclass(frozen=True)
class Model:
    hidden: int = 64
    depth: int = 2


@dataclass(frozen=True)
class Config:
    seed: int = 0
    lr: float = 1e-3
    model: Model = Model()


config = Config()


def main(config: Config) -> dict[str, float]:
    return {{"score": config.lr * config.model.hidden}}


def smoke(config: Config) -> Config:
    return config
"""

DERIVED = """\
from dataclasses import replace

from experiments.fam{f:02d}.exp.base_01_01 import config as parent_config, main, smoke

config = replace(parent_config, lr={lr}, model=replace(parent_config.model, hidden={hidden}))
"""


def make_project(root: Path) -> None:
    (root / "pyproject.toml").write_text('[project]\nname = "bench"\nversion = "0"\n')
    (root / "experiments").mkdir()
    (root / "experiments" / "__init__.py").write_text("")
    for f in range(FAMILIES):
        fam = root / "experiments" / f"fam{f:02d}"
        (fam / "exp").mkdir(parents=True)
        (fam / "__init__.py").write_text("")
        (fam / "exp" / "__init__.py").write_text("")
        (fam / "exp" / "base_01_01.py").write_text(BASE.format())
        for i in range(2, PER_FAMILY + 1):
            text = DERIVED.format(f=f, lr=i * 1e-4, hidden=16 * i)
            (fam / "exp" / f"var{i}_{i:02d}_01.py").write_text(text)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "bench")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="reprokit-bench-check-"))
    try:
        make_project(work)
        reprokit = [python(), "-m", "reprokit"]
        bare = time_command([python(), "-c", "pass"], work)
        helps = time_command([*reprokit, "--help"], work, repeat=11)
        cold = []
        for _ in range(3):
            shutil.rmtree(work / ".git" / "reprokit", ignore_errors=True)
            start = time.perf_counter()
            subprocess.run(
                [*reprokit, "check"], cwd=work, env=env(), check=True, capture_output=True
            )
            cold.append(time.perf_counter() - start)
        warm = time_command([*reprokit, "check"], work)
        static = time_command([*reprokit, "check", "--static", "--no-cache"], work, repeat=3)
        n = FAMILIES * PER_FAMILY
        print(f"reprokit check over {n} experiment files ({FAMILIES} families)")
        print(row("bare python -c pass (baseline)", bare))
        print(row("reprokit --help", helps, goal=0.080, base=bare))
        print(row("reprokit check, cold (no cache)", min(cold), goal=2.0, base=bare))
        print(row("reprokit check, warm (nothing changed)", warm, goal=0.3, base=bare))
        print(row("reprokit check --static --no-cache", static, base=bare))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
