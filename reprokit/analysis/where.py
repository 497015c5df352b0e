"""The ``--where`` expression language and filtering/sorting of run records.

An expression is ``FIELD OP VALUE`` (``optim.lr>=1e-3``, ``model.act==relu``,
``val_acc>0.9``). It is parsed, never evaluated as Python. Records are plain dicts in the
shape of ``run.json`` plus ``config`` (plain data from config.yaml) and ``summary``; they
are flattened into rows with dotted keys (``config.optim.lr``, ``metric.val_acc``,
``git.sha``) that a bare field name (``optim.lr``, ``val_acc``) also reaches.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprokit.errors import ReprokitError
from reprokit.record.codestate import code_label
from reprokit.tables import did_you_mean

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
# Two-character operators first so `a>=1` is not read as `a>` `=1`.
_EXPR_RE = re.compile(
    r"^\s*(?P<field>[A-Za-z_][\w.\-]*)\s*(?P<op>==|!=|<=|>=|<|>)\s*(?P<value>.*?)\s*$"
)
# Where a bare field name is looked up, in order.
_PREFIXES = ("", "config.", "metric.")
# One vocabulary everywhere: the table's column names (`git`, `started`, `duration`) and
# the JSON keys (`git_sha`, `git_dirty`) name the same fields as the flat rows do (a
# trial's `--where duration>2` was refused with "did you mean duration_s?").
ALIASES = {
    "git": "git.sha",
    "git_sha": "git.sha",
    "git_dirty": "git.dirty",
    "started": "started_at",
    "duration": "duration_s",
}
# Every run field a flat row has (besides `config.*` and `metric.*`): what a bare name
# means first. tests/where_test.py checks it against flat_row.
RUN_FIELDS = (
    "id",
    "experiment",
    "name",
    "status",
    "seed",
    "smoke",
    "ablation",
    "ablation_of.field",
    "replay_of",
    "replayed_by",
    "replay_verdict",
    "replay",
    "started_at",
    "duration_s",
    "note",
    "git.sha",
    "git.dirty",
    "code",
)
# Bare names that meant a config field or metric (`duration` as `config.duration`) until
# the aliases and the replay and code-state fields came: where a run also has such a config
# field or metric, the name is refused as ambiguous rather than silently changing meaning.
# Older run fields (`seed`, `status`) always meant the run's own (`config.seed` is usual).
SHADOWING = (*ALIASES, "replayed_by", "replay_verdict", "replay", "code")
# `git.sha==c7d29d16`, the short SHA the table shows, matches by prefix from this length;
# so does each part of a code state (`code==c7d29d16+1a2b3c4d`).
_SHORT_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")
_SHA_FIELDS = ("git.sha", "code")


@dataclass(frozen=True)
class Condition:
    """One parsed ``FIELD OP VALUE`` comparison."""

    field: str
    op: str
    value: Any
    text: str

    def matches(self, row: Mapping[str, Any]) -> bool:
        """Whether ``row`` satisfies the comparison; a type clash is False. A field the run
        lacks is null (a run that never logged a metric matches ``val_acc==null``). A SHA
        of 7 or more hex digits compared with ``git.sha`` by ``==``/``!=`` is a prefix, and
        so is each part of a ``code`` state (``<sha>+<snapshot>``)."""
        key = resolve_key(self.field, row)
        actual = None if key is None else row[key]
        if key in _SHA_FIELDS and self.op in ("==", "!=") and isinstance(actual, str):
            same = _sha_prefix(actual, self.value)
            if same is not None:
                return same if self.op == "==" else not same
        return compare(actual, self.op, self.value)


def _sha_prefix(actual: str, value: Any) -> bool | None:
    """Whether every ``+``-part of ``value`` starts the same part of ``actual``; None when
    ``value`` is not made of short SHAs (then it is compared whole)."""
    wanted = value.lower().split("+") if isinstance(value, str) else []
    if not wanted or not all(_SHORT_SHA.match(part) for part in wanted):
        return None
    parts = actual.lower().split("+")
    return len(parts) == len(wanted) and all(
        p.startswith(w) for p, w in zip(parts, wanted, strict=True)
    )


def parse_value(text: str) -> Any:
    """A literal: number, true/false, null/none, or a string (quotes optional)."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none"):
        return None
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def parse(expr: str) -> Condition:
    """Parse one ``--where`` expression; raise ReprokitError on bad syntax."""
    m = _EXPR_RE.match(expr)
    if m is None or m["value"] == "":
        raise ReprokitError(
            f"--where {expr!r}: expected FIELD OP VALUE",
            hint="operators: == != < <= > >=, e.g. --where 'optim.lr>=1e-3' --where 'model.act==relu'",
        )
    value = parse_value(m["value"])
    if ALIASES.get(m["field"], m["field"]) in _SHA_FIELDS and not isinstance(value, str | None):
        # A short SHA of digits only (`1234567`) is still a SHA, not a number.
        value = m["value"].strip("'\"")
    return Condition(m["field"], m["op"], value, expr)


def compare(actual: Any, op: str, expected: Any) -> bool:
    """Typed comparison: numbers with numbers, strings with strings; null/bool only (in)equal."""
    if expected is None or actual is None or isinstance(expected, bool) or isinstance(actual, bool):
        if op not in ("==", "!="):
            return False
        if expected is None or actual is None:
            same = expected is None and actual is None
        else:
            # True must not equal 1: a bool matches only a bool.
            same = isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
        return same if op == "==" else not same
    if isinstance(expected, (int, float)):
        if not isinstance(actual, (int, float)):
            return False
        if isinstance(actual, float) and math.isnan(actual):
            return op == "!="
        return _OPS[op](actual, expected)
    if isinstance(actual, (list, tuple)):
        # `model.sizes==[64, 64]` style: compare the text form of the list.
        actual = str(list(actual))
    if not isinstance(actual, str):
        actual = str(actual)
    return _OPS[op](actual, expected)


def resolve_key(field: str, row: Mapping[str, Any]) -> str | None:
    """The row key a (possibly bare or aliased: :data:`ALIASES`) field name refers to, or
    None when absent."""
    if field not in row and field in ALIASES:
        field = ALIASES[field]
    for prefix in _PREFIXES:
        if prefix + field in row:
            return prefix + field
    return None


def replay_text(replay_of: str | None, replayed_by: str | None, verdict: str | None) -> str | None:
    """``of run_3: match`` on a replay of run_3 (``of run_3`` unverified), ``by run_9: match``
    on a run whose latest replay is run_9, None otherwise: the table's ``replay`` column."""
    if replay_of:
        return f"of {replay_of}" + (f": {verdict}" if verdict else "")
    if replayed_by:
        return f"by {replayed_by}" + (f": {verdict}" if verdict else "")
    return None


def shown_verdict(replay: Mapping[str, Any] | None, latest: str | None) -> str | None:
    """The verdict a run's ``replay_verdict`` and ``replay`` fields show: a replay's own
    verify verdict (``replay`` is its record), else (None: an original run) the verdict of
    its latest replay, ``latest``."""
    if replay is None:
        return latest
    from reprokit.record.store import replay_verdict

    return replay_verdict({"replay": replay.get("replay")})


def flat_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """One run record as a flat row: identity, status, git, code state, replay,
    ``config.*`` and ``metric.*``."""
    exp = record.get("experiment") or {}
    git = record.get("git") or {}
    replayed = record.get("replayed_by") or {}
    verdict = shown_verdict(record if record.get("replay_of") else None, replayed.get("verdict"))
    row: dict[str, Any] = {
        "id": record.get("id"),
        "experiment": exp.get("path"),
        "name": exp.get("name"),
        "status": record.get("status"),
        "seed": record.get("seed"),
        "smoke": bool(record.get("smoke")),
        "ablation": record.get("ablation_of") is not None,
        # Which config field an ablation variant tested; None for other runs.
        "ablation_of.field": (record.get("ablation_of") or {}).get("field"),
        # The original run a replay re-ran (same seed: not a new sample for statistics).
        "replay_of": record.get("replay_of"),
        # The latest replay of this run, and the verdict of the replay (this run's own
        # when it is one): the exact parts of `replay` (`by run_9: match`).
        "replayed_by": replayed.get("id"),
        "replay_verdict": verdict,
        "replay": replay_text(record.get("replay_of"), replayed.get("id"), verdict),
        "started_at": record.get("started_at"),
        "duration_s": record.get("duration_s"),
        "note": record.get("note"),
        "git.sha": git.get("sha"),
        "git.dirty": git.get("dirty"),
        "code": record["code"] if "code" in record else code_label(git),
    }
    from reprokit.config.codec import flatten

    config = record.get("config")
    if isinstance(config, Mapping):
        row.update({f"config.{k}": v for k, v in flatten(config).items()})
    summary = record.get("summary") or {}
    row.update({f"metric.{k}": v for k, v in summary.items() if not isinstance(v, (dict, list))})
    return row


def check_fields(fields: Iterable[str], rows: Sequence[Mapping[str, Any]]) -> None:
    """Raise ReprokitError naming close matches when a field exists in no row at all."""
    known: set[str] = set()
    for row in rows:
        known.update(row)
    fields = list(fields)
    check_ambiguous(fields, known)
    for field in fields:
        if any(prefix + ALIASES.get(field, field) in known for prefix in _PREFIXES):
            continue
        if field.startswith(("config.", "metric.")):
            candidates = sorted(known)
        else:
            # Suggest names the way the user wrote them: `optim.lr`, not `config.optim.lr`.
            candidates = sorted(
                {k.split(".", 1)[1] if k.startswith(("config.", "metric.")) else k for k in known}
                | {alias for alias, name in ALIASES.items() if name in known}
            )
        hint = did_you_mean(field, candidates, JSON_HINT)
        raise ReprokitError(f"unknown field {field!r}: no run has it", hint=hint)


def check_ambiguous(fields: Iterable[str], known: Iterable[str]) -> None:
    """Refuse a bare name of :data:`SHADOWING` that some run also has as a config field or
    metric (``known``: keys of flat rows): ``duration>2`` meant ``config.duration`` before
    ``duration`` named the run's ``duration_s``, and must not quietly change meaning."""
    keys = set(known)
    for field in fields:
        if field not in SHADOWING:
            continue
        others = [p + field for p in ("config.", "metric.") if p + field in keys]
        if not others:
            continue
        run = ALIASES.get(field, field)
        spellings = ([run] if run != field else []) + others
        hint = f"write {' or '.join(spellings)}"
        if run == field:
            hint += f" (the run's {field} has no other name)"
        raise ReprokitError(
            f"ambiguous field {field!r}: the run's {run} or {' or '.join(others)}", hint=hint
        )


JSON_HINT = (
    "`reprokit runs --json` shows every field (config values as `config.<path>`, "
    "summary values as `metric.<name>`)"
)


def _kind(value: Any) -> str | None:
    """What :func:`compare` treats a value as: None (missing), bool, number, list or text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list | tuple):
        return "list"
    return "text"


_KIND_NOUNS = {"bool": "true/false", "number": "numbers", "list": "lists", "text": "text"}
_VALUE_NOUNS = {"bool": "true/false", "number": "a number", "list": "a list", "text": "text"}


def check_types(conditions: Iterable[Condition], rows: Sequence[Mapping[str, Any]]) -> None:
    """Refuse a comparison that cannot be true for the reason of types, not of values.

    Without this `optim.lr>abc` or `optim.name>5` quietly matched nothing, which reads as
    "no run is like that" (a newcomer's report). A field may hold different kinds in
    different runs (a config field that is 0.1 in one experiment and "cosine" in another):
    the value must fit at least one kind present, and is then compared with the runs of
    that kind only. Runs where the field is null or absent say nothing about its type.
    Ordering (< <= > >=) is refused for null, true/false and lists, which have no order;
    text orders as text, which is what ISO dates need (`started_at>=2026-11-25`).
    """
    for c in conditions:
        vkind = _kind(c.value)
        ordering = c.op not in ("==", "!=")
        if ordering and vkind in (None, "bool"):
            raise ReprokitError(
                f"--where {c.text!r}: {'null' if vkind is None else 'true/false'} has no order",
                hint=f"compare it with == or !=, e.g. {c.field}=={_raw_value(c)}",
            )
        if vkind is None:
            continue  # `x==null` / `x!=null` ask about presence: always a fair question
        samples: dict[str, Any] = {}
        for row in rows:
            key = resolve_key(c.field, row)
            kind = None if key is None else _kind(row[key])
            if key is not None and kind is not None:
                samples.setdefault(kind, row[key])
        if not samples:
            continue  # null in every run: nothing to clash with
        # A list is compared through its text form (`model.sizes==[64, 64]`).
        fits = vkind in samples or (vkind == "text" and "list" in samples)
        if fits and not (ordering and set(samples) <= {"bool", "list"}):
            continue
        kinds = " and ".join(_KIND_NOUNS[k] for k in sorted(samples))
        if fits:
            message = f"--where {c.text!r}: {c.field} holds {kinds}, which have no order"
            hint = f"compare it with == or !=, e.g. {c.field}=={_text(samples[min(samples)])}"
        else:
            message = f"--where {c.text!r}: {c.field} holds {kinds}, not {_VALUE_NOUNS[vkind]}"
            hint = _type_hint(c, samples)
        raise ReprokitError(message, hint=hint)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(list(value)) if isinstance(value, list | tuple) else str(value)


def _raw_value(c: Condition) -> str:
    m = _EXPR_RE.match(c.text)
    return m["value"] if m is not None else _text(c.value)


def _type_hint(c: Condition, samples: Mapping[str, Any]) -> str:
    if "number" in samples:
        return f"compare it with a number, e.g. {c.field}{c.op}{samples['number']!r}"
    if "text" in samples:
        raw = _raw_value(c).strip("'\"")
        return f"quote the value to compare it as text: {c.field}{c.op}'{raw}'"
    if "bool" in samples:
        return f"compare it with true or false, e.g. {c.field}=={_text(samples['bool'])}"
    return f"write the whole list, e.g. {c.field}=={_text(samples['list'])}"


def filter_rows(rows: Sequence[Mapping[str, Any]], where: Sequence[str]) -> list[int]:
    """Indices of the rows that satisfy every expression (AND)."""
    conditions = [parse(expr) for expr in where]
    if rows:
        check_fields([c.field for c in conditions], rows)
        check_types(conditions, rows)
    return [i for i, row in enumerate(rows) if all(c.matches(row) for c in conditions)]


def sort_order(rows: Sequence[Mapping[str, Any]], spec: str) -> list[int]:
    """Indices of ``rows`` sorted by ``spec`` (``val_acc`` or ``-val_acc``); missing last."""
    descending = spec.startswith("-")
    field = spec.lstrip("-+")
    if rows:
        check_fields([field], rows)

    def value(i: int) -> Any:
        key = resolve_key(field, rows[i])
        return None if key is None else rows[i][key]

    present = [i for i in range(len(rows)) if value(i) is not None]
    missing = [i for i in range(len(rows)) if value(i) is None]
    numbers = [i for i in present if isinstance(value(i), (int, float))]
    others = [i for i in present if not isinstance(value(i), (int, float))]
    numbers.sort(key=value, reverse=descending)
    others.sort(key=lambda i: str(value(i)), reverse=descending)
    return numbers + others + missing


def read_record(run_dir: Path) -> dict[str, Any]:
    """A run folder as one dict: run.json plus ``config`` (plain data or None), ``summary``
    and ``dir``. Reads the files; commands scanning many runs go through the index."""
    from reprokit.record import store

    record = store.read_record(run_dir)
    record["config"] = None
    config_file = run_dir / store.CONFIG_FILE
    try:
        data = store.read_regular(config_file)
    except FileNotFoundError:
        data = None
    if data is not None:
        import yaml

        try:
            record["config"] = yaml.safe_load(data)
        except (yaml.YAMLError, ValueError, RecursionError) as e:
            # ValueError: an int of more than 4,300 digits; RecursionError: deep nesting.
            raise ReprokitError(f"{config_file}: not valid YAML: {e}") from e
    record["summary"] = store.read_summary(run_dir)
    record["dir"] = str(run_dir)
    return record
