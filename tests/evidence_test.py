"""``reprokit.analysis.evidence.by_seed``: one sample per seed; diverged values counted, not averaged."""

from __future__ import annotations

import math

import pytest

from reprokit.analysis.evidence import by_seed


def test_runs_of_one_seed_are_averaged_into_one_sample() -> None:
    runs = [
        {"seed": 0, "summary": {"m": 1.0}},
        {"seed": 0, "summary": {"m": 3.0}},  # a re-launch: the same sample measured again
        {"seed": 1, "summary": {"m": 4.0}},
    ]
    ev = by_seed(runs, "m")
    assert (ev.runs, ev.summary.n, dict(ev.seed_values)) == (3, 2, {0: 2.0, 1: 4.0})
    assert ev.summary.mean == pytest.approx(3.0)
    assert ev.summary.std == pytest.approx(math.sqrt(2.0))


def test_runs_without_a_seed_are_separate_samples() -> None:
    ev = by_seed([{"seed": None, "summary": {"m": 1.0}}, {"summary": {"m": 2.0}}], "m")
    assert (ev.runs, ev.summary.n, dict(ev.seed_values)) == (2, 2, {})


def test_non_finite_values_are_counted_as_diverged() -> None:
    runs = [
        {"seed": 0, "summary": {"m": 1.0}},
        {"seed": 0, "summary": {"m": float("nan")}},
        {"seed": 1, "summary": {"m": float("-inf")}},
        {"seed": 2, "summary": {"m": "n/a"}},  # not a number: neither a value nor diverged
        {"seed": 3, "summary": {"m": True}},
    ]
    ev = by_seed(runs, "m")
    assert (ev.runs, ev.summary.n, ev.summary.mean) == (1, 1, 1.0)
    assert (ev.diverged, ev.diverged_kinds) == (2, ("-inf", "nan"))
