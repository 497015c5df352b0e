"""A target's check findings straight from the cache, for ``reprokit launch``.

Launch checks one file, and on a warm cache the answer is already known; but the full
runner imports ``ast``-walking static checks, the finding type and the family logic
(~850 lines, ~2 ms with bytecode caches and ~6 ms without) before it can look it up.
:func:`cached_findings` recomputes only the keys: the content hashes of the file's import
closure (deps from the cache's ``files`` table) and of its family's file names. Any
doubt (no entry, a changed hash, deps unknown for a file's current content) is a miss,
and launch runs the full checks, which store a fresh verdict.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

from reprokit.checks.cache import CheckCache, default_cache_path, read_source
from reprokit.settings import Settings


def family_names(folder: Path) -> list[str]:
    """Sorted names of the candidate experiment files directly in ``folder``."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    # naming.is_candidate's rule on plain strings (no Path per entry: this runs per file).
    return sorted(
        e.name
        for e in entries
        if e.name.endswith(".py") and not e.name.startswith("_") and e.is_file()
    )


def names_key(names: list[str]) -> str:
    """The hash of a family's file names: they decide ids, parents and "the parent" import."""
    return hashlib.sha256("/".join(names).encode()).hexdigest()


def fingerprint(settings: Settings) -> str:
    """What, besides file contents, the cached results depend on."""
    from reprokit import __version__

    here = Path(__file__).resolve().parent
    config = here.parent / "config"
    sources = [*sorted(here.glob("*.py")), config / "codec.py", config / "yamlwriter.py"]
    stamps = []
    for src in sources:
        try:
            st = src.stat()
            stamps.append(f"{src.name}:{st.st_mtime_ns}:{st.st_size}")
        except OSError:
            stamps.append(f"{src.name}:-")
    parts = [
        __version__,
        sys.version,
        sys.prefix,
        settings.entry,
        str(settings.allow_mutable_fields),
        str(settings.require_smoke),
        str(settings.secret_fields),
        *stamps,
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def verdict_key(family_key: str, closure_key: str) -> str:
    """What one target's findings depend on, besides its path and the cache's fingerprint."""
    return f"{family_key}:{closure_key}"


def file_sha(root: str, rel: str) -> str:
    """The content hash the runner keys files by ("-" for an unreadable file)."""
    data = read_source(os.path.join(root, rel))
    return "-" if data is None else hashlib.sha256(data).hexdigest()


def closure_key_of(shas: dict[str, str], deps: dict[str, list[str]], rel: str) -> str:
    """Hash of ``rel`` and every project file it imports, transitively (see runner)."""
    seen = {rel}
    todo = [rel]
    while todo:
        for dep in deps[todo.pop()]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    text = "\n".join(f"{r}:{shas[r]}" for r in sorted(seen))
    return hashlib.sha256(text.encode()).hexdigest()


def cached_findings(path: Path, settings: Settings) -> list[dict[str, Any]] | None:
    """The findings (plain data) the last full check stored for ``path``; None on a miss."""
    root = settings.root
    cache = CheckCache(default_cache_path(root), fingerprint(settings))
    root_str = str(root)
    text, prefix = str(path), root_str + os.sep
    if not text.startswith(prefix):
        return None
    rel = text[len(prefix) :].replace(os.sep, "/")
    stored = cache.verdicts.get(rel)
    if not isinstance(stored, dict):
        return None
    shas: dict[str, str] = {}
    deps: dict[str, list[str]] = {}
    todo = [rel]
    while todo:
        current = todo.pop()
        if current in shas:
            continue
        shas[current] = file_sha(root_str, current)
        found = cache.lookup(cache.files, current, shas[current])
        if not isinstance(found, list):
            return None  # this content was never parsed: only the full run knows its deps
        deps[current] = [str(d) for d in found]
        todo += deps[current]
    family = names_key(family_names(path.parent))
    if stored.get("key") != verdict_key(family, closure_key_of(shas, deps, rel)):
        return None
    value = stored.get("value")
    return value if isinstance(value, list) else None
