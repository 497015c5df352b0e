"""A SQLite index of the run folders in ``outputs/.index.sqlite``, for fast listing.

The folders are the source of truth: on every read the index compares each ``run_N``
folder's ``run.json``/``summary.json`` stat signature (mtime, inode, size — records are
replaced by rename, so a rewrite always changes at least one) with what it stored, re-reads
only the runs that changed, and drops runs whose folder is gone. A missing, corrupt or
outdated index file is simply rebuilt; a read-only outputs folder falls back to an index
in memory.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from reprokit.errors import ReprokitError
from reprokit.files import digest
from reprokit.paths import shown
from reprokit.record import store
from reprokit.tables import safe_text

INDEX_FILE = ".index.sqlite"
SCHEMA_VERSION = 4  # 2: git_snapshot, git_changes; 3: git_tree; 4: resumed_from
# Columns copied out of run.json (and summary.json / config.yaml) for listing and filtering.
COLUMNS = (
    "id",
    "num",
    "record_sig",
    "summary_sig",
    "status",
    "pid",
    "host",
    "heartbeat_at",
    "started_at",
    "duration_s",
    "experiment",
    "name",
    "family",
    "git_sha",
    "git_dirty",
    "git_snapshot",
    "git_tree",
    "git_changes",
    "smoke",
    "ablation",
    "replay_of",
    "resumed_from",
    "seed",
    "note",
    "summary",
    "config",
    "record",
)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs ({", ".join(c + (" TEXT PRIMARY KEY" if c == "id" else "") for c in COLUMNS)});
"""


def _sig(path: str) -> str | None:
    # Plain strings, not Path objects: this runs twice per run on every listing, and for
    # 10,000 runs the stat calls are most of the time (~100 ms) already.
    try:
        st = os.stat(path)
    except OSError:
        # Missing, or its run_N "folder" is a file or a FIFO (NotADirectoryError): no record.
        return None
    return f"{st.st_mtime_ns}:{st.st_ino}:{st.st_size}"


def _scan(
    outputs: Path, missing: list[tuple[int, str]] | None = None
) -> dict[str, tuple[int, str, str | None]]:
    """``{run id: (N, run.json signature, summary.json signature)}`` of readable folders;
    ``(N, id)`` of run folders without a run.json are added to ``missing``. Runs pulled
    from teammates (``outputs/alice@gpu-3/run_N``, :func:`store.namespace_dirs`) have the
    id ``alice@gpu-3/run_N``."""
    found: dict[str, tuple[int, str, str | None]] = {}
    _scan_folder(outputs, "", found, missing)
    for folder in store.namespace_dirs(outputs):
        _scan_folder(folder, f"{folder.name}/", found, missing)
    return found


def _scan_folder(
    folder: Path,
    prefix: str,
    found: dict[str, tuple[int, str, str | None]],
    missing: list[tuple[int, str]] | None,
) -> None:
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        n = store.run_number(entry.name)
        if n is None:
            continue
        record_sig = _sig(f"{entry.path}{os.sep}{store.RECORD_FILE}")
        if record_sig is None:
            # A launch killed between its mkdir and its first record (older reprokit
            # versions; a launch now claims the folder with its record inside), or a
            # folder made by hand: no row, but `runs` lists it as incomplete.
            if missing is not None and entry.is_dir():
                missing.append((n, prefix + entry.name))
            continue
        summary_sig = _sig(f"{entry.path}{os.sep}{store.SUMMARY_FILE}")
        found[prefix + entry.name] = (n, record_sig, summary_sig)


def _load_config(run_dir: Path) -> Any:
    """config.yaml as plain data (YAML safe loader, C version when available)."""
    try:
        data = store.read_regular(run_dir / store.CONFIG_FILE)
    except FileNotFoundError:
        return None
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(data, Loader=loader)
    except (yaml.YAMLError, ValueError, RecursionError):
        # ValueError: an int of more than 4,300 digits; RecursionError: deep nesting.
        return None


def _changes_digest(run_dir: Path, git: dict[str, Any]) -> str | None:
    """sha256 of a dirty run's diff.patch (HEAD to the snapshot): with the HEAD sha, it
    names the code state without a git call. Read once, when the run is indexed."""
    if not git.get("dirty"):
        return None
    # Only the run folder's own patch: the record's patch_file name is not a path to follow.
    try:
        with store.open_regular(run_dir / store.PATCH_FILE) as f:
            return digest(f)
    except (OSError, ReprokitError):
        return None  # no patch to compare: the run's snapshot names a state of its own


# SQLite integers are 64-bit: a record's seed of 2**64 (a valid `--seed`) made the insert
# raise OverflowError and broke `runs`, `lineage` and `blame`. Such a number is stored as
# its decimal text and read back as the int it was (:func:`number`); JSON columns keep
# every number exact already.
_INT64 = range(-(2**63), 2**63)
_NUMBER_COLUMNS = frozenset(("num", "pid", "seed", "duration_s"))


def _storable(value: Any) -> Any:
    """``value`` as SQLite can hold it: an int outside 64 bits becomes its decimal text."""
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        return str(value)
    return value


def number(value: Any) -> Any:
    """A number column (``num``, ``pid``, ``seed``, ``duration_s``) as the record held it:
    the decimal text of an int too big for SQLite back to that int."""
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


def _row(
    outputs: Path, run_id: str, n: int, record_sig: str, summary_sig: str | None
) -> tuple[Any, ...]:
    run_dir = outputs / run_id
    record = store.read_record(run_dir)
    summary = store.read_summary(run_dir)
    exp = record.get("experiment") or {}
    git = record.get("git") or {}
    slim = dict(record)
    if isinstance(slim.get("environment"), dict):
        # Package lists are most of a record's size and no listing needs them.
        slim["environment"] = {k: v for k, v in slim["environment"].items() if k != "packages"}
    values = {
        "id": run_id,
        "num": n,
        "record_sig": record_sig,
        "summary_sig": summary_sig,
        "status": record.get("status"),
        "pid": record.get("pid"),
        "host": record.get("host"),
        "heartbeat_at": record.get("heartbeat_at"),
        "started_at": record.get("started_at"),
        "duration_s": record.get("duration_s"),
        "experiment": exp.get("path"),
        "name": exp.get("name"),
        "family": exp.get("family"),
        "git_sha": git.get("sha"),
        "git_dirty": None if not git else int(bool(git.get("dirty"))),
        "git_snapshot": git.get("snapshot"),
        "git_tree": git.get("tree"),
        # Records from before git.tree: the patch digest stands in for the tree.
        "git_changes": None if git.get("tree") else _changes_digest(run_dir, git),
        "smoke": int(bool(record.get("smoke"))),
        "ablation": int(record.get("ablation_of") is not None),
        # A pulled replay's "run_3" is its teammate's run_3, never this folder's.
        "replay_of": _qualified(run_dir, record.get("replay_of")),
        "resumed_from": _qualified(run_dir, record.get("resumed_from")),
        "seed": record.get("seed"),
        "note": record.get("note"),
        "summary": json.dumps(summary, sort_keys=True),
        "config": json.dumps(_load_config(run_dir), sort_keys=True, default=str),
        "record": json.dumps(slim, sort_keys=True, default=str),
    }
    return tuple(_storable(values[c]) if c in _NUMBER_COLUMNS else values[c] for c in COLUMNS)


def _qualified(run_dir: Path, run_id: Any) -> Any:
    return store.qualified(run_dir, run_id) if isinstance(run_id, str) else run_id


def _connect(path: Path | None) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:" if path is None else str(path), timeout=10.0)
    conn.row_factory = sqlite3.Row
    conn.executescript(_SCHEMA)
    version = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    if version is None or version[0] != str(SCHEMA_VERSION):
        conn.executescript("DROP TABLE runs; DELETE FROM meta;" + _SCHEMA)
        conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        conn.commit()
    return conn


def _regular_or_missing(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return True


@contextmanager
def _open(outputs: Path) -> Iterator[sqlite3.Connection]:
    path = outputs / INDEX_FILE
    if not _regular_or_missing(path):
        # A FIFO there made SQLite's open wait forever; a link could point anywhere. The
        # folders are the truth: index them in memory this time, and say how to fix it.
        print(
            f"reprokit: warning: {shown(path)} is not a regular file; indexing in memory"
            " (delete it to let reprokit keep its index there)",
            file=sys.stderr,
        )
        with closing(_connect(None)) as memory:
            yield memory
        return
    try:
        conn = _connect(path)
    except sqlite3.DatabaseError:
        # Corrupt or unwritable: rebuild from the folders, in place if we can.
        try:
            path.unlink(missing_ok=True)
            conn = _connect(path)
        except (OSError, sqlite3.DatabaseError):
            conn = _connect(None)
    with closing(conn):
        yield conn


def _refresh(
    conn: sqlite3.Connection, outputs: Path, missing: list[tuple[int, str]] | None = None
) -> None:
    on_disk = _scan(outputs, missing)
    stored = {
        row["id"]: (row["record_sig"], row["summary_sig"])
        for row in conn.execute("SELECT id, record_sig, summary_sig FROM runs")
    }
    gone = [(run_id,) for run_id in stored if run_id not in on_disk]
    changed = []
    for run_id, (n, record_sig, summary_sig) in on_disk.items():
        if stored.get(run_id) == (record_sig, summary_sig):
            continue
        try:
            changed.append(_row(outputs, run_id, n, record_sig, summary_sig))
        except (ReprokitError, OSError) as e:
            # One unreadable run (edited by hand, from a newer reprokit) must not hide the rest.
            # One line per skipped run (its hint says how to repair it; `show` prints that).
            why = e.message if isinstance(e, ReprokitError) else str(e)
            print(f"reprokit: warning: skipping {run_id}: {safe_text(why)}", file=sys.stderr)
            if run_id in stored:
                gone.append((run_id,))
    if not gone and not changed:
        return
    placeholders = ", ".join("?" for _ in COLUMNS)
    with conn:
        conn.executemany("DELETE FROM runs WHERE id = ?", gone)
        conn.executemany(f"INSERT OR REPLACE INTO runs VALUES ({placeholders})", changed)


def rows(outputs: Path, missing: list[tuple[int, str]] | None = None) -> list[sqlite3.Row]:
    """Every indexed run (after bringing the index up to date), by run number. ``(N, id)``
    of run folders that have no run.json are added to ``missing`` when it is given."""
    if not outputs.is_dir():
        return []
    with _open(outputs) as conn:
        try:
            _refresh(conn, outputs, missing)
        except sqlite3.OperationalError:
            # Read-only outputs folder or a lock held too long: index in memory this time.
            if missing is not None:
                missing.clear()
            with closing(_connect(None)) as memory:
                _refresh(memory, outputs, missing)
                return memory.execute("SELECT * FROM runs ORDER BY num").fetchall()
        return conn.execute("SELECT * FROM runs ORDER BY num").fetchall()
