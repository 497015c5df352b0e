"""The runs of an outputs folder as rows, from the index: load, filter, sort.

One :class:`RunRow` per run, built from the SQLite index's columns (:mod:`reprokit.index`)
so that listing 10,000 runs never decodes 10,000 run.json copies. Shared by ``runs``,
``blame``, ``lineage`` and ``plot``; ``--where`` and ``--sort`` reuse :mod:`reprokit.where`.

Smoke runs, ablation variants and replays are left out unless ``include_all`` (``--all``):
a replay re-runs a recorded seed, so counting it next to its original would give that seed
twice the weight in a mean and shrink a std (as :func:`reprokit.evidence.is_plain_run`
leaves it out of blame and lineage). The original's row still carries its latest replay.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from reprokit import index, store
from reprokit.errors import ReprokitError
from reprokit.settings import Settings

STATUSES = ("completed", "failed", "interrupted", "crashed", "running")


@dataclass(frozen=True)
class RunRow:
    """One run as the index knows it; ``status`` is the effective one (shows ``crashed``)."""

    id: str
    num: int
    dir: Path
    experiment: str | None
    name: str | None
    family: str | None
    status: str
    started_at: str | None
    duration_s: float | None
    git_sha: str | None
    git_dirty: bool | None
    smoke: bool
    ablation: bool
    replay_of: str | None
    seed: int | None
    note: str | None
    summary: dict[str, Any]
    config_json: str
    record_json: str
    # The latest replay of this run: (its id, its verify verdict or None when unverified).
    replayed_by: tuple[str, str | None] | None = None

    @cached_property
    def config(self) -> Any:
        """The resolved config as plain data (from config.yaml), or None."""
        return json.loads(self.config_json)

    @cached_property
    def record(self) -> dict[str, Any]:
        """run.json without the package list (``store.read_record(dir)`` has everything)."""
        data: dict[str, Any] = json.loads(self.record_json)
        return data

    def as_record(self) -> dict[str, Any]:
        """The shape :mod:`reprokit.where` reads: the record plus config, summary, dir, and
        ``replayed_by`` (``{"id", "verdict"}`` of the latest replay, or None)."""
        replayed = self.replayed_by
        return {
            **self.record,
            "status": self.status,
            "config": self.config,
            "summary": self.summary,
            "dir": str(self.dir),
            "replayed_by": {"id": replayed[0], "verdict": replayed[1]} if replayed else None,
        }


def hidden_kind(smoke: Any, ablation: Any, replay_of: Any) -> str | None:
    """``"smoke"``, ``"ablation"`` or ``"replay"`` for a run listed only with ``--all``."""
    if smoke:
        return "smoke"
    if ablation:
        return "ablation"
    return "replay" if replay_of else None


def load_runs(settings: Settings, include_all: bool = False) -> list[RunRow]:
    """Every run under ``settings.outputs``, newest first. Smoke runs, ablation variants
    and replays are left out unless ``include_all``."""
    result = []
    all_rows = index.rows(settings.outputs)
    replays = _latest_replays(all_rows)
    for r in all_rows:
        if not include_all and hidden_kind(r["smoke"], r["ablation"], r["replay_of"]):
            continue
        record = {
            "status": r["status"],
            "pid": r["pid"],
            "host": r["host"],
            "heartbeat_at": r["heartbeat_at"],
            "started_at": r["started_at"],
        }
        if r["status"] == "running":
            # Only running rows need the pid's start time (guards a reused pid); decoding
            # every record's JSON would cost ~40 µs a run.
            record["pid_started"] = json.loads(r["record"]).get("pid_started")
        result.append(
            RunRow(
                id=r["id"],
                num=r["num"],
                dir=settings.outputs / r["id"],
                experiment=r["experiment"],
                name=r["name"],
                family=r["family"],
                status=store.effective_status(record),
                started_at=r["started_at"],
                duration_s=r["duration_s"],
                git_sha=r["git_sha"],
                git_dirty=None if r["git_dirty"] is None else bool(r["git_dirty"]),
                smoke=bool(r["smoke"]),
                ablation=bool(r["ablation"]),
                replay_of=r["replay_of"],
                seed=r["seed"],
                note=r["note"],
                summary=json.loads(r["summary"]),
                config_json=r["config"],
                record_json=r["record"],
                replayed_by=replays.get(r["id"]),
            )
        )
    result.reverse()
    return result


def _latest_replays(rows: Sequence[Any]) -> dict[str, tuple[str, str | None]]:
    """For each replayed run, its latest replay and that replay's verdict: the original's
    row shows it even though replays themselves are listed only with ``--all``."""
    latest: dict[str, tuple[int, str, str | None]] = {}
    for r in rows:
        original = r["replay_of"]
        if not original or (original in latest and latest[original][0] > r["num"]):
            continue
        latest[original] = (r["num"], r["id"], replay_verdict(json.loads(r["record"])))
    return {original: (rid, verdict) for original, (_, rid, verdict) in latest.items()}


def replay_verdict(record: dict[str, Any]) -> str | None:
    """A replay record's verify verdict (``match``/``mismatch``), None when unverified."""
    replay = record.get("replay")
    checked = replay.get("verify") if isinstance(replay, dict) else None
    return str(checked["verdict"]) if isinstance(checked, dict) and checked.get("verdict") else None


def light_record(row: RunRow) -> dict[str, Any]:
    """What :func:`reprokit.where.flat_row` reads, from the index columns alone: decoding each
    run.json copy costs ~40 µs a run, too much for 10,000 runs in 0.5 s."""
    return {
        "id": row.id,
        "experiment": {"path": row.experiment, "name": row.name},
        "status": row.status,
        "seed": row.seed,
        "smoke": row.smoke,
        # Decoded only for ablation variants (few): run.json copies cost ~40 µs each.
        "ablation_of": (row.record.get("ablation_of") or {}) if row.ablation else None,
        "replay_of": row.replay_of,
        "started_at": row.started_at,
        "duration_s": row.duration_s,
        "note": row.note,
        "git": {"sha": row.git_sha, "dirty": row.git_dirty},
        "config": row.config,
        "summary": row.summary,
    }


def select(
    rows: list[RunRow],
    *,
    exp: str | None = None,
    status: str | None = None,
    where: Sequence[str] = (),
    sort: str | None = None,
) -> list[RunRow]:
    """Filter by experiment glob, status and ``--where``; sort (default: newest first)."""
    if status is not None:
        if status not in STATUSES:
            raise ReprokitError(f"--status {status!r}", hint=f"one of {', '.join(STATUSES)}")
        rows = [r for r in rows if r.status == status]
    if exp is not None:
        rows = [r for r in rows if _matches(r, exp)]
    if where or sort:
        from reprokit import where as where_mod

        flat = [where_mod.flat_row(light_record(r)) for r in rows]
        if where:
            keep = where_mod.filter_rows(flat, where)
            rows, flat = [rows[i] for i in keep], [flat[i] for i in keep]
        if sort:
            rows = [rows[i] for i in where_mod.sort_order(flat, sort)]
    return rows


def _matches(row: RunRow, pattern: str) -> bool:
    candidates = [row.experiment or "", row.name or ""]
    if row.experiment:
        candidates.append(row.experiment.removesuffix(".py"))
        candidates.append(Path(row.experiment).stem)
    return any(fnmatch.fnmatchcase(c, pattern) for c in candidates)
