from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from conftest import git, run_cli, write
from reprokit.capture import process
from reprokit.cli import main as cli_main
from reprokit.launch import command as launch_command, request as launch_request
from reprokit.launch.request import LaunchedRun, LaunchRequest
from reprokit.record import store
from reprokit.record.schema import Replay
from reprokit.settings import load_settings

BASE = '''
"""Toy base experiment for reprokit's launch tests."""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass, replace

import reprokit


@dataclass(frozen=True)
class Config:
    seed: int = 3
    steps: int = 3
    sleep: float = 0.0
    fail: bool = False


config = Config()


def main(config: Config) -> dict[str, object]:
    print("hello from main", flush=True)
    for step in range(config.steps):
        reprokit.log(step=step, loss=1.0 / (step + 1))
    if config.fail:
        raise ValueError("boom")
    time.sleep(config.sleep)
    run = reprokit.current_run()
    return {
        "loss": 1.0 / config.steps,
        "rand": random.random(),
        "torch_loaded": "torch" in sys.modules,
        "numpy_loaded": "numpy" in sys.modules,
        "run_id": run.id if run else None,
    }


def smoke(config: Config) -> Config:
    return replace(config, steps=1)
'''

DERIVED = '''
"""{doc}"""

from dataclasses import replace

from experiments.toy.base_01_01 import config as parent_config, main, smoke

__all__ = ["config", "main", "smoke"]

config = replace(parent_config, {change})
'''

EXP = "experiments/toy/base_01_01.py"
SLEEPY = "experiments/toy/sleepy_02_01.py"
CRASH = "experiments/toy/crash_03_01.py"
MORE = "experiments/toy/more_04_01.py"


def add_toy_family(root: Path, *, commit: bool = True) -> None:
    """experiments/toy/: base_01_01 (seed 3, 3 steps), sleepy_02_01 (sleeps 60 s),
    crash_03_01 (raises), more_04_01 (4 steps)."""
    write(root / "experiments" / "__init__.py", "")
    write(root / "experiments" / "toy" / "__init__.py", "")
    write(root / EXP, BASE)
    write(root / SLEEPY, DERIVED.format(doc="Sleeps, to be signalled.", change="sleep=60.0"))
    write(root / CRASH, DERIVED.format(doc="Raises in main.", change="fail=True"))
    write(root / MORE, DERIVED.format(doc="One more step.", change="steps=4"))
    if commit:
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "toy family")


@pytest.fixture
def toy(repo: Path) -> Path:
    add_toy_family(repo)
    return repo


@pytest.fixture
def fresh_imports() -> Iterator[None]:
    """In-process launches import `experiments.toy...` from a different tmp repo each test."""
    saved_path = list(sys.path)

    def forget() -> None:
        for name in [n for n in sys.modules if n == "experiments" or n.startswith("experiments.")]:
            del sys.modules[name]

    forget()
    yield
    forget()
    sys.path[:] = saved_path


def launch_in_process(repo: Path, monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.chdir(repo)
    return cli_main(["launch", *argv])


def record(repo: Path, run_id: str = "run_1") -> dict[str, object]:
    data: dict[str, object] = json.loads((repo / "outputs" / run_id / "run.json").read_text())
    return data


ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


@pytest.mark.usefixtures("fresh_imports")
def test_complete_record(
    toy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(toy / "scratch.txt", "dirty\n")  # an untracked file: the run is dirty
    assert launch_in_process(toy, monkeypatch, MORE, "--no-check", "--note", "first try") == 0
    err = capsys.readouterr().err
    assert err.startswith("reprokit: run_1 → outputs/run_1\n")
    assert re.search(r"\nreprokit: run_1 completed in \d+\.\d s → outputs/run_1\n$", err)

    run = toy / "outputs" / "run_1"
    rec = record(toy)
    assert sorted(rec) == sorted(store.RECORD_KEYS)
    head = git(toy, "rev-parse", "HEAD").strip()
    import hashlib

    def sha(rel: str) -> str:
        return hashlib.sha256((toy / rel).read_bytes()).hexdigest()

    assert rec["experiment"] == {
        "path": MORE,
        "module": "experiments.toy.more_04_01",
        "family": "experiments/toy",
        "name": "more",
        "id": "04",
        "parent": "01",
        "config_type": "experiments.toy.base_01_01:Config",
        "lineage": [
            {"id": "01", "name": "base", "path": EXP, "sha256": sha(EXP)},
            {"id": "04", "name": "more", "path": MORE, "sha256": sha(MORE)},
        ],
    }
    expected = {
        "format_version": 1,
        "id": "run_1",
        "status": "completed",
        "exit_code": 0,
        "error": None,
        "pid": os.getpid(),
        "pid_started": process.pid_started(os.getpid()),
        "host": process.hostname(),
        "cwd": str(toy),
        "seed": 3,
        "seed_source": "config",
        "smoke": False,
        "deterministic": False,
        "note": "first try",
        "checked": False,
        "replay_of": None,
        "replay": None,
        "ablation_of": None,
        "rank": 0,
        "world_size": 1,
        "inputs": [],
    }
    assert {k: rec[k] for k in expected} == expected
    for key in ("started_at", "ended_at", "heartbeat_at"):
        assert ISO.match(str(rec[key])), key
    assert isinstance(rec["duration_s"], float) and 0 < rec["duration_s"] < 60
    assert isinstance(rec["command"], list)

    gitrec = rec["git"]
    assert isinstance(gitrec, dict)
    assert gitrec["sha"] == head and gitrec["branch"] == "main"
    assert gitrec["dirty"] is True and gitrec["untracked"] == ["scratch.txt"]
    assert gitrec["snapshot_ref"] == "refs/reprokit/runs/run_1"
    assert git(toy, "rev-parse", "refs/reprokit/runs/run_1").strip() == gitrec["snapshot"]
    assert (
        gitrec["patch_file"] == "diff.patch" and b"scratch.txt" in (run / "diff.patch").read_bytes()
    )

    env = rec["environment"]
    assert isinstance(env, dict)
    assert env["python"]["executable"] == sys.executable
    assert env["packages"]["reprokit"] == "0.1.0"
    hw = rec["hardware"]
    assert isinstance(hw, dict) and hw["cpu"]["logical_cores"] == os.cpu_count()

    assert yaml.safe_load((run / "config.yaml").read_text()) == {
        "seed": 3,
        "steps": 4,
        "sleep": 0.0,
        "fail": False,
    }
    rows = store.read_metrics(run)
    assert [(r["step"], r["loss"]) for r in rows] == [(0, 1.0), (1, 0.5), (2, 1 / 3), (3, 0.25)]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["loss"] == 0.25 and summary["run_id"] == "run_1"
    assert (run / "output.log").is_file()
    assert not (run / "traceback.txt").exists()
    # The module-level state is reset: log is a no-op again after the run.
    import reprokit

    assert reprokit.current_run() is None


def wait_for_metrics(
    run: Path, rows: int, proc: subprocess.Popen[str], timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(store.read_metrics(run)) >= rows:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"no {rows} metric rows in {run} after {timeout} s")


def popen_launch(
    repo: Path, *argv: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "reprokit", "launch", *argv],
        cwd=repo,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_exception_in_main_is_a_failed_run_with_traceback(toy: Path) -> None:
    result = run_cli(toy, "launch", CRASH, "--no-check")
    assert result.returncode == 1
    assert "ValueError: boom" in result.stderr
    run = toy / "outputs" / "run_1"
    rec = record(toy)
    assert rec["status"] == "failed" and rec["exit_code"] == 1
    assert rec["error"] == {
        "type": "ValueError",
        "message": "boom",
        "traceback_file": "traceback.txt",
    }
    tb = (run / "traceback.txt").read_text()
    assert tb.startswith("Traceback (most recent call last):\n")
    assert tb.endswith("ValueError: boom\n") and "reprokit/launch.py" not in tb
    assert json.loads((run / "summary.json").read_text()) == {"loss": 1 / 3}
    log = (run / "output.log").read_text()
    assert "hello from main\n" in log and "ValueError: boom" in log


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signals_interrupt_the_run_and_flush_metrics(toy: Path, signum: int) -> None:
    proc = popen_launch(toy, SLEEPY, "--no-check")
    run = toy / "outputs" / "run_1"
    wait_for_metrics(run, 3, proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    name = signal.Signals(signum).name
    assert f"reprokit: interrupted ({name})\n" in err
    rec = record(toy)
    assert rec["status"] == "interrupted" and rec["exit_code"] == 130
    assert isinstance(rec["error"], dict) and rec["error"]["message"] == name
    assert len(store.read_metrics(run)) == 3
    assert json.loads((run / "summary.json").read_text()) == {"loss": 1 / 3}
    assert "hello from main\n" in (run / "output.log").read_text()


@pytest.mark.slow
def test_sigkill_leaves_a_record_shown_as_crashed(
    toy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    proc = popen_launch(toy, SLEEPY, "--no-check")
    wait_for_metrics(toy / "outputs" / "run_1", 1, proc)
    proc.kill()
    proc.communicate(timeout=30)
    assert record(toy)["status"] == "running"
    monkeypatch.chdir(toy)
    assert cli_main(["show", "run_1"]) == 0
    out = capsys.readouterr().out
    assert "\nstatus      crashed (recorded as running; the process is gone)\n" in out
    assert cli_main(["runs", "--json"]) == 0
    assert [r["status"] for r in json.loads(capsys.readouterr().out)] == ["crashed"]


@pytest.mark.slow
def test_eight_concurrent_launches_get_distinct_complete_records(toy: Path) -> None:
    procs = [popen_launch(toy, EXP, "--no-check") for _ in range(8)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    snapshots = set()
    for n in range(1, 9):
        rec = record(toy, f"run_{n}")
        assert rec["status"] == "completed" and rec["id"] == f"run_{n}"
        assert sorted(rec) == sorted(store.RECORD_KEYS)
        summary = json.loads((toy / "outputs" / f"run_{n}" / "summary.json").read_text())
        assert summary["run_id"] == f"run_{n}"
        gitrec = rec["git"]
        assert isinstance(gitrec, dict)
        assert git(toy, "rev-parse", f"refs/reprokit/runs/run_{n}").strip() == gitrec["snapshot"]
        snapshots.add(gitrec["snapshot_ref"])
    assert len(snapshots) == 8
    assert sorted(
        p.name for p in (toy / "outputs").iterdir() if p.name.startswith("run_")
    ) == sorted(f"run_{n}" for n in range(1, 9))


@pytest.mark.usefixtures("fresh_imports")
def test_seeds(toy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    assert launch_in_process(toy, monkeypatch, EXP, "--no-check") == 0
    assert launch_in_process(toy, monkeypatch, EXP, "--no-check") == 0
    assert launch_in_process(toy, monkeypatch, EXP, "--no-check", "--seed", "11") == 0
    r1, r2, r3 = (
        json.loads((toy / f"outputs/run_{n}/summary.json").read_text()) for n in (1, 2, 3)
    )
    assert r1["rand"] == r2["rand"] == random.Random(3).random()
    assert r3["rand"] == random.Random(11).random()
    assert (record(toy, "run_1")["seed"], record(toy, "run_1")["seed_source"]) == (3, "config")
    assert (record(toy, "run_3")["seed"], record(toy, "run_3")["seed_source"]) == (11, "cli")
    assert yaml.safe_load((toy / "outputs/run_3/config.yaml").read_text())["seed"] == 11

    write(
        toy / "experiments/noseed/base_01_01.py",
        """
        import random
        from dataclasses import dataclass


        @dataclass(frozen=True)
        class Config:
            n: int = 1


        config = Config()


        def main(config):
            return {"rand": random.random()}
        """,
    )
    write(toy / "experiments/noseed/__init__.py", "")
    assert (
        launch_in_process(toy, monkeypatch, "experiments/noseed/base_01_01.py", "--no-check") == 0
    )
    rec = record(toy, "run_4")
    assert rec["seed_source"] == "drawn"
    assert isinstance(rec["seed"], int) and 0 <= rec["seed"] < 2**31
    summary = json.loads((toy / "outputs/run_4/summary.json").read_text())
    assert summary["rand"] == random.Random(rec["seed"]).random()
    args = ("experiments/noseed/base_01_01.py", "--no-check", "--seed", "5")
    assert launch_in_process(toy, monkeypatch, *args) == 0
    assert (record(toy, "run_5")["seed"], record(toy, "run_5")["seed_source"]) == (5, "cli")
    assert yaml.safe_load((toy / "outputs/run_5/config.yaml").read_text()) == {"n": 1}


@pytest.mark.usefixtures("fresh_imports")
def test_smoke_and_a_replay_request(toy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert launch_in_process(toy, monkeypatch, EXP, "--no-check", "--smoke") == 0
    rec1 = record(toy)
    assert rec1["smoke"] is True
    config_file = toy / "outputs/run_1/config.yaml"
    assert yaml.safe_load(config_file.read_text())["steps"] == 1

    # What replay asks for: a given config, another run's snapshot, the typed record facts.
    config = yaml.safe_load(config_file.read_text()) | {"steps": 2}
    replay: Replay = {"source_path": "x", "rebuild": "ref", "verify": None}
    wanted = LaunchRequest(
        experiment=EXP,
        config=config,
        check=False,
        git_from=toy / "outputs/run_1",
        replay_of="run_1",
        replay=replay,
        smoke_label=True,
    )
    made = launch_command.run(wanted, settings=load_settings())
    assert made == LaunchedRun("run_2", toy / "outputs/run_2", 0, "completed")
    rec2 = record(toy, "run_2")
    assert yaml.safe_load((toy / "outputs/run_2/config.yaml").read_text())["steps"] == 2
    # Labelled smoke, but smoke() was not applied again (it sets steps=1).
    assert rec2["smoke"] is True and rec2["seed_source"] == "config"
    assert rec2["replay_of"] == "run_1" and rec2["replay"] == replay
    assert rec2["git"] == rec1["git"]
    assert (toy / "outputs/run_2/diff.patch").read_bytes() == (
        toy / "outputs/run_1/diff.patch"
    ).read_bytes()
    refs = git(toy, "for-each-ref", "--format=%(refname)", "refs/reprokit/")
    assert refs.split() == ["refs/reprokit/runs/run_1"]  # no snapshot of its own


@pytest.mark.parametrize("flag", ["--config-file", "--replay-of", "--git-from", "--extra-json"])
def test_no_hidden_launch_flags_are_left(toy: Path, flag: str) -> None:
    # Replay and blame --ablate launch through a LaunchRequest; the CLI takes only user flags.
    assert flag not in run_cli(toy, "launch", "--help").stdout
    result = run_cli(toy, "launch", EXP, "--no-check", flag, "x")
    assert result.returncode == 2
    assert f"unrecognized arguments: {flag} x" in result.stderr
    assert not (toy / "outputs").exists()


@pytest.mark.usefixtures("fresh_imports")
def test_outside_git(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "plain"
    write(project / "pyproject.toml", "[tool.reprokit]\n")
    add_toy_family(project, commit=False)
    assert launch_in_process(project, monkeypatch, EXP, "--no-check") == 0
    err = capsys.readouterr().err
    assert (
        f"reprokit: warning: {project} is not in a git repository; "
        "the run records no code state (git: null)\n"
    ) in err
    rec = record(project)
    assert rec["git"] is None and rec["status"] == "completed"

    write(project / "pyproject.toml", "[tool.reprokit]\nrequire_git = true\n")
    assert launch_in_process(project, monkeypatch, EXP, "--no-check") == 1
    assert capsys.readouterr().err == (
        f"reprokit: error: {project} is not in a git repository, and require_git is set\n"
        "  hint: run `git init` and commit, or set require_git = false in [tool.reprokit]\n"
    )
    assert not (project / "outputs" / "run_2").exists()


def test_other_ranks_record_nothing(toy: Path) -> None:
    result = run_cli(toy, "launch", EXP, "--no-check", env={"RANK": "1", "WORLD_SIZE": "2"})
    assert result.returncode == 0, result.stderr
    assert "hello from main" in result.stdout
    assert not (toy / "outputs").exists()


def test_secrets_never_reach_the_record(toy: Path) -> None:
    secrets = {
        "AWS_SECRET_ACCESS_KEY": "aws-SECRET-1",
        "HF_TOKEN": "hf-SECRET-2",
        "WANDB_API_KEY": "wandb-SECRET-3",
        "TORCH_HUB_TOKEN": "hub-SECRET-4",
    }
    git(toy, "remote", "add", "origin", "https://someone:ghp-SECRET-5@github.com/x/y.git")
    result = run_cli(toy, "launch", EXP, "--no-check", env=secrets)
    assert result.returncode == 0, result.stderr
    values = [v.encode() for v in secrets.values()] + [b"ghp-SECRET-5", b"SECRET"]
    files = [p for p in (toy / "outputs").rglob("*") if p.is_file()]
    assert len(files) >= 6
    for path in files:
        data = path.read_bytes()
        assert not [v for v in values if v in data], path
    commit = git(toy, "cat-file", "-p", "refs/reprokit/runs/run_1").encode()
    assert b"SECRET" not in commit
    gitrec = record(toy)["git"]
    assert isinstance(gitrec, dict)
    assert gitrec["remotes"] == {"origin": "https://github.com/x/y.git"}


TORCHY = """
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Config:
    seed: int = 0


config = Config()


def main(config):
    return {"x": float(torch.rand(1)), "det": torch.are_deterministic_algorithms_enabled()}
"""


@pytest.mark.slow
def test_torch_facts_and_no_torch_unless_imported(toy: Path) -> None:
    import importlib.metadata

    write(toy / "experiments/torchy/__init__.py", "")
    write(toy / "experiments/torchy/base_01_01.py", TORCHY)
    for _ in range(2):
        result = run_cli(
            toy, "launch", "experiments/torchy/base_01_01.py", "--no-check", "--deterministic"
        )
        assert result.returncode == 0, result.stderr
    facts = record(toy)["torch"]
    assert isinstance(facts, dict)
    assert facts["version"] == importlib.metadata.version("torch")
    assert facts["deterministic_algorithms"] is True
    assert (facts["cudnn_deterministic"], facts["cudnn_benchmark"]) == (True, False)
    assert facts["float32_matmul_precision"] == "highest"
    assert isinstance(facts["intra_op_threads"], int) and isinstance(facts["inter_op_threads"], int)
    for key in ("cuda", "cudnn", "allow_tf32_matmul", "allow_tf32_cudnn", "cpu_capability"):
        assert key in facts
    env = record(toy)["environment"]
    assert isinstance(env, dict) and env["env"]["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    s1, s2 = (json.loads((toy / f"outputs/run_{n}/summary.json").read_text()) for n in (1, 2))
    assert s1 == s2 and s1["det"] is True

    result = run_cli(toy, "launch", EXP, "--no-check")
    assert result.returncode == 0, result.stderr
    summary = json.loads((toy / "outputs/run_3/summary.json").read_text())
    assert (summary["torch_loaded"], summary["numpy_loaded"]) == (False, False)
    assert record(toy, "run_3")["torch"] is None


@pytest.mark.usefixtures("fresh_imports")
def test_snapshot_leaves_out_an_outputs_folder_git_does_not_ignore(
    toy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(toy / ".gitignore", "__pycache__/\n")  # outputs/ is not ignored
    git(toy, "commit", "-q", "-am", "outputs/ not ignored")
    assert launch_in_process(toy, monkeypatch, EXP) == 0
    assert launch_in_process(toy, monkeypatch, EXP) == 0
    recorded = record(toy, "run_2")["git"]
    assert isinstance(recorded, dict)
    assert (recorded["dirty"], recorded["untracked"]) == (False, [])
    files = git(toy, "ls-tree", "-r", "--name-only", "refs/reprokit/runs/run_2").split()
    assert files and not [f for f in files if f.startswith("outputs/")]
    assert (toy / "outputs/run_2/diff.patch").read_bytes() == b""


PROBE = """
import gc
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    name: str = "probe"


config = Config()


def main(config):
    loaded = {name: name in sys.modules for name in ("reprokit.checks.runner", "yaml")}
    return {**loaded, "frozen": gc.get_freeze_count() > 0}


def smoke(config):
    return config
"""


def test_a_warm_launch_imports_neither_the_check_runner_nor_yaml(toy: Path) -> None:
    write(toy / "experiments/probe/__init__.py", "")
    write(toy / "experiments/probe/base_01_01.py", PROBE)
    for run_id, runner_loaded in (("run_1", True), ("run_2", False)):
        result = run_cli(toy, "launch", "experiments/probe/base_01_01.py")
        assert result.returncode == 0, result.stderr
        summary = json.loads((toy / "outputs" / run_id / "summary.json").read_text())
        # The first launch checks (its YAML round trip runs in the checks' child process,
        # so yaml stays out of the run's); the second finds the verdict in the cache, and
        # both write config.yaml without yaml.
        expected = {"reprokit.checks.runner": runner_loaded, "yaml": False}
        # The CLI process exits after the run: reprokit's objects were frozen out of the gc.
        assert summary == {**expected, "frozen": True}
    assert (toy / "outputs/run_2/config.yaml").read_text() == "name: probe\n"


def test_checks_run_first_and_refuse_a_failing_experiment(toy: Path) -> None:
    result = run_cli(toy, "launch", MORE)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello from main\n"  # nothing noisy from the passing checks
    assert record(toy)["checked"] is True

    base = toy / EXP
    base.write_text(base.read_text().replace("frozen=True", "frozen=False"))
    result = run_cli(toy, "launch", MORE)
    assert result.returncode == 1
    assert "RK503" in result.stderr
    assert result.stderr.endswith(
        "reprokit: error: experiments/toy/more_04_01.py: refusing to launch: the checks above "
        "failed\n  hint: fix the findings, or pass --no-check to launch anyway (recorded)\n"
    )
    assert not (toy / "outputs" / "run_2").exists()


def test_heartbeat_rewrites_the_record(tmp_path: Path) -> None:
    from reprokit.launch import liverun

    rec = liverun.LiveRecord(tmp_path, {"id": "run_1", "heartbeat_at": "old"})
    rec.update()
    beat = liverun.Heartbeat(rec, interval=0.05)
    beat.start()
    time.sleep(0.3)
    beat.stop()
    assert ISO.match(json.loads((tmp_path / "run.json").read_text())["heartbeat_at"])


CHATTY = """
import os
import subprocess
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    seed: int = 0


config = Config()


def main(config):
    print("from print")
    sys.stdout.flush()
    os.write(1, b"from fd 1\\n")
    os.write(2, b"from fd 2\\n")
    subprocess.run(["echo", "from a child process"], check=True)
"""


def test_output_log_captures_fd_level_output(toy: Path) -> None:
    write(toy / "experiments/chatty/__init__.py", "")
    write(toy / "experiments/chatty/base_01_01.py", CHATTY)
    result = run_cli(toy, "launch", "experiments/chatty/base_01_01.py", "--no-check")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "from print\nfrom fd 1\nfrom a child process\n"  # still shown live
    assert "from fd 2\n" in result.stderr
    log = (toy / "outputs/run_1/output.log").read_text()
    for line in ("from print", "from fd 1", "from fd 2", "from a child process"):
        assert line + "\n" in log


def test_a_failing_setup_is_recorded_as_failed(toy: Path) -> None:
    # A config main cannot receive: the set-up fails after the run folder is claimed.
    wanted = LaunchRequest(experiment=EXP, check=False, config={"steps": "many"})
    with launch_request.child(wanted, toy / "outputs") as launching:
        result = subprocess.run(launching.argv(), cwd=toy, capture_output=True, text=True)
        made = launching.result(result.returncode)
    assert result.returncode == 1, result.stderr
    assert made == LaunchedRun("run_1", toy / "outputs/run_1", 1, "failed")
    assert "steps" in (toy / "outputs/run_1/traceback.txt").read_text()
    rec = record(toy)
    assert rec["status"] == "failed" and isinstance(rec["error"], dict)
    assert rec["git"] is not None and rec["environment"] is not None  # still complete
    assert (toy / "outputs/run_1/traceback.txt").is_file()


def test_a_run_whose_import_fails_still_names_its_experiment(toy: Path) -> None:
    # --no-check lets a broken experiment through: the record must still say which one it
    # was, so `runs` shows it and `replay` can reproduce the failure.
    broken = "experiments/toy/broken_04_01.py"
    write(toy / broken, "import no_such_module_xyz\n")
    result = run_cli(toy, "launch", broken, "--no-check")
    assert result.returncode == 1
    rec = record(toy)
    assert rec["status"] == "failed" and rec["error"]["type"] == "ReprokitError"
    assert "No module named 'no_such_module_xyz'" in rec["error"]["message"]
    assert rec["experiment"]["path"] == broken
    assert rec["experiment"]["config_type"] is None
    assert [e["id"] for e in rec["experiment"]["lineage"]] == ["01", "04"]
    listing = run_cli(toy, "runs", "--columns", "id,experiment,status")
    assert listing.stdout.splitlines()[1].split() == ["run_1", "toy/broken_04_01", "failed"]


def test_a_broken_lineage_is_refused_before_a_run_folder_exists(toy: Path) -> None:
    orphan = "experiments/toy/orphan_09_07.py"  # parent 07 does not exist
    write(toy / orphan, "config = None\n")
    result = run_cli(toy, "launch", orphan, "--no-check")
    assert result.returncode == 1
    assert "parent 07 does not exist" in result.stderr
    assert not (toy / "outputs" / "run_1").exists()
    assert git(toy, "for-each-ref", "refs/reprokit") == ""


SLOW_IMPORT = """
import time
from dataclasses import dataclass
from pathlib import Path

# A set-up longer than the heartbeat interval (torch's import, a large snapshot): waits at
# import until the test creates the release file.
_deadline = time.monotonic() + 60
while not Path("release").exists() and time.monotonic() < _deadline:
    time.sleep(0.05)


@dataclass(frozen=True)
class Config:
    seed: int = 0


config = Config()


def main(config: Config) -> None:
    pass
"""


@pytest.mark.slow
def test_a_long_set_up_keeps_the_heartbeat_and_reads_as_running(
    toy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(toy / "experiments/slow/__init__.py", "")
    write(toy / "experiments/slow/base_01_01.py", SLOW_IMPORT)
    proc = popen_launch(toy, "experiments/slow/base_01_01.py", "--no-check")
    try:
        run_json = toy / "outputs/run_1/run.json"
        deadline = time.monotonic() + store.HEARTBEAT_INTERVAL_S + 20
        while True:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no heartbeat during the experiment's import"
            rec = json.loads(run_json.read_text()) if run_json.is_file() else {}
            if rec.get("heartbeat_at") not in (None, rec.get("started_at")):
                break
            time.sleep(0.1)
        # Still importing (the config type is known only after): the beat came from set-up.
        assert rec["experiment"]["config_type"] is None
        started, beat = store.parse_time(rec["started_at"]), store.parse_time(rec["heartbeat_at"])
        assert started is not None and beat is not None
        assert beat - started >= store.HEARTBEAT_INTERVAL_S - 0.5
        assert time.time() - beat < 5
        assert rec["pid"] == proc.pid and rec["pid_started"] == process.pid_started(proc.pid)
        assert store.effective_status(rec, stale_after=5.0) == "running"
        # Its heartbeat older than the threshold: its own live process still says running.
        assert store.liveness(rec, now=beat + 6, stale_after=5.0) == ("running", "stalled", 6.0)
        monkeypatch.chdir(toy)
        assert cli_main(["show", "run_1"]) == 0
        assert "\nstatus      running\n" in capsys.readouterr().out
    finally:
        (toy / "release").touch()
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert record(toy)["status"] == "completed"
