"""The file ``reprokit new`` writes: name checked, next free id claimed, result verified.

The file is claimed with ``O_CREAT | O_EXCL`` under a lock on the family folder, so two
``new`` commands at once never take the same id, and it is imported in a fresh
interpreter before success is reported: its config must equal the parent's with exactly
the requested changes.
"""

from __future__ import annotations

import dataclasses
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


def claim_all(
    folder: Path, parent: naming.ExperimentName, files: Sequence[tuple[str, str]]
) -> list[Path]:
    """Write each (NAME, source) as ``NAME_<next free id>_<parent id>.py``, in order, under
    one lock on the family folder, so a sweep's files get consecutive ids even while another
    ``new`` runs; on a failure the files already written are removed."""
    written: list[Path] = []
    with _family_lock(folder):
        id_ = naming.next_free_id({m.parsed.id for m in discovery.family_members(folder)})
        try:
            for name, source in files:
                while True:
                    path = folder / naming.format_name(name, id_, parent.id, parent.width)
                    try:
                        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                    except FileExistsError:
                        id_ += 1
                        continue
                    written.append(path)
                    with os.fdopen(fd, "w", encoding="utf-8") as f:
                        f.write(source)
                    id_ += 1
                    break
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
    return written


_VERIFY = """
import dataclasses, importlib, json, sys
sys.path.insert(0, sys.argv[1])
parent = importlib.import_module(sys.argv[2]).config

def flat(node, prefix=""):
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        out = {}
        for f in dataclasses.fields(node):
            out.update(flat(getattr(node, f.name), prefix + f.name + "."))
        return out
    return {prefix[:-1]: stable(node)}

def stable(value):
    # A set's repr orders by hash, which differs between interpreters: sort it.
    if isinstance(value, (set, frozenset)):
        return type(value).__name__ + "(" + repr(sorted(value, key=repr)) + ")"
    return repr(value)

a = flat(parent)
for name in sys.argv[3:]:
    new = importlib.import_module(name).config
    b = flat(new)
    same_type = type(new) is type(parent)
    changed = {k: b.get(k) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}
    print(json.dumps({"same_type": same_type, "changed": changed}))
"""


def verify_written(
    written: Sequence[tuple[Path, Sequence[Assignment]]], parent: Path, settings: Settings
) -> None:
    """Import the new files in one fresh interpreter (one start for a whole sweep); each
    config must differ from the parent's exactly as asked."""
    mods = [discovery.module_name(p, settings.root) for p in (parent, *(w[0] for w in written))]
    proc = subprocess.run(
        [sys.executable, "-c", _VERIFY, str(settings.root), *mods],
        cwd=settings.root,
        capture_output=True,
        text=True,
        timeout=120 + 10 * len(written),
    )
    names = ", ".join(w[0].name for w in written)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise ReprokitError(
            f"{names}: the written file does not import, so it was removed:\n{tail}",
            hint="this is a bug in reprokit new; please report it with the command line",
        )
    results = [json.loads(line) for line in proc.stdout.strip().splitlines()[-len(written) :]]
    for (path, assignments), result in zip(written, results, strict=True):
        expected = _expected_changes(assignments)
        if not result["same_type"] or result["changed"] != expected:
            raise ReprokitError(
                f"{path.name}: its config differs from the parent's by {result['changed']}, "
                f"expected {expected}; the file was removed",
                hint="this is a bug in reprokit new; please report it with the command line",
            )


def _flat_reprs(value: object, prefix: str) -> dict[str, str]:
    """Leaf reprs by dotted path, as _VERIFY flattens a config (a group swapped for
    another dataclass by ``--set model=MLP`` changes each of its leaves)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, str] = {}
        for f in dataclasses.fields(value):
            out.update(_flat_reprs(getattr(value, f.name), f"{prefix}.{f.name}"))
        return out
    return {prefix: _stable_repr(value)}


def _stable_repr(value: object) -> str:
    """``repr``, with sets sorted: _VERIFY runs in another interpreter (same rule there)."""
    if isinstance(value, set | frozenset):
        return type(value).__name__ + "(" + repr(sorted(value, key=repr)) + ")"
    return repr(value)


def _expected_changes(assignments: Sequence[Assignment]) -> dict[str, str | None]:
    expected: dict[str, str | None] = {}
    for a in assignments:
        old, new = _flat_reprs(a.old, a.path), _flat_reprs(a.value, a.path)
        expected.update(
            {k: new.get(k) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}
        )
    return expected
