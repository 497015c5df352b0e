from __future__ import annotations

import json
import math
from pathlib import Path

from reprokit.replay import verify


def _run(path: Path, summary: dict[str, object], rows: list[dict[str, object]]) -> Path:
    path.mkdir()
    (path / "summary.json").write_text(json.dumps(summary))
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _rows(losses: list[float]) -> list[dict[str, object]]:
    return [{"step": i, "time": 100.0 + i, "loss": v} for i, v in enumerate(losses)]


def test_identical_runs_match_exactly(tmp_path: Path) -> None:
    a = _run(tmp_path / "a", {"acc": 0.9375, "loss": 0.1}, _rows([1.0, 0.5, 0.1]))
    # Different wall-clock times must not matter.
    rows = [dict(r, time=999.0) for r in _rows([1.0, 0.5, 0.1])]
    b = _run(tmp_path / "b", {"acc": 0.9375, "loss": 0.1}, rows)
    result = verify.compare_metrics(a, b)
    assert result.ok
    assert result.to_data() == {
        "verdict": "match", "rtol": 0.0, "atol": 0.0, "compared": 3, "mismatches": []
    }  # fmt: skip
    assert verify.format_table(result) == (
        "metric  step   original  replay  abs diff  rel diff  verdict\n"
        "acc     final  0.9375    0.9375  0         0         match\n"
        "loss    final  0.1       0.1     0         0         match\n"
        "loss    2      0.1       0.1     0         0         match"
    )


def test_one_ulp_is_a_mismatch_unless_tolerated(tmp_path: Path) -> None:
    loss = 0.1
    nudged = math.nextafter(loss, 1.0)
    a = _run(tmp_path / "a", {"loss": loss}, _rows([1.0, 0.5, loss]))
    b = _run(tmp_path / "b", {"loss": nudged}, _rows([1.0, 0.5000001, nudged]))
    exact = verify.compare_metrics(a, b)
    assert not exact.ok
    data = exact.to_data()
    assert (data["verdict"], data["compared"]) == ("mismatch", 2)
    # The series row shows the step with the largest difference.
    assert [(m["metric"], m["series"], m["step"]) for m in data["mismatches"]] == [
        ("loss", False, None), ("loss", True, 1)
    ]  # fmt: skip
    assert verify.format_table(exact).splitlines()[1:] == [
        "loss    final  0.1       0.10000000000000002  1.39e-17  1.39e-16  mismatch",
        "loss    1      0.5       0.5000001            1e-07     2e-07     mismatch",
    ]
    loose = verify.compare_metrics(a, b, rtol=1e-6)
    assert loose.ok, verify.format_table(loose)
    assert verify.summary_line(loose) == "verify: match (2 compared, rtol=1e-06 atol=0)"
    assert verify.summary_line(exact) == "verify: MISMATCH (2 of 2 differ, exact)"


def test_missing_metrics_nan_and_series_length(tmp_path: Path) -> None:
    nan = float("nan")
    a = _run(tmp_path / "a", {"loss": nan, "acc": 1.0}, _rows([1.0, 0.5]))
    b = _run(tmp_path / "b", {"loss": nan}, _rows([1.0]))
    result = verify.compare_metrics(a, b)
    verdicts = [(r.metric, r.verdict) for r in result.rows]
    assert verdicts == [("acc", "missing"), ("loss", "match"), ("loss (2 vs 1 steps)", "mismatch")]


def test_values_match_rule() -> None:
    assert verify.values_match(1.0, 1.0, rtol=0, atol=0)
    assert not verify.values_match(1.0, 1.0 + 1e-12, rtol=0, atol=0)
    assert verify.values_match(100.0, 101.0, rtol=0.01, atol=0)
    assert not verify.values_match(100.0, 101.5, rtol=0.01, atol=0.0)
    assert verify.values_match(0.0, 0.4, rtol=0.0, atol=0.5)
    assert verify.values_match(math.inf, math.inf, rtol=0, atol=0)
    assert not verify.values_match(1, True, rtol=0, atol=0)  # a bool is not the number 1
    assert verify.values_match("adam", "adam", rtol=0, atol=0)


def test_replay_lines_for_show_and_runs() -> None:
    mismatch = {
        "verdict": "mismatch",
        "rtol": 0.0,
        "atol": 0.0,
        "compared": 3,
        "mismatches": [{}, {}],
    }
    record = {
        "replay_of": "run_1",
        "replay": {
            "source_path": "outputs/run_2",
            "rebuild": "patch",
            "smoke": False,
            "verify": mismatch,
        },
    }
    assert verify.replay_line(record) == (
        "of run_1 (outputs/run_2), rebuilt from patch; verify: MISMATCH (2 of 3 differ, rtol=0 atol=0)"
    )
    plain = {
        "replay_of": "run_1",
        "replay": {"source_path": "outputs/run_1", "rebuild": "ref", "smoke": True, "verify": None},
    }
    assert verify.replay_line(plain) == "of run_1, rebuilt from ref, smoke config"
    assert verify.replay_line({"replay": None}) is None


def test_same_ending_sentences() -> None:
    ok = {"id": "run_1", "status": "completed", "error": None}
    failed = {"id": "run_2", "status": "failed", "error": {"type": "ValueError"}}
    other = {"id": "run_3", "status": "failed", "error": {"type": "KeyError"}}
    assert verify.same_ending(ok, {**ok, "id": "run_4"}) == (True, "run_4 completed, as run_1 did")
    assert verify.same_ending(failed, {**failed, "id": "run_4"}) == (
        True,
        "run_4 reproduced the failure: both raised ValueError",
    )
    assert verify.same_ending(failed, other) == (
        False,
        "run_3 raised KeyError; the original run_2 raised ValueError",
    )
    assert verify.same_ending(ok, other) == (
        False,
        "run_3 failed with KeyError; the original run_1 was completed",
    )
