"""Import one experiment for checks 5-6; a failure becomes findings at the root cause.

A file that fails only because a file it imports fails (a broken base, a parent without
the name it is asked for) gets one short RK500 pointing there; the full finding (RK500,
or RK503 for Python's "mutable default" error) is stated once, where the error is.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType

from reprokit.checks.findings import Finding
from reprokit.checks.locations import Locator, display_name
from reprokit.experiments import naming


def in_precommit_env() -> bool:
    """Whether this interpreter is one of pre-commit's isolated hook environments."""
    homes = [os.environ.get("PRE_COMMIT_HOME")]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    homes.append(os.path.join(cache, "pre-commit"))
    prefix = Path(sys.prefix).resolve()
    return any(h and prefix.is_relative_to(Path(h).resolve()) for h in homes)


def purge_modules(top_levels: set[str]) -> None:
    """Forget imported modules of the experiments' packages, so this run imports fresh
    code (another project's, or a staged copy's, ``experiments`` package may be loaded)."""
    for name in [m for m in sys.modules if m.split(".", 1)[0] in top_levels]:
        del sys.modules[name]


def import_for_check(path: Path, module: str, root: Path) -> ModuleType | list[Finding]:
    """Import one experiment; a failure becomes findings (see :func:`import_failure`)."""
    import importlib

    sink = io.StringIO()
    try:
        # An experiment that prints on import must not garble the findings.
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            return importlib.import_module(module)
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        return import_failure(path, module, e, root)


# Python's words when a dataclass field defaults to a non-frozen dataclass instance.
_MUTABLE_DEFAULT_RE = re.compile(r"mutable default <class '([\w.]+)'> for field (\w+) is not")
_CANNOT_IMPORT_RE = re.compile(r"cannot import name '(\w+)' from '([\w.]+)'")


def import_failure(path: Path, module: str, error: BaseException, root: Path) -> list[Finding]:
    """The findings for an experiment that fails to import, stated once at the root cause.

    A broken base made every descendant fail with the same traceback (a newcomer's report:
    five identical RK500s, the fix named nowhere). The full finding goes where the error is
    (the same Finding that file's own check gives, so the runner's set keeps one copy), and
    each importing file gets one short line pointing there.
    """
    frames = _project_frames(error, root)
    here = [line for file, line in frames if file == path]
    own_line = here[-1] if here else 1
    mutable = _mutable_default(error, root)
    if mutable is not None:
        if mutable.path == path:
            return [mutable]
        return [mutable, _see_finding(path, own_line, mutable, root)]
    experiments = [file for file, _ in frames if naming.parse(file.name) is not None]
    origin = experiments[-1] if experiments else path
    if origin != path:
        upstream = import_failure(origin, _module_of(origin, root), error, root)
        return [*upstream, _see_finding(path, own_line, upstream[-1], root)]
    return [_own_failure(path, module, error, own_line, root)]


def _own_failure(path: Path, module: str, error: BaseException, line: int, root: Path) -> Finding:
    """RK500 for an error raised by this file's own code (or by what it imports directly)."""
    if isinstance(error, SyntaxError) and error.filename:
        # A file it imports does not parse; RK001 reports it there.
        broken = Path(os.path.abspath(error.filename))
        if broken != path and broken.is_relative_to(root):
            name = display_name(broken, path, root)
            return Finding(
                path,
                line,
                1,
                "RK500",
                f"cannot import: {_relation(path, broken)} {name} does not parse"
                f" (see {name}:{error.lineno or 1})",
                f"fix the syntax of {name}; this finding goes away with it",
            )
    missing = _CANNOT_IMPORT_RE.search(str(error)) if isinstance(error, ImportError) else None
    source = _module_file(missing[2], error, root) if missing else None
    if missing and source is not None and source != path:
        name = display_name(source, path, root)
        return Finding(
            path,
            line,
            1,
            "RK500",
            f"cannot import {missing[1]} from {_relation(path, source)} {name},"
            " which does not define it",
            f"define {missing[1]} in {name} (or import it from the file that defines it)",
        )
    hint = f"fix the error; python -c 'import {module}' shows the full traceback"
    if in_precommit_env():
        hint = (
            "this hook runs in pre-commit's isolated environment, which lacks the"
            " project's packages; run the full check as a `repo: local` hook with"
            " `language: system` and `entry: reprokit check` in the project's own"
            " environment, and use reprokit-static here"
        )
    return Finding(
        path, line, 1, "RK500", f"cannot import {module}: {type(error).__name__}: {error}", hint
    )


def _project_frames(error: BaseException, root: Path) -> list[tuple[Path, int]]:
    """(file, line) of the traceback's frames in project files, outermost first."""
    prefix = str(root) + os.sep
    found = []
    for frame, lineno in traceback.walk_tb(error.__traceback__):
        file = os.path.abspath(frame.f_code.co_filename)
        if file.startswith(prefix):
            found.append((Path(file), lineno))
    return found


def _module_of(path: Path, root: Path) -> str:
    return path.relative_to(root).with_suffix("").as_posix().replace("/", ".")


def _module_file(module: str, error: BaseException, root: Path) -> Path | None:
    """The project file of ``module`` (from ImportError.path, else sys.modules)."""
    file = getattr(error, "path", None) or getattr(sys.modules.get(module), "__file__", None)
    if not file:
        return None
    resolved = Path(os.path.abspath(file))
    return resolved if resolved.is_relative_to(root) else None


def _relation(path: Path, other: Path) -> str:
    """``its parent`` when ``other`` is the parent ``path``'s name declares."""
    mine, theirs = naming.parse(path.name), naming.parse(other.name)
    if mine and theirs and other.parent == path.parent:
        return "its parent" if theirs.id == mine.parent else "its ancestor"
    return "the imported file"


def _see_finding(path: Path, line: int, upstream: Finding, root: Path) -> Finding:
    """One short line for a file that fails only because ``upstream``'s file does."""
    name = display_name(upstream.path, path, root)
    return Finding(
        path,
        line,
        1,
        "RK500",
        f"cannot import: {_relation(path, upstream.path)} {name} fails"
        f" (see {name}:{upstream.line}, {upstream.code})",
        f"fix {name}; this finding goes away with it",
    )


def _mutable_default(error: BaseException, root: Path) -> Finding | None:
    """RK503 at the class for Python's "mutable default ... use default_factory" error.

    Python refuses a non-frozen dataclass instance as a field default; the fix reprokit
    wants is to freeze that class, not the default_factory the error suggests (which would
    import, then fail RK503).
    """
    if not isinstance(error, ValueError):
        return None
    m = _MUTABLE_DEFAULT_RE.search(str(error))
    if m is None:
        return None
    dotted, field = m[1], m[2]
    owner = f"the field {field}"
    location: tuple[Path, str] | None = None
    for frame, _ in traceback.walk_tb(error.__traceback__):
        scope = frame.f_globals
        name = scope.get("__name__")
        if isinstance(name, str) and dotted.startswith(name + ".") and scope.get("__file__"):
            location = (Path(os.path.abspath(str(scope["__file__"]))), dotted[len(name) + 1 :])
        cls = frame.f_locals.get("cls")
        if frame.f_code.co_name == "_process_class" and isinstance(cls, type):
            owner = f"{cls.__qualname__}.{field}"
    if location is None or not location[0].is_relative_to(root):
        return None
    file, qualname = location
    line, col = Locator(file).class_line(qualname) or (1, 1)
    return Finding(
        file,
        line,
        col,
        "RK503",
        f"{qualname} is a dataclass without frozen=True, so Python refuses an instance of it"
        f" as the default of {owner} (ValueError: mutable default ... use default_factory)",
        f"declare {qualname} @dataclass(frozen=True): configs are frozen all the way down"
        " (a default_factory would import, then fail RK503)",
    )
