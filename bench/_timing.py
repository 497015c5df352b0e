"""Timing helpers shared by the benchmarks: run a command N times, report the median."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def env() -> dict[str, str]:
    # Measure what users get: Python caching compiled bytecode. Some sandboxes set
    # PYTHONDONTWRITEBYTECODE, which makes every start recompile reprokit (~25 ms);
    # REPROKIT_BENCH_NO_PYC=1 measures that case too.
    e = {**os.environ, **GIT_ENV}
    if os.environ.get("REPROKIT_BENCH_NO_PYC") != "1":
        e.pop("PYTHONDONTWRITEBYTECODE", None)
    return e


def time_command(argv: Sequence[str], cwd: Path, repeat: int = 7, warmup: int = 1) -> float:
    """Median wall time in seconds of a command (its output discarded)."""
    for _ in range(warmup):
        subprocess.run(argv, cwd=cwd, env=env(), check=True, capture_output=True)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env(), check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=env(), check=True, capture_output=True)


def python() -> str:
    return sys.executable


def row(label: str, seconds: float, goal: float | None = None, base: float | None = None) -> str:
    parts = [f"{label:<48} {seconds * 1000:8.1f} ms"]
    if base is not None:
        parts.append(f"  ({seconds / base:5.2f}x of baseline)")
    if goal is not None:
        parts.append(f"  goal <= {goal * 1000:.0f} ms: {'ok' if seconds <= goal else 'MISSED'}")
    return "".join(parts)
