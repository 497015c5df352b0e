"""The cells of ``reprokit runs``: each row's values for the table (short, for reading:
``c7d29d16*``, ``1m05s``, 4 significant digits) and for CSV/JSON (exact: full SHAs,
seconds, ISO 8601 UTC, every digit; strict JSON). The same column names work in all
three, as in ``--where``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from reprokit.analysis.rows import RunRow, light_record
from reprokit.settings import Settings
from reprokit.tables import data_value, format_duration, format_started, format_value, iso_utc

BASE_COLUMNS = ("id", "experiment", "status", "git", "started", "duration")
# Columns computed for display (the rest are fields of reprokit.analysis.where.flat_row).
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
    "code",
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


def experiments_folder(settings: Settings) -> str:
    """The experiments folder as records name paths (relative to the root, posix), or ""."""
    try:
        return settings.experiments.relative_to(settings.root).as_posix()
    except ValueError:
        return ""


def short_experiment(row: RunRow, settings: Settings) -> str:
    """``digits/mlp/wide_02_01`` for ``experiments/digits/mlp/wide_02_01.py``."""
    if not row.experiment:
        return "-"
    text = row.experiment.removesuffix(".py")
    folder = experiments_folder(settings)
    return text.removeprefix(folder + "/") if folder not in ("", ".") else text


def format_code(code: str | None) -> str:
    """``c7d29d16`` or ``c7d29d16+1a2b3c4d``: the table's short form of a code state."""
    if code is None:
        return "-"
    return "+".join(part[:8] for part in code.split("+"))


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
        "code": format_code(row.code),
    }
    out = []
    for column in columns:
        if column in base:
            out.append(base[column])
            continue
        if column.startswith("metric."):
            out.append(format_value(row.summary.get(column[7:])))
            continue
        from reprokit.analysis.where import flat_row, resolve_key

        # Any field --where knows, named the same way (`optim.lr`, `val_acc`, `git.sha`).
        flat = flat_row(light_record(row)) if flat is None else flat
        key = resolve_key(column, flat)
        out.append(format_value(None if key is None else flat[key]))
    return out


def _verdict(row: RunRow) -> str | None:
    from reprokit.analysis.where import shown_verdict

    # Only a replay's own record is decoded (few runs: ~40 µs each).
    latest = row.replayed_by[1] if row.replayed_by else None
    return shown_verdict(row.record if row.replay_of else None, latest)


def _replay(row: RunRow) -> str | None:
    from reprokit.analysis.where import replay_text

    by = row.replayed_by[0] if row.replayed_by else None
    return replay_text(row.replay_of, by, _verdict(row))


def format_replay(row: RunRow) -> str:
    """``of run_3: match`` on a verified replay of run_3 (``of run_3`` unverified);
    ``by run_9: match`` on a run whose latest replay is run_9; ``-`` otherwise."""
    return _replay(row) or "-"


def data_cells(
    row: RunRow, columns: Sequence[str], flat: dict[str, Any] | None = None
) -> list[str]:
    """CSV cells: the values themselves (see :func:`reprokit.tables.data_value`)."""
    return [data_value(v) for v in data_values(row, columns, flat)]


def data_values(
    row: RunRow, columns: Sequence[str], flat: dict[str, Any] | None = None
) -> list[Any]:
    """The exact values of ``columns`` (CSV, JSON with ``--columns``). The table's column
    names give their exact counterparts: ``git`` the full SHA, ``started`` ISO 8601 UTC,
    ``duration`` seconds, ``experiment`` the recorded path, ``code`` the full SHAs."""
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
        "replay": _replay(row),
        "replay_of": row.replay_of,
        "replayed_by": row.replayed_by[0] if row.replayed_by else None,
        "replay_verdict": _verdict(row),
        "code": row.code,
    }
    out = []
    for column in columns:
        if column in base:
            value = base[column]
        elif column.startswith("metric."):
            value = row.summary.get(column[7:])
        else:
            from reprokit.analysis.where import flat_row, resolve_key

            flat = flat_row(light_record(row)) if flat is None else flat
            key = resolve_key(column, flat)
            value = None if key is None else flat[key]
        out.append(value)
    return out


def row_json(row: RunRow) -> dict[str, Any]:
    """One run for ``--format json`` without ``--columns``: every field ``--where`` knows
    (``config`` and ``summary`` as objects), named as JSON names them (``git_sha``)."""
    return {
        "id": row.id,
        "dir": str(row.dir),
        "experiment": row.experiment,
        "name": row.name,
        "status": row.status,
        "git_sha": row.git_sha,
        "git_dirty": row.git_dirty,
        "code": row.code,
        "started_at": iso_utc(row.started_at),
        "duration_s": row.duration_s,
        "seed": row.seed,
        "smoke": row.smoke,
        "ablation": row.ablation,
        # Which config field an ablation variant tested (`--where ablation_of.field==...`).
        "ablation_of": row.record.get("ablation_of") if row.ablation else None,
        "replay_of": row.replay_of,
        "replayed_by": row.replayed_by[0] if row.replayed_by else None,
        "replay_verdict": _verdict(row),
        "replay": _replay(row),
        "note": row.note,
        "config": json_safe(row.config),
        # Strict JSON has no NaN or Infinity: a diverged metric is written as configs write
        # one ("nan", "inf", "-inf"), so it stays visible and every parser reads the output.
        "summary": {k: json_safe(v) for k, v in row.summary.items()},
    }


def json_safe(value: Any) -> Any:
    """``value`` for strict JSON: a non-finite float as configs write it (``"nan"``,
    ``"inf"``), so a diverged metric stays visible and every parser reads the output."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def run_names() -> frozenset[str]:
    """Every name of a run field, in any format: the table's, CSV's and --where's columns,
    the aliases and the flat rows' keys."""
    from reprokit.analysis.where import ALIASES, RUN_FIELDS

    return frozenset((*CELL_NAMES, *CSV_COLUMNS, *ALIASES, *RUN_FIELDS))


def bare_keys(rows: Sequence[RunRow], names: Sequence[str]) -> set[str]:
    """The ``config.<name>`` and ``metric.<name>`` keys that the runs' flat rows
    (:func:`reprokit.analysis.where.flat_row`) have for the undotted ``names``: a leaf at the top of
    the config, a scalar in the summary. Flattening every run's config instead cost ~16 µs
    a run, a third of the time ``runs`` may take for 10,000 runs, for ``--columns git``."""
    wanted = [n for n in names if "." not in n]
    found: set[str] = set()
    for row in rows if wanted else ():
        config = row.config if isinstance(row.config, dict) else {}
        for name in wanted:
            # A non-empty mapping is flattened into deeper keys; anything else is a leaf.
            if name in config and not (isinstance(config[name], dict) and config[name]):
                found.add(f"config.{name}")
            if name in row.summary and not isinstance(row.summary[name], dict | list):
                found.add(f"metric.{name}")
    return found


def metric_headers(rows: Sequence[RunRow]) -> list[str]:
    """The metrics' column names; ``metric.<name>`` for one named like a run field anywhere
    (a metric called ``code``, ``seed`` or ``started``), so each header, given back to
    ``--columns``, names the metric rather than the run field."""
    taken = run_names()
    return [f"metric.{m}" if m in taken else m for m in metric_names(rows)]
