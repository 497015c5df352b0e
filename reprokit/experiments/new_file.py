"""The file ``reprokit new`` writes: name checked, next free id claimed, result verified.

The file is claimed with ``O_CREAT | O_EXCL`` under a lock on the family folder, so two
``new`` commands at once never take the same id, and it is imported in a fresh
interpreter before success is reported: its config must equal the parent's with exactly
the requested changes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from reprokit.errors import ReprokitError
from reprokit.experiments import discovery, naming
from reprokit.experiments.new_source import Assignment
from reprokit.settings import Settings


def check_name(name: str) -> None:
    """Refuse a NAME that would not make a valid ``<name>_<id>_<parent>.py``."""
    parsed = naming.parse(naming.format_name(name, 1, 1))
    if parsed is None or parsed.name != name:
        raise ReprokitError(
            f"{name!r} is not a valid experiment name",
            hint=f"use lowercase snake_case, e.g. {naming.suggest_experiment_name(name)!r}",
        )


@contextmanager
def _family_lock(folder: Path) -> Iterator[None]:
    """Serialize id allocation between concurrent ``new`` commands in one family.

    ``O_EXCL`` alone only catches two commands choosing the same *name*; two different
    names could still take the same id, so listing and creating happen under a lock.
    """
    try:
        import fcntl
    except ImportError:  # Windows: O_EXCL still prevents overwriting a file
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def claim(folder: Path, name: str, parent: naming.ExperimentName, source: str) -> Path:
    """Write ``source`` as ``NAME_<next free id>_<parent id>.py`` in ``folder``; its path."""
    with _family_lock(folder):
        used = {m.parsed.id for m in discovery.family_members(folder)}
        id_ = naming.next_free_id(used)
        while True:
            path = folder / naming.format_name(name, id_, parent.id, parent.width)
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                id_ += 1
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(source)
            return path


_VERIFY = """
import dataclasses, importlib, json, sys
sys.path.insert(0, sys.argv[1])
new, parent = (importlib.import_module(m).config for m in sys.argv[2:4])

def flat(node, prefix=""):
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        out = {}
        for f in dataclasses.fields(node):
            out.update(flat(getattr(node, f.name), prefix + f.name + "."))
        return out
    return {prefix[:-1]: repr(node)}

a, b = flat(parent), flat(new)
same_type = type(new) is type(parent)
changed = {k: b.get(k) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}
print(json.dumps({"same_type": same_type, "changed": changed}))
"""


def verify_written(
    path: Path, parent: Path, assignments: Sequence[Assignment], settings: Settings
) -> None:
    """Import the new file in a fresh interpreter; its config must differ exactly as asked."""
    mods = [discovery.module_name(p, settings.root) for p in (path, parent)]
    proc = subprocess.run(
        [sys.executable, "-c", _VERIFY, str(settings.root), *mods],
        cwd=settings.root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise ReprokitError(
            f"{path.name}: the written file does not import, so it was removed:\n{tail}",
            hint="this is a bug in reprokit new; please report it with the command line",
        )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = {a.path: repr(a.value) for a in assignments if repr(a.value) != repr(a.old)}
    if not result["same_type"] or result["changed"] != expected:
        raise ReprokitError(
            f"{path.name}: its config differs from the parent's by {result['changed']}, "
            f"expected {expected}; the file was removed",
            hint="this is a bug in reprokit new; please report it with the command line",
        )
