"""What the secret search costs on the launch path: every untracked file up to the size cap
is searched for credentials before it may enter a snapshot (reprokit.redact).

Prints milliseconds per MiB for source-like and data-like text, and the cost of scrubbing
a long note. Run: python bench/bench_redact.py
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from reprokit import redact

MIB = 2**20


def _per_mib(data: bytes, name: str, rounds: int = 9) -> tuple[float, float]:
    redact.secret_content(data, name)  # compile the patterns first, as a launch has
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        redact.secret_content(data, name)
        times.append((time.perf_counter() - start) * 1000 * MIB / len(data))
    return statistics.median(times), min(times)


def main() -> None:
    # reprokit's own sources are full of the literals every rule starts from: a worst case.
    sources = b"".join(p.read_bytes() for p in sorted(Path(redact.__file__).parent.rglob("*.py")))
    source = (sources * (MIB // len(sources) + 1))[:MIB].replace(b"://", b":/")
    csv = b"".join(b"%d,%f,%f,label_%d\n" % (i, i * 0.5, i / 7, i % 10) for i in range(40_000))
    print(f"{'text':<28} {'ms/MiB median':>14} {'min':>8}")
    for label, data, name in (
        ("python source (worst case)", source, "x.py"),
        ("same, as a .txt", source, "x.txt"),
        ("csv numbers", csv[:MIB], "x.csv"),
    ):
        median, low = _per_mib(data, name)
        print(f"{label:<28} {median:>14.1f} {low:>8.1f}")
    note = "see https://example.com/a?b=c " * 2_000
    start = time.perf_counter()
    redact.scrub_text(note)
    print(f"scrub a {len(note):,}-character note: {(time.perf_counter() - start) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
