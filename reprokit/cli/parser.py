"""The argument parser: every command and option of ``reprokit``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class _Unused:
    """Stands in for the sub-parsers of the commands not being run (see build_parser)."""

    def add_argument(self, *args: object, **kwargs: object) -> None:
        pass

    def add_mutually_exclusive_group(self) -> _Unused:
        return self


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that command's sub-parser is really built.

    Each sub-parser costs ~0.15 ms (gettext look-ups per help string): ~2 ms for all of
    them on every launch. The top-level usage names no commands (metavar COMMAND), so
    ``reprokit launch ...`` parses and reports errors exactly as with the full parser.
    """
    p = argparse.ArgumentParser(
        prog="reprokit",
        description="Git-integrated lineage and reproducibility for Python/PyTorch experiments.",
    )
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add_parser(name: str, help: str) -> Any:
        if only is None or name == only:
            return sub.add_parser(name, help=help)
        return _Unused()

    c = add_parser("check", help="check experiment files (naming, lineage, frozen, round-trip)")
    c.add_argument(
        "paths", nargs="*", type=Path, help="files or folders (default: all experiments)"
    )
    c.add_argument(
        "--static", action="store_true", help="only the checks that never import code (1-4)"
    )
    c.add_argument("--no-cache", action="store_true", help="re-import every experiment")
    # Internal, used by the plain git hook (hooks/pre-commit): check the index.
    c.add_argument("--staged", action="store_true", help=argparse.SUPPRESS)

    la = add_parser("launch", help="run an experiment and record everything about the run")
    la.add_argument("experiment", type=Path)
    la.add_argument("--seed", type=int, help="override the config's seed (recorded)")
    la.add_argument("--smoke", action="store_true", help="run the experiment's smoke() config")
    la.add_argument("--deterministic", action="store_true", help="deterministic torch algorithms")
    la.add_argument("--note", help="a free-text note stored with the run")
    la.add_argument("--outputs", type=Path, help="outputs folder (default from [tool.reprokit])")
    la.add_argument("--no-check", action="store_true", help="skip the pre-launch checks (recorded)")
    # Internal, used by replay and blame --ablate: not shown in --help.
    la.add_argument("--config-file", type=Path, help=argparse.SUPPRESS)
    la.add_argument("--replay-of", help=argparse.SUPPRESS)
    la.add_argument("--git-from", type=Path, help=argparse.SUPPRESS)
    la.add_argument("--extra-json", help=argparse.SUPPRESS)

    sh = add_parser("show", help="summarize one run")
    sh.add_argument("run", help="run_N or a run folder")
    sh.add_argument("--json", action="store_true", help="the whole record as one JSON object")
    sh.add_argument("--outputs", type=Path)

    r = add_parser("runs", help="list, filter and sort runs")
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
        help="include smoke, ablation and replay runs (hidden by default: not new samples)",
    )
    r.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="table (for reading) | csv | json (exact values, for analysis)",
    )
    r.add_argument("--json", action="store_true", help="same as --format json")
    r.add_argument("--limit", type=int, help="show at most N runs (N >= 1)")
    r.add_argument("--outputs", type=Path)

    rp = add_parser("replay", help="rebuild a run's code state and re-run it")
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
    rp.add_argument("--outputs", type=Path)

    b = add_parser("blame", help="which change along the lineage moved a metric")
    b.add_argument("metric")
    b.add_argument("target", help="experiment file, run, or family folder")
    b.add_argument("--json", action="store_true")
    b.add_argument("--ablate", action="store_true", help="launch single-field variants")
    b.add_argument("--seeds", type=int, help="seeds per ablation variant (default 2)")
    b.add_argument("--smoke", action="store_true", help="ablate with smoke configs")
    d = b.add_mutually_exclusive_group()
    d.add_argument("--higher-is-better", dest="direction", action="store_const", const="higher")
    d.add_argument("--lower-is-better", dest="direction", action="store_const", const="lower")
    b.add_argument("--outputs", type=Path)

    df = add_parser("diff", help="compare two runs")
    df.add_argument("run_a")
    df.add_argument("run_b")
    df.add_argument("--code", action="store_true", help="show the diff between the two snapshots")
    df.add_argument("--json", action="store_true")
    df.add_argument("--outputs", type=Path)

    li = add_parser("lineage", help="the tree of experiments in a family")
    li.add_argument("family", nargs="?", type=Path)
    li.add_argument("--metric")
    li.add_argument("--outputs", type=Path)

    pl = add_parser("plot", help="metric-over-step curves (needs matplotlib)")
    pl.add_argument("metric")
    pl.add_argument("targets", nargs="+")
    pl.add_argument("-o", "--output", type=Path, required=True)
    pl.add_argument("--outputs", type=Path)

    n = add_parser("new", help="write a derived experiment (or a new family)")
    n.add_argument("parent", nargs="?", type=Path, help="the parent experiment file")
    n.add_argument("name", help="the new experiment's name (snake_case)")
    n.add_argument("--set", dest="sets", action="append", default=[], metavar="PATH=VALUE")
    n.add_argument("--family", type=Path, help="create a new family folder with its base")
    n.add_argument(
        "--copy", action="store_true", help="allow no --set: same config, code edited by hand"
    )

    sm = add_parser("smoke", help="run every experiment's smoke config in its own process")
    sm.add_argument("paths", nargs="*", type=Path)
    sm.add_argument("--timeout", type=float, help="seconds per experiment")

    ih = add_parser("install-hooks", help="install the plain git pre-commit hook")
    ih.add_argument("--force", action="store_true", help="replace an existing hook")
    if only is not None and only not in sub.choices:
        return build_parser()  # not a command: argparse's error lists every command
    return p


def attach_dash_values(argv: Sequence[str]) -> list[str]:
    """``--sort -val_acc`` -> ``--sort=-val_acc``: argparse would take ``-val_acc`` for an option."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] == "--sort" and arg.startswith("-") and arg != "--":
            out[-1] = f"--sort={arg}"
        else:
            out.append(arg)
    return out
