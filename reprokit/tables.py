"""Cell text and column alignment shared by the commands' plain-text tables."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

# Characters that reorder the text around them (bidirectional overrides and isolates): a
# file name holding U+202E shows its extension backwards. Escaped like control characters.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def safe_text(value: object, *, lines: bool = False) -> str:
    """``value`` as text that is safe to print on a terminal: every control character
    escaped the way Python writes it (ESC as ``\\x1b``, CR as ``\\r``, U+202E as
    ``\\u202e``), ordinary unicode kept. A note holding an ANSI escape once rewrote the
    terminal through ``show``. A lone surrogate (a non-UTF-8 byte of a file name, kept by
    surrogateescape) is shown as the byte it was (``\\xff``) instead of failing to print.

    One-line cells escape tabs and newlines too; ``lines=True`` keeps them, for multi-line
    text that is meant to be read as lines (a patch, a hint). JSON and CSV output never
    goes through this: their formats escape what they must, and the values stay exact.
    """
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text  # the common case, one C-level scan
    out = []
    for ch in text:
        if ch.isprintable() or (lines and ch in "\n\t"):
            out.append(ch)
        elif "\udc80" <= ch <= "\udcff":
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs"):
            out.append(ascii(ch)[1:-1])
        else:
            out.append(ch)  # a space other than " ", a zero-width joiner: harmless
    return "".join(out)


def format_duration(seconds: float | None) -> str:
    """``0.4s``, ``12.3s``, ``4m05s``, ``2h03m``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    if not math.isfinite(seconds):
        return str(seconds)  # a hand-edited record: inf/nan, not an OverflowError
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_started(value: str | None) -> str:
    """UTC ``2026-11-25 20:01`` (UTC so tables read the same on every machine)."""
    if not value:
        return "-"
    try:
        when = datetime.fromisoformat(value).astimezone(UTC)
    except (ValueError, OverflowError):  # year 1 at +05:00 is before year 1 in UTC
        return value
    return when.strftime("%Y-%m-%d %H:%M")


def format_value(value: Any) -> str:
    """A cell: ``-`` for None, ``true``/``false``, floats to 4 significant digits."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_mean(mean: float | None, std: float | None) -> str:
    """``0.9123 ± 0.012`` (``0.9123`` without a std; ``-`` without runs)."""
    if mean is None:
        return "-"
    return f"{mean:.4g}" if std is None else f"{mean:.4g} ± {std:.2g}"


def plural(count: int, noun: str) -> str:
    """``1 run``, ``3 runs``."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def render_table(
    header: Sequence[str],
    body: Sequence[Sequence[str]],
    numeric: Collection[int] = (),
    *,
    sep: str = "  ",
    rule: str | None = None,
    indent: str = "",
) -> str:
    """Every plain-text table of the commands: columns separated by ``sep``; numeric
    columns right-aligned; cells made safe for a terminal (:func:`safe_text`) before they
    are measured; each line after ``indent``, trailing spaces dropped, ending in a newline.
    ``rule`` (e.g. ``"-+-"``) draws a line of dashes under the header, joined by it."""
    header = [safe_text(h) for h in header]
    body = [[safe_text(c) for c in line] for line in body]
    widths = [len(h) for h in header]
    for line in body:
        widths = [max(w, len(c)) for w, c in zip(widths, line, strict=True)]

    def fmt(line: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        return (indent + sep.join(parts)).rstrip()

    lines = [fmt(header)]
    if rule is not None:
        lines.append(indent + rule.join("-" * w for w in widths))
    return "\n".join([*lines, *(fmt(line) for line in body)]) + "\n"


def iso_utc(value: str | None) -> str | None:
    """A recorded timestamp as ISO 8601 in UTC (``2026-11-25T20:01:02.123456+00:00``); the
    text unchanged when it does not parse, None when missing."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).astimezone(UTC).isoformat(timespec="microseconds")
    except (ValueError, OverflowError):  # year 1 at +05:00 is before year 1 in UTC
        return value


def data_value(value: Any) -> str:
    """A CSV cell for analysis, not for reading: empty for None, ``true``/``false``, numbers
    exactly (``repr``: ``float(cell)`` gives the recorded value back), lists and mappings as
    JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple | dict):
        import json

        return json.dumps(value, sort_keys=True)
    return str(value)


def did_you_mean(word: str, names: Iterable[str], otherwise: str) -> str:
    """The hint for a misspelled name: ``did you mean a, b?`` with up to three close matches
    among ``names``, else ``otherwise``. Shared so every command suggests the same way."""
    import difflib

    close = difflib.get_close_matches(word, sorted(set(names)), n=3, cutoff=0.6)
    return f"did you mean {', '.join(close)}?" if close else otherwise


def format_config_value(value: Any) -> str:
    """A config value (plain data) in a change line ``optim.name: sgd → adam``: strings
    bare, non-finite floats as configs write them (``nan``, ``inf``, ``-inf``, as blame's
    ``--json`` does), everything else as JSON (``true``, ``null``, ``[1, 2]``). ``new``,
    ``blame`` and ``diff`` all show changes this way."""
    import json

    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return json.dumps(value)


def json_text(data: Any, **options: Any) -> str:
    """``json.dumps(data, ensure_ascii=False, **options)`` for printing: readable unicode,
    unless the data holds a lone surrogate (a non-UTF-8 file name kept by surrogateescape),
    which no UTF-8 terminal can print: then every non-ASCII character is escaped, so the
    output stays exact JSON instead of failing with UnicodeEncodeError."""
    import json

    text = json.dumps(data, ensure_ascii=False, **options)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(data, ensure_ascii=True, **options)
    return text
