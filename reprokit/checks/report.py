"""Findings printed as ``path:line:col: RKnnn message`` + hint, then the summary line.

Shared by ``reprokit check``, the staged check of the git hook and launch's pre-launch
check, so none of them imports another to print.
"""

from __future__ import annotations

import os
from pathlib import Path

from reprokit.checks.findings import Finding, format_finding, summary_line
from reprokit.checks.runner import CheckResult


def print_report(result: CheckResult, *, path_map: tuple[Path, Path] | None = None) -> int:
    """Print findings (``path:line:col: RKnnn message`` + hint) and the summary; exit code."""
    cwd = Path.cwd().resolve()
    findings = result.findings
    if path_map is not None:
        src, dst = path_map
        findings = [_moved(f, src, dst) for f in findings]
    for finding in findings:
        print(format_finding(finding, cwd))
    print(summary_line(result.checked, findings))
    return 1 if findings else 0


def _moved(finding: Finding, src: Path, dst: Path) -> Finding:
    """``finding`` with the staged export's folder ``src`` replaced by the repository's
    ``dst``, in its path and in its text: an import error names the files it read, and a
    temporary folder that is gone after the hook means nothing to the user."""
    try:
        path = dst / finding.path.relative_to(src)
    except ValueError:
        path = finding.path
    old, new = str(src) + os.sep, str(dst) + os.sep
    hint = finding.hint.replace(old, new) if finding.hint else finding.hint
    return Finding(
        path, finding.line, finding.col, finding.code, finding.message.replace(old, new), hint
    )
