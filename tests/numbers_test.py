"""Numbers as records hold them: non-finite metrics in replay --verify and the readers,
and ints of any size (a seed of 2**64) through the index, runs, show, lineage and blame."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from conftest import git, minimal_experiment, run_cli, write
from reprokit.analysis import diff as diffruns
from reprokit.replay import verify
from reprokit.stats import as_float

EXP = "experiments/toy/base_01_01.py"
# The loss comes from the environment, so one commit gives an original and a replay that
# differ only where the test wants them to.
NONFINITE = minimal_experiment(
    '    loss = float(os.environ.get("RK_LOSS", "inf"))\n'
    '    reprokit.log(step=0, loss=loss, acc=float("nan"))\n'
    '    reprokit.log(step=1, loss=loss, acc=float("nan"))\n'
    '    return {"loss": loss, "acc": float("nan"), "big": 2**70}\n',
    imports="import os\n\nimport reprokit\n",
)


def _project(repo: Path) -> Path:
    write(repo / EXP, NONFINITE)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "exp")
    return repo


def _verify_record(repo: Path, run: str) -> dict[str, object]:
    record = json.loads((repo / "outputs" / run / "run.json").read_text())
    return dict(record["replay"]["verify"])


def test_an_original_inf_never_matches_a_finite_replay(repo: Path) -> None:
    _project(repo)
    proc = run_cli(repo, "launch", EXP, "--no-check", env={"RK_LOSS": "inf"})
    assert proc.returncode == 0, proc.stderr
    # A tolerance as loose as 50 % once made inf match 2.0 (rtol * inf bounds nothing).
    proc = run_cli(repo, "replay", "run_1", "--verify", "--rtol", "0.5", env={"RK_LOSS": "2.0"})
    assert proc.returncode == 3, proc.stdout + proc.stderr
    checked = _verify_record(repo, "run_2")
    assert checked["verdict"] == "mismatch"
    bad = {(m["metric"], m["series"]) for m in checked["mismatches"]}  # type: ignore[attr-defined]
    assert bad == {("loss", False), ("loss", True)}
    table = [line.split() for line in proc.stdout.splitlines()]
    assert ["loss", "final", "inf", "2.0", "inf", "-", "mismatch"] in table
    # NaN in both runs is the same outcome, inf the same-signed inf: a match.
    proc = run_cli(repo, "replay", "run_1", "--verify", env={"RK_LOSS": "inf"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _verify_record(repo, "run_3")["verdict"] == "match"
    # -inf is not inf.
    proc = run_cli(repo, "replay", "run_1", "--verify", "--rtol", "1", env={"RK_LOSS": "-inf"})
    assert proc.returncode == 3, proc.stdout + proc.stderr


def test_nonfinite_metrics_are_shown_by_every_reader(repo: Path) -> None:
    _project(repo)
    for value in ("inf", "nan", "-inf"):
        proc = run_cli(repo, "launch", EXP, "--no-check", env={"RK_LOSS": value})
        assert proc.returncode == 0, proc.stderr
    runs = run_cli(repo, "runs")
    assert runs.returncode == 0, runs.stderr
    assert [line.split()[-1] for line in runs.stdout.splitlines()[1:]] == ["-inf", "nan", "inf"]
    as_json = run_cli(repo, "runs", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert [r["summary"]["loss"] for r in json.loads(as_json.stdout)] == ["-inf", "nan", "inf"]
    plot = str(repo / "loss.png")
    for argv in (
        ("show", "run_2"),
        ("lineage", EXP),
        ("blame", "loss", EXP),
        ("plot", "loss", "run_1", "run_2", "run_3", "-o", plot),
    ):
        proc = run_cli(repo, *argv)
        assert proc.returncode == 0, (argv, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
    blame = run_cli(repo, "blame", "loss", EXP).stdout
    assert "diverged" in blame


def test_values_match_non_finite_and_big_ints() -> None:
    inf, nan = math.inf, math.nan
    assert verify.values_match(inf, inf, rtol=0.5, atol=1.0)
    assert not verify.values_match(inf, 2.0, rtol=0.5, atol=1.0)
    assert not verify.values_match(2.0, inf, rtol=0.5, atol=1.0)
    assert not verify.values_match(inf, -inf, rtol=1e9, atol=1e9)
    assert not verify.values_match(inf, nan, rtol=0.0, atol=0.0)
    assert verify.values_match(nan, nan, rtol=0.0, atol=0.0)
    # Ints past a float's precision (and range) are compared exactly.
    assert not verify.values_match(2**64, 2**64 + 1, rtol=0.0, atol=0.0)
    assert verify.values_match(2**64, 2**64 + 1, rtol=0.0, atol=1.0)
    assert verify.values_match(10**400, 10**400, rtol=0.0, atol=0.0)
    assert not verify.values_match(10**400, 10**400 + 1, rtol=0.0, atol=0.0)
    row = verify.Row("x", 10**400, 10**400 + 5, "mismatch")
    assert row.abs_diff == 5.0
    assert verify.Row("x", 10**400, -(10**400), "mismatch").abs_diff == math.inf
    assert (as_float(10**400), as_float(-(10**400)), as_float(True)) == (math.inf, -math.inf, None)
    [row] = diffruns.metric_diff({"n": 10**400}, {"n": 10**400 + 1})
    assert row["delta"] == 1


def test_a_seed_past_64_bits_is_stored_and_shown(repo: Path) -> None:
    _project(repo)
    seed = 18446744073709551616  # 2**64: SQLite's INTEGER is 64-bit
    proc = run_cli(repo, "launch", EXP, "--no-check", "--seed", str(seed), env={"RK_LOSS": "1"})
    assert proc.returncode == 0, proc.stderr
    proc = run_cli(repo, "launch", EXP, "--no-check", "--seed", "-5", env={"RK_LOSS": "2"})
    assert proc.returncode == 0, proc.stderr
    runs = run_cli(repo, "runs", "--json")
    assert runs.returncode == 0, runs.stderr
    listed = json.loads(runs.stdout)
    assert [r["seed"] for r in listed] == [-5, seed]
    assert [r["summary"]["big"] for r in listed] == [2**70, 2**70]
    table = run_cli(repo, "runs", "--columns", "id,seed,big")
    assert table.returncode == 0, table.stderr
    assert str(seed) in table.stdout
    where = run_cli(repo, "runs", "--where", f"seed == {seed}", "--json")
    assert [r["id"] for r in json.loads(where.stdout)] == ["run_1"], where.stderr
    show = run_cli(repo, "show", "run_1")
    assert f"seed        {seed} (cli)" in show.stdout, show.stderr
    for argv in (("lineage", EXP), ("blame", "loss", EXP), ("blame", "big", EXP)):
        proc = run_cli(repo, *argv)
        assert proc.returncode == 0, (argv, proc.stdout, proc.stderr)


def test_huge_numbers_in_a_hand_edited_record(repo: Path) -> None:
    _project(repo)
    for _ in range(2):
        assert run_cli(repo, "launch", EXP, "--no-check", env={"RK_LOSS": "1"}).returncode == 0
    run_dir = repo / "outputs" / "run_1"
    record = json.loads((run_dir / "run.json").read_text())
    verify = {"verdict": "match", "rtol": 10**400, "atol": 0, "compared": 1, "mismatches": []}
    record.update(replay_of="run_2", replay={"source_path": "outputs/run_2", "verify": verify})
    old = "2026-01-01T00:00:00+00:00"  # no heartbeat for long: only the pid could say alive
    record.update(pid=2**80, duration_s=2**70, status="running", heartbeat_at=old)
    record["hardware"]["memory_bytes"] = 10**400
    (run_dir / "run.json").write_text(json.dumps(record))
    (run_dir / "summary.json").write_text(json.dumps({"loss": 10**400, "acc": -(2**90)}))
    rows = [{"step": 2**70, "time": 1.0, "loss": 10**400}, {"step": 10**400, "loss": 1.5}]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run_dir / "config.yaml").write_text(f"lr: {10**30}\nseed: {2**64}\n")
    # A run folder whose number is past 64 bits is a run folder like any other.
    big_dir = repo / "outputs" / f"run_{2**64}"
    big_dir.mkdir()
    (big_dir / "run.json").write_text(json.dumps({**record, "id": big_dir.name, "pid": -1}))
    for argv in (
        ("runs", "--all"),
        ("runs", "--json"),
        ("show", "run_1"),
        ("show", big_dir.name),
        ("lineage", EXP),
        ("blame", "loss", EXP),
        ("plot", "loss", "run_1", "-o", str(repo / "loss.png")),
        ("diff", "run_2", "run_1"),
        ("diff", "run_2", "run_1", "--json"),
    ):
        proc = run_cli(repo, *argv)
        assert proc.returncode == 0, (argv, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
    # Infinite and NaN durations (JSON's Infinity/NaN) are shown as such.
    for duration in ("Infinity", "NaN"):
        text = (run_dir / "run.json").read_text()
        text = re.sub(r'"duration_s": [^,}]+', f'"duration_s": {duration}', text)
        (run_dir / "run.json").write_text(text)
        for argv in (("show", "run_1"), ("runs", "--all")):
            proc = run_cli(repo, *argv)
            assert proc.returncode == 0, (argv, proc.stdout, proc.stderr)
    listed = json.loads(run_cli(repo, "runs", "--json", "--all").stdout)
    assert {r["id"] for r in listed} == {"run_1", "run_2", big_dir.name}
    diff = run_cli(repo, "diff", "run_2", "run_1").stdout
    # 1.0 → 10**400: a float difference, so +inf (ints alone are subtracted exactly).
    assert ["loss", "1", str(10**400), "+inf"] in [line.split() for line in diff.splitlines()]
    # A pid of -1 would make os.kill signal every process: never taken as alive.
    assert {r["status"] for r in listed if r["id"] != "run_2"} == {"crashed"}


def test_times_at_the_edge_of_the_calendar(repo: Path) -> None:
    _project(repo)
    assert run_cli(repo, "launch", EXP, "--no-check", env={"RK_LOSS": "1"}).returncode == 0
    path = repo / "outputs" / "run_1" / "run.json"
    record = json.loads(path.read_text())
    # Year 1 at +05:00 is before year 1 in UTC: astimezone raised OverflowError.
    record.update(started_at="0001-01-01T00:00:00+05:00", heartbeat_at="9999-12-31T23:59:59-05:00")
    path.write_text(json.dumps(record))
    for argv in (("runs",), ("runs", "--json"), ("runs", "--format", "csv"), ("show", "run_1")):
        proc = run_cli(repo, *argv)
        assert proc.returncode == 0, (argv, proc.stdout, proc.stderr)
        assert "0001-01-01T00:00:00+05:00" in proc.stdout
