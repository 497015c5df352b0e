"""Fingerprints of the files and folders that ``Path`` values in a config point to.

Data usually lives outside git (an ignored ``data/`` folder), so the snapshot alone cannot
tell whether a replay reads the same inputs. At launch :func:`fingerprint_inputs` records
size, mtime and, for small files, a sha256 of every existing path named by the config; at
replay :func:`compare_inputs` fingerprints the same paths again and lists what changed.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from reprokit import redact
from reprokit.files import file_digest

# Hashing is cheap up to here; a multi-GB dataset would stall every launch, so larger files
# are fingerprinted by size and mtime only.
HASH_LIMIT = 1024 * 1024
# A folder is summarized by walking it; stop counting past this many files so a launch
# against a huge dataset folder stays fast (the record says the summary is partial).
FOLDER_FILE_LIMIT = 100_000


def iter_path_values(config: Any, prefix: str = "") -> Iterator[tuple[str, PurePath]]:
    """Every ``(dotted field, path)`` in a config tree: dataclasses, mappings, sequences."""
    if isinstance(config, PurePath):
        yield prefix, config
    elif dataclasses.is_dataclass(config) and not isinstance(config, type):
        for f in dataclasses.fields(config):
            yield from iter_path_values(getattr(config, f.name), _join(prefix, f.name))
    elif isinstance(config, Mapping):
        for key, value in config.items():
            yield from iter_path_values(value, _join(prefix, str(key)))
    elif isinstance(config, (list, tuple)):
        for i, value in enumerate(config):
            yield from iter_path_values(value, _join(prefix, str(i)))


def relative_path_hint(error: BaseException, config: Any, cwd: Path, root: Path) -> str | None:
    """Why a run launched from a subfolder cannot find a config path, or None.

    A relative ``Path`` in a config is resolved against the working directory, so
    ``data/train.csv`` that exists under the project root is missing when the launch ran in
    ``root/notebooks`` (issue 12: that failed with a bare FileNotFoundError). Said only when
    the error names a file under one of the config's relative paths and cwd is not the root.
    """
    filename = getattr(error, "filename", None) if isinstance(error, OSError) else None
    if not isinstance(filename, str | PurePath) or cwd.resolve() == root.resolve():
        return None
    missing = Path(filename)
    missing = missing.resolve() if missing.is_absolute() else (cwd / missing).resolve()
    for field, value in iter_path_values(config):
        path = Path(value)
        if path.is_absolute() or not missing.is_relative_to((cwd / path).resolve()):
            continue
        where = os.path.relpath(cwd, root) if cwd.is_relative_to(root) else str(cwd)
        found = " (it exists there)" if (root / path).exists() else ""
        return (
            f"config field {field} is the relative path {path.as_posix()!r}, resolved against"
            f" the working directory {where}/, not the project root {root}{found}; launch from"
            f" the project root, or make the path absolute"
        )
    return None


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _digest(path: Path) -> str | None:
    """A small file's sha256; None for a file that holds credentials, by its name or its
    content (``token_file: Path``): the record is shared, and a hash of a short
    password can be reversed. Such a file is compared by size and mtime instead."""
    if redact.secret_file_name(path.as_posix()):
        return None
    if redact.secret_file_content(path, HASH_LIMIT):
        return None
    return file_digest(path)


def fingerprint_path(path: Path) -> dict[str, Any] | None:
    """``{kind, size, mtime, sha256, files, complete}`` of a file or folder; None if missing.

    Files: size, mtime, and sha256 when at most :data:`HASH_LIMIT` bytes (else null).
    Folders: total size of the files below, newest mtime, file count (sha256 null); symlinks
    inside are followed for files but not for folders, so a link cycle cannot hang a launch.
    """
    try:
        st = path.stat()
    except OSError:
        return None
    if path.is_dir():
        count = total = 0
        newest = st.st_mtime
        complete = True
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for name in sorted(filenames):
                try:
                    fst = (Path(dirpath) / name).stat()
                except OSError:
                    continue  # a dangling link is not data
                count += 1
                total += fst.st_size
                newest = max(newest, fst.st_mtime)
                if count >= FOLDER_FILE_LIMIT:
                    complete = False
                    break
            if not complete:
                break
        return {
            "kind": "dir",
            "size": total,
            "mtime": newest,
            "sha256": None,
            "files": count,
            "complete": complete,
        }
    return {
        "kind": "file",
        "size": st.st_size,
        "mtime": st.st_mtime,
        "sha256": _digest(path) if st.st_size <= HASH_LIMIT else None,
        "files": None,
        "complete": True,
    }


def fingerprint_inputs(config: Any, cwd: Path) -> list[dict[str, Any]]:
    """The ``inputs`` list of a run record: one entry per existing path in the config.

    Relative paths are resolved against ``cwd`` (the run's working directory), as the
    experiment itself would resolve them. ``path`` keeps the config's spelling so a replay
    resolves it the same way from its own working directory. Paths that do not exist (an
    output folder the run will create) are left out.
    """
    entries: list[dict[str, Any]] = []
    for field, value in iter_path_values(config):
        path = Path(value)
        fp = fingerprint_path(path if path.is_absolute() else cwd / path)
        if fp is not None:
            entries.append({"field": field, "path": str(value), **fp})
    return entries


@dataclass(frozen=True)
class InputChange:
    """One recorded input that is not the same now."""

    field: str
    path: str
    what: str  # "missing" | "kind" | "content" | "size" | "files" | "mtime"
    recorded: str
    here: str

    def describe(self) -> str:
        if self.what == "missing":
            return f"input {self.field} ({self.path}) no longer exists"
        return (
            f"input {self.field} ({self.path}) changed since the original run: "
            f"{self.what} {self.recorded} -> {self.here}"
        )


def compare_inputs(recorded: list[dict[str, Any]] | None, cwd: Path) -> list[InputChange]:
    """What changed in each recorded input, resolved against ``cwd``; [] when all match.

    A changed sha256 (or size, or file count) is a real change. An mtime change alone is
    reported only for inputs without a hash (large files, folders), where it is the only
    hint left that the content may differ; for hashed files an identical hash wins.
    """
    changes: list[InputChange] = []
    for entry in recorded or []:
        field, spelled = str(entry.get("field")), str(entry.get("path"))
        path = Path(spelled)
        now = fingerprint_path(path if path.is_absolute() else cwd / path)
        if now is None:
            changes.append(InputChange(field, spelled, "missing", entry.get("kind", "?"), "-"))
            continue
        change = _first_change(entry, now)
        if change is not None:
            what, old, new = change
            changes.append(InputChange(field, spelled, what, old, new))
    return changes


def _first_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, str, str] | None:
    if old.get("kind") != new["kind"]:
        return "kind", str(old.get("kind")), str(new["kind"])
    if old.get("sha256") and new["sha256"]:
        if old["sha256"] != new["sha256"]:
            return "content", f"sha256 {old['sha256'][:12]}", f"sha256 {new['sha256'][:12]}"
        return None
    if old.get("size") != new["size"]:
        return "size", str(old.get("size")), str(new["size"])
    if new["kind"] == "dir" and old.get("files") != new["files"]:
        return "files", str(old.get("files")), str(new["files"])
    if old.get("mtime") != new["mtime"]:
        return "mtime", _when(old.get("mtime")), _when(new["mtime"])
    return None


def _when(mtime: Any) -> str:
    import datetime

    if not isinstance(mtime, (int, float)):
        return str(mtime)
    return datetime.datetime.fromtimestamp(mtime, datetime.UTC).isoformat(timespec="seconds")
