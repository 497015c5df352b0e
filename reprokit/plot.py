"""``reprokit plot METRIC TARGET... -o FILE.png``: metric-over-step curves from metrics.jsonl.

The seeds of one experiment are drawn as their mean with a min–max band, one color per
experiment in lineage order. matplotlib is an optional extra, imported only here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reprokit.errors import ReprokitError
from reprokit.settings import Settings
from reprokit.stats import as_float

FIGSIZE = (8.0, 5.0)
DPI = 100


def series(rows: Sequence[Mapping[str, Any]], metric: str) -> dict[float, float]:
    """``step -> value`` of one run; rows without a step count from 0 in logging order."""
    out: dict[float, float] = {}
    for i, row in enumerate(r for r in rows if as_float(r.get(metric)) is not None):
        step = as_float(row.get("step"))
        out[float(i) if step is None else step] = float(row[metric])
    return out


def collect(targets: Sequence[str], settings: Settings) -> list[tuple[str, list[Path]]]:
    """(label, run folders) per experiment, in lineage order: family, then experiment id."""
    from reprokit import experiment as exp_mod, naming
    from reprokit.paths import rel_path, user_path
    from reprokit.runrows import load_runs
    from reprokit.store import resolve_run
    from reprokit.where import read_record

    groups: dict[str, list[Path]] = {}
    wanted_exps: list[str] = []
    for target in targets:
        if target.endswith(".py"):
            exp = exp_mod.describe(user_path(target, settings))
            if exp is None or not exp.path.is_file():
                raise ReprokitError(f"{target}: not an experiment file")
            wanted_exps.append(rel_path(exp.path, settings.root))
        else:
            run_dir = resolve_run(target, settings)
            path = (read_record(run_dir).get("experiment") or {}).get("path") or "?"
            groups.setdefault(path, []).append(run_dir)
    if wanted_exps:
        for row in reversed(load_runs(settings, include_all=False)):
            if row.experiment in wanted_exps and row.status == "completed" and not row.replay_of:
                groups.setdefault(row.experiment, []).append(row.dir)
        for path in wanted_exps:
            if path not in groups:
                raise ReprokitError(
                    f"{path}: no completed runs to plot", hint=f"run `reprokit launch {path}`"
                )

    def order(path: str) -> tuple[str, int, str]:
        parsed = naming.parse(Path(path).name)
        return (str(Path(path).parent), parsed.id if parsed else 0, path)

    return [(p, groups[p]) for p in sorted(groups, key=order)]


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
    from reprokit.store import read_metrics
    from reprokit.tables import plural

    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    drawn = 0
    for i, (path, run_dirs) in enumerate(collect(targets, settings)):
        runs = [s for d in run_dirs if (s := series(read_metrics(d), metric))]
        if not runs:
            continue
        steps = sorted({step for s in runs for step in s})
        per_step = [[s[step] for s in runs if step in s] for step in steps]
        mean = [sum(v) / len(v) for v in per_step]
        color = colors[i % len(colors)]
        label = f"{Path(path).stem} ({plural(len(runs), 'run')})"
        ax.plot(steps, mean, color=color, label=label)
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
        raise ReprokitError(
            f"no run of {', '.join(targets)} logged {metric!r} in metrics.jsonl",
            hint="log it with reprokit.log(step=..., " + metric + "=...)",
        )
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
