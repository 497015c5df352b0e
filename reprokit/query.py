"""``reprokit runs``: a table of runs (newest first), backed by the index.

:func:`load_runs` gives one :class:`RunRow` per run; :func:`reprokit.tables.render_table`
turns rows into text. Filtering (``--where``) and sorting reuse :mod:`reprokit.where` on
:meth:`RunRow.as_record`.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from reprokit import index, store
from reprokit.errors import EXIT_OK, ReprokitError
from reprokit.settings import Settings
from reprokit.tables import format_duration, format_started, format_value, render_table

BASE_COLUMNS = ("id", "experiment", "status", "git", "started", "duration")
# Columns computed for display (the rest are fields of reprokit.where.flat_row).
CELL_NAMES = (
    "id",
    "experiment",
    "status",
    "git",
    "started",
    "duration",
    "seed",
    "note",
    "replay",
)
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
        """The shape :mod:`reprokit.where` reads: the record plus config, summary, dir."""
        return {
            **self.record,
            "status": self.status,
            "config": self.config,
            "summary": self.summary,
            "dir": str(self.dir),
        }


def load_runs(settings: Settings, include_all: bool = False) -> list[RunRow]:
    """Every run under ``settings.outputs``, newest first. Smoke and ablation runs are
    left out unless ``include_all``."""
    result = []
    for r in index.rows(settings.outputs):
        if not include_all and (r["smoke"] or r["ablation"]):
            continue
        record = {
            "status": r["status"],
            "pid": r["pid"],
            "host": r["host"],
            "heartbeat_at": r["heartbeat_at"],
            "started_at": r["started_at"],
        }
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
            )
        )
    result.reverse()
    return result


def format_git(row: RunRow) -> str:
    if row.git_sha is None:
        return "-"
    return row.git_sha[:8] + ("*" if row.git_dirty else "")


def short_experiment(row: RunRow, settings: Settings) -> str:
    """``digits/mlp/wide_02_01`` for ``experiments/digits/mlp/wide_02_01.py``."""
    if not row.experiment:
        return "-"
    text = row.experiment.removesuffix(".py")
    try:
        prefix = settings.experiments.relative_to(settings.root).as_posix() + "/"
    except ValueError:
        return text
    return text.removeprefix(prefix)


def metric_names(rows: Sequence[RunRow]) -> list[str]:
    """Scalar summary keys of any of the rows, sorted (so columns do not move with --limit)."""
    names: set[str] = set()
    for row in rows:
        names.update(k for k, v in row.summary.items() if not isinstance(v, dict | list))
    return sorted(names)


def cells(
    row: RunRow,
    columns: Sequence[str],
    settings: Settings,
    flat: dict[str, Any] | None = None,
) -> list[str]:
    base = {
        "id": row.id,
        "experiment": short_experiment(row, settings),
        "status": row.status,
        "git": format_git(row),
        "started": format_started(row.started_at),
        "duration": format_duration(row.duration_s),
        "seed": format_value(row.seed),
        "note": row.note or "",
        "replay": format_replay(row),
    }
    out = []
    for column in columns:
        if column in base:
            out.append(base[column])
            continue
        if column.startswith("metric."):
            out.append(format_value(row.summary.get(column[7:])))
            continue
        from reprokit.where import flat_row, resolve_key

        # Any field --where knows, named the same way (`optim.lr`, `val_acc`, `git.sha`).
        flat = flat_row(light_record(row)) if flat is None else flat
        key = resolve_key(column, flat)
        out.append(format_value(None if key is None else flat[key]))
    return out


def format_replay(row: RunRow) -> str:
    """``run_3 match`` for a verified replay of run_3, ``run_3`` unverified, ``-`` otherwise."""
    if not row.replay_of:
        return "-"
    replay = row.record.get("replay")
    checked = replay.get("verify") if isinstance(replay, dict) else None
    if isinstance(checked, dict) and checked.get("verdict"):
        return f"{row.replay_of} {checked['verdict']}"
    return row.replay_of


def row_json(row: RunRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "dir": str(row.dir),
        "experiment": row.experiment,
        "status": row.status,
        "git_sha": row.git_sha,
        "git_dirty": row.git_dirty,
        "started_at": row.started_at,
        "duration_s": row.duration_s,
        "seed": row.seed,
        "smoke": row.smoke,
        "ablation": row.ablation,
        "replay_of": row.replay_of,
        "note": row.note,
        "summary": row.summary,
    }


def light_record(row: RunRow) -> dict[str, Any]:
    """What :func:`reprokit.where.flat_row` reads, from the index columns alone: decoding each
    run.json copy costs ~40 µs a run, too much for 10,000 runs in 0.5 s."""
    return {
        "id": row.id,
        "experiment": {"path": row.experiment, "name": row.name},
        "status": row.status,
        "seed": row.seed,
        "smoke": row.smoke,
        "ablation_of": {} if row.ablation else None,
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


def runs_command(
    *,
    settings: Settings,
    exp: str | None = None,
    status: str | None = None,
    where: Sequence[str] = (),
    sort: str | None = None,
    columns: str | None = None,
    include_all: bool = False,
    fmt: str = "table",
    limit: int | None = None,
) -> int:
    """Print the runs under ``settings.outputs`` as a table, CSV or JSON."""
    rows = select(load_runs(settings, include_all), exp=exp, status=status, where=where, sort=sort)
    if limit is not None:
        rows = rows[: max(limit, 0)]
    if fmt == "json":
        print(json.dumps([row_json(r) for r in rows], indent=1, sort_keys=True))
        return EXIT_OK
    if columns:
        chosen = [c.strip() for c in columns.split(",") if c.strip()]
        from reprokit.where import check_fields, flat_row

        flats = [flat_row(light_record(r)) for r in rows]
        if rows:
            check_fields([c for c in chosen if c not in CELL_NAMES], flats)
        body = [cells(r, chosen, settings, f) for r, f in zip(rows, flats, strict=True)]
    else:
        # A "replay" column (original and verdict) only when some listed run is a replay.
        base = [*BASE_COLUMNS, "replay"] if any(r.replay_of for r in rows) else list(BASE_COLUMNS)
        chosen = [*base, *metric_names(rows)]
        # By construction these are metrics: the `metric.` key skips the config lookup.
        keys = [*base, *(f"metric.{m}" for m in metric_names(rows))]
        body = [cells(r, keys, settings) for r in rows]
    if fmt == "csv":
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([chosen, *body])
        sys.stdout.write(out.getvalue())
        return EXIT_OK
    if not rows:
        print(f"no runs in {settings.outputs}", file=sys.stderr)
        return EXIT_OK
    numeric = {
        i
        for i, c in enumerate(chosen)
        if c == "duration" or c not in (*BASE_COLUMNS, "note", "replay")
    }
    sys.stdout.write(render_table(chosen, body, numeric))
    return EXIT_OK


def _settings(outputs: str | Path | None, root: str | Path | None) -> Settings:
    from reprokit.settings import load_settings

    settings = load_settings(Path(root) if root is not None else None)
    return settings.with_outputs(outputs)


def runs(
    *,
    exp: str | None = None,
    status: str | None = None,
    where: Sequence[str] | str = (),
    sort: str | None = None,
    include_all: bool = False,
    limit: int | None = None,
    outputs: str | Path | None = None,
    root: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Run records (run.json plus ``config``, ``summary`` and ``dir``) with the filters of
    ``reprokit runs``; newest first unless ``sort``. ``where`` is one expression or several
    (AND-ed), e.g. ``reprokit.runs(where=["optim.lr>=1e-3", "val_acc>0.9"], sort="-val_acc")``.
    """
    settings = _settings(outputs, root)
    exprs = [where] if isinstance(where, str) else list(where)
    rows = select(load_runs(settings, include_all), exp=exp, status=status, where=exprs, sort=sort)
    if limit is not None:
        rows = rows[: max(limit, 0)]
    return [r.as_record() for r in rows]


def runs_frame(
    *,
    exp: str | None = None,
    status: str | None = None,
    where: Sequence[str] | str = (),
    sort: str | None = None,
    include_all: bool = False,
    limit: int | None = None,
    outputs: str | Path | None = None,
    root: str | Path | None = None,
) -> Any:
    """A pandas DataFrame, one row per run (filters as :func:`runs`), with flattened columns:
    ``id``, ``experiment``, ``name``, ``status``, ``seed``, ``smoke``, ``ablation``,
    ``started_at`` (UTC datetime), ``duration_s``, ``git.sha``, ``git.dirty``,
    ``config.<dotted path>``, ``metric.<name>``, ``env.python`` and ``env.<package>`` versions.
    Needs pandas (``pip install 'reprokit[frame]'``)."""
    try:
        import pandas as pd
    except ImportError as e:
        raise ReprokitError(
            "reprokit.runs_frame() needs pandas, which is not installed",
            hint="pip install 'reprokit[frame]'",
        ) from e
    from reprokit.where import flat_row

    table = []
    for record in runs(
        exp=exp, status=status, where=where, sort=sort, include_all=include_all,
        limit=limit, outputs=outputs, root=root,
    ):  # fmt: skip
        row = flat_row(record)
        # The index leaves package lists out (they are most of a record); read them here.
        full = store.read_record(Path(record["dir"]))
        env = full.get("environment") or {}
        row["env.python"] = (env.get("python") or {}).get("version")
        row.update({f"env.{k}": v for k, v in (env.get("packages") or {}).items()})
        table.append(row)
    frame = pd.DataFrame.from_records(table)
    if "started_at" in frame:
        frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True, format="ISO8601")
    return frame
