"""Paths as a person types them and as run records store them (root-relative, posix)."""

from __future__ import annotations

from pathlib import Path

from reprokit.settings import Settings


def user_path(text: str | Path, settings: Settings) -> Path:
    """A path the user typed: as given (relative to the current folder), else under the root."""
    path = Path(text)
    if path.is_absolute() or path.exists() or not (settings.root / path).exists():
        return path.resolve()
    return (settings.root / path).resolve()


def rel_path(path: Path, root: Path) -> str:
    """``path`` as run.json records it: relative to ``root``, posix; as given when outside."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def shown(path: Path) -> str:
    """``path`` for a message: relative to the working directory when inside it, else
    absolute (a replay runs in a temporary worktree: ``../../home/me/proj/outputs/run_9``
    would help nobody)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)
