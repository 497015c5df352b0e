"""How findings and the summary line read."""

from __future__ import annotations

from pathlib import Path

from reprokit.checks.findings import Finding, format_finding, summary_line


def test_format_is_relative_to_cwd_with_an_indented_hint(tmp_path: Path) -> None:
    f = Finding(tmp_path / "experiments" / "a_01_01.py", 3, 5, "RK401", "message", "do this")
    assert format_finding(f, tmp_path) == (
        "experiments/a_01_01.py:3:5: RK401 message\n  hint: do this"
    )
    outside = Finding(Path("/elsewhere/x.py"), 1, 1, "RK101", "m")
    assert format_finding(outside, tmp_path) == "/elsewhere/x.py:1:1: RK101 m"


def test_summary_counts_problems_and_files() -> None:
    a, b = Path("a.py"), Path("b.py")
    assert summary_line(12, []) == "checked 12 experiments: all good"
    assert summary_line(1, []) == "checked 1 experiment: all good"
    two = [Finding(a, 1, 1, "RK1", "x"), Finding(a, 2, 1, "RK2", "y")]
    assert summary_line(12, two) == "checked 12 experiments: 2 problems in 1 file"
    three = [*two, Finding(b, 1, 1, "RK3", "z")]
    assert summary_line(3, three) == "checked 3 experiments: 3 problems in 2 files"


def test_json_round_trip_keeps_paths_relative(tmp_path: Path) -> None:
    f = Finding(tmp_path / "e" / "x.py", 2, 3, "RK503", "m", None)
    data = f.to_json(tmp_path)
    assert data["path"] == "e/x.py"
    other = tmp_path / "elsewhere"
    assert Finding.from_json(data, other) == Finding(other / "e" / "x.py", 2, 3, "RK503", "m")
