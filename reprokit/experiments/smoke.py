"""``reprokit smoke``: run every experiment's ``smoke(config)`` in its own process.

Each experiment runs as ``main(smoke(config))`` in a fresh interpreter with the project
root importable, with a time limit, several at a time (up to the number of CPUs). Nothing
is recorded: ``reprokit.log`` is a no-op outside ``reprokit launch``, so smoke runs never
add to ``outputs/``. The exit code is 1 when any experiment fails, times out, or has no
``smoke`` (defined in the file or imported from its parent).

As a git ``pre-push`` hook with the pre-commit framework (``.pre-commit-config.yaml``)::

    - repo: local
      hooks:
        - id: reprokit-smoke
          name: reprokit smoke
          entry: reprokit smoke --timeout 120
          language: system
          pass_filenames: false
          stages: [pre-push]

(then ``pre-commit install --hook-type pre-push``), or as a plain ``.git/hooks/pre-push``
script containing ``exec reprokit smoke``. As a CI step (GitHub Actions)::

    - run: reprokit smoke --timeout 300
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from reprokit.errors import EXIT_FAILURE, EXIT_OK, ReprokitError
from reprokit.experiments import discovery
from reprokit.paths import rel_path
from reprokit.settings import Settings

# Lines of a failing run's output shown under its FAIL line.
TAIL_LINES = 10

# The child: import the experiment, build its smoke config, run the entry point.
_CHILD = """
import importlib, sys, traceback
root, module_name, entry = sys.argv[1:4]
sys.path.insert(0, root)
module = importlib.import_module(module_name)
if not hasattr(module, "smoke"):
    print(
        "reprokit smoke: " + module_name + " has no smoke(config); define one, or import it "
        "from the parent: from <parent module> import config as parent_config, main, smoke",
        file=sys.stderr,
    )
    sys.exit(2)
try:
    getattr(module, entry)(module.smoke(module.config))
except BaseException as e:
    # Skip this wrapper's own frame: the traceback starts in the experiment's code.
    traceback.print_exception(type(e), e, e.__traceback__.tb_next)
    sys.exit(1)
"""


@dataclass(frozen=True)
class SmokeResult:
    """The outcome of one experiment's smoke run."""

    path: Path
    status: str  # "PASS", "FAIL" or "TIMEOUT"
    duration_s: float
    output: str  # stdout and stderr together

    @property
    def ok(self) -> bool:
        return self.status == "PASS"


def collect(paths: Sequence[Path], settings: Settings) -> list[Path]:
    """The experiment files named by ``paths`` (folders expand); all of them by default."""
    found: list[Path] = []
    for given in paths or [settings.experiments]:
        path = (Path.cwd() / given).resolve()
        if path.is_dir():
            found += [p for p in discovery.iter_experiment_paths(path) if discovery.describe(p)]
        elif path.is_file():
            found.append(path)
        else:
            raise ReprokitError(f"{given}: no such file or folder")
    unique = list(dict.fromkeys(found))
    for path in unique:
        discovery.module_name(path, settings.root)  # refuses files outside the project
    if not unique:
        where = ", ".join(str(p) for p in paths) or str(settings.experiments)
        raise ReprokitError(
            f"no experiments found in {where}",
            hint="experiment files are named <name>_<id>_<parent>.py",
        )
    return unique


def run_one(
    path: Path,
    *,
    settings: Settings,
    timeout: float,
    threads: int = 0,
    live: set[subprocess.Popen[str]] | None = None,
) -> SmokeResult:
    """Run one experiment's smoke config in a child process, killed after ``timeout`` s.

    ``live`` collects the running children, so a caller interrupted by Ctrl-C can kill them
    (they run in sessions of their own and do not receive the terminal's SIGINT).
    """
    module_name = discovery.module_name(path, settings.root)
    env = dict(os.environ)
    if threads:
        # Several runs share the CPUs; without a cap each would start one thread per core.
        env.setdefault("OMP_NUM_THREADS", str(threads))
    start = time.monotonic()
    # A session of its own, so a timeout also kills the run's own workers (data loaders).
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(settings.root), module_name, settings.entry],
        cwd=settings.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    if live is not None:
        live.add(proc)
    try:
        output, _ = proc.communicate(timeout=timeout)
        status = "PASS" if proc.returncode == 0 else "FAIL"
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        output, _ = proc.communicate()
        status = "TIMEOUT"
    finally:
        if live is not None:
            live.discard(proc)
    return SmokeResult(path, status, time.monotonic() - start, output or "")


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        proc.kill()


def format_result(result: SmokeResult, settings: Settings, timeout: float) -> str:
    """``PASS  path  (1.2 s)``, and for a failure the last lines of its output, indented."""
    shown = rel_path(result.path, settings.root)
    lines = [f"{result.status:<7} {shown}  ({result.duration_s:.1f} s)"]
    if result.status == "TIMEOUT":
        lines.append(
            f"        timed out after {timeout:g} s "
            "(raise it with --timeout or [tool.reprokit] smoke_timeout)"
        )
    if not result.ok:
        tail = result.output.rstrip().splitlines()[-TAIL_LINES:]
        lines += [f"        | {line}" for line in tail]
    return "\n".join(lines)


def smoke_command(paths: Sequence[Path], *, settings: Settings, timeout: float | None) -> int:
    """The ``reprokit smoke`` command: one line per experiment, exit 1 if any failed."""
    limit = settings.smoke_timeout if timeout is None else timeout
    if limit <= 0:
        raise ReprokitError(f"--timeout {limit:g}: must be a positive number of seconds")
    targets = collect(paths, settings)
    cpus = os.cpu_count() or 1
    workers = max(1, min(cpus, len(targets)))
    threads = max(1, cpus // workers)
    start = time.monotonic()
    failed = 0
    live: set[subprocess.Popen[str]] = set()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(run_one, p, settings=settings, timeout=limit, threads=threads, live=live)
            for p in targets
        ]
        try:
            # Printed in the order given, each as soon as it (and those before it) finished.
            for future in futures:
                result = future.result()
                failed += not result.ok
                print(format_result(result, settings, limit), flush=True)
        except BaseException:
            for future in futures:
                future.cancel()
            for proc in list(live):
                _kill_group(proc)
            raise
    passed = len(targets) - failed
    print(f"smoke: {passed} passed, {failed} failed in {time.monotonic() - start:.1f} s")
    return EXIT_FAILURE if failed else EXIT_OK
