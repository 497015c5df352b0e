from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from reprokit.capture import process
from reprokit.errors import ReprokitError
from reprokit.record import store
from reprokit.settings import load_settings


def _record(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {key: None for key in store.RECORD_KEYS}
    base.update(format_version=1, id="run_1", status="completed")
    base.update(overrides)
    return base


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_run_ids_are_claimed_in_order_and_skip_existing(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    assert store.new_run_dir(outputs) == ("run_1", outputs / "run_1")
    assert store.new_run_dir(outputs)[0] == "run_2"
    (outputs / "run_9").mkdir()
    (outputs / "notes").mkdir()
    assert store.new_run_dir(outputs)[0] == "run_10"
    assert [p.name for p in store.run_dirs(outputs)] == ["run_1", "run_2", "run_9", "run_10"]


def test_concurrent_claims_get_distinct_folders(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    claimed: list[str] = []
    lock = threading.Lock()

    def claim() -> None:
        run_id, _ = store.new_run_dir(outputs)
        with lock:
            claimed.append(run_id)

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed, key=lambda r: int(r[4:])) == [f"run_{i}" for i in range(1, 17)]


def test_write_json_is_atomic_and_sorted(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    path = tmp_path / "run" / "run.json"
    store.write_json(path, {"b": 1, "a": [1, 2]})
    store.write_json(path, {"b": 2, "a": None})
    assert path.read_text().startswith('{\n "a": null,\n "b": 2\n}')
    assert os.listdir(tmp_path / "run") == ["run.json"]  # no temporary files left behind


def test_read_record_fills_missing_keys_and_refuses_newer_versions(tmp_path: Path) -> None:
    run = tmp_path / "run_1"
    run.mkdir()
    store.write_json(run / "run.json", {"format_version": 1, "id": "run_1", "status": "failed"})
    record = store.read_record(run)
    assert set(store.RECORD_KEYS) <= set(record)
    assert record["git"] is None and record["status"] == "failed"

    store.write_json(run / "run.json", {"format_version": 7, "id": "run_1"})
    with pytest.raises(ReprokitError) as e:
        store.read_record(run)
    assert str(e.value) == (
        f"{run / 'run.json'}: the run record has format_version 7, newer than this reprokit "
        "understands (1)\n  hint: upgrade reprokit (pip install -U reprokit) to read it"
    )
    (run / "run.json").write_text("{")
    with pytest.raises(ReprokitError, match="not valid JSON"):
        store.read_record(run)


def test_effective_status() -> None:
    host = process.hostname()
    now = store.parse_time("2026-11-25T20:00:30+00:00")
    fresh = "2026-11-25T20:00:00+00:00"
    stale = "2026-11-25T19:58:00+00:00"
    assert store.effective_status(_record(status="completed")) == "completed"
    alive = _record(status="running", host=host, pid=os.getpid(), heartbeat_at=fresh)
    assert store.effective_status(alive, now=now) == "running"
    dead = _record(status="running", host=host, pid=_dead_pid(), heartbeat_at=fresh)
    assert store.effective_status(dead, now=now) == "crashed"
    elsewhere = _record(status="running", host="other-host", pid=1, heartbeat_at=fresh)
    assert store.effective_status(elsewhere, now=now) == "running"
    silent = _record(status="running", host="other-host", pid=1, heartbeat_at=stale)
    assert store.effective_status(silent, now=now) == "crashed"


def test_resolve_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    settings = load_settings(tmp_path)
    run = tmp_path / "outputs" / "run_3"
    run.mkdir(parents=True)
    store.write_json(run / "run.json", _record(id="run_3"))
    monkeypatch.chdir(tmp_path)
    assert store.resolve_run("run_3", settings) == run
    assert store.resolve_run("outputs/run_3", settings) == run
    assert store.resolve_run(str(run), settings) == run
    with pytest.raises(ReprokitError) as e:
        store.resolve_run("run_4", settings)
    assert str(e.value) == "no run 'run_4' in outputs\n  hint: the runs in outputs are run_3"
    (tmp_path / "outputs" / "notes").mkdir()
    with pytest.raises(ReprokitError) as e:
        store.resolve_run("outputs/notes", settings)
    assert str(e.value).startswith("outputs/notes: the folder has no run.json, so it is not a run")
    for n in range(4, 12):
        (tmp_path / "outputs" / f"run_{n}").mkdir()
    with pytest.raises(ReprokitError) as e:
        store.resolve_run("run_99", settings)
    assert (
        e.value.hint
        == "the runs in outputs are run_3 to run_11 (9 runs; `reprokit runs` lists them)"
    )


def test_read_metrics_tolerates_a_torn_last_line(tmp_path: Path) -> None:
    rows = [{"step": 0, "time": 1.0, "loss": 2.0}, {"step": 1, "time": 2.0, "loss": 1.0}]
    text = "".join(json.dumps(r) + "\n" for r in rows) + '{"step": 2, "ti'
    (tmp_path / "metrics.jsonl").write_text(text)
    assert store.read_metrics(tmp_path) == rows
    (tmp_path / "metrics.jsonl").write_text('{"step": 0\n' + json.dumps(rows[1]) + "\n")
    with pytest.raises(ReprokitError, match=r"metrics.jsonl:1: not valid JSON"):
        store.read_metrics(tmp_path)
    assert store.read_metrics(tmp_path / "nowhere") == []


linux_only = pytest.mark.skipif(
    process.pid_started(os.getpid()) is None, reason="no /proc: pid_started is null here"
)


@linux_only
def test_liveness_tells_the_run_s_own_process_from_a_reused_pid() -> None:
    host, pid = process.hostname(), os.getpid()
    now = store.parse_time("2026-11-25T20:10:00+00:00")
    assert now is not None
    stale = "2026-11-25T20:00:00+00:00"  # 600 s before now
    fresh = "2026-11-25T20:09:55+00:00"
    ours = _record(status="running", host=host, pid=pid, pid_started=process.pid_started(pid))
    # A set-up over a minute, or a stopped process: alive and ours, so running.
    assert store.liveness({**ours, "heartbeat_at": stale}, now=now) == (
        "running",
        "stalled",
        600.0,
    )
    assert store.liveness({**ours, "heartbeat_at": fresh}, now=now) == ("running", None, 5.0)
    # The same pid started at another time is a later process: the run's is gone.
    reused = {**ours, "pid_started": ours["pid_started"] + 1}  # type: ignore[operator]
    assert store.liveness({**reused, "heartbeat_at": fresh}, now=now).status == "crashed"
    assert store.liveness({**reused, "heartbeat_at": stale}, now=now).reason == "pid-reused"
    # No pid_started (older records): a live pid proves nothing, the heartbeat decides.
    unknown = {**ours, "pid_started": None}
    assert store.liveness({**unknown, "heartbeat_at": fresh}, now=now).status == "running"
    assert store.liveness({**unknown, "heartbeat_at": stale}, now=now) == (
        "crashed",
        "unverified",
        600.0,
    )
    # The threshold is a parameter: 5 s of silence is stale at stale_after=2.
    elsewhere = _record(status="running", host="other-host", pid=1, heartbeat_at=fresh)
    assert store.effective_status(elsewhere, now=now) == "running"
    assert store.liveness(elsewhere, now=now, stale_after=2.0) == ("crashed", "silent", 5.0)
    dead = _record(status="running", host=host, pid=_dead_pid(), pid_started=1, heartbeat_at=fresh)
    assert store.liveness(dead, now=now).reason == "exited"


@linux_only
def test_a_finished_but_unreaped_process_is_not_running(tmp_path: Path) -> None:
    proc = subprocess.Popen(["sleep", "30"])
    started = process.pid_started(proc.pid)
    rec = _record(status="running", host=process.hostname(), pid=proc.pid, pid_started=started)
    assert store.effective_status(rec) == "running"
    proc.kill()
    stat = Path(f"/proc/{proc.pid}/stat")
    for _ in range(200):
        if stat.read_bytes().split()[2] == b"Z":
            break
        time.sleep(0.01)
    assert process.pid_started(proc.pid) == started  # still there, as a zombie
    assert store.liveness(rec)[:2] == ("crashed", "exited")
    proc.wait()


@linux_only
def test_pid_started_reads_field_22_past_an_odd_command_name(tmp_path: Path) -> None:
    # The name is field 2, in parentheses; spaces and ")" in it must not shift the fields.
    odd = tmp_path / "a) (b c"
    shutil.copy("/bin/sleep", odd)
    proc = subprocess.Popen([str(odd), "30"])
    try:
        started = process.pid_started(proc.pid)
        ticks = os.sysconf("SC_CLK_TCK")
        uptime = float(Path("/proc/uptime").read_text().split()[0]) * ticks
        own = process.pid_started(os.getpid())
        assert started is not None and own is not None
        assert own <= started <= uptime + ticks  # after this process, not in the future
    finally:
        proc.kill()
        proc.wait()
    assert process.pid_started(proc.pid) is None  # gone


CORRUPT = [
    ("git", "oops", '"git" should be an object or null, not a string'),
    ("inputs", {}, '"inputs" should be a list or null, not an object'),
    ("pid", True, '"pid" should be an integer or null, not true or false'),
    ("duration_s", "1.5", '"duration_s" should be a number or null, not a string'),
    ("git", {"modified": "a.py"}, '"git.modified" should be a list or null, not a string'),
    (
        "experiment",
        {"path": "x.py", "lineage": [{"id": "01"}, "y"]},
        '"experiment.lineage[1]" should be an object, not a string',
    ),
    ("replay", {"verify": []}, '"replay.verify" should be an object or null, not a list'),
    ("error", {"message": 3}, '"error.message" should be a string or null, not an integer'),
]


@pytest.mark.parametrize(("key", "value", "problem"), CORRUPT)
def test_read_record_names_the_file_and_key_of_a_wrong_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, value: object, problem: str
) -> None:
    run = tmp_path / "outputs" / "run_1"
    run.mkdir(parents=True)
    store.write_json(run / "run.json", _record(**{key: value}))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ReprokitError) as e:
        store.read_record(run)
    assert str(e.value) == (
        f"outputs/run_1/run.json: {problem}\n  hint: restore run.json from a backup, or "
        "delete the run folder outputs/run_1 if the run is not needed"
    )


def test_read_record_accepts_every_documented_type(tmp_path: Path) -> None:
    full = _record(
        status="completed",
        exit_code=0,
        duration_s=3,  # a whole number of seconds is still a number
        pid=12,
        pid_started=None,
        command=["reprokit", "launch"],
        error={"type": "ValueError", "message": "boom", "traceback_file": None},
        experiment={"path": "x.py", "lineage": [{"id": "01"}]},
        replay={"source_path": "outputs/run_1", "verify": {"verdict": "match", "mismatches": []}},
        git={"sha": None, "dirty": False, "modified": ["a.py"], "renamed": [{"from": "a"}]},
        hardware={"cpu": {}, "gpus": [{"index": 0}], "memory_bytes": 1},
        inputs=[{"field": "data", "path": "d"}],
        smoke=True,
    )
    (tmp_path / "run_1").mkdir()
    store.write_json(tmp_path / "run_1" / "run.json", full)
    assert store.read_record(tmp_path / "run_1") == full
