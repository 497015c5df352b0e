from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from _helpers import write_run

from reprokit.record import index, store


def make_run(outputs: Path, n: int, *, status: str = "completed", **summary: float) -> Path:
    return write_run(
        outputs,
        n,
        f"experiments/toy/base_{n:02d}_01.py",
        seed=n,
        status=status,
        config={"optim": {"lr": 0.1}},
        summary=summary,
        sha=f"{n:040d}",
        dirty=n % 2 == 1,
    )


def test_index_builds_and_follows_the_folders(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    for n in (1, 2, 3):
        make_run(outputs, n, acc=n / 10)
    (outputs / "run_4").mkdir()  # claimed, record not yet written: not listed
    rows = index.rows(outputs)
    assert [r["id"] for r in rows] == ["run_1", "run_2", "run_3"]
    assert json.loads(rows[0]["config"]) == {"seed": 1, "optim": {"lr": 0.1}}
    assert "packages" not in json.loads(rows[0]["record"])["environment"]
    assert (outputs / index.INDEX_FILE).is_file()

    # A rewritten summary (same size, same clock tick) and a removed run are noticed.
    store.write_json(outputs / "run_2" / "summary.json", {"acc": 0.9})
    import shutil

    shutil.rmtree(outputs / "run_3")
    make_run(outputs, 4, acc=0.4)
    rows = index.rows(outputs)
    assert [(r["id"], json.loads(r["summary"])) for r in rows] == [
        ("run_1", {"acc": 0.1}),
        ("run_2", {"acc": 0.9}),
        ("run_4", {"acc": 0.4}),
    ]


def test_corrupt_index_is_rebuilt(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    make_run(outputs, 1)
    (outputs / index.INDEX_FILE).write_bytes(b"this is not sqlite" * 100)
    assert [r["id"] for r in index.rows(outputs)] == ["run_1"]
    assert (outputs / index.INDEX_FILE).read_bytes().startswith(b"SQLite format 3")


def test_unreadable_run_is_skipped_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = tmp_path / "outputs"
    make_run(outputs, 1)
    make_run(outputs, 2)
    store.write_json(outputs / "run_2" / "run.json", {"format_version": 99})
    assert [r["id"] for r in index.rows(outputs)] == ["run_1"]
    assert "reprokit: warning: skipping run_2: " in capsys.readouterr().err


def test_missing_outputs_folder(tmp_path: Path) -> None:
    assert index.rows(tmp_path / "nowhere") == []
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.slow
def test_many_runs_stay_fast(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    for n in range(1, 1001):
        make_run(outputs, n, acc=0.5)
    index.rows(outputs)  # first build
    start = time.perf_counter()
    rows = index.rows(outputs)
    elapsed = time.perf_counter() - start
    assert len(rows) == 1000
    # Measured ~12 ms for 1,000 runs (~120 ms for 10,000); generous for a busy machine.
    assert elapsed < 1.0
