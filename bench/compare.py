"""reprokit side by side with sacred, wandb (offline) and MLflow, in one run.

    .venv/bin/python bench/compare.py              # the full comparison (~15 min on 2 cores)
    .venv/bin/python bench/compare.py --quick      # small counts: a smoke run (~3 min)
    .venv/bin/python bench/compare.py --tools reprokit,sacred --sections launch,log

The other tools are installed into their own virtualenv, bench/.venv-compare (git-ignored,
reused when present; pinned versions below), never into reprokit's environment. Nothing
here may reach the network: wandb runs offline and every tool's telemetry and error
reporting is switched off (see QUIET). Each measure alternates its variants in one loop
(A B C A B C ..., the starting variant rotating each round), discards a warm-up round, and
prints medians with min-max and ratios. Python writes bytecode caches as users have them
(bench/_timing.py env()).

Every tool records the same trivial script: bench_body.train() logging 3 metrics for 5
steps, wrapped by each tool's natural "record a run" (reprokit launch; sacred Experiment
with a FileStorageObserver; wandb.init + log + finish; MLflow start_run + log_params +
log_metrics), against bare Python running train() with no tool.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from _timing import env as base_env, git

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-compare"
# Newest releases whose dependencies the package mirror could resolve on 2026-12-02
# (mlflow 3.18.0 needs an mlflow-tracing 3.18.0 the mirror lacks).
PINS = ("mlflow==3.17.2", "wandb==0.31.0", "sacred==0.8.7")
TOOLS = ("reprokit", "sacred", "wandb", "mlflow-file", "mlflow-sqlite")
# Logged steps per tool in the logging measure: fewer for the slow ones (see --slow-steps).
STEPS = {"reprokit": 100_000, "sacred": 100_000, "wandb": 5_000, "mlflow-file": 1_000}
STEPS["mlflow-sqlite"] = 200
SECTIONS = ("launch", "log", "query", "check", "replay")
MARK_MOD = "rk-bench-modified-7f3a"  # appended to every modified tracked file
MARK_UNTR = "rk-bench-untracked-9c1e"  # inside every untracked file
EXP = "experiments/toy/exp/base_01_01.py"
REPROKIT_PY = Path(sys.executable)
REPROKIT_CLI = str(REPROKIT_PY.parent / "reprokit")

# The same training body for every tool: bench_body.train(lr, log) calls log(step, loss=,
# acc=, lr=) BENCH_STEPS times (5 by default) and, when BENCH_REPORT names a file, writes
# its loop time and resident memory before and after the loop there.
BODY = """\
import os
import time

STEPS = int(os.environ.get("BENCH_STEPS", "5"))


def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def train(lr, log):
    rss0 = rss_kib()
    start = time.perf_counter()
    loss = 1.0
    for step in range(STEPS):
        loss *= 0.999
        log(step, loss=loss, acc=1.0 - loss, lr=lr)
    loop = time.perf_counter() - start
    report = os.environ.get("BENCH_REPORT")
    if report:
        rss1 = rss_kib()
        with open(report, "w") as f:
            f.write(f"{loop} {rss0} {rss1}\\n")
    return {"loss": loss}
"""

SCRIPTS = {
    "run_bare.py": """\
from bench_body import train

config = {"seed": 0, "lr": 0.001}
train(config["lr"], lambda step, **metrics: None)
""",
    EXP: """\
from dataclasses import dataclass

import reprokit
from bench_body import train


@dataclass(frozen=True)
class Config:
    seed: int = 0
    lr: float = 0.001


config = Config()


def main(config: Config) -> dict[str, float]:
    return train(config.lr, reprokit.log)
""",
    "run_sacred.py": """\
import os

from bench_body import train
from sacred import Experiment
from sacred.observers import FileStorageObserver

ex = Experiment("bench")
ex.observers.append(FileStorageObserver(os.environ["BENCH_SACRED_DIR"]))


@ex.config
def cfg():
    seed = 0
    lr = 0.001


@ex.automain
def run(_run, lr):
    def log(step, **metrics):
        for name, value in metrics.items():
            _run.log_scalar(name, value, step)

    return train(lr, log)
""",
    "run_wandb.py": """\
import wandb
from bench_body import train

config = {"seed": 0, "lr": 0.001}
run = wandb.init(project="bench", config=config)
train(config["lr"], lambda step, **metrics: run.log(metrics, step=step))
run.finish()
""",
    "run_mlflow.py": """\
import mlflow
from bench_body import train

config = {"seed": 0, "lr": 0.001}
with mlflow.start_run():
    mlflow.log_params(config)
    train(config["lr"], lambda step, **metrics: mlflow.log_metrics(metrics, step=step))
""",
}


# --------------------------------------------------------------------------- set-up


def sh(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(argv)}\n{p.stdout}\n{p.stderr}")
    return p.stdout


def ensure_venv() -> Path:
    py = VENV / "bin" / "python"
    probe = [str(py), "-c", "import mlflow, wandb, sacred"]
    if py.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return py
    print(f"creating {VENV} and installing {' '.join(PINS)} (a few minutes)...", flush=True)
    base = getattr(sys, "_base_executable", None) or shutil.which("python3") or "python3"
    sh([base, "-m", "venv", "--clear", str(VENV)])
    sh([str(py), "-m", "pip", "install", "-q", *PINS])
    sh(probe)
    return py


def quiet_env(store: Path) -> dict[str, str]:
    """Offline, no telemetry, no error reporting, every tool's files inside `store`."""
    return {
        **base_env(),
        "DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_ALLOW_FILE_STORE": "true",  # MLflow 3 keeps the file store in maintenance mode
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "WANDB_ERROR_REPORTING": "false",
        "WANDB_DIR": str(store / "wandb"),
        "WANDB_CONFIG_DIR": str(store / "wandb-config"),
        "WANDB_CACHE_DIR": str(store / "wandb-cache"),
        "WANDB_DATA_DIR": str(store / "wandb-data"),
        "WANDB_ARTIFACT_DIR": str(store / "wandb-artifacts"),
        "BENCH_SACRED_DIR": str(store / "sacred"),
        "GIT_PYTHON_REFRESH": "quiet",
    }


def make_repo(root: Path, files: int, modified: int, untracked: int) -> None:
    """`files` tracked text files (plus the scripts), `modified` of them changed, and
    `untracked` new files, as bench_launch.py builds them."""
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "bench"\nversion = "0"\n')
    (root / ".gitignore").write_text("outputs/\n__pycache__/\n")
    (root / "bench_body.py").write_text(BODY)
    for name, text in SCRIPTS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    for folder in ("experiments", "experiments/toy", "experiments/toy/exp"):
        (root / folder / "__init__.py").write_text("")
    for i in range(files):
        d = root / "src" / f"d{i // 100:03d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.txt").write_text(f"file {i}\n" * 4)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "bench")
    for i in range(0, files, max(1, files // modified))[:modified]:
        with open(root / "src" / f"d{i // 100:03d}" / f"f{i:05d}.txt", "a") as f:
            f.write(f"changed {MARK_MOD}\n")
    for i in range(untracked):
        (root / "new" / f"u{i // 10}").mkdir(parents=True, exist_ok=True)
        (root / "new" / f"u{i // 10}" / f"n{i}.txt").write_text(f"{MARK_UNTR} {i}\n")


# The least any snapshot of the working tree must do (as bench_launch.py's "git work"):
# status, then the tree with every change and untracked file through a temporary index.
GIT_FLOOR = "git floor (status + temp-index write-tree)"
GIT_FLOOR_SH = (
    "t=$(mktemp) && cp .git/index $t && git status --porcelain=v2 -z >/dev/null && "
    "GIT_INDEX_FILE=$t git add -A && GIT_INDEX_FILE=$t git write-tree >/dev/null; "
    "r=$?; rm -f $t; exit $r"
)


class Tools:
    """How each variant records one run of the trivial script in a repository."""

    def __init__(self, cpy: Path, store: Path) -> None:
        self.cpy = str(cpy)
        self.store = store
        store.mkdir(parents=True, exist_ok=True)
        self.env = quiet_env(store)

    def env_for(self, tool: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        e = dict(self.env)
        if tool == "mlflow-file":
            e["MLFLOW_TRACKING_URI"] = (self.store / "mlruns").as_uri()
        elif tool == "mlflow-sqlite":
            e["MLFLOW_TRACKING_URI"] = f"sqlite:///{self.store / 'mlflow.db'}"
        return {**e, **(extra or {})}

    def argv(self, tool: str) -> list[str]:
        return {
            "bare (reprokit venv)": [str(REPROKIT_PY), "run_bare.py"],
            "bare (tools venv)": [self.cpy, "run_bare.py"],
            GIT_FLOOR: ["sh", "-c", GIT_FLOOR_SH],
            "reprokit": [REPROKIT_CLI, "launch", EXP],
            "sacred": [self.cpy, "run_sacred.py"],
            "wandb": [self.cpy, "run_wandb.py"],
            "mlflow-file": [self.cpy, "run_mlflow.py"],
            "mlflow-sqlite": [self.cpy, "run_mlflow.py"],
        }[tool]

    def runner(
        self, tool: str, repo: Path, extra: dict[str, str] | None = None
    ) -> Callable[[], float]:
        argv, e = self.argv(tool), self.env_for(tool, extra)

        def run() -> float:
            start = time.perf_counter()
            p = subprocess.run(argv, cwd=repo, env=e, capture_output=True, text=True)
            took = time.perf_counter() - start
            if p.returncode:
                raise SystemExit(
                    f"{tool} failed in {repo}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
                )
            return took

        return run


# --------------------------------------------------------------------------- timing


def alternate(
    variants: list[tuple[str, Callable[[], float]]], repeat: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Each round runs every variant once, the first one rotating; warm-up rounds dropped."""
    for _ in range(warmup):
        for _, fn in variants:
            fn()
    samples: dict[str, list[float]] = {name: [] for name, _ in variants}
    for i in range(repeat):
        k = i % len(variants)
        for name, fn in variants[k:] + variants[:k]:
            samples[name].append(fn())
    return samples


def fmt_s(x: float) -> str:
    if x >= 1:
        return f"{x:,.2f} s"
    return f"{x * 1000:,.0f} ms" if x >= 0.1 else f"{x * 1000:,.1f} ms"


def span(xs: list[float], scale: Callable[[float], str] = fmt_s) -> str:
    return f"{scale(statistics.median(xs))} ({scale(min(xs))}–{scale(max(xs))})"


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


# --------------------------------------------------------------------------- sections


def launch_section(tools: Tools, chosen: list[str], repos: dict[str, Path], repeat: int) -> str:
    out = []
    for label, repo in repos.items():
        names = ["bare (reprokit venv)", "bare (tools venv)", GIT_FLOOR, *chosen]
        s = alternate([(n, tools.runner(n, repo)) for n in names], repeat)
        rk_over = None
        if "reprokit" in s:
            rk_over = med(s["reprokit"]) - med(s["bare (reprokit venv)"])
        rows = []
        for n in names:
            if n == GIT_FLOOR:
                rows.append([n, span(s[n]), "", "", ""])
                continue
            base = "bare (reprokit venv)" if n in ("reprokit", "bare (reprokit venv)") else None
            base = base or "bare (tools venv)"
            added = med(s[n]) - med(s[base])
            vs_rk = ""
            if rk_over and n not in ("reprokit",) and not n.startswith("bare"):
                vs_rk = f"{added / rk_over:.1f}×"
            rows.append(
                [
                    n,
                    span(s[n]),
                    "" if n.startswith("bare") else f"+{fmt_s(added)}",
                    f"{med(s[n]) / med(s[base]):.2f}×",
                    vs_rk,
                ]
            )
        out.append(f"\n**Launch, {label} repo** ({describe_repo(repo)}), {repeat} rounds\n")
        out.append(
            table(
                [
                    "variant",
                    "wall, median (min–max)",
                    "over bare Python",
                    "× bare Python",
                    "overhead × reprokit's",
                ],
                rows,
            )
        )
    return "\n".join(out)


def describe_repo(repo: Path) -> str:
    tracked = int(sh(["git", "ls-files", "-z"], cwd=repo).count("\0"))
    status = sh(["git", "status", "--porcelain", "-uall"], cwd=repo).splitlines()
    mod = sum(1 for line in status if line.startswith(" M"))
    unt = sum(1 for line in status if line.startswith("??"))
    return f"{tracked:,} tracked files, {mod} modified, {unt} untracked"


def log_section(
    tools: Tools,
    chosen: list[str],
    repo: Path,
    counts: dict[str, int],
    repeat: int,
) -> str:
    report = tools.store / "log-report.txt"
    loops: dict[str, list[float]] = {n: [] for n in chosen}
    grow: dict[str, list[float]] = {n: [] for n in chosen}

    def one(n: str) -> Callable[[], float]:
        run = tools.runner(n, repo, {"BENCH_STEPS": str(counts[n]), "BENCH_REPORT": str(report)})

        def go() -> float:
            wall = run()
            loop, rss0, rss1 = report.read_text().split()
            loops[n].append(float(loop) / counts[n])
            grow[n].append((int(rss1) - int(rss0)) / 1024)
            return wall

        return go

    variants = []
    for n in chosen:  # each tool's logging run and its 5-step run, side by side
        variants += [(n, one(n)), (f"{n} 5 steps", tools.runner(n, repo))]
    walls = alternate(variants, repeat, warmup=1)
    for n in chosen:  # drop the warm-up round's figures
        loops[n], grow[n] = loops[n][1:], grow[n][1:]
    us = lambda x: f"{x * 1e6:,.1f}"  # noqa: E731
    rk = med(loops["reprokit"]) if "reprokit" in loops else None
    rows = []
    for n in chosen:
        total = us((med(walls[n]) - med(walls[f"{n} 5 steps"])) / counts[n])
        rows.append(
            [
                n,
                f"{counts[n]:,}",
                span(loops[n], us),
                f"{med(loops[n]) / rk:.1f}×" if rk and n != "reprokit" else "",
                total,
                span(walls[n]),
                f"{med(grow[n]):,.1f}",
            ]
        )
    head = (
        f"\n**Logging**: train() logging 3 metrics per step, {repeat} rounds; the step count "
        "differs by tool (`--steps` for reprokit and sacred, `--slow-steps` for the slower "
        "wandb and MLflow, whose defaults keep each run under ~20 s). "
        "µs/step in the loop is what the training loop pays; whole run is the run's wall time "
        "minus the same tool's 5-step run (alternated with it), per step, so it includes "
        "flushing at the end; RSS "
        "growth is the training process's resident memory after the loop minus before it "
        "(wandb's service process not counted).\n"
    )
    return head + table(
        [
            "tool",
            "steps",
            "µs/step in loop, median (min–max)",
            "× reprokit",
            "µs/step whole run",
            "run wall",
            "RSS growth, MiB",
        ],
        rows,
    )


# ---- queries


def clone_reprokit(outputs: Path, real: int, upto: int) -> None:
    """run_{real+1}.. run_{upto}: copies of the real run folders run_1..run_{real}, cycled,
    with the new id written into run.json (everything else kept, snapshot ref included)."""
    have = max(int(p.name[4:]) for p in outputs.glob("run_*"))
    sources = []
    for k in range(1, real + 1):
        d = outputs / f"run_{k}"
        files = {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}
        sources.append((json.loads(files.pop("run.json")), files))
    for n in range(have + 1, upto + 1):
        record, files = sources[(n - 1) % real]
        d = outputs / f"run_{n}"
        d.mkdir()
        for name, data in files.items():
            (d / name).write_bytes(data)
        (d / "run.json").write_text(json.dumps({**record, "id": f"run_{n}"}, indent=1))


def mlflow_file_runs(root: Path) -> list[Path]:
    return [p for p in (root / "0").iterdir() if (p / "meta.yaml").exists()]


def clone_mlflow_file(root: Path, real: list[Path], upto: int) -> None:
    """New run folders in experiment 0: copies of the real ones with a fresh run id in
    meta.yaml (run_id, run_uuid, artifact_uri)."""
    have = len(mlflow_file_runs(root))
    for n in range(have, upto):
        src = real[n % len(real)]
        new = uuid.uuid4().hex
        dest = root / "0" / new
        shutil.copytree(src, dest)
        meta = dest / "meta.yaml"
        meta.write_text(meta.read_text().replace(src.name, new))


def clone_mlflow_sqlite(db: Path, upto: int) -> None:
    """New runs: every row of every table keyed by run_uuid copied from the real runs,
    cycled, under a fresh run id."""
    con = sqlite3.connect(db)
    real = [r[0] for r in con.execute("select run_uuid from runs order by start_time")]
    have = con.execute("select count(*) from runs").fetchone()[0]
    tables = []
    for (t,) in con.execute("select name from sqlite_master where type='table'"):
        cols = [c[1] for c in con.execute(f"pragma table_info('{t}')")]
        if "run_uuid" in cols:
            tables.append((t, cols))
    with con:
        for n in range(have, upto):
            src, new = real[n % len(real)], uuid.uuid4().hex
            for t, cols in tables:
                sel = ", ".join("?" if c == "run_uuid" else f'"{c}"' for c in cols)
                names = ", ".join(f'"{c}"' for c in cols)
                con.execute(
                    f'insert into "{t}" ({names}) select {sel} from "{t}" where run_uuid = ?',
                    (new, src),
                )
            con.execute(
                "update runs set artifact_uri = replace(artifact_uri, ?, ?) where run_uuid = ?",
                (src, new, new),
            )
    con.close()


RK_FRAME = """\
import sys, time
import pandas
import reprokit
t = time.perf_counter()
df = reprokit.runs_frame()
print(time.perf_counter() - t, len(df))
"""

ML_SEARCH = """\
import sys, time
import mlflow
n = int(sys.argv[1])
t = time.perf_counter()
df = mlflow.search_runs(experiment_ids=["0"], max_results=n)
print(time.perf_counter() - t, len(df))
"""


def inproc(argv: list[str], cwd: Path, env: dict[str, str], expect: int) -> Callable[[], float]:
    def go() -> float:
        out = sh(argv, cwd=cwd, env=env).split()
        if int(out[1]) != expect:
            raise SystemExit(f"{argv[:3]} returned {out[1]} rows, expected {expect}")
        return float(out[0])

    return go


def query_section(
    tools: Tools,
    chosen: list[str],
    work: Path,
    small: Path,
    counts: list[int],
    repeat: int,
    real: int = 5,
) -> str:
    proj = work / "query-repo"
    make_repo(proj, 20, 20, 20)
    outputs = proj / "outputs"
    rk_env = base_env()
    mls = [n for n in chosen if n.startswith("mlflow")]
    for seed in range(real):
        if "reprokit" in chosen:
            sh([REPROKIT_CLI, "launch", EXP, "--seed", str(seed)], cwd=proj, env=rk_env)
        for n in mls:
            tools.runner(n, proj)()
    real_ml = mlflow_file_runs(tools.store / "mlruns") if "mlflow-file" in mls else []
    index = outputs / ".index.sqlite"

    def rebuild() -> float:
        index.unlink(missing_ok=True)
        return timed_cli(["runs", "--limit", "20"])

    def timed_cli(args: list[str]) -> float:
        start = time.perf_counter()
        sh([REPROKIT_CLI, *args], cwd=proj, env=rk_env)
        return time.perf_counter() - start

    rows = []
    for n_runs in counts:
        start = time.perf_counter()
        if "reprokit" in chosen:
            clone_reprokit(outputs, real, n_runs)
        if "mlflow-file" in mls:
            clone_mlflow_file(tools.store / "mlruns", real_ml, n_runs)
        if "mlflow-sqlite" in mls:
            clone_mlflow_sqlite(tools.store / "mlflow.db", n_runs)
        made = time.perf_counter() - start
        variants: list[tuple[str, Callable[[], float]]] = []
        if "reprokit" in chosen:
            timed_cli(["runs", "--limit", "20"])  # the index, built once before the warm figures
            variants += [
                ("reprokit runs --limit 20 (CLI)", lambda: timed_cli(["runs", "--limit", "20"])),
                ("reprokit runs, all (CLI)", lambda: timed_cli(["runs"])),
                (
                    "reprokit runs_frame(), in-process",
                    inproc([str(REPROKIT_PY), "-c", RK_FRAME], proj, rk_env, n_runs),
                ),
            ]
        for n in mls:
            e = tools.env_for(n)
            for limit, what in ((20, "max_results=20"), (n_runs, "all")):
                variants.append(
                    (
                        f"{n} search_runs({what}), in-process",
                        inproc([tools.cpy, "-c", ML_SEARCH, str(limit)], proj, e, limit),
                    )
                )
        s = alternate(variants, repeat)
        if "reprokit" in chosen:
            s["reprokit index built from the folders (runs --limit 20, no index)"] = [
                rebuild() for _ in range(max(2, repeat // 2))
            ]
        frame = s.get("reprokit runs_frame(), in-process")
        for name, xs in s.items():
            ratio = ""
            if frame and "search_runs(all)" in name:
                ratio = f"runs_frame() {med(xs) / med(frame):.1f}× faster"
            if "search_runs(max_results=20)" in name and "reprokit runs --limit 20 (CLI)" in s:
                ratio = f"runs --limit 20 {med(xs) / med(s['reprokit runs --limit 20 (CLI)']):.1f}× faster"
            if name.startswith("reprokit index"):
                warm = s.get("reprokit runs --limit 20 (CLI)")
                if warm:
                    ratio = f"{(med(xs) - med(warm)) / n_runs * 1e6:,.0f} µs per run over the warm query"
            rows.append([f"{n_runs:,}", name, span(xs), ratio])
        if "reprokit" in chosen:
            # The same launch with this many runs in outputs/ and with the small repo's few
            # (identical repositories otherwise), alternated.
            few = len(list((small / "outputs").glob("run_*")))
            ls = alternate(
                [
                    ("few", tools.runner("reprokit", small)),
                    ("many", tools.runner("reprokit", proj)),
                ],
                repeat,
            )
            rows.append(
                [f"{n_runs:,}", f"reprokit launch, {few} runs in outputs/", span(ls["few"]), ""]
            )
            ratio = f"{med(ls['many']) / med(ls['few']):.2f}× the launch with {few}"
            rows.append(
                [
                    f"{n_runs:,}",
                    f"reprokit launch, {n_runs:,} runs in outputs/",
                    span(ls["many"]),
                    ratio,
                ]
            )
        print(f"  ({n_runs:,} runs generated in {made:.1f} s)", flush=True)
    head = (
        f"\n**Queries**, {repeat} rounds (index build: {max(2, repeat // 2)}). Runs are real "
        f"records cloned: {real} runs launched for real per tool (reprokit launch --seed 0..{real - 1}; "
        "run_mlflow.py per MLflow store), then copied cycling through them: reprokit's run "
        "folders copied to run_N with the new id written into run.json (same snapshot ref "
        "and commit); MLflow's file-store run folders copied under a fresh uuid (meta.yaml "
        "rewritten); MLflow's SQLite rows copied table by table under a fresh uuid. "
        "reprokit's CLI figures are whole processes; runs_frame() and search_runs are timed "
        "inside a fresh process after the imports.\n"
    )
    return head + table(["runs", "query", "median (min–max)", "ratio"], rows)


def check_section(work: Path, repeat: int) -> str:
    from bench_check import FAMILIES, PER_FAMILY, make_project

    proj = work / "check-repo"
    proj.mkdir()
    make_project(proj)
    e = base_env()

    def cmd(argv: list[str]) -> Callable[[], float]:
        def go() -> float:
            start = time.perf_counter()
            sh(argv, cwd=proj, env=e)
            return time.perf_counter() - start

        return go

    cold = cmd([REPROKIT_CLI, "check"])()
    s = alternate(
        [
            ("bare python -c pass", cmd([str(REPROKIT_PY), "-c", "pass"])),
            ("reprokit check, warm (nothing changed)", cmd([REPROKIT_CLI, "check"])),
        ],
        repeat,
    )
    base = med(s["bare python -c pass"])
    rows = [["reprokit check, cold (first run, no cache)", fmt_s(cold), ""]]
    rows += [[k, span(v), f"{med(v) / base:.2f}× bare"] for k, v in s.items()]
    return (
        f"\n**`reprokit check`**, {FAMILIES * PER_FAMILY:,} experiment files "
        f"(bench_check.py's project), {repeat} rounds\n"
        + table(["", "median (min–max)", "ratio"], rows)
    )


WT_ADD = ["git", "-c", "checkout.workers=0", "worktree", "add", "--detach", "-q"]


def replay_section(tools: Tools, repo: Path, repeat: int) -> str:
    e = base_env()
    runs = sorted((repo / "outputs").glob("run_*"), key=lambda p: int(p.name[4:]))
    if not runs:
        sh([REPROKIT_CLI, "launch", EXP], cwd=repo, env=e)
        runs = [repo / "outputs" / "run_1"]
    run_id = runs[0].name
    snapshot = json.loads((runs[0] / "run.json").read_text())["git"]["snapshot"]
    bare = [str(REPROKIT_PY), "run_bare.py"]
    rounds = iter(range(1_000_000))

    def baseline() -> float:
        dest = repo.parent / f"replay-wt{next(rounds)}"  # a new path each time, as replay's
        start = time.perf_counter()
        sh(
            [*WT_ADD, str(dest), snapshot],
            cwd=repo,
            env=e,
        )
        sh(bare, cwd=dest, env=e)
        took = time.perf_counter() - start
        sh(["git", "worktree", "remove", "--force", str(dest)], cwd=repo, env=e)
        return took

    def replay() -> float:
        start = time.perf_counter()
        sh([REPROKIT_CLI, "replay", run_id, "--verify"], cwd=repo, env=e)
        return time.perf_counter() - start

    s = alternate(
        [
            ("git -c checkout.workers=0 worktree add + bare Python", baseline),
            (f"reprokit replay {run_id} --verify", replay),
        ],
        repeat,
    )
    base = med(s["git -c checkout.workers=0 worktree add + bare Python"])
    rows = [[k, span(v), f"{med(v) / base:.2f}×"] for k, v in s.items()]
    return (
        f"\n**Replay**, large repo ({describe_repo(repo)}; the snapshot of {run_id}), {repeat} "
        "rounds; the baseline's worktree removal is not timed, replay's own is\n"
        + table(["", "median (min–max)", "× baseline"], rows)
    )


# ---- what each tool records


def evidence(tool: str, tools: Tools, repo: Path) -> tuple[bytes, str]:
    store = tools.store
    blobs: list[bytes] = []

    def files(root: Path) -> None:
        for p in root.rglob("*"):
            if p.is_file():
                blobs.append(p.read_bytes())

    if tool == "reprokit":
        where = "outputs/run_N/ + a snapshot commit under refs/reprokit/runs/"
        files(repo / "outputs")
        last = max((repo / "outputs").glob("run_*"), key=lambda p: int(p.name[4:]))
        snap = json.loads((last / "run.json").read_text())["git"]["snapshot"]
        blobs.append(sh(["git", "log", "-1", snap], cwd=repo).encode())
        # the snapshot's tree holds the working tree as it was: the tracked files'
        # changes and the untracked files.
        grep = ["git", "grep", "-h", "-e", "rk-bench-", "-e", "def train(lr, log)", snap]
        blobs.append(sh(grep, cwd=repo).encode())
    elif tool == "sacred":
        where = "FileStorageObserver folder: run.json, config.json, metrics.json, _sources/"
        files(store / "sacred")
    elif tool == "wandb":
        where = "wandb/offline-run-*/: the .wandb log (metadata, config, history), files/requirements.txt"
        files(store / "wandb")
    elif tool == "mlflow-file":
        where = "mlruns/0/<run id>/: meta.yaml, params/, metrics/, tags/"
        files(store / "mlruns")
    else:
        where = "mlflow.db: runs, params, metrics, tags tables"
        con = sqlite3.connect(store / "mlflow.db")
        blobs.append("\n".join(con.iterdump()).encode())
        con.close()
    return b"\n".join(blobs), where


def records_section(tools: Tools, chosen: list[str], repo: Path) -> str:
    head = sh(["git", "rev-parse", "HEAD"], cwd=repo).strip().encode()
    pip_version = sh([tools.cpy, "-m", "pip", "--version"]).split()[1]
    cpu = cpu_model().encode()
    pyver = platform.python_version().encode()
    rows = []
    for tool in chosen:
        blob, where = evidence(tool, tools, repo)
        # "pip" is installed in both environments and imported by none of the scripts: a
        # record holding its version lists the installed packages, not just the imported.
        allpk = re.search(rb"pip\W{1,6}" + re.escape(pip_version.encode()), blob)
        imported = re.search(rb"sacred\W{1,6}0\.8|reprokit\W{1,6}0\.1|mlflow\W{1,6}3\.", blob)
        yes = lambda b: "yes" if b else "no"  # noqa: E731
        dirty = "changes" if MARK_MOD.encode() in blob else "no"
        if dirty == "no" and re.search(rb'"dirty":\s*true', blob):
            dirty = "a flag only"
        rows.append(
            [
                tool,
                yes(head in blob),
                dirty,
                yes(MARK_UNTR.encode() in blob),
                yes(b"def train(lr, log)" in blob),
                "all installed" if allpk else ("imported only" if imported else "no"),
                yes(pyver in blob),
                yes(cpu in blob),
                where,
            ]
        )
    return (
        "\n**What each tool records** (found by searching its stored files, after the small-repo "
        "launches above, for: HEAD's SHA; a marker line appended to the 20 modified tracked "
        "files; a marker inside the 20 untracked files; the text of bench_body.py; pip's version (installed, never "
        "imported); the Python version; the CPU model)\n"
        + table(
            [
                "tool",
                "git SHA",
                "dirty tree (tracked changes)",
                "untracked files",
                "script source",
                "packages",
                "Python version",
                "CPU model",
                "where",
            ],
            rows,
        )
    )


# --------------------------------------------------------------------------- main


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(cpy: Path) -> str:
    reprokit_version = sh([str(REPROKIT_PY), "-c", "import reprokit; print(reprokit.__version__)"])
    reprokit_version = reprokit_version.strip()
    versions = sh(
        [
            str(cpy),
            "-c",
            "import mlflow, wandb, sacred; print(mlflow.__version__, "
            "wandb.__version__, sacred.__version__)",
        ],
        env=quiet_env(Path(tempfile.gettempdir())),
    ).split()
    return (
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"machine: {len(os.sched_getaffinity(0))} cores (nproc), {cpu_model()}, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; "
        f"Python {platform.python_version()}; {sh(['git', '--version']).strip()}; "
        f"reprokit {reprokit_version}, "
        f"mlflow {versions[0]}, wandb {versions[1]}, sacred {versions[2]}; "
        f"load average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    p.add_argument("--tools", default=",".join(TOOLS), help=f"subset of {','.join(TOOLS)}")
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"subset of {','.join(SECTIONS)}")
    p.add_argument("--repeat", type=int, help="rounds per measure (default 7; --quick 2)")
    p.add_argument("--files", type=int, help="large repo's tracked files (default 20,000)")
    p.add_argument("--steps", type=int, help="logged steps, reprokit and sacred (100,000)")
    p.add_argument(
        "--slow-steps",
        type=int,
        help="logged steps for wandb and MLflow (default wandb 5,000, MLflow file 1,000, "
        "MLflow SQLite 200)",
    )
    p.add_argument("--runs", help="query run counts, comma-separated (default 1000,10000)")
    p.add_argument("--with-100k", action="store_true", help="queries at 100,000 runs too")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    a = p.parse_args()
    chosen = [t for t in TOOLS if t in a.tools.split(",")]
    unknown = set(a.tools.split(",")) - set(TOOLS)
    sections = a.sections.split(",")
    if unknown or set(sections) - set(SECTIONS):
        p.error(f"unknown tools or sections: {unknown | (set(sections) - set(SECTIONS))}")
    repeat = a.repeat or (2 if a.quick else 7)
    files = a.files or (2_000 if a.quick else 20_000)
    scale = 20 if a.quick else 1
    steps = {t: n // scale for t, n in STEPS.items()}
    if a.steps:
        steps.update(reprokit=a.steps, sacred=a.steps)
    if a.slow_steps:
        steps.update({"wandb": a.slow_steps, "mlflow-file": a.slow_steps})
        steps["mlflow-sqlite"] = a.slow_steps
    counts = [int(x) for x in (a.runs or ("100,500" if a.quick else "1000,10000")).split(",")]
    if a.with_100k:
        counts.append(100_000)

    cpy = ensure_venv()
    work = Path(tempfile.mkdtemp(prefix="reprokit-compare-"))
    started = time.perf_counter()
    out: list[str] = []

    def emit(text: str) -> None:
        out.append(text)
        print(text, flush=True)

    def step(what: str) -> None:
        print(f"[{time.perf_counter() - started:5.0f} s] {what}...", file=sys.stderr, flush=True)

    try:
        emit(machine(cpy))
        emit(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
        tools = Tools(cpy, work / "store")
        repos = {"small": work / "small", "large": work / "large"}
        need_large = "launch" in sections or "replay" in sections
        step("building the repositories")
        make_repo(repos["small"], 20, 20, 20)
        if need_large:
            make_repo(repos["large"], files, 50, 20)
        if "launch" in sections:
            step("launch")
            text = launch_section(tools, chosen, repos, repeat)
            emit(text)
            emit(records_section(tools, chosen, repos["small"]))
        if "log" in sections:
            step("logging")
            emit(log_section(tools, chosen, repos["small"], steps, min(repeat, 3)))
        if "query" in sections and ("reprokit" in chosen or any("mlflow" in t for t in chosen)):
            step("queries")
            qtools = Tools(cpy, work / "query-store")
            emit(query_section(qtools, chosen, work, repos["small"], counts, min(repeat, 5)))
        if "check" in sections and "reprokit" in chosen:
            step("check")
            emit(check_section(work, repeat))
        if "replay" in sections and "reprokit" in chosen:
            step("replay")
            emit(replay_section(tools, repos["large"], min(repeat, 5)))
        emit(
            f"\nload average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
            f"total {time.perf_counter() - started:.0f} s"
        )
    finally:
        if a.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
