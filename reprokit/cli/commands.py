"""The table of commands: each is its name, its help line, its options, the command-line
mistakes it refuses (exit 2) and how it runs. Adding a command is one entry in
:data:`COMMANDS` and its functions here.

A command's module is imported inside its ``run`` function, so ``reprokit --help`` and
``reprokit check`` import only what they use (no torch, NumPy, pandas or PyYAML).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from reprokit.errors import ReprokitError, UsageError
from reprokit.settings import Settings


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    # The parsed options and the settings (`--outputs` applied) -> the exit code. The
    # namespace also carries `exits_after` (set by `main`): whether the process ends with
    # the command, which lets launch skip tearing down what the exit tears down anyway.
    run: Callable[[argparse.Namespace, Settings], int]
    # Refuses a command-line mistake argparse cannot see (`--limit 0`) with UsageError,
    # before any work (exit 2, as argparse's own errors).
    check_args: Callable[[argparse.Namespace], None] | None = None


def _outputs(p: argparse.ArgumentParser, help: str | None = None) -> None:
    p.add_argument("--outputs", type=Path, help=help)


def _as_usage(parse: Callable[[], object]) -> None:
    """Run a command's own parser of an option value; its refusal is a usage error."""
    try:
        parse()
    except UsageError:
        raise
    except ReprokitError as e:
        raise UsageError(e.message, hint=e.hint) from e


# check ------------------------------------------------------------------------------


def _check_arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument(
        "paths", nargs="*", type=Path, help="files or folders (default: all experiments)"
    )
    c.add_argument(
        "--static", action="store_true", help="only the checks that never import code (1-4)"
    )
    c.add_argument("--no-cache", action="store_true", help="re-import every experiment")
    # Internal, used by the plain git hook (hooks/pre-commit): check the index.
    c.add_argument("--staged", action="store_true", help=argparse.SUPPRESS)


def _check(args: argparse.Namespace, settings: Settings) -> int:
    from reprokit.checks.command import check

    return check(
        args.paths,
        settings=settings,
        static_only=args.static,
        use_cache=not args.no_cache,
        staged=args.staged,
    )


# launch -----------------------------------------------------------------------------


def _launch_arguments(la: argparse.ArgumentParser) -> None:
    la.add_argument(
        "experiment",
        type=Path,
        nargs="*",
        help="experiment files or family folders (several, or a folder: a sweep)",
    )
    la.add_argument("--seed", type=int, help="override the config's seed (recorded)")
    la.add_argument("--seeds", help="a sweep over seeds: 0-4, 0,1,2 or 0-2,7")
    la.add_argument("--jobs", type=int, default=1, help="sweep: runs at once (default 1)")
    la.add_argument("--resume", metavar="RUN", help="run a crashed or stopped run again")
    la.add_argument("--smoke", action="store_true", help="run the experiment's smoke() config")
    la.add_argument("--deterministic", action="store_true", help="deterministic torch algorithms")
    la.add_argument("--note", help="a free-text note stored with the run")
    _outputs(la, "outputs folder (default from [tool.reprokit])")
    la.add_argument("--no-check", action="store_true", help="skip the pre-launch checks (recorded)")


def _is_launch_sweep(args: argparse.Namespace) -> bool:
    paths: list[Path] = args.experiment
    return args.seeds is not None or len(paths) > 1 or any(p.is_dir() for p in paths)


def _launch_check(args: argparse.Namespace) -> None:
    if args.resume is not None:
        options = {"--seed": args.seed, "--seeds": args.seeds}
        given = [name for name, value in options.items() if value is not None]
        if args.experiment or given:
            raise UsageError(
                "--resume runs the recorded experiment, config and seed again",
                hint=f"drop {' '.join([*map(str, args.experiment), *given])}",
            )
        return
    if not args.experiment:
        raise UsageError("launch: name an experiment file (or --resume RUN)")
    if args.jobs < 1:
        raise UsageError(f"--jobs: must be at least 1, not {args.jobs}")
    if args.seeds is not None:
        if args.seed is not None:
            raise UsageError("--seed and --seeds: give one", hint="--seeds 3 runs seed 3 alone")
        from reprokit.launch.sweep import parse_seeds

        _as_usage(lambda: parse_seeds(args.seeds))


def _launch_sweep(args: argparse.Namespace, settings: Settings) -> int:
    from reprokit.launch.sweep import LaunchOptions, SweepRequest, parse_seeds, sweep

    options = LaunchOptions(
        settings.outputs,
        smoke=args.smoke,
        deterministic=args.deterministic,
        note=args.note,
        no_check=args.no_check,
    )
    seeds = parse_seeds(args.seeds) if args.seeds is not None else None
    if seeds is None and args.seed is not None:
        seeds = [args.seed]
    return sweep(SweepRequest(args.experiment, seeds, args.jobs, options), settings=settings)


def _launch(args: argparse.Namespace, settings: Settings) -> int:
    if args.resume is not None:
        from reprokit.replay.resume import resume

        return resume(
            args.resume,
            settings=settings,
            note=args.note,
            no_check=args.no_check,
            exits_after=getattr(args, "exits_after", False),
        )
    if _is_launch_sweep(args):
        return _launch_sweep(args, settings)
    from reprokit.launch.command import launch
    from reprokit.launch.request import LaunchRequest
    from reprokit.launch.target import validate_path

    experiment = validate_path(args.experiment[0], settings)
    request = LaunchRequest(
        experiment=experiment.relative_to(settings.root.resolve()).as_posix(),
        seed=args.seed,
        smoke=args.smoke,
        deterministic=args.deterministic,
        note=args.note,
        check=not args.no_check,
    )
    return launch(request, settings=settings, exits_after=getattr(args, "exits_after", False))


# show, runs -------------------------------------------------------------------------


def _show_arguments(sh: argparse.ArgumentParser) -> None:
    sh.add_argument("run", help="run_N or a run folder")
    sh.add_argument("--json", action="store_true", help="the whole record as one JSON object")
    _outputs(sh)


def _show(args: argparse.Namespace, settings: Settings) -> int:
    from reprokit.analysis.show import show

    return show(args.run, settings=settings, as_json=args.json)


def _runs_arguments(r: argparse.ArgumentParser) -> None:
    r.add_argument(
        "--exp",
        help="experiment as the table shows it (toy/reg/adam_04_03), its path, file name or "
        "bare name (adam), a family folder (toy/reg), or a glob over these (toy/reg/*)",
    )
    r.add_argument(
        "--status",
        action="append",
        help="completed, failed, interrupted, crashed, running, incomplete (no run.json); several comma-separated "
        "or repeated (default: every status)",
    )
    r.add_argument(
        "--where",
        action="append",
        default=[],
        help="e.g. 'optim.lr>=1e-3' (AND-ed); git.sha==<7+ hex digits> matches a prefix",
    )
    r.add_argument("--sort", help="column to sort by; prefix '-' for descending")
    r.add_argument(
        "--columns",
        help="comma-separated columns to show (also for csv and json), e.g. "
        "id,git,code,replay,optim.lr,val_acc",
    )
    r.add_argument(
        "--all",
        action="store_true",
        help="include smoke, ablation and replay runs and the earlier attempts of resumed "
        "runs (hidden by default: not new samples)",
    )
    r.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="table (for reading) | csv | json (exact values, for analysis)",
    )
    r.add_argument("--json", action="store_true", help="same as --format json")
    r.add_argument("--limit", type=int, help="show at most N runs (N >= 1)")
    _outputs(r)


def _runs_check(args: argparse.Namespace) -> None:
    # `--limit 0` printed nothing and exited 0, which reads as "no runs".
    if args.limit is not None and args.limit < 1:
        raise UsageError(
            f"--limit {args.limit}: must be at least 1", hint="leave --limit out to list every run"
        )
    from reprokit.analysis import rows, where

    _as_usage(lambda: rows.statuses(args.status))
    for expr in args.where:
        _as_usage(partial(where.parse, expr))


def _runs(args: argparse.Namespace, settings: Settings) -> int:
    from reprokit.analysis.query import runs_command

    return runs_command(
        settings=settings,
        exp=args.exp,
        status=args.status,
        where=args.where,
        sort=args.sort,
        columns=args.columns,
        include_all=args.all,
        fmt="json" if args.json else args.format,
        limit=args.limit,
    )


# replay -----------------------------------------------------------------------------


def _replay_arguments(rp: argparse.ArgumentParser) -> None:
    rp.add_argument("run", help="run_N or a run folder")
    rp.add_argument("--verify", action="store_true", help="compare metrics with the original")
    rp.add_argument("--rtol", type=float, default=0.0)
    rp.add_argument("--atol", type=float, default=0.0)
    rp.add_argument("--strict", action="store_true", help="refuse when the environment differs")
    rp.add_argument("--smoke", action="store_true", help="replay with the smoke config")
    rp.add_argument("--keep-worktree", action="store_true")
    rp.add_argument(
        "--allow-tree-mismatch",
        action="store_true",
        help="run the rebuilt code even when its tree differs from the recorded one (recorded)",
    )
    rp.add_argument(
        "--from-patch",
        action="store_true",
        help="when the snapshot commit is neither here nor on your remotes, rebuild the code "
        "from the run folder's diff.patch: code that came with the folder (recorded)",
    )
    _outputs(rp)


def _replay_check(args: argparse.Namespace) -> None:
    if args.smoke and args.verify:
        raise UsageError(
            "--smoke and --verify cannot be combined: a smoke replay runs the smoke config, "
            "not the recorded one, so its numbers are not comparable",
            hint="drop --smoke to verify, or --verify to run a quick smoke replay",
        )
    if args.rtol < 0 or args.atol < 0:
        raise UsageError("--rtol and --atol must be >= 0")


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from reprokit.replay.command import replay

    return replay(
        args.run,
        settings=settings,
        verify=args.verify,
        rtol=args.rtol,
        atol=args.atol,
        strict=args.strict,
        smoke=args.smoke,
        keep_worktree=args.keep_worktree,
        allow_tree_mismatch=args.allow_tree_mismatch,
        from_patch=args.from_patch,
    )


# blame, diff, lineage, plot ---------------------------------------------------------


def _blame_arguments(b: argparse.ArgumentParser) -> None:
    b.add_argument("metric")
    b.add_argument("target", help="experiment file, run, or family folder")
    b.add_argument("--json", action="store_true")
    b.add_argument("--ablate", action="store_true", help="launch single-field variants")
    b.add_argument("--seeds", type=int, help="seeds per ablation variant (default 2)")
    b.add_argument("--smoke", action="store_true", help="ablate with smoke configs")
    d = b.add_mutually_exclusive_group()
    d.add_argument("--higher-is-better", dest="direction", action="store_const", const="higher")
    d.add_argument("--lower-is-better", dest="direction", action="store_const", const="lower")
    _outputs(b)


def _blame_check(args: argparse.Namespace) -> None:
    # `blame --seeds 5` without --ablate used to be accepted and silently ignored.
    if not args.ablate and (args.seeds is not None or args.smoke):
        given = "--seeds" if args.seeds is not None else "--smoke"
        raise UsageError(
            f"{given} only applies with --ablate", hint=f"add --ablate, or drop {given}"
        )


def _blame(args: argparse.Namespace, settings: Settings) -> int:
    from reprokit.analysis.blame import blame_command

    return blame_command(
        args.metric,
        args.target,
        settings=settings,
        as_json=args.json,
        ablate=args.ablate,
        seeds=2 if args.seeds is None else int(args.seeds),
        smoke=args.smoke,
        direction=args.direction,
    )


def _diff_arguments(df: argparse.ArgumentParser) -> None:
    df.add_argument("run_a")
    df.add_argument("run_b")
    df.add_argument("--code", action="store_true", help="show the diff between the two snapshots")
    df.add_argument("--json", action="store_true")
    _outputs(df)


def _diff(args: argparse.Namespace, settings: Settings) -> int:
    from reprokit.analysis.diff import diff_command

    return diff_command(
        args.run_a, args.run_b, settings=settings, code=args.code, as_json=args.json
    )


def _lineage_arguments(li: argparse.ArgumentParser) -> None:
    li.add_argument("family", nargs="?", type=Path)
    li.add_argument("--metric")
    _outputs(li)


def _lineage(args: argparse.Namespace, settings: Settings) -> int:
    from reprokit.analysis.lineage import lineage_command

    return lineage_command(args.family, settings=settings, metric=args.metric)


def _sweep_arguments(sw: argparse.ArgumentParser) -> None:
    sw.add_argument("metric")
    sw.add_argument("parent", help="the experiment file the sweep's files derive from")
    d = sw.add_mutually_exclusive_group()
    d.add_argument("--higher-is-better", dest="direction", action="store_const", const="higher")
    d.add_argument("--lower-is-better", dest="direction", action="store_const", const="lower")
    _outputs(sw)


def _sweep(args: argparse.Namespace, settings: Settings) -> int:
    from reprokit.analysis.sweep import sweep_command

    return sweep_command(args.metric, args.parent, settings=settings, direction=args.direction)


def _plot_arguments(pl: argparse.ArgumentParser) -> None:
    pl.add_argument("metric")
    pl.add_argument("targets", nargs="+")
    pl.add_argument("-o", "--output", type=Path, required=True)
    _outputs(pl)


def _plot(args: argparse.Namespace, settings: Settings) -> int:
    from reprokit.analysis.plot import plot_command

    return plot_command(args.metric, args.targets, settings=settings, output=args.output)


# new, smoke, install-hooks ----------------------------------------------------------


def _new_arguments(n: argparse.ArgumentParser) -> None:
    n.add_argument("parent", nargs="?", type=Path, help="the parent experiment file")
    n.add_argument("name", help="the new experiment's name (snake_case)")
    n.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="a field's new value; a comma list (lr=0.1,0.03) writes one file per value,"
        " several lists a grid",
    )
    n.add_argument("--family", type=Path, help="create a new family folder with its base")
    n.add_argument(
        "--copy", action="store_true", help="allow no --set: same config, code edited by hand"
    )
    n.add_argument(
        "--yes", action="store_true", help="write a sweep of more than 20 files (the limit)"
    )


def _new_check(args: argparse.Namespace) -> None:
    if args.family is not None and args.parent is not None:
        raise UsageError(
            "give either a parent experiment or --family, not both",
            hint="reprokit new --family experiments/<task>/<family> NAME",
        )
    if args.family is not None and args.sets:
        raise UsageError("--set needs a parent experiment; a new family starts from a template")
    from reprokit.experiments.new_sets import parse_sets

    _as_usage(lambda: parse_sets(args.sets))


def _new(args: argparse.Namespace, settings: Settings) -> int:
    from reprokit.experiments.new import new_command

    return new_command(
        args.parent,
        args.name,
        settings=settings,
        sets=args.sets,
        family=args.family,
        copy=args.copy,
        yes=args.yes,
    )


def _smoke_arguments(sm: argparse.ArgumentParser) -> None:
    sm.add_argument("paths", nargs="*", type=Path)
    sm.add_argument("--timeout", type=float, help="seconds per experiment")


def _smoke_check(args: argparse.Namespace) -> None:
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError(f"--timeout {args.timeout:g}: must be a positive number of seconds")


def _smoke(args: argparse.Namespace, settings: Settings) -> int:
    from reprokit.experiments.smoke import smoke_command

    return smoke_command(args.paths, settings=settings, timeout=args.timeout)


def _install_hooks_arguments(ih: argparse.ArgumentParser) -> None:
    ih.add_argument("--force", action="store_true", help="replace an existing hook")


def _install_hooks(args: argparse.Namespace, settings: Settings) -> int:
    from reprokit.checks.install_hooks import install_hooks

    return install_hooks(settings=settings, force=args.force)


# push / pull ------------------------------------------------------------------------


def _share_arguments(p: argparse.ArgumentParser, *, pushing: bool) -> None:
    p.add_argument(
        "remote", nargs="?", help="a configured git remote (default: origin, or the only one)"
    )
    if pushing:
        p.add_argument(
            "--run",
            action="append",
            dest="runs",
            metavar="RUN",
            help="push only this run (repeatable; default: every finished run)",
        )
        p.add_argument(
            "--artifacts",
            action="store_true",
            help="also push the run folder's other files (output.log, checkpoints)",
        )
    p.add_argument(
        "--max-artifact-mb",
        type=float,
        default=10.0,
        help="the largest artifact pushed or pulled, in MiB (default 10)",
    )
    _outputs(p)


def _share_check(args: argparse.Namespace) -> None:
    if not args.max_artifact_mb > 0:
        raise UsageError(f"--max-artifact-mb must be > 0, not {args.max_artifact_mb:g}")


def _push(args: argparse.Namespace, settings: Settings) -> int:
    from reprokit.record.push import push

    return push(
        args.remote,
        settings=settings,
        runs=args.runs,
        artifacts=args.artifacts,
        max_artifact_mb=args.max_artifact_mb,
    )


def _pull(args: argparse.Namespace, settings: Settings) -> int:
    from reprokit.record.pull import pull

    return pull(args.remote, settings=settings, max_artifact_mb=args.max_artifact_mb)


# The order is `reprokit --help`'s.
COMMANDS: tuple[Command, ...] = (
    Command(
        "check",
        "check experiment files (naming, lineage, frozen, round-trip)",
        _check_arguments,
        _check,
    ),
    Command(
        "launch",
        "run an experiment and record everything about the run",
        _launch_arguments,
        _launch,
        _launch_check,
    ),
    Command("show", "summarize one run", _show_arguments, _show),
    Command("runs", "list, filter and sort runs", _runs_arguments, _runs, _runs_check),
    Command(
        "replay",
        "rebuild a run's code state and re-run it",
        _replay_arguments,
        _replay,
        _replay_check,
    ),
    Command(
        "blame",
        "which change along the lineage moved a metric",
        _blame_arguments,
        _blame,
        _blame_check,
    ),
    Command("diff", "compare two runs", _diff_arguments, _diff),
    Command("lineage", "the tree of experiments in a family", _lineage_arguments, _lineage),
    Command(
        "sweep",
        "an experiment's children side by side on a metric (Δ vs the parent in σ)",
        _sweep_arguments,
        _sweep,
    ),
    Command("plot", "metric-over-step curves (needs matplotlib)", _plot_arguments, _plot),
    Command(
        "new", "write a derived experiment (or a new family)", _new_arguments, _new, _new_check
    ),
    Command(
        "smoke",
        "run every experiment's smoke config in its own process",
        _smoke_arguments,
        _smoke,
        _smoke_check,
    ),
    Command(
        "push",
        "publish your runs on a git remote for teammates",
        partial(_share_arguments, pushing=True),
        _push,
        _share_check,
    ),
    Command(
        "pull",
        "bring teammates' pushed runs into outputs/",
        partial(_share_arguments, pushing=False),
        _pull,
        _share_check,
    ),
    Command(
        "install-hooks",
        "install the plain git pre-commit hook",
        _install_hooks_arguments,
        _install_hooks,
    ),
)
BY_NAME = {c.name: c for c in COMMANDS}
