from __future__ import annotations

from pathlib import Path

import pytest

from reprokit.experiments import naming


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("baseline_01_01.py", ("baseline", 1, 1, 2)),
        ("wide_02_01.py", ("wide", 2, 1, 2)),
        ("lr_1e3_02_01.py", ("lr_1e3", 2, 1, 2)),
        ("deep2_103_012.py", ("deep2", 103, 12, 3)),
    ],
)
def test_parse_valid_names(filename: str, expected: tuple[str, int, int, int]) -> None:
    parsed = naming.parse(filename)
    assert parsed is not None
    assert tuple(parsed) == expected


@pytest.mark.parametrize(
    "filename",
    [
        "Baseline_01_01.py",
        "wide_2_1.py",
        "wide_02.py",
        "wide__02_01.py",
        "wide_02_01.txt",
        "1x_02_01.py",
        "wide-x_02_01.py",
    ],
)
def test_parse_rejects_bad_names(filename: str) -> None:
    assert naming.parse(filename) is None


def test_base_and_formatting() -> None:
    parsed = naming.parse("baseline_01_01.py")
    assert parsed is not None and parsed.is_base
    derived = naming.parse("wide_02_01.py")
    assert derived is not None and not derived.is_base
    assert derived.id_str == "02" and derived.parent_str == "01"
    assert naming.format_name("wide", 12, 3) == "wide_12_03.py"
    assert naming.format_name("wide", 7, 1, width=3) == "wide_007_001.py"


def test_candidates_skip_helpers() -> None:
    assert naming.is_candidate(Path("wide_02_01.py"))
    assert not naming.is_candidate(Path("_train.py"))
    assert not naming.is_candidate(Path("__init__.py"))
    assert not naming.is_candidate(Path("notes.md"))


def test_next_free_id_and_suggestions() -> None:
    assert naming.next_free_id([1, 2, 5]) == 6
    assert naming.next_free_id([]) == 1
    assert naming.suggest_identifier("qwen_0.5b") == "qwen_0_5b"
    assert naming.suggest_identifier("7b") == "_7b"
    assert naming.suggest_experiment_name("WideNet") == "wide_net"
