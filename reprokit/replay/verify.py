"""Compare a replay with its original: summary values, per-step series, how each ended.

The verdict is stored as ``replay.verify`` in the replay's run.json (:func:`store_verdict`)
and shown by ``reprokit show`` (:func:`replay_line`) and ``runs``
(:func:`reprokit.analysis.where.shown_verdict`).

Exact equality by default; ``rtol``/``atol`` loosen it to ``|a - b| <= atol + rtol * |b|``
(``b`` the original), the rule of ``math.isclose`` without its symmetric max, applied to
finite pairs only. Non-finite values compare as non-finite: ``inf`` matches only the
same-signed ``inf`` and NaN matches NaN (whatever its payload bits: a NaN in both runs is
the same outcome, a run that reproduced its divergence); a non-finite value never matches
a finite one, whatever the tolerance. Ints are compared exactly, whatever their size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprokit.record import store
from reprokit.stats import as_float
from reprokit.tables import render_table


def _as_float(value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf


@dataclass(frozen=True)
class Row:
    """One line of the verification table."""

    metric: str
    original: Any
    replay: Any
    verdict: str  # "match" | "mismatch" | "missing"
    step: Any = None  # series: the step shown (the worst one, else the last)
    series: bool = False  # a per-step series from metrics.jsonl, not a summary value

    @property
    def abs_diff(self) -> float | None:
        if _is_int(self.replay) and _is_int(self.original):
            diff = abs(self.replay - self.original)
            return _as_float(diff)
        a, b = as_float(self.replay), as_float(self.original)
        if a is None or b is None or math.isnan(a) or math.isnan(b):
            return None
        if a == b:  # equal infinities: inf - inf would be nan
            return 0.0
        return abs(a - b)

    @property
    def rel_diff(self) -> float | None:
        d, b = self.abs_diff, as_float(self.original)
        if d is None or b is None:
            return None
        if d == 0.0:
            return 0.0
        if not math.isfinite(b):
            return None  # relative to an infinite original: no meaningful ratio
        return d / abs(b) if b != 0 else math.inf

    def to_data(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "series": self.series,
            "step": self.step,
            "original": self.original,
            "replay": self.replay,
            "abs_diff": self.abs_diff,
            "rel_diff": self.rel_diff,
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class Verification:
    rows: list[Row]
    rtol: float
    atol: float

    @property
    def ok(self) -> bool:
        # Nothing compared proves nothing (an original killed before it logged a value).
        return bool(self.rows) and all(r.verdict == "match" for r in self.rows)

    @property
    def verdict(self) -> str:
        """``match``, ``mismatch``, or ``inconclusive`` when there was nothing to compare."""
        if not self.rows:
            return "inconclusive"
        return "match" if self.ok else "mismatch"

    def to_data(self) -> dict[str, Any]:
        """The ``replay.verify`` object of the replay's run.json."""
        return {
            "verdict": self.verdict,
            "rtol": self.rtol,
            "atol": self.atol,
            "compared": len(self.rows),
            "mismatches": [r.to_data() for r in self.rows if r.verdict != "match"],
        }


def values_match(original: Any, replay: Any, *, rtol: float, atol: float) -> bool:
    """Whether two logged values agree under the tolerance (non-numbers: equality).

    Non-finite values compare as what they are: ``inf`` matches only an ``inf`` of the same
    sign and NaN only NaN; the tolerance applies to finite pairs alone (an original ``inf``
    once matched any finite replay value, since ``rtol * inf`` bounds nothing).
    """
    if _is_int(original) and _is_int(replay):
        # Exact, whatever the size: a float cannot hold a seed-sized int's last digits.
        return original == replay or _ints_close(original, replay, rtol=rtol, atol=atol)
    a, b = as_float(replay), as_float(original)
    if a is None or b is None:
        return bool(original == replay) and type(original) is type(replay)
    if not (math.isfinite(a) and math.isfinite(b)):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b
    if a == b:
        return True
    return abs(a - b) <= atol + rtol * abs(b)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _ints_close(original: int, replay: int, *, rtol: float, atol: float) -> bool:
    """``|replay - original| <= atol + rtol * |original|`` in exact arithmetic (floats
    overflow past 1e308; the tolerances are finite, checked by replay's arguments)."""
    from fractions import Fraction

    if not (math.isfinite(rtol) and math.isfinite(atol)):
        return False
    bound = Fraction(atol) + Fraction(rtol) * abs(original)
    return abs(replay - original) <= bound


def _series(rows: list[dict[str, Any]]) -> dict[str, list[tuple[Any, Any]]]:
    """``{metric: [(step, value), ...]}`` in logged order from metrics.jsonl rows."""
    series: dict[str, list[tuple[Any, Any]]] = {}
    for row in rows:
        step = row.get("step")
        for key, value in row.items():
            if key not in ("step", "time"):
                series.setdefault(key, []).append((step, value))
    return series


def compare_metrics(
    original: Path,
    replay: Path,
    *,
    rtol: float = 0.0,
    atol: float = 0.0,
    original_finished: bool = True,
) -> Verification:
    """Compare summary.json and the series both runs logged; one row per metric/series.

    An original that did not finish (interrupted, crashed) has no final values to compare:
    only the steps it logged are, against the same steps of the replay.
    """
    rows = (
        _compare_summary(store.read_summary(original), store.read_summary(replay), rtol, atol)
        if original_finished
        else []
    )
    a_series = _series(store.read_metrics(original))
    b_series = _series(store.read_metrics(replay))
    for name in sorted(set(a_series) & set(b_series)):
        a, b = a_series[name], b_series[name]
        if not original_finished and [s for s, _ in b[: len(a)]] == [s for s, _ in a]:
            b = b[: len(a)]
        rows.append(_compare_series(name, a, b, rtol, atol))
    return Verification(rows, rtol, atol)


def _compare_summary(
    a: Mapping[str, Any], b: Mapping[str, Any], rtol: float, atol: float
) -> list[Row]:
    rows = []
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            rows.append(Row(name, a.get(name), b.get(name), "missing"))
            continue
        ok = values_match(a[name], b[name], rtol=rtol, atol=atol)
        rows.append(Row(name, a[name], b[name], "match" if ok else "mismatch"))
    return rows


def _compare_series(
    name: str,
    a: list[tuple[Any, Any]],
    b: list[tuple[Any, Any]],
    rtol: float,
    atol: float,
) -> Row:
    if [s for s, _ in a] != [s for s, _ in b]:
        # Different lengths or steps: there is no pairing to compare value by value.
        label = f"{name} ({len(a)} vs {len(b)} steps)"
        last_a = a[-1] if a else (None, None)
        last_b = b[-1] if b else (None, None)
        return Row(label, last_a[1], last_b[1], "mismatch", step=last_a[0], series=True)
    worst: Row | None = None
    for (step, va), (_, vb) in zip(a, b, strict=True):
        if not values_match(va, vb, rtol=rtol, atol=atol):
            row = Row(name, va, vb, "mismatch", step=step, series=True)
            if worst is None or (row.abs_diff or math.inf) > (worst.abs_diff or 0.0):
                worst = row
    if worst is not None:
        return worst
    step, value = a[-1] if a else (None, None)
    return Row(name, value, b[-1][1] if b else None, "match", step=step, series=True)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return repr(value)  # shortest text that round-trips: bit-for-bit is visible
    return str(value)


def _fmt_diff(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def format_table(result: Verification) -> str:
    """The table printed by ``replay --verify``: metric, original, replay, diffs, verdict.

    Summary values show ``final`` as their step; series rows (metrics.jsonl) show the step
    with the largest difference, or the last step when all steps match.
    """
    header = ("metric", "step", "original", "replay", "abs diff", "rel diff", "verdict")
    lines = []
    for r in result.rows:
        lines.append(
            (
                r.metric,
                _fmt(r.step) if r.series else "final",
                _fmt(r.original),
                _fmt(r.replay),
                _fmt_diff(r.abs_diff),
                _fmt_diff(r.rel_diff),
                r.verdict,
            )
        )
    return render_table(header, lines).removesuffix("\n")


def summary_line(result: Verification) -> str:
    n = len(result.rows)
    bad = sum(r.verdict != "match" for r in result.rows)
    tol = (
        "exact"
        if result.rtol == 0 and result.atol == 0
        else f"rtol={result.rtol:g} atol={result.atol:g}"
    )
    if n == 0:
        return (
            "verify: INCONCLUSIVE (nothing to compare: no summary metric or logged step in common)"
        )
    if bad == 0:
        return f"verify: match ({n} compared, {tol})"
    return f"verify: MISMATCH ({bad} of {n} differ, {tol})"


def replay_line(record: dict[str, Any]) -> str | None:
    """The ``replay`` line of ``reprokit show``; None for a run that is not a replay.

    ``of run_1 (outputs/run_2), rebuilt from ref; verify: mismatch (2 of 3 differ, rtol=0
    atol=0)``.
    """
    replay = record.get("replay")
    if not isinstance(replay, dict):
        return None
    source = replay.get("source_path")
    root = record.get("replay_of")
    text = f"of {root}" + (
        f" ({source})" if source and not str(source).endswith(f"/{root}") else ""
    )
    text += f", rebuilt from {replay.get('rebuild')}"
    if replay.get("smoke"):
        text += ", smoke config"
    checked = replay.get("verify")
    if isinstance(checked, dict):
        n = checked.get("compared")
        bad = len(checked.get("mismatches") or [])
        tol = f"rtol={_g(checked.get('rtol'))} atol={_g(checked.get('atol'))}"
        if checked.get("verdict") == "match":
            text += f"; verify: match ({n} compared, {tol})"
        elif checked.get("verdict") == "inconclusive":
            text += "; verify: inconclusive (nothing to compare)"
        else:
            text += f"; verify: MISMATCH ({bad} of {n} differ, {tol})"
    return text


def _g(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "?"
    try:
        return f"{value:g}"
    except OverflowError:  # an int past a float's range, in a hand-edited record
        return str(value)


def _error_type(record: dict[str, Any]) -> str | None:
    error = record.get("error")
    return str(error.get("type")) if isinstance(error, dict) else None


def same_ending(original: dict[str, Any], replayed: dict[str, Any]) -> tuple[bool, str]:
    """Whether a replay ended as the original did (same status; for failures the same
    exception type), and a sentence saying so."""
    rid, oid = replayed["id"], original["id"]
    # A crashed original's record still says "running": say what became of it.
    a_status, b_status = store.effective_status(original), replayed.get("status")
    a_err, b_err = _error_type(original), _error_type(replayed)
    if a_status == "failed" or b_status == "failed":
        if a_status == b_status and a_err == b_err:
            return True, f"{rid} reproduced the failure: both raised {a_err}"
        if a_status != "failed":
            return False, f"{rid} failed with {b_err}; the original {oid} was {a_status}"
        if b_status != "failed":
            return False, f"{rid} was {b_status}; the original {oid} failed with {a_err}"
        return False, f"{rid} raised {b_err}; the original {oid} raised {a_err}"
    if a_status == b_status:
        return True, f"{rid} {b_status}, as {oid} did"
    return False, f"{rid} {b_status}; the original {oid} was {a_status}"


def verify_replay(
    original_dir: Path,
    original: dict[str, Any],
    replay_dir: Path,
    replayed: dict[str, Any],
    *,
    rtol: float,
    atol: float,
) -> Verification:
    """Metrics and series of two runs, plus an ``exception`` row when either failed.

    An original that was interrupted or crashed is compared on the steps it logged
    (:func:`compare_metrics`); how it ended is not the code's doing, so no exception row."""
    finished = unfinished(original) is None
    result = compare_metrics(
        original_dir, replay_dir, rtol=rtol, atol=atol, original_finished=finished
    )
    a_err, b_err = _error_type(original), _error_type(replayed)
    # An unfinished original's own ending (Ctrl-C, SIGKILL) says nothing about the code, but
    # a replay that raised does.
    if (a_err or b_err) and (finished or b_err):
        row = Row("exception", a_err, b_err, "match" if a_err == b_err else "mismatch")
        result = Verification([*result.rows, row], rtol, atol)
    return result


def unfinished(record: dict[str, Any]) -> str | None:
    """``interrupted`` or ``crashed`` for a run that did not get to finish, else None."""
    status = store.effective_status(record)
    return status if status in ("interrupted", "crashed") else None


def store_verdict(replay_dir: Path, result: Verification) -> None:
    """Write ``replay.verify`` into a finished replay's run.json (atomic rewrite)."""
    path = replay_dir / store.RECORD_FILE
    data = store.read_json(path)
    replay_obj = data.get("replay") if isinstance(data.get("replay"), dict) else {}
    data["replay"] = {**replay_obj, "verify": result.to_data()}
    store.write_json(path, data)
