from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from reprokit import store
from reprokit.errors import ReprokitError
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
    host = store.hostname()
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
    assert str(e.value) == (
        f"no run 'run_4' (looked for run.json in it)\n  hint: runs in {tmp_path / 'outputs'}: run_3"
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
