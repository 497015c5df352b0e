"""The runs of an outputs folder as rows, from the index: load, filter, sort.

One :class:`RunRow` per run, built from the SQLite index's columns (:mod:`reprokit.record.index`)
so that listing 10,000 runs never decodes 10,000 run.json copies. Shared by ``runs``,
``blame``, ``lineage`` and ``plot``; ``--where`` and ``--sort`` reuse :mod:`reprokit.analysis.where`.

Smoke runs, ablation variants and replays are left out unless ``include_all`` (``--all``):
a replay re-runs a recorded seed, so counting it next to its original would give that seed
twice the weight in a mean and shrink a std (as :func:`reprokit.analysis.evidence.is_plain_run`
leaves it out of blame and lineage). The original's row still carries its latest replay.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from reprokit.errors import ReprokitError
from reprokit.record import codestate, index, store
from reprokit.settings import Settings

# "incomplete": a run folder with no run.json (its launch was killed while starting).
STATUSES = ("completed", "failed", "interrupted", "crashed", "running", "incomplete")


@dataclass(frozen=True)
class DirtyRuns:
    """The runs made from a dirty tree, by id: ``(num, HEAD sha, snapshot, state)``, where
    ``state`` is :func:`reprokit.record.codestate.changes` from the index: the snapshot's
    tree recorded at launch, else (older records) the sha256 of the run's diff.patch.

    Each dirty run has its own snapshot commit, while :mod:`reprokit.analysis.codestates` (blame)
    groups dirty runs by the snapshot's tree: the same grouping, without a git call. A
    state is named by the snapshot of its first run.
    """

    runs: dict[str, tuple[int, str | None, str | None, str | None]]

    @cached_property
    def snapshots(self) -> dict[str, str]:
        """For each dirty run's id, the snapshot that names its code state."""
        first: dict[tuple[str | None, str | None], tuple[int, str]] = {}
        keys: dict[str, tuple[str | None, str | None]] = {}
        for rid, (num, sha, snapshot, state) in self.runs.items():
            if not snapshot:
                continue
            key = (sha, state)
            keys[rid] = key
            if key not in first or num < first[key][0]:
                first[key] = (num, snapshot)
        return {rid: first[key][1] for rid, key in keys.items()}


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
    # A later attempt resumed this run (launch --resume): that attempt stands for the chain.
    resumed_by: str | None = None
    dirty_runs: DirtyRuns | None = field(default=None, repr=False, compare=False)

    @property
    def code(self) -> str | None:
        """The code state: ``<sha>`` for a clean tree, ``<sha>+<snapshot>`` for a dirty one,
        where dirty runs with the same HEAD and the same changes share the snapshot of the
        first of them (blame's grouping, :mod:`reprokit.analysis.codestates`)."""
        if not self.git_dirty:
            return self.git_sha
        snapshot = self.dirty_runs.snapshots.get(self.id) if self.dirty_runs else None
        if snapshot is None:
            return codestate.code_label(self.record.get("git") or {})
        return f"{self.git_sha}+{snapshot}" if self.git_sha else snapshot

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
        """The shape :mod:`reprokit.analysis.where` reads: the record plus config, summary, dir, and
            ``replayed_by`` (``{"id", "verdict"}`` of the latest replay, or None) and ``code``
        (:attr:`code`)."""
        replayed = self.replayed_by
        return {
            **self.record,
            "status": self.status,
            "config": self.config,
            "summary": self.summary,
            "dir": str(self.dir),
            "replayed_by": {"id": replayed[0], "verdict": replayed[1]} if replayed else None,
            "code": self.code,
        }


def hidden_kind(smoke: Any, ablation: Any, replay_of: Any, resumed_by: Any = None) -> str | None:
    """``"smoke"``, ``"ablation"``, ``"replay"`` or ``"resumed"`` (an earlier attempt of a
    resumed chain) for a run listed only with ``--all``."""
    if resumed_by:
        return "resumed"
    if smoke:
        return "smoke"
    if ablation:
        return "ablation"
    return "replay" if replay_of else None


def _state_of(row: Any) -> str | None:
    """A dirty run's code state from its index row (:func:`codestate.changes`)."""
    git = {"dirty": True, "snapshot": row["git_snapshot"], "tree": row["git_tree"]}
    return codestate.changes(git, patch=row["git_changes"])


def _incomplete_row(settings: Settings, num: int, run_id: str) -> RunRow:
    """A run folder without a run.json, as a row that says so (status ``incomplete``)."""
    return RunRow(
        id=run_id,
        num=num,
        dir=settings.outputs / run_id,
        experiment=None,
        name=None,
        family=None,
        status="incomplete",
        started_at=None,
        duration_s=None,
        git_sha=None,
        git_dirty=None,
        smoke=False,
        ablation=False,
        replay_of=None,
        seed=None,
        note="no run.json: its launch was killed while starting",
        summary={},
        config_json="null",
        record_json="{}",
    )


def load_runs(
    settings: Settings, include_all: bool = False, incomplete: bool = False
) -> list[RunRow]:
    """Every run under ``settings.outputs``, newest first. Smoke runs, ablation variants
    and replays are left out unless ``include_all``; run folders without a run.json are
    listed (status ``incomplete``) only with ``incomplete``."""
    result = []
    missing: list[tuple[int, str]] = []
    all_rows = index.rows(settings.outputs, missing)
    replays = _latest_replays(all_rows)
    resumed_by = {r["resumed_from"]: r["id"] for r in all_rows if r["resumed_from"]}
    dirty = DirtyRuns(
        {
            r["id"]: (index.number(r["num"]), r["git_sha"], r["git_snapshot"], _state_of(r))
            for r in all_rows
            if r["git_dirty"]
        }
    )
    for r in all_rows:
        later = resumed_by.get(r["id"])
        if not include_all and hidden_kind(r["smoke"], r["ablation"], r["replay_of"], later):
            continue
        record = {
            "status": r["status"],
            "pid": index.number(r["pid"]),
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
                num=index.number(r["num"]),
                dir=settings.outputs / r["id"],
                experiment=r["experiment"],
                name=r["name"],
                family=r["family"],
                status=store.effective_status(record),
                started_at=r["started_at"],
                duration_s=index.number(r["duration_s"]),
                git_sha=r["git_sha"],
                git_dirty=None if r["git_dirty"] is None else bool(r["git_dirty"]),
                smoke=bool(r["smoke"]),
                ablation=bool(r["ablation"]),
                replay_of=r["replay_of"],
                seed=index.number(r["seed"]),
                note=r["note"],
                summary=json.loads(r["summary"]),
                config_json=r["config"],
                record_json=r["record"],
                replayed_by=replays.get(r["id"]),
                resumed_by=later,
                dirty_runs=dirty,
            )
        )
    if incomplete and missing:
        result.extend(_incomplete_row(settings, num, run_id) for num, run_id in missing)
        result.sort(key=lambda row: row.num)
    result.reverse()
    return result


def _latest_replays(rows: Sequence[Any]) -> dict[str, tuple[str, str | None]]:
    """For each replayed run, its latest replay and that replay's verdict: the original's
    row shows it even though replays themselves are listed only with ``--all``."""
    latest: dict[str, tuple[int, str, str | None]] = {}
    for r in rows:
        original = r["replay_of"]
        if not original or (original in latest and latest[original][0] > index.number(r["num"])):
            continue
        latest[original] = (
            index.number(r["num"]),
            r["id"],
            store.replay_verdict(json.loads(r["record"])),
        )
    return {original: (rid, verdict) for original, (_, rid, verdict) in latest.items()}


def light_record(row: RunRow) -> dict[str, Any]:
    """What :func:`reprokit.analysis.where.flat_row` reads, from the index columns alone: decoding each
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
        # A replay's own verdict (few runs: only these decode their run.json copy).
        "replay": row.record.get("replay") if row.replay_of else None,
        "replayed_by": {"id": row.replayed_by[0], "verdict": row.replayed_by[1]}
        if row.replayed_by
        else None,
        "started_at": row.started_at,
        "duration_s": row.duration_s,
        "note": row.note,
        "git": {"sha": row.git_sha, "dirty": row.git_dirty},
        "code": row.code,
        "config": row.config,
        "summary": row.summary,
    }


def statuses(status: str | Sequence[str] | None) -> list[str] | None:
    """``--status`` values: one, a comma-separated list, or several (repeated ``--status``),
    each one of :data:`STATUSES`; None for every status."""
    if status is None:
        return None
    given = [status] if isinstance(status, str) else list(status)
    names = [s.strip() for text in given for s in text.split(",") if s.strip()]
    for name in names:
        if name not in STATUSES:
            raise ReprokitError(f"--status {name!r}", hint=f"one of {', '.join(STATUSES)}")
    if not names:
        raise ReprokitError("--status: no status given", hint=f"one of {', '.join(STATUSES)}")
    return names


def select(
    rows: list[RunRow],
    *,
    exp: str | None = None,
    status: str | Sequence[str] | None = None,
    where: Sequence[str] = (),
    sort: str | None = None,
    experiments: str = "",
) -> list[RunRow]:
    """Filter by experiment (:func:`exp_matcher`; ``experiments`` is the experiments folder
    relative to the root), status (one or several) and ``--where``; sort (default: newest
    first)."""
    wanted = statuses(status)
    if wanted is not None:
        rows = [r for r in rows if r.status in wanted]
    if exp is not None:
        matches = exp_matcher(exp, experiments)
        rows = [r for r in rows if matches(r.experiment, r.name)]
    if where or sort:
        from reprokit.analysis import where as where_mod

        flat = [where_mod.flat_row(light_record(r)) for r in rows]
        if where:
            keep = where_mod.filter_rows(flat, where)
            rows, flat = [rows[i] for i in keep], [flat[i] for i in keep]
        if sort:
            rows = [rows[i] for i in where_mod.sort_order(flat, sort)]
    return rows


def exp_matcher(pattern: str, experiments: str = "") -> Callable[[str | None, str | None], bool]:
    """Whether a run's experiment (recorded path, name) matches ``--exp``, written any way
    the user sees it: the recorded path (``experiments/toy/reg/adam_04_03.py``, with or
    without ``.py``), the table's short form (``toy/reg/adam_04_03``: relative to the
    ``experiments`` folder), the file name (``adam_04_03.py``, ``adam_04_03``), the bare
    name (``adam``), a family folder (``toy/reg``, ``experiments/toy/reg``, ``reg``), or a
    glob over any of these (``toy/reg/*``, ``experiments/toy/reg/adam*``)."""
    regex = re.compile(fnmatch.translate(pattern.removeprefix("./").rstrip("/") or pattern))
    prefix = experiments.strip("/") + "/" if experiments.strip("/.") else ""
    # Runs share few experiments (50 for 10,000 runs): match each one once.
    seen: dict[tuple[str | None, str | None], bool] = {}

    def matches(path: str | None, name: str | None) -> bool:
        key = (path, name)
        if key not in seen:
            seen[key] = any(regex.match(c) for c in _spellings(path, name, prefix))
        return seen[key]

    return matches


def _spellings(path: str | None, name: str | None, prefix: str) -> list[str]:
    out = [name or ""]
    if not path:
        return out
    for full in {path, path.removeprefix(prefix)} if prefix else {path}:
        stem = full.removesuffix(".py")
        parts = stem.split("/")
        out += [full, stem, parts[-1] + ".py", parts[-1]]
        # Every folder above it (`toy`, `toy/reg`) and the family folder's own name (`reg`).
        out += ["/".join(parts[:i]) for i in range(1, len(parts))]
        if len(parts) > 1:
            out.append(parts[-2])
    return out
