"""``reprokit runs``: a table of runs (newest first), backed by the index.

The rows (:class:`reprokit.runrows.RunRow`), which runs are listed (smoke, ablation and
replay runs only with ``--all``), filtering and sorting are :mod:`reprokit.runrows`; this
module turns rows into cells and :func:`reprokit.tables.render_table` into text. The table
shows values for reading (4 significant digits, ``1m05s``); CSV and JSON carry them for
analysis (exact numbers, seconds, ISO 8601 UTC).
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reprokit import store
from reprokit.errors import EXIT_OK, ReprokitError
from reprokit.runrows import (
    RunRow,
    hidden_kind,
    light_record,
    load_runs,
    replay_verdict,
    select,
)
from reprokit.settings import Settings
from reprokit.tables import (
    data_value,
    format_duration,
    format_started,
    format_value,
    iso_utc,
    plural,
    render_table,
)

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
# The default CSV columns: named as --where, --columns and runs_frame name them, with the
# exact values (full SHA, seconds, ISO 8601 UTC) rather than the table's short forms.
CSV_COLUMNS = (
    "id",
    "experiment",
    "status",
    "git.sha",
    "git.dirty",
    "started_at",
    "duration_s",
    "seed",
    "replay_of",
)


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
    """``of run_3: match`` on a verified replay of run_3 (``of run_3`` unverified);
    ``by run_9: match`` on a run whose latest replay is run_9; ``-`` otherwise."""
    if row.replay_of:
        verdict = replay_verdict(row.record)
        return f"of {row.replay_of}" + (f": {verdict}" if verdict else "")
    if row.replayed_by:
        rid, verdict = row.replayed_by
        return f"by {rid}" + (f": {verdict}" if verdict else "")
    return "-"


def data_cells(
    row: RunRow,
    columns: Sequence[str],
    settings: Settings,
    flat: dict[str, Any] | None = None,
) -> list[str]:
    """CSV cells: the values themselves (see :func:`reprokit.tables.data_value`). The table's
    column names give their exact counterparts: ``git`` the full SHA, ``started`` ISO 8601
    UTC, ``duration`` seconds, ``experiment`` the recorded path, ``replay`` the original."""
    base: dict[str, Any] = {
        "id": row.id,
        "experiment": row.experiment,
        "status": row.status,
        "git": row.git_sha,
        "git.sha": row.git_sha,
        "git.dirty": row.git_dirty,
        "started": iso_utc(row.started_at),
        "started_at": iso_utc(row.started_at),
        "duration": row.duration_s,
        "duration_s": row.duration_s,
        "seed": row.seed,
        "note": row.note,
        "replay": row.replay_of,
        "replay_of": row.replay_of,
    }
    out = []
    for column in columns:
        if column in base:
            value = base[column]
        elif column.startswith("metric."):
            value = row.summary.get(column[7:])
        else:
            from reprokit.where import flat_row, resolve_key

            flat = flat_row(light_record(row)) if flat is None else flat
            key = resolve_key(column, flat)
            value = None if key is None else flat[key]
        out.append(data_value(value))
    return out


def row_json(row: RunRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "dir": str(row.dir),
        "experiment": row.experiment,
        "status": row.status,
        "git_sha": row.git_sha,
        "git_dirty": row.git_dirty,
        "started_at": iso_utc(row.started_at),
        "duration_s": row.duration_s,
        "seed": row.seed,
        "smoke": row.smoke,
        "ablation": row.ablation,
        "replay_of": row.replay_of,
        "replayed_by": row.replayed_by[0] if row.replayed_by else None,
        "replay_verdict": replay_verdict(row.record)
        if row.replay_of
        else (row.replayed_by[1] if row.replayed_by else None),
        "note": row.note,
        # Strict JSON has no NaN or Infinity: a diverged metric is written as configs write
        # one ("nan", "inf", "-inf"), so it stays visible and every parser reads the output.
        "summary": {k: _json_safe(v) for k, v in row.summary.items()},
    }


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _metric_headers(rows: Sequence[RunRow], taken: Sequence[str]) -> list[str]:
    """The metrics' column names; ``metric.<name>`` for one named like a run column (a
    metric called ``seed`` or ``status``), so no two columns share a header."""
    return [f"metric.{m}" if m in taken else m for m in metric_names(rows)]


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
    everything = load_runs(settings, include_all=True)
    listed = everything if include_all else [r for r in everything if not _hidden(r)]
    rows = select(listed, exp=exp, status=status, where=where, sort=sort)
    if not rows:
        # Said for every format (on stderr, so CSV/JSON output stays clean): an empty
        # answer must not read as an empty outputs folder.
        print(_nothing_listed(settings, everything, listed, exp, status, where), file=sys.stderr)
    if limit is not None:
        rows = rows[: max(limit, 0)]
    if fmt == "json":
        print(json.dumps([row_json(r) for r in rows], indent=1, sort_keys=True, allow_nan=False))
        return EXIT_OK
    flats: list[dict[str, Any] | None] = [None] * len(rows)
    if columns:
        chosen = [c.strip() for c in columns.split(",") if c.strip()]
        from reprokit.where import check_fields, flat_row

        known = (*CELL_NAMES, *CSV_COLUMNS) if fmt == "csv" else CELL_NAMES
        asked = [c for c in chosen if c not in known]
        if asked:
            flats = [flat_row(light_record(r)) for r in rows]
            if rows:
                check_fields(asked, [f for f in flats if f is not None])
        keys = chosen
    elif fmt == "csv":
        chosen = [*CSV_COLUMNS, *_metric_headers(rows, CSV_COLUMNS)]
        # By construction these are metrics: the `metric.` key skips the config lookup.
        keys = [*CSV_COLUMNS, *(f"metric.{m}" for m in metric_names(rows))]
    else:
        # A "replay" column (which run, and the verdict) only when a listed run is a replay
        # or was replayed.
        replayed = any(r.replay_of or r.replayed_by for r in rows)
        base = [*BASE_COLUMNS, "replay"] if replayed else list(BASE_COLUMNS)
        chosen = [*base, *_metric_headers(rows, base)]
        keys = [*base, *(f"metric.{m}" for m in metric_names(rows))]
    if fmt == "csv":
        body = [data_cells(r, keys, settings, f) for r, f in zip(rows, flats, strict=True)]
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([chosen, *body])
        sys.stdout.write(out.getvalue())
        return EXIT_OK
    if not rows:
        return EXIT_OK
    body = [cells(r, keys, settings, f) for r, f in zip(rows, flats, strict=True)]
    numeric = {
        i
        for i, c in enumerate(chosen)
        if c == "duration" or c not in (*BASE_COLUMNS, "note", "replay")
    }
    sys.stdout.write(render_table(chosen, body, numeric))
    return EXIT_OK


def _hidden(row: RunRow) -> str | None:
    return hidden_kind(row.smoke, row.ablation, row.replay_of)


def _nothing_listed(
    settings: Settings,
    everything: Sequence[RunRow],
    listed: Sequence[RunRow],
    exp: str | None,
    status: str | None,
    where: Sequence[str],
) -> str:
    """``no run matches --where 'loss>100' (25 runs in outputs; 2 replays hidden: --all)``."""
    if not everything:
        return f"no runs in {settings.outputs}"
    shown = f"{plural(len(listed), 'run')} in {settings.outputs}"
    if len(listed) < len(everything):
        hidden = Counter(kind for row in everything if (kind := _hidden(row)) is not None)
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(hidden.items()))
        one = sum(hidden.values()) == 1
        shown += (
            f"; {kinds} {'run' if one else 'runs'} hidden: --all lists {'it' if one else 'them'}"
        )
    filters = [
        *([f"--exp {exp!r}"] if exp is not None else []),
        *([f"--status {status}"] if status is not None else []),
        *(f"--where {w!r}" for w in where),
    ]
    if not filters:
        return f"no runs to list ({shown})"
    return f"no run matches {' '.join(filters)} ({shown})"


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
    Smoke runs, ablation variants and replays (a replay repeats a recorded seed: not a new
    sample) are left out unless ``include_all=True``.
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
    """A pandas DataFrame, one row per run (filters as :func:`runs`: no smoke, ablation or
    replay runs unless ``include_all=True``), with flattened columns: ``id``, ``experiment``,
    ``name``, ``status``, ``seed``, ``smoke``, ``ablation``, ``ablation_of.field``,
    ``replay_of`` (the original run's id, None for an original), ``replayed_by`` (the latest
    replay of a run), ``replay_verdict`` (a replay's verify verdict; on an original, its
    latest replay's), ``started_at`` (UTC
    datetime), ``duration_s``, ``note``, ``git.sha``, ``git.dirty``, ``config.<dotted path>``,
    ``metric.<name>``, ``env.python`` and ``env.<package>`` versions.
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
        replayed = record.get("replayed_by") or {}
        row["replayed_by"] = replayed.get("id")
        row["replay_verdict"] = (
            replayed.get("verdict") if not record.get("replay_of") else (replay_verdict(record))
        )
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
