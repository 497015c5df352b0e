"""Dispatch only: each command lives in its own module and is imported lazily, so
``reprokit --help`` and ``reprokit check`` stay fast; ``main`` is the entry point."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from reprokit.cli.parser import attach_dash_values, build_parser
from reprokit.errors import run_with_handler
from reprokit.settings import load_settings


def _dispatch(args: argparse.Namespace, *, exits_after: bool = False) -> int:
    settings = load_settings()
    if getattr(args, "outputs", None) is not None:
        settings = settings.with_outputs(args.outputs)
    cmd = args.command
    if cmd == "check":
        from reprokit.checks.command import check

        return check(
            args.paths,
            settings=settings,
            static_only=args.static,
            use_cache=not args.no_cache,
            staged=args.staged,
        )
    if cmd == "launch":
        from reprokit.launch.command import launch

        return launch(
            args.experiment,
            settings=settings,
            seed=args.seed,
            smoke=args.smoke,
            deterministic=args.deterministic,
            note=args.note,
            no_check=args.no_check,
            config_file=args.config_file,
            replay_of=args.replay_of,
            git_from=args.git_from,
            extra_json=args.extra_json,
            exits_after=exits_after,
        )
    if cmd == "show":
        from reprokit.analysis.show import show

        return show(args.run, settings=settings, as_json=args.json)
    if cmd == "runs":
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
    if cmd == "replay":
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
    if cmd == "blame":
        from reprokit.analysis.blame import blame_command

        return blame_command(
            args.metric,
            args.target,
            settings=settings,
            as_json=args.json,
            ablate=args.ablate,
            seeds=_ablation_option(args),
            smoke=args.smoke,
            direction=args.direction,
        )
    if cmd == "diff":
        from reprokit.analysis.diff import diff_command

        return diff_command(
            args.run_a, args.run_b, settings=settings, code=args.code, as_json=args.json
        )
    if cmd == "lineage":
        from reprokit.analysis.lineage import lineage_command

        return lineage_command(args.family, settings=settings, metric=args.metric)
    if cmd == "plot":
        from reprokit.analysis.plot import plot_command

        return plot_command(args.metric, args.targets, settings=settings, output=args.output)
    if cmd == "new":
        from reprokit.experiments.new import new_command

        return new_command(
            args.parent,
            args.name,
            settings=settings,
            sets=args.sets,
            family=args.family,
            copy=args.copy,
        )
    if cmd == "smoke":
        from reprokit.experiments.smoke import smoke_command

        return smoke_command(args.paths, settings=settings, timeout=args.timeout)
    if cmd == "install-hooks":
        from reprokit.checks.install_hooks import install_hooks

        return install_hooks(settings=settings, force=args.force)
    raise AssertionError(f"unhandled command {cmd}")


def _ablation_option(args: argparse.Namespace) -> int:
    """``--seeds`` (default 2); it and ``--smoke`` only mean something with ``--ablate``."""
    from reprokit.errors import ReprokitError

    if not args.ablate and (args.seeds is not None or args.smoke):
        given = "--seeds" if args.seeds is not None else "--smoke"
        raise ReprokitError(
            f"{given} only applies with --ablate", hint=f"add --ablate, or drop {given}"
        )
    return 2 if args.seeds is None else int(args.seeds)


def main(argv: Sequence[str] | None = None) -> int:
    # No argv: this is the process's entry point (console script, `python -m reprokit`),
    # which exits when the command returns; in-process callers pass argv.
    exits_after = argv is None
    argv = attach_dash_values(sys.argv[1:] if argv is None else argv)
    # A command first: build only its sub-parser (options first, as in `reprokit --help`,
    # get the full one).
    parser = build_parser(argv[0] if argv and not argv[0].startswith("-") else None)
    args = parser.parse_args(argv)
    if args.version:
        from reprokit import __version__

        print(f"reprokit {__version__}")
        return 0
    if args.command is None:
        parser.print_help()
        return 0
    return run_with_handler(lambda: _dispatch(args, exits_after=exits_after))


if __name__ == "__main__":
    sys.exit(main())
