"""`reprokit runs`, `blame` and `lineage` over 10,000 recorded runs across 50 experiments,
side by side with MLflow's `search_runs` over the same number of runs in a local store.

Goal (issue 5): runs, blame and lineage each answer in <= 0.5 s warm.
Run: python bench/bench_query.py [--runs N] [--mlflow-python /path/to/venv/bin/python]
MLflow is not a dependency of reprokit: give the python of a separate environment that has
it (`python -m venv /tmp/mlf && /tmp/mlf/bin/pip install mlflow`); without it that row is skipped.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

from _timing import env, git, python, row, time_command

FAMILIES = 5
PER_FAMILY = 10  # 50 experiments, each derived from the previous one

BASE = """\
from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    seed: int = 0
    lr: float = 0.001
    hidden: int = 64


config = Config()


def main(config: Config) -> dict[str, float]:
    return {"val_acc": 0.5}


def smoke(config: Config) -> Config:
    return config
"""


def derived(family: int, parent: str, i: int) -> str:
    return textwrap.dedent(f"""\
        from dataclasses import replace

        from experiments.bench.fam{family} import {parent} as parent

        config = replace(parent.config, hidden={64 + 16 * i})
        main = parent.main
        smoke = parent.smoke
        """)


def make_project(root: Path, runs: int) -> str:
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "bench"\nversion = "0"\n')
    (root / ".gitignore").write_text("outputs/\n")
    exps: list[tuple[str, int, int]] = []  # (relative path, family, index)
    for f in range(FAMILIES):
        fam = root / "experiments" / "bench" / f"fam{f}"
        fam.mkdir(parents=True)
        for folder in (root / "experiments", root / "experiments" / "bench", fam):
            (folder / "__init__.py").write_text("")
        parent = "base_01_01"
        (fam / f"{parent}.py").write_text(BASE)
        exps.append((f"experiments/bench/fam{f}/{parent}.py", f, 1))
        for i in range(2, PER_FAMILY + 1):
            name = f"step_{i:02d}_{i - 1:02d}"
            (fam / f"{name}.py").write_text(derived(f, parent, i))
            exps.append((f"experiments/bench/fam{f}/{name}.py", f, i))
            parent = name
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "bench")
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()
    rng = random.Random(0)
    outputs = root / "outputs"
    outputs.mkdir()
    for n in range(1, runs + 1):
        path, f, i = exps[n % len(exps)]
        parts = Path(path)
        stem = parts.stem
        name, id_, parent = stem.rsplit("_", 2)
        seed = n // len(exps)
        hidden = 64 + 16 * i if i > 1 else 64
        acc = 0.5 + 0.01 * i + rng.gauss(0, 0.003)
        run_dir = outputs / f"run_{n}"
        run_dir.mkdir()
        started = f"2026-11-{1 + n % 28:02d}T10:{n % 60:02d}:00+00:00"
        record = {
            "format_version": 1,
            "id": f"run_{n}",
            "status": "completed",
            "exit_code": 0,
            "error": None,
            "started_at": started,
            "ended_at": started,
            "duration_s": 1.5,
            "heartbeat_at": started,
            "pid": 1,
            "host": "bench",
            "command": ["reprokit", "launch", path],
            "cwd": str(root),
            "experiment": {
                "path": path,
                "module": path[:-3].replace("/", "."),
                "family": str(parts.parent),
                "name": name,
                "id": id_,
                "parent": parent,
                "config_type": f"experiments.bench.fam{f}.base_01_01:Config",
                "lineage": [],
            },
            "seed": seed,
            "seed_source": "cli",
            "smoke": False,
            "deterministic": False,
            "note": None,
            "checked": True,
            "replay_of": None,
            "replay": None,
            "ablation_of": None,
            "rank": 0,
            "world_size": 1,
            "git": {"sha": sha, "dirty": False, "snapshot": sha, "branch": "main"},
            "environment": {"packages": {"torch": "2.13.0"}, "python": {"version": "3.11.7"}},
            "hardware": {"cpu": {"model": "bench", "logical_cores": 2}},
            "torch": None,
            "inputs": [],
        }
        (run_dir / "run.json").write_text(json.dumps(record, sort_keys=True))
        (run_dir / "config.yaml").write_text(f"seed: {seed}\nlr: 0.001\nhidden: {hidden}\n")
        (run_dir / "summary.json").write_text(json.dumps({"val_acc": acc}))
        (run_dir / "metrics.jsonl").write_text(
            "".join(json.dumps({"step": s, "val_acc": acc * s / 3}) + "\n" for s in range(1, 4))
        )
    return f"experiments/bench/fam0/step_{PER_FAMILY:02d}_{PER_FAMILY - 1:02d}.py"


MLFLOW_SCRIPT = """
import os, sys, time
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
import mlflow
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
uri, n = sys.argv[1], int(sys.argv[2])
client = MlflowClient(tracking_uri=uri)
eid = client.create_experiment("bench")
for i in range(n):
    r = client.create_run(eid)
    client.log_batch(r.info.run_id, params=[Param("lr", "0.001"), Param("hidden", str(64 + i % 50))],
                     metrics=[Metric("val_acc", 0.5 + (i % 50) * 0.01, 0, 0)])
    client.set_terminated(r.info.run_id)
mlflow.set_tracking_uri(uri)
mlflow.search_runs(experiment_ids=[eid], max_results=n + 1)  # warm the OS cache
t = time.perf_counter()
df = mlflow.search_runs(experiment_ids=[eid], max_results=n + 1, filter_string="params.hidden = '80'")
print(time.perf_counter() - t, len(df))
"""


def mlflow_search(mlflow_python: str, runs: int, work: Path) -> float:
    store = work / "mlruns"
    out = subprocess.run(
        [mlflow_python, "-c", MLFLOW_SCRIPT, store.as_uri(), str(runs)],
        capture_output=True,
        text=True,
        check=True,
        env=env(),
    )
    return float(out.stdout.split()[0])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=10_000)
    p.add_argument("--mlflow-python", help="python of an environment with mlflow installed")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reprokit-bench-query-"))
    try:
        start = time.perf_counter()
        target = make_project(work / "project", args.runs)
        print(f"generated {args.runs} runs in {time.perf_counter() - start:.1f} s")
        project = work / "project"
        rk = [python(), "-m", "reprokit"]
        start = time.perf_counter()
        subprocess.run([*rk, "runs"], cwd=project, env=env(), check=True, capture_output=True)
        cold = time.perf_counter() - start
        bare = time_command([python(), "-c", "pass"], project)
        runs_t = time_command([*rk, "runs", "--limit", "20"], project, repeat=5)
        where_t = time_command(
            [*rk, "runs", "--where", "hidden==80", "--sort", "-val_acc", "--limit", "20"],
            project,
            repeat=5,
        )
        blame_t = time_command([*rk, "blame", "val_acc", target], project, repeat=5)
        lineage_t = time_command([*rk, "lineage", "--metric", "val_acc"], project, repeat=5)
        print(f"\n{args.runs} runs across {FAMILIES * PER_FAMILY} experiments")
        print(row("bare python -c pass (baseline)", bare))
        print(row("reprokit runs, cold (index built)", cold))
        print(row("reprokit runs --limit 20, warm", runs_t, goal=0.5, base=bare))
        print(row("reprokit runs --where hidden==80 --sort", where_t, goal=0.5, base=bare))
        print(row("reprokit blame val_acc (10-step lineage)", blame_t, goal=0.5, base=bare))
        print(row("reprokit lineage --metric val_acc", lineage_t, goal=0.5, base=bare))
        if args.mlflow_python:
            print(f"\ncreating {args.runs} MLflow runs (file store); this takes a few minutes...")
            ml = mlflow_search(args.mlflow_python, args.runs, work)
            print(row("mlflow.search_runs(filter hidden=80) in-process", ml))
            print(
                f"  reprokit runs --where (whole CLI process) vs MLflow search: {ml / where_t:.1f}x faster"
            )
        else:
            print("\n(MLflow comparison skipped: pass --mlflow-python)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
