"""``reprokit lineage``: the family tree with run counts and metric means."""

from __future__ import annotations

from pathlib import Path

import pytest
from _helpers import write_run

from conftest import write
from reprokit.cli import main

FAMILY = "experiments/toy"


def _family(repo: Path) -> None:
    write(repo / FAMILY / "__init__.py", "")
    for name in (
        "base_01_01.py",
        "wide_02_01.py",
        "deep_03_01.py",
        "deeper_04_03.py",
        "lost_06_05.py",
    ):
        write(repo / FAMILY / name, "config = None\n")
    write(repo / FAMILY / "_helper.py", "")
    write(repo / "experiments" / "other" / "__init__.py", "")
    write(repo / "experiments" / "other" / "solo_01_01.py", "config = None\n")
    outputs = repo / "outputs"
    write_run(outputs, 1, f"{FAMILY}/base_01_01.py", seed=0, summary={"val_acc": 0.5})
    write_run(outputs, 2, f"{FAMILY}/base_01_01.py", seed=1, summary={"val_acc": 0.7})
    write_run(outputs, 3, f"{FAMILY}/wide_02_01.py", seed=0, summary={"val_acc": 0.8})
    write_run(outputs, 4, f"{FAMILY}/wide_02_01.py", smoke=True, summary={"val_acc": 0.1})
    write_run(outputs, 5, f"{FAMILY}/deep_03_01.py", status="failed")
    # A replay repeats run_3's seed: no new evidence, not counted.
    write_run(outputs, 6, f"{FAMILY}/wide_02_01.py", replay_of="run_3", summary={"val_acc": 0.9})


def test_lineage_tree_with_metric(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _family(repo)
    monkeypatch.chdir(repo)
    assert main(["lineage", FAMILY, "--metric", "val_acc"]) == 0
    assert capsys.readouterr().out == (
        "experiments/toy\n"
        "├─ base_01_01.py  2 runs  val_acc 0.6 ± 0.14\n"
        "│  ├─ wide_02_01.py  1 run  val_acc 0.8\n"
        "│  └─ deep_03_01.py  0 runs (1 failed)\n"
        "│     └─ deeper_04_03.py  0 runs\n"
        "└─ lost_06_05.py  0 runs  (parent 05 missing)\n"
    )


def test_lineage_of_all_families(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _family(repo)
    monkeypatch.chdir(repo)
    assert main(["lineage"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "experiments/other\n└─ solo_01_01.py  0 runs\n\nexperiments/toy\n├─ base_01_01.py  2 runs\n"
    )


def test_lineage_of_a_folder_without_experiments(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo)
    assert main(["lineage", "experiments"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: experiments: no experiment files here\n"
        "  hint: no experiment files under experiments\n"
    )


def test_a_wrong_family_suggests_the_projects_own_families(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _family(repo)
    monkeypatch.chdir(repo)
    assert main(["lineage", "experiments/toy/nope"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: experiments/toy/nope: no such folder\n"
        "  hint: did you mean experiments/toy, experiments/other?\n"
    )
    assert main(["lineage", "zzz"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: zzz: no such folder\n"
        "  hint: families here: experiments/other, experiments/toy\n"
    )


def test_a_misspelled_metric_is_an_error_like_blames(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _family(repo)
    monkeypatch.chdir(repo)
    assert main(["lineage", FAMILY, "--metric", "val_ac"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "reprokit: error: no completed run in experiments/toy logged 'val_ac' in summary.json\n"
        "  hint: did you mean val_acc?\n"
    )
    assert main(["lineage", "--metric", "zzz"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: no completed run in these families logged 'zzz' in summary.json\n"
        "  hint: logged metrics: val_acc\n"
    )
    # Nothing completed yet: no metric to check against, so the tree (0 runs) says it.
    assert main(["lineage", "experiments/other", "--metric", "zzz"]) == 0
    assert capsys.readouterr().out == "experiments/other\n└─ solo_01_01.py  0 runs\n"


def test_runs_that_did_not_complete_are_counted_apart(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / FAMILY / "__init__.py", "")
    write(repo / FAMILY / "base_01_01.py", "config = None\n")
    write(repo / FAMILY / "wide_02_01.py", "config = None\n")
    outputs = repo / "outputs"
    exp = f"{FAMILY}/wide_02_01.py"
    write_run(outputs, 1, f"{FAMILY}/base_01_01.py", summary={"val_acc": 0.5})
    write_run(outputs, 2, f"{FAMILY}/base_01_01.py", status="interrupted")
    write_run(outputs, 3, exp, status="failed")
    write_run(outputs, 4, exp, status="failed")
    # A "running" record without heartbeat for years, from another host: crashed.
    write_run(outputs, 5, exp, status="running", started_at="2020-01-01T00:00:00+00:00")
    # Smoke and replay runs are not attempts at the experiment itself.
    write_run(outputs, 6, exp, status="failed", smoke=True)
    write_run(outputs, 7, exp, status="failed", replay_of="run_1")
    monkeypatch.chdir(repo)
    assert main(["lineage", FAMILY]) == 0
    assert capsys.readouterr().out == (
        "experiments/toy\n"
        "└─ base_01_01.py  1 run (1 interrupted)\n"
        "   └─ wide_02_01.py  0 runs (2 failed, 1 crashed)\n"
    )


def test_lineage_metric_counts_each_seed_once_and_skips_diverged(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / FAMILY / "__init__.py", "")
    write(repo / FAMILY / "base_01_01.py", "config = None\n")
    outputs = repo / "outputs"
    # Seed 0 launched twice (mean 0.5), seed 1 once (0.7), one diverged run: two samples.
    for n, (seed, value) in enumerate([(0, 0.4), (0, 0.6), (1, 0.7), (2, float("nan"))], 1):
        write_run(outputs, n, f"{FAMILY}/base_01_01.py", seed=seed, summary={"val_acc": value})
    monkeypatch.chdir(repo)
    assert main(["lineage", FAMILY, "--metric", "val_acc"]) == 0
    assert (
        capsys.readouterr().out == "experiments/toy\n└─ base_01_01.py  4 runs  val_acc 0.6 ± 0.14\n"
    )


def test_lineage_metric_says_when_runs_span_code_states(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / FAMILY / "__init__.py", "")
    write(repo / FAMILY / "base_01_01.py", "config = None\n")
    write(repo / FAMILY / "wide_02_01.py", "config = None\n")
    outputs, base, wide = repo / "outputs", f"{FAMILY}/base_01_01.py", f"{FAMILY}/wide_02_01.py"
    write_run(outputs, 1, base, seed=0, summary={"val_acc": 0.5})
    write_run(outputs, 2, base, seed=1, summary={"val_acc": 0.7})
    # wide: a clean commit, the same dirty changes twice (two snapshots, one code state,
    # as blame groups them), then a later commit: 3 code states.
    write_run(outputs, 3, wide, seed=0, summary={"val_acc": 0.8})
    for n, snapshot in ((4, "c" * 40), (5, "d" * 40)):
        run_dir = write_run(outputs, n, wide, seed=n, dirty=True, snapshot=snapshot,
                            summary={"val_acc": 0.9})  # fmt: skip
        (run_dir / "diff.patch").write_bytes(b"the same change\n")
    write_run(outputs, 6, wide, seed=6, sha="b" * 40, summary={"val_acc": 0.6})
    monkeypatch.chdir(repo)
    assert main(["lineage", FAMILY, "--metric", "val_acc"]) == 0
    assert capsys.readouterr().out == (
        "experiments/toy\n"
        "└─ base_01_01.py  2 runs  val_acc 0.6 ± 0.14\n"
        "   └─ wide_02_01.py  4 runs  val_acc 0.8 ± 0.14  (3 code states: see reprokit blame)\n"
    )
    # Without --metric the tree stays as it was.
    assert main(["lineage", FAMILY]) == 0
    assert "code states" not in capsys.readouterr().out


def test_unfinished_is_the_bare_counts_that_blame_shows() -> None:
    from reprokit.analysis.lineage import unfinished

    runs = [
        {"status": "crashed"},
        {"status": "failed"},
        {"status": "completed"},
        {"status": "failed", "smoke": True},
        {"status": "failed", "replay_of": "run_1"},
    ]
    assert unfinished(runs) == "1 failed, 1 crashed"
    assert unfinished(runs[2:]) == ""
