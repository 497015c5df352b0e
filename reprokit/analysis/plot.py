"""``reprokit plot METRIC TARGET... -o FILE.png``: metric-over-step curves from metrics.jsonl.

The seeds of one experiment are drawn as their mean with a min–max band, one color per
experiment in lineage order; a run named on its own is its own line. matplotlib is an
optional extra, imported only here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from reprokit.errors import ReprokitError
from reprokit.paths import rel_path, user_path
from reprokit.settings import Settings
from reprokit.stats import as_float
from reprokit.tables import did_you_mean, plural

FIGSIZE = (8.0, 5.0)
DPI = 100


def series(rows: Sequence[Mapping[str, Any]], metric: str) -> dict[float, float]:
    """``step -> value`` of one run; rows without a step count from 0 in logging order."""
    out: dict[float, float] = {}
    # as_float, not float(): a logged int past a float's range is inf, not OverflowError.
    values = ((row, as_float(row.get(metric))) for row in rows)
    for i, (row, value) in enumerate((r, v) for r, v in values if v is not None):
        step = as_float(row.get("step"))
        out[float(i) if step is None else step] = value
    return out


class Group(NamedTuple):
    """One line of the plot: the runs of one experiment (``kind`` "experiment", drawn as the
    mean of seeds with a band) or one run named on its own (``kind`` "run")."""

    name: str  # the experiment path, or the run's label (``run_7``, ``sweep/run_1``)
    dirs: list[Path]
    kind: str = "experiment"
    experiment: str = ""  # the experiment path ("" when a run's record names none)
    records: tuple[dict[str, Any], ...] = ()  # of ``dirs``, for code states and labels


def _expand(targets: Sequence[str], settings: Settings) -> list[tuple[str, str]]:
    """(kind, what) per target: ("experiment", path relative to the root), ("family",
    the same for each of a family folder's experiments, by id) or ("run", as typed).

    A shell glob (``reg/*.py``) also names helpers (``_data.py``, ``__init__.py``): among
    several targets they are skipped; alone, one is refused.
    """
    from reprokit.analysis.blame_targets import family_hint
    from reprokit.experiments import discovery as exp_mod, naming
    from reprokit.record.store import RECORD_FILE

    out: list[tuple[str, str]] = []
    helpers = []
    for target in dict.fromkeys(targets):
        path = user_path(target, settings)
        if target.endswith(".py"):
            if not path.is_file():
                raise ReprokitError(f"{target}: no such experiment file")
            if not naming.is_candidate(path):
                helpers.append(target)
                continue
            if naming.parse(path.name) is None:
                raise ReprokitError(
                    f"{target}: not an experiment file (names are <name>_<id>_<parent>.py)",
                    hint="`reprokit check` says how to rename it",
                )
            out.append(("experiment", rel_path(path, settings.root)))
        elif path.is_dir() and not (path / RECORD_FILE).is_file():
            members = exp_mod.family_members(path)
            if not members:
                raise ReprokitError(
                    f"{target}: no experiment files in this folder",
                    hint=family_hint(target, path, settings),
                )
            out += [("family", rel_path(m.path, settings.root)) for m in members]
        else:
            out.append(("run", target))
    if helpers and not out:
        raise ReprokitError(
            f"{helpers[0]}: not an experiment file (files starting with _ are helpers)",
            hint="pass an experiment file (<name>_<id>_<parent>.py), a run, or a family folder",
        )
    return out


def collect(targets: Sequence[str], settings: Settings) -> list[Group]:
    """The lines to draw, in lineage order (family, experiment id; an experiment's own line
    before the runs named from it): one per experiment (its completed runs, oldest first)
    and one per run named on its own, never merged with its experiment's other runs."""
    from reprokit.analysis.diff import run_label
    from reprokit.analysis.rows import light_record, load_runs
    from reprokit.analysis.where import read_record
    from reprokit.experiments import naming
    from reprokit.record.store import resolve_run, run_number

    expanded = _expand(targets, settings)
    groups: list[Group] = []
    for kind, what in expanded:
        if kind == "run":
            run_dir = resolve_run(what, settings)
            name = run_label(run_dir, settings)
            if all(g.name != name for g in groups):
                record = read_record(run_dir)
                path = str((record.get("experiment") or {}).get("path") or "")
                groups.append(Group(name, [run_dir], "run", path, (record,)))
    # An experiment named itself keeps its "no completed runs" error even when a family
    # folder given too holds it (there, experiments without runs are skipped).
    wanted: dict[str, str] = {}
    for kind, what in expanded:
        if kind == "experiment" or (kind == "family" and what not in wanted):
            wanted[what] = kind
    found: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    if wanted:
        for row in reversed(load_runs(settings, include_all=False)):
            if row.experiment in wanted and row.status == "completed" and not row.replay_of:
                # The snapshot of a dirty run is only in the stored record (code states).
                record = row.as_record() if row.git_dirty else light_record(row)
                found.setdefault(row.experiment, []).append((row.dir, record))
    for path, kind in wanted.items():
        if path in found:
            dirs = [d for d, _ in found[path]]
            groups.append(Group(path, dirs, "experiment", path, tuple(r for _, r in found[path])))
        elif kind == "experiment":
            raise ReprokitError(
                f"{path}: no completed runs to plot", hint=f"run `reprokit launch {path}`"
            )
    if not groups:
        folders = sorted({Path(p).parent.as_posix() for p in wanted})
        raise ReprokitError(
            f"{', '.join(folders)}: no completed runs to plot",
            hint="launch the family's experiments with `reprokit launch`",
        )

    def order(group: Group) -> tuple[str, int, bool, int, str]:
        parsed = naming.parse(Path(group.experiment).name)
        number = run_number(group.dirs[0].name) if group.kind == "run" else None
        return (
            Path(group.experiment).parent.as_posix(),
            parsed.id if parsed else 0,
            group.kind == "run",
            number or 0,
            group.name,
        )

    return sorted(groups, key=order)


def code_state_count(records: Sequence[Mapping[str, Any]], root: Path) -> int:
    """How many code states ``records`` span, identified as :mod:`reprokit.analysis.codestates`
    does: HEAD sha, plus the snapshot's tree when the tree was dirty."""
    from reprokit.analysis.codestates import known_trees, state_key

    trees = known_trees(records, root)
    return len({state_key(r, trees) for r in records})


def label(group: Group, records: Sequence[Mapping[str, Any]], root: Path) -> str:
    """``run_31 (wide_02_01)`` for a run; ``wide_02_01 (10 runs)`` for an experiment (the
    runs drawn, ``records``), with ``, 3 code states`` when they span several: the mean
    then mixes code changes into the experiment's own effect."""
    stem = Path(group.experiment).stem or "no experiment"
    if group.kind == "run":
        return f"{group.name} ({stem})"
    states = code_state_count(records, root)
    extra = f", {states} code states" if states > 1 else ""
    return f"{stem} ({plural(len(records), 'run')}{extra})"


def run_metrics(run_dir: Path, record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A run's metric rows; a resumed run's are its whole chain's, by step
    (:mod:`reprokit.record.chain`): the chain is one run."""
    from reprokit.record import chain, store

    if record.get("resumed_from") is None:
        return store.read_metrics(run_dir)
    return chain.chain_metrics(run_dir)


def _logged_names(dirs: Sequence[Path]) -> tuple[set[str], set[str]]:
    """The names logged in these runs' metrics.jsonl: all of them, and those logged as text
    (``reprokit.log(phase="warmup")``: stored and shown, never plotted)."""
    from reprokit.record.store import read_metrics

    names: set[str] = set()
    texts: set[str] = set()
    for d in dirs:
        for row in read_metrics(d):
            for key, value in row.items():
                if key not in ("step", "time"):
                    names.add(key)
                    if isinstance(value, str):
                        texts.add(key)
    return names, texts


def _nothing_drawn(metric: str, targets: Sequence[str], groups: Sequence[Group]) -> ReprokitError:
    """No run logged ``metric`` as numbers: say it was text, or suggest the logged names."""
    names, texts = _logged_names([d for g in groups for d in g.dirs])
    if metric in texts:
        return ReprokitError(
            f"{metric!r} was logged as text (not numbers) in metrics.jsonl: text is shown"
            " (reprokit show), never plotted",
            hint=did_you_mean(metric, names - texts, "plot a metric logged as numbers"),
        )
    return ReprokitError(
        f"no run of {', '.join(targets)} logged {metric!r} in metrics.jsonl",
        hint=did_you_mean(metric, names, "log it with reprokit.log(step=..., " + metric + "=...)"),
    )


def plot_command(metric: str, targets: Sequence[str], *, settings: Settings, output: Path) -> int:
    """Draw ``metric`` over steps for the given experiments or runs into a PNG file."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed; must precede pyplot
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ReprokitError(
            "`reprokit plot` needs matplotlib, which is not installed",
            hint="pip install 'reprokit[plot]'",
        ) from e
    groups = collect(targets, settings)
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    drawn = 0
    for i, group in enumerate(groups):
        pairs = [
            (s, rec)
            for d, rec in zip(group.dirs, group.records, strict=True)
            if (s := series(run_metrics(d, rec), metric))
        ]
        if not pairs:
            continue
        runs = [s for s, _ in pairs]
        steps = sorted({step for s in runs for step in s})
        per_step = [[s[step] for s in runs if step in s] for step in steps]
        mean = [sum(v) / len(v) for v in per_step]
        color = colors[i % len(colors)]
        text = label(group, [rec for _, rec in pairs], settings.root)
        ax.plot(steps, mean, color=color, label=text)
        if len(runs) > 1:
            ax.fill_between(
                steps,
                [min(v) for v in per_step],
                [max(v) for v in per_step],
                color=color,
                alpha=0.2,
            )
        drawn += 1
    if drawn == 0:
        plt.close(fig)
        raise _nothing_drawn(metric, targets, groups)
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} over steps (mean of seeds, band: min–max)")
    ax.legend()
    ax.grid(alpha=0.3)
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=DPI)
    plt.close(fig)
    print(f"wrote {output}")
    return 0
