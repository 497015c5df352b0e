"""A resumed chain: ``run_9`` resumed ``run_5``, which resumed ``run_2``.

Each attempt is an ordinary run folder whose record names the one before it in
``resumed_from``. Readers treat the chain as one run: the latest attempt stands for it, and
its metrics are the attempts' rows by step, a later attempt's rows replacing an earlier
one's from the first step it logged on (a resume that restarted from an older checkpoint
re-logs those steps).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from reprokit.errors import ReprokitError
from reprokit.record import store, trust

# A chain longer than this is a loop in hand-edited records, not a run resumed 1000 times.
_MAX_ATTEMPTS = 1000


def previous_id(record: Mapping[str, Any], record_file: Path) -> str | None:
    """The run ``record`` resumed (validated: a run id, never a path), or None."""
    value = record.get("resumed_from")
    if value is None:
        return None
    return trust.run_id(value, record_file, "resumed_from")


def attempts(run_dir: Path) -> list[Path]:
    """The folders of ``run_dir``'s chain, the first attempt first, ``run_dir`` last.

    An earlier attempt is looked for next to ``run_dir`` (a chain lives in one outputs
    folder); one that is missing or unreadable ends the chain there.
    """
    chain = [run_dir]
    record_file = run_dir / store.RECORD_FILE
    with contextlib.suppress(FileNotFoundError, ReprokitError):
        record = store.read_record(run_dir)
        while len(chain) < _MAX_ATTEMPTS:
            previous = previous_id(record, record_file)
            if previous is None:
                break
            folder = run_dir.parent / previous
            if folder in chain:
                break  # a loop (edited records): what was read so far is the chain
            record_file = folder / store.RECORD_FILE
            record = store.read_record(folder)
            chain.append(folder)
    return chain[::-1]


def merged_metrics(rows_per_attempt: Iterable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The chain's metric rows: each attempt's rows, cut where the next attempt starts.

    A later attempt that logged from step 3 replaces the earlier attempts' rows of step 3
    and on; rows without a step are kept as they are.
    """
    merged: list[dict[str, Any]] = []
    for rows in rows_per_attempt:
        steps = [r["step"] for r in rows if _is_step(r.get("step"))]
        if steps:
            first = min(steps)
            merged = [r for r in merged if not (_is_step(r.get("step")) and r["step"] >= first)]
        merged.extend(rows)
    return merged


def _is_step(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def chain_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """:func:`merged_metrics` of every attempt of ``run_dir``'s chain."""
    return merged_metrics(store.read_metrics(folder) for folder in attempts(run_dir))


def next_step(run_dir: Path) -> int:
    """One past the last step the chain ending at ``run_dir`` logged; 0 when none."""
    steps = [r["step"] for r in chain_metrics(run_dir) if _is_step(r.get("step"))]
    return max(steps) + 1 if steps else 0
