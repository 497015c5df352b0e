"""The check cache: results keyed by content hashes, so unchanged experiments are skipped.

One JSON file, under the git dir when there is one (``<git-dir>/reprokit/check-cache.json``,
never committed; a linked worktree has its own git dir, so its own cache) else
``<root>/.reprokit-cache/``.
Written to a temp file then renamed; a corrupt or foreign cache is ignored, never fatal.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from reprokit.files import write_atomic

CACHE_VERSION = 1


def git_dir(root: Path) -> Path | None:
    """The git dir of the repository holding ``root``, found without running git (speed)."""
    for folder in (root, *root.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():
            # A worktree or submodule: ".git" is a file saying "gitdir: <path>".
            text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
            if text.startswith("gitdir:"):
                return (folder / text[len("gitdir:") :].strip()).resolve()
            return None
    return None


def default_cache_path(root: Path) -> Path:
    found = git_dir(root)
    if found is not None:
        return found / "reprokit" / "check-cache.json"
    return root / ".reprokit-cache" / "check-cache.json"


def read_source(path: str) -> bytes | None:
    """A regular file's bytes; None for anything else (missing, unreadable, a FIFO, a
    device). An experiment file that was a FIFO once hung `reprokit check` on its read:
    opened with O_NONBLOCK and checked with fstat, it is just unreadable."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    except OSError:
        return None
    finally:
        os.close(fd)


class CheckCache:
    """The cache's three tables, loaded once per run and saved once at the end.

    ``files``: relpath -> {sha, deps} (direct project-local imports of that content);
    ``static``: relpath -> {key, findings} (ast checks, keyed on content + family names);
    ``dynamic``: relpath -> {key, findings} (import checks, keyed on the import closure);
    ``verdicts``: relpath -> {key, findings} (all of a target's findings, keyed on its
    family's names and its import closure: launch reads it without the runner).
    """

    def __init__(self, path: Path | None, fingerprint: str) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.files: dict[str, dict[str, Any]] = {}
        self.static: dict[str, dict[str, Any]] = {}
        self.dynamic: dict[str, dict[str, Any]] = {}
        self.verdicts: dict[str, dict[str, Any]] = {}
        self.dirty = False
        if path is not None:
            self._load(path)

    def _load(self, path: Path) -> None:
        raw = read_source(str(path))
        try:
            data = json.loads(raw or b"")
        except (ValueError, RecursionError):
            return
        if (
            not isinstance(data, dict)
            or data.get("version") != CACHE_VERSION
            or data.get("fingerprint") != self.fingerprint
        ):
            return
        tables = [data.get(k) for k in ("files", "static", "dynamic")]
        if all(isinstance(t, dict) for t in tables):
            self.files, self.static, self.dynamic = tables  # type: ignore[assignment]
            verdicts = data.get("verdicts")  # absent in caches written before it existed
            self.verdicts = verdicts if isinstance(verdicts, dict) else {}

    def lookup(self, table: dict[str, dict[str, Any]], rel: str, key: str) -> Any:
        entry = table.get(rel)
        if isinstance(entry, dict) and entry.get("key") == key:
            return entry.get("value")
        return None

    def store(self, table: dict[str, dict[str, Any]], rel: str, key: str, value: Any) -> None:
        table[rel] = {"key": key, "value": value}
        self.dirty = True

    def prune(self, root: Path) -> None:
        """Forget files that no longer exist, so renames do not grow the cache forever.

        Only called when something changed (a stat per entry is too much for a warm run).
        """
        for table in (self.files, self.static, self.dynamic, self.verdicts):
            for rel in [r for r in table if not os.path.exists(os.path.join(root, r))]:
                del table[rel]

    def save(self) -> None:
        """Write atomically; a read-only git dir just means no cache next time."""
        if self.path is None or not self.dirty:
            return
        data = {
            "version": CACHE_VERSION,
            "fingerprint": self.fingerprint,
            "files": self.files,
            "static": self.static,
            "dynamic": self.dynamic,
            "verdicts": self.verdicts,
        }
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.parent.name == ".reprokit-cache":
                ignore = self.path.parent / ".gitignore"
                if not ignore.exists():
                    ignore.write_text("# created by reprokit check\n*\n", encoding="utf-8")
            write_atomic(self.path, json.dumps(data, separators=(",", ":")).encode("utf-8"))
