"""The cost of ``reprokit.log`` inside a run: µs per step for 100,000 steps × 3 metrics.

Each row is written with one ``os.write`` when it is logged (nothing is held back, so a
run that dies loses nothing it logged); this measures what that costs a training loop.
Run: python bench/bench_log.py
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from reprokit.launch import metrics

STEPS = 100_000


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="reprokit-bench-log-"))
    writer = metrics.MetricsWriter(work / "metrics.jsonl")
    metrics.activate(metrics.RunInfo("run_1", work, None, 0), writer)
    try:
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for step in range(STEPS):
                metrics.log(step, loss=0.5, acc=0.25, lr=1e-3)
            best = min(best, (time.perf_counter() - start) / STEPS)
    finally:
        metrics.activate(None, None)
        writer.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"reprokit.log, 3 metrics: {best * 1e6:.2f} µs/step (best of 3 × {STEPS:,} steps)")


if __name__ == "__main__":
    main()
