"""``reprokit runs``: a table of runs (newest first), backed by the index.

The rows (:class:`reprokit.analysis.rows.RunRow`), which runs are listed (smoke, ablation and
replay runs only with ``--all``), filtering and sorting are :mod:`reprokit.analysis.rows`; this
module lists them and :func:`reprokit.tables.render_table` turns their cells into text. The table
shows values for reading (4 significant digits, ``1m05s``); CSV and JSON carry them for
analysis (exact numbers, seconds, ISO 8601 UTC); the cells are :mod:`reprokit.analysis.cells`.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reprokit.analysis.cells import (
    BASE_COLUMNS,
    CELL_NAMES,
    CSV_COLUMNS,
    bare_keys,
    cells,
    data_cells,
    data_values,
    experiments_folder,
    json_safe,
    metric_headers,
    metric_names,
    row_json,
)
from reprokit.analysis.rows import (
    RunRow,
    hidden_kind,
    light_record,
    load_runs,
    select,
)
from reprokit.errors import EXIT_OK, ReprokitError
from reprokit.paths import shown as shown_path
from reprokit.record import store
from reprokit.settings import Settings
from reprokit.tables import (
    plural,
    render_table,
)


def runs_command(
    *,
    settings: Settings,
    exp: str | None = None,
    status: str | Sequence[str] | None = None,
    where: Sequence[str] = (),
    sort: str | None = None,
    columns: str | None = None,
    include_all: bool = False,
    fmt: str = "table",
    limit: int | None = None,
) -> int:
    """Print the runs under ``settings.outputs`` as a table, CSV or JSON."""
    _check_limit(limit, "--limit")
    everything = load_runs(settings, include_all=True, incomplete=True)
    listed = everything if include_all else [r for r in everything if not _hidden(r)]
    _explain_incomplete(everything)
    folder = experiments_folder(settings)
    rows = select(listed, exp=exp, status=status, where=where, sort=sort, experiments=folder)
    if not rows:
        # Said for every format (on stderr, so CSV/JSON output stays clean): an empty
        # answer must not read as an empty outputs folder.
        message = _nothing_listed(settings, everything, listed, exp, status, where, folder)
        print(message, file=sys.stderr)
    if limit is not None:
        rows = rows[:limit]
    if fmt == "json" and not columns:
        print(json.dumps([row_json(r) for r in rows], indent=1, sort_keys=True, allow_nan=False))
        return EXIT_OK
    flats: list[dict[str, Any] | None] = [None] * len(rows)
    if columns:
        chosen = [c.strip() for c in columns.split(",") if c.strip()]
        from reprokit.analysis.where import SHADOWING, check_ambiguous, check_fields, flat_row

        # `--columns code` with a metric `code` is as ambiguous as `--where code>0.5`.
        shadowing = [c for c in chosen if c in SHADOWING]
        check_ambiguous(shadowing, bare_keys(rows, shadowing))
        known = CELL_NAMES if fmt == "table" else (*CELL_NAMES, *CSV_COLUMNS)
        asked = [c for c in chosen if c not in known]
        if asked:
            flats = [flat_row(light_record(r)) for r in rows]
            if rows:
                check_fields(asked, [f for f in flats if f is not None])
        keys = chosen
    elif fmt == "csv":
        chosen = [*CSV_COLUMNS, *metric_headers(rows)]
        # By construction these are metrics: the `metric.` key skips the config lookup.
        keys = [*CSV_COLUMNS, *(f"metric.{m}" for m in metric_names(rows))]
    else:
        # A "replay" column (which run, and the verdict) only when a listed run is a replay
        # or was replayed.
        replayed = any(r.replay_of or r.replayed_by for r in rows)
        base = [*BASE_COLUMNS, "replay"] if replayed else list(BASE_COLUMNS)
        chosen = [*base, *metric_headers(rows)]
        keys = [*base, *(f"metric.{m}" for m in metric_names(rows))]
    if fmt == "json":
        # Exactly the columns asked for, with exact values (as CSV has them).
        objects = [
            dict(zip(chosen, map(json_safe, data_values(r, keys, f)), strict=True))
            for r, f in zip(rows, flats, strict=True)
        ]
        print(json.dumps(objects, indent=1, allow_nan=False))
        return EXIT_OK
    if fmt == "csv":
        body = [data_cells(r, keys, f) for r, f in zip(rows, flats, strict=True)]
        sys.stdout.write(_csv_text([chosen, *body]))
        return EXIT_OK
    if not rows:
        return EXIT_OK
    body = [cells(r, keys, settings, f) for r, f in zip(rows, flats, strict=True)]
    numeric = {
        i
        for i, c in enumerate(chosen)
        if c == "duration" or c not in (*BASE_COLUMNS, "note", "replay", "code")
    }
    sys.stdout.write(render_table(chosen, body, numeric))
    return EXIT_OK


def _explain_incomplete(rows: Sequence[RunRow]) -> None:
    """One line (stderr) for folders listed as ``incomplete``: what they are, what to do."""
    names = [r.id for r in rows if r.status == "incomplete"]
    if names:
        print(
            f"reprokit: {', '.join(sorted(names, key=lambda n: int(n[4:])))}: no run.json "
            "(incomplete: the launch was killed while starting, or the folder was not made "
            "by reprokit); delete the folder if it holds nothing you need",
            file=sys.stderr,
        )


def _hidden(row: RunRow) -> str | None:
    return hidden_kind(row.smoke, row.ablation, row.replay_of, row.resumed_by)


def _check_limit(limit: int | None, name: str) -> None:
    # `--limit 0` printed nothing and exited 0, which reads as "no runs" (a trial's report).
    if limit is not None and limit < 1:
        raise ReprokitError(
            f"{name} {limit}: must be at least 1", hint=f"leave {name} out to list every run"
        )


def _nothing_listed(
    settings: Settings,
    everything: Sequence[RunRow],
    listed: Sequence[RunRow],
    exp: str | None,
    status: str | Sequence[str] | None,
    where: Sequence[str],
    folder: str = "",
) -> str:
    """``no run matches --where 'loss>100' (25 runs in outputs; 2 replay runs hidden:
    --all lists them)``; hidden runs are named only when some of them match the filters
    (else they are not why nothing is listed)."""
    folder_text = shown_path(settings.outputs)
    if not everything:
        return f"no runs in {folder_text}"
    shown = f"{plural(len(listed), 'run')} in {folder_text}"
    hidden_rows = [row for row in everything if _hidden(row)]
    try:
        matching = select(hidden_rows, exp=exp, status=status, where=where, experiments=folder)
    except ReprokitError:
        matching = []  # a --where field no hidden run has: none of them matches
    if matching and len(listed) < len(everything):
        hidden = Counter(kind for row in matching if (kind := _hidden(row)) is not None)
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(hidden.items()))
        one = sum(hidden.values()) == 1
        shown += (
            f"; {kinds} {'run' if one else 'runs'} hidden: --all lists {'it' if one else 'them'}"
        )
    wanted = [status] if isinstance(status, str) else status
    filters = [
        *([f"--exp {exp!r}"] if exp is not None else []),
        *([f"--status {','.join(wanted)}"] if wanted else []),
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
    status: str | Sequence[str] | None = None,
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
    ``status`` is one status or several (``status=["crashed", "interrupted"]``); every status
    is listed by default, while blame and lineage count completed runs only.
    Smoke runs, ablation variants and replays (a replay repeats a recorded seed: not a new
    sample) are left out unless ``include_all=True``. Each record also has ``replayed_by``
    and ``code`` (the code state, as ``runs --columns code`` shows it).
    """
    _check_limit(limit, "limit")
    settings = _settings(outputs, root)
    exprs = [where] if isinstance(where, str) else list(where)
    rows = select(
        load_runs(settings, include_all), exp=exp, status=status, where=exprs, sort=sort,
        experiments=experiments_folder(settings),
    )  # fmt: skip
    if limit is not None:
        rows = rows[:limit]
    return [r.as_record() for r in rows]


def runs_frame(
    *,
    exp: str | None = None,
    status: str | Sequence[str] | None = None,
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
    latest replay's), ``replay`` (the two as text: ``by run_9: match``), ``started_at`` (UTC
    datetime), ``duration_s``, ``note``, ``git.sha``, ``git.dirty``, ``code`` (the code
    state: ``<sha>``, or ``<sha>+<snapshot>`` for a dirty tree, as blame groups runs),
    ``config.<dotted path>``, ``metric.<name>``, ``env.python`` and ``env.<package>`` versions.
    Every status is included unless ``status=`` (e.g. ``status="completed"``) says otherwise.
    Needs pandas (``pip install 'reprokit[frame]'``)."""
    try:
        import pandas as pd
    except ImportError as e:
        raise ReprokitError(
            "reprokit.runs_frame() needs pandas, which is not installed",
            hint="pip install 'reprokit[frame]'",
        ) from e
    from reprokit.analysis.where import flat_row

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


def _csv_text(rows: list[list[str]]) -> str:
    """Rows as CSV lines ending in ``\\n``, where a cell holding a CR is quoted too.

    With ``lineterminator="\\n"`` the csv module quotes a cell holding ``\\n`` but not one
    holding a bare ``\\r``, which readers take for a line break (a note with a CR split its
    row in two). Each row is written with ``\\r\\n`` (so both are quoted) and that
    terminator replaced.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    out = []
    for row in rows:
        writer.writerow(row)
        out.append(buffer.getvalue()[:-2] + "\n")
        buffer.seek(0)
        buffer.truncate()
    return "".join(out)
