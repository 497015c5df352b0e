"""A finding (path, line, column, code, message, hint) and how findings are printed."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, order=True)
class Finding:
    """One problem in one file. ``line`` and ``col`` are 1-based, as editors count."""

    path: Path
    line: int
    col: int
    code: str
    message: str
    hint: str | None = None

    def to_json(self, root: Path) -> dict[str, Any]:
        """Plain data for the cache; the path is stored relative to ``root``."""
        return {
            "path": _rel(self.path, root),
            "line": self.line,
            "col": self.col,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], root: Path) -> Finding:
        return cls(
            root / data["path"],
            int(data["line"]),
            int(data["col"]),
            str(data["code"]),
            str(data["message"]),
            data["hint"],
        )


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def display_path(path: Path, cwd: Path) -> str:
    """``path`` relative to ``cwd`` when it is below it, else as given."""
    try:
        return os.path.relpath(path, cwd) if path.is_relative_to(cwd) else str(path)
    except ValueError:  # different drives on Windows
        return str(path)


def format_finding(finding: Finding, cwd: Path) -> str:
    """``path:line:col: RKnnn message`` and, when there is one, an indented hint line."""
    from reprokit.tables import safe_text

    # File names and error messages may hold control characters: escaped, one line each.
    where = safe_text(display_path(finding.path, cwd))
    text = f"{where}:{finding.line}:{finding.col}: {finding.code} {safe_text(finding.message)}"
    if finding.hint:
        text += f"\n  hint: {safe_text(finding.hint)}"
    return text


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary_line(checked: int, findings: Sequence[Finding]) -> str:
    """``checked 12 experiments: 2 problems in 1 file`` or ``...: all good``."""
    head = f"checked {_plural(checked, 'experiment')}"
    if not findings:
        return f"{head}: all good"
    files = len({f.path for f in findings})
    return f"{head}: {_plural(len(findings), 'problem')} in {_plural(files, 'file')}"
