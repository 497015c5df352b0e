"""``reprokit diff RUN_A RUN_B``: what differs between two runs — config, metrics, code,
environment and hardware."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reprokit.analysis.cells import json_safe
from reprokit.analysis.where import read_record
from reprokit.errors import ReprokitError
from reprokit.paths import rel_path
from reprokit.settings import Settings
from reprokit.stats import as_float
from reprokit.tables import format_config_value, json_text, render_table, safe_text


def config_diff(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Dotted-path differences (``seed`` included: for two runs it is a real difference)."""
    from reprokit.config import codec

    return [{"path": c.path, "old": c.old, "new": c.new} for c in codec.diff(a or {}, b or {})]


def metric_diff(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Every summary metric of either run with both values and the difference when numeric."""
    a, b = a or {}, b or {}
    rows = []
    for name in [*a, *(k for k in b if k not in a)]:
        va, vb = a.get(name), b.get(name)
        rows.append({"name": name, "a": va, "b": vb, "delta": _delta(va, vb)})
    return rows


def _delta(a: Any, b: Any) -> int | float | None:
    """``b - a`` for two numbers: exact for ints of any size, else in floats (an int past a
    float's range is inf there, so the difference cannot raise OverflowError)."""
    fa, fb = as_float(a), as_float(b)
    if fa is None or fb is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return int(b) - int(a)
    return fb - fa


def _git_side(record: Mapping[str, Any]) -> dict[str, Any]:
    git = record.get("git") or {}
    keys = ("sha", "branch", "dirty", "snapshot", "modified", "staged", "deleted", "untracked")
    return {k: git.get(k) for k in keys}


def run_differences(
    run_a: str, run_b: str, *, settings: Settings, code: bool = False
) -> dict[str, Any]:
    """The differences between two runs as plain data (the ``--json`` output)."""
    from reprokit.capture import compare
    from reprokit.record.store import resolve_run

    dir_a, dir_b = resolve_run(run_a, settings), resolve_run(run_b, settings)
    a, b = read_record(dir_a), read_record(dir_b)
    ga, gb = _git_side(a), _git_side(b)
    result: dict[str, Any] = {
        "runs": [a.get("id"), b.get("id")],
        "labels": [run_label(dir_a, settings), run_label(dir_b, settings)],
        "experiment": [
            (a.get("experiment") or {}).get("path"),
            (b.get("experiment") or {}).get("path"),
        ],
        "status": [a.get("status"), b.get("status")],
        "seed": [a.get("seed"), b.get("seed")],
        "config": config_diff(a.get("config"), b.get("config")),
        "metrics": metric_diff(a.get("summary"), b.get("summary")),
        "git": {"a": ga, "b": gb, "commits": _commits(ga, gb, settings)},
        "environment": [
            {"what": d.what, "a": d.recorded, "b": d.here, "affects_results": d.affects_results}
            for d in compare.compare(a, b)
        ],
    }
    if code:
        result["code"] = _code((a, dir_a), (b, dir_b), settings)
    return result


def run_label(run_dir: Path, settings: Settings) -> str:
    """``run_7`` for a run of the outputs folder in use; its folder path otherwise
    (``sweep/run_1``), since run ids are unique per outputs folder only; a pulled run's
    id (``alice@gpu-3/run_7``) for a run pulled into it."""
    from reprokit.record.store import namespace_of

    parent = run_dir.resolve().parent
    if parent == settings.outputs.resolve():
        return run_dir.name
    if namespace_of(run_dir) is not None and parent.parent == settings.outputs.resolve():
        return f"{parent.name}/{run_dir.name}"
    return rel_path(run_dir, settings.root)


def _commits(ga: Mapping[str, Any], gb: Mapping[str, Any], settings: Settings) -> list[str]:
    from reprokit.analysis.codestates import commits_between

    if not ga.get("sha") or not gb.get("sha") or ga["sha"] == gb["sha"]:
        return []
    try:
        return commits_between(ga["sha"], gb["sha"], settings.root)
    except ReprokitError:
        return []


def _code(
    a: tuple[Mapping[str, Any], Path], b: tuple[Mapping[str, Any], Path], settings: Settings
) -> dict[str, str]:
    from reprokit.replay.restore import snapshot_commit, snapshot_diff

    # A snapshot missing here (a fresh clone) is fetched from the remotes as replay does.
    sa, sb = (snapshot_commit(settings.root, rec.get("git") or {}, d) for rec, d in (a, b))
    stat = snapshot_diff(settings.root, sa, sb, stat_only=True)
    patch = snapshot_diff(settings.root, sa, sb, stat_only=False)
    return {"stat": stat.decode("utf-8", "replace"), "patch": patch.decode("utf-8", "replace")}


def _v(value: Any) -> str:
    # A field one run lacks reads "-"; values are spelled as blame and new spell them.
    return "-" if value is None else format_config_value(value)


def _m(value: Any) -> str:
    # Metrics are shown to 6 significant digits; --json has the exact values.
    return f"{value:.6g}" if isinstance(value, float) else _v(value)


def _signed(delta: float) -> str:
    try:
        return f"{delta:+.6g}"
    except OverflowError:  # an int past a float's range: all its digits
        return f"{delta:+d}"


def _files(side: Mapping[str, Any]) -> str:
    files = [
        f for key in ("modified", "staged", "deleted", "untracked") for f in side.get(key) or []
    ]
    return ", ".join(sorted(set(files))) if files else "-"


def render(diff: Mapping[str, Any]) -> str:
    """The human-readable comparison printed by ``reprokit diff``."""
    ia, ib = diff["labels"]
    out = [f"diff {ia} → {ib}"]
    ea, eb = diff["experiment"]
    out.append(f"  experiment: {ea}" if ea == eb else f"  experiment: {ea} → {eb}")
    out += ["", "config:"]
    out += [f"  {c['path']}: {_v(c['old'])} → {_v(c['new'])}" for c in diff["config"]] or [
        "  (same)"
    ]
    out += ["", "metrics:"]
    rows = [
        (m["name"], _m(m["a"]), _m(m["b"]), "" if m["delta"] is None else _signed(m["delta"]))
        for m in diff["metrics"]
    ]
    if not rows:
        out.append("  (none)")
    else:
        out += render_table(("metric", ia, ib, "Δ"), rows, {1, 2}, indent="  ").splitlines()
    ga, gb = diff["git"]["a"], diff["git"]["b"]
    out += ["", "git:"]
    sa, sb = (ga.get("sha") or "-")[:12], (gb.get("sha") or "-")[:12]
    out.append(f"  sha: {sa}" if sa == sb else f"  sha: {sa} → {sb}")
    out += [f"    {line}" for line in diff["git"]["commits"]]
    out.append(
        f"  dirty files: {_files(ga)}" + ("" if _files(ga) == _files(gb) else f" → {_files(gb)}")
    )
    out += ["", "environment and hardware:"]
    out += [f"  {d['what']}: {d['a']} → {d['b']}" for d in diff["environment"]] or ["  (same)"]
    if "code" in diff:
        out += [
            "",
            "code (snapshot to snapshot):",
            diff["code"]["stat"].rstrip(),
            diff["code"]["patch"].rstrip(),
        ]
    return "\n".join(out)


def diff_command(run_a: str, run_b: str, *, settings: Settings, code: bool, as_json: bool) -> int:
    """Print the differences between two runs."""
    diff = run_differences(run_a, run_b, settings=settings, code=code)
    if as_json:
        # Strict JSON, as `runs --format json` writes it: a NaN metric (or the NaN delta of
        # an inf one) reads "nan"; json.dumps' default bare NaN fails strict parsers.
        print(json_text(json_safe(diff), indent=2, allow_nan=False))
    else:
        sys.stdout.write(safe_text(render(diff), lines=True) + "\n")
    return 0
