"""Checks 5-6 in a child process, each file under a time limit that becomes a finding.

An experiment that sleeps (or waits on a lock, a download, a GPU) at import once made
``reprokit check``, and so the commit hook, hang forever: the import ran in reprokit's own
process, which nothing could interrupt. Importing now happens in one child interpreter for
the whole batch. The child reports on a pipe what it found in each file; the parent waits
on that pipe, and when one file takes longer than ``check_timeout`` seconds it asks the child for its stacks
(SIGUSR1, answered by ``faulthandler`` in C, even inside a blocking call), ends the child's
process group, turns the stuck file and line into RK506, and starts a fresh child for the
files left, skipping those that import the stuck file (they would hang the same way).

Only files whose results are not cached get here, so the warm path starts no child, and
the cold path pays one interpreter start (~50 ms) for any number of files.

The child runs in its own session (a Ctrl-C at the terminal must reach reprokit, not the
experiment), so nothing ends it but reprokit: a SIGTERM or SIGHUP to ``reprokit check``, to
a launch during its checks or to the commit hook once left it running forever with its
temporary folder. SIGTERM and SIGHUP now unwind like Ctrl-C through the clean-up, and the
child ends itself and its group when the parent dies (even by SIGKILL): see
:func:`_die_with_parent`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from reprokit.checks.findings import Finding
from reprokit.settings import Settings

_FRAME_RE = re.compile(r'^\s+File "(.+)", line (\d+) in ')


@dataclasses.dataclass(frozen=True)
class Job:
    """One experiment to import and check."""

    path: Path
    rel: str
    module: str
    is_base: bool


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A job's findings, and whether they may be cached (not after an import error or a
    timeout: both often come from the environment, which the content hash does not see)."""

    findings: list[Finding]
    cacheable: bool


def check_in_child(
    jobs: Sequence[Job],
    settings: Settings,
    extra_sys_path: Sequence[Path],
    imports_of: Callable[[str], set[str]],
) -> list[Outcome]:
    """Checks 5-6 for ``jobs`` in child processes; one outcome per job, in order.

    ``imports_of(rel)`` is every project file (root-relative) importing ``rel`` executes,
    itself included: a file that imports the one a job was stuck in is not tried again.
    """
    from reprokit import interrupts

    with interrupts.sigterm_unwinds():
        return _check_all(jobs, settings, extra_sys_path, imports_of)


def _check_all(
    jobs: Sequence[Job],
    settings: Settings,
    extra_sys_path: Sequence[Path],
    imports_of: Callable[[str], set[str]],
) -> list[Outcome]:
    outcomes: dict[int, Outcome] = {}
    todo = list(range(len(jobs)))
    while todo:
        done, stuck = _run_child([jobs[i] for i in todo], settings, extra_sys_path)
        for k, outcome in done.items():
            outcomes[todo[k]] = outcome
        if stuck is None:
            break
        k, dump = stuck
        job = jobs[todo[k]]
        if dump.startswith(_CRASHED):
            finding, own_line = _crash_finding(job, dump), 1
        else:
            finding, own_line = _timeout_finding(job, dump, settings)
        culprit = finding.path.relative_to(settings.root).as_posix()
        outcomes[todo[k]] = _blocked(job, finding, settings.root, own_line)
        rest = [i for i in todo[k + 1 :] if i not in outcomes]
        todo = []
        for i in rest:
            if culprit in imports_of(jobs[i].rel):
                outcomes[i] = _blocked(jobs[i], finding, settings.root)
            else:
                todo.append(i)
    return [outcomes.get(i, Outcome([], cacheable=False)) for i in range(len(jobs))]


def _blocked(job: Job, finding: Finding, root: Path, line: int = 1) -> Outcome:
    """A job that cannot finish because of the timeout ``finding``: the finding itself
    where it is (stated once, at the root cause, as for import errors) plus, for a job in
    another file, one line pointing there."""
    if finding.path == job.path:
        return Outcome([finding], cacheable=False)
    return Outcome([finding, _see_finding(job, line, finding, root)], cacheable=False)


def _run_child(
    jobs: Sequence[Job], settings: Settings, extra_sys_path: Sequence[Path]
) -> tuple[dict[int, Outcome], tuple[int, str] | None]:
    """One child over ``jobs``: the outcomes it finished, and (index, phase and stack dump)
    of the job it was stuck in, if any."""
    from reprokit import interrupts

    tmp = tempfile.mkdtemp(prefix="reprokit-check-")
    proc: subprocess.Popen[bytes] | None = None
    pipe: tuple[int, int] | None = None  # the child's parent-death pipe (read, write)
    crash, crashed = "", False
    try:
        request, dump = os.path.join(tmp, "request.json"), os.path.join(tmp, "dump.txt")
        errors = os.path.join(tmp, "stderr.txt")
        # Only the child gets the read end; the write end stays here, non-inheritable
        # (PEP 446), so the child sees end of file exactly when this process is gone.
        pipe = os.pipe() if os.name == "posix" else None
        _write_request(request, jobs, settings, extra_sys_path, dump, pipe[0] if pipe else None)
        with open(errors, "wb") as err:
            # -P: the working directory must not shadow reprokit itself in the child.
            # stdin is /dev/null: an experiment reading it at import gets end of file
            # (in-process, it waited on the terminal or the hook's stdin).
            proc = subprocess.Popen(
                [sys.executable, "-P", "-c", _CHILD, request],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
                pass_fds=pipe[:1] if pipe else (),
            )
            done, stuck = _watch(proc, jobs, settings.check_timeout, dump, settings.root)
        # The child ended in the middle of a file: a segfault in an extension module,
        # os._exit at import. That file gets a finding; the others a fresh child.
        crashed = stuck is None and len(done) < len(jobs)
    finally:
        # A second Ctrl-C or SIGTERM here would stop the clean-up half-way.
        with interrupts.signals_ignored():
            if proc is not None:
                _kill_group(proc)
            for fd in pipe or ():
                os.close(fd)
            if crashed and proc is not None:
                tail = "\n".join(_read_text(errors).strip().splitlines()[-5:])
                crash = f"{_CRASHED}{proc.returncode}\n{tail}"
            shutil.rmtree(tmp, ignore_errors=True)
    if crashed:
        stuck = (len(done), crash)
    return done, stuck


def _write_request(
    request: str,
    jobs: Sequence[Job],
    settings: Settings,
    extra_sys_path: Sequence[Path],
    dump: str,
    watch_fd: int | None,
) -> None:
    with open(request, "w", encoding="utf-8") as f:
        json.dump(
            {
                "settings": _settings_data(settings),
                # The root first, as `python -c 'import experiments...'` there sees it;
                # the rest is the child interpreter's own path (site-packages,
                # PYTHONPATH), not what this process added (pytest's rootdir once
                # shadowed the project's `experiments`).
                "sys_path": [str(settings.root), *(str(p) for p in extra_sys_path)],
                "jobs": [[str(j.path), j.module, j.is_base] for j in jobs],
                "dump": dump,
                "watch_fd": watch_fd,
                "parent": os.getpid(),
            },
            f,
        )


_CRASHED = "crashed: "


_CHILD = "import sys; from reprokit.checks.isolate import child; child(sys.argv[1])"


def _watch(
    proc: subprocess.Popen[bytes], jobs: Sequence[Job], timeout: float, dump: str, root: Path
) -> tuple[dict[int, Outcome], tuple[int, str] | None]:
    """Read the child's reports until it ends or one job runs past ``timeout``."""
    import queue
    import threading
    import time

    lines: queue.Queue[bytes] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout

    def read() -> None:
        # Ends at end of file, when the child's process group is gone; a stdout closed
        # under it by _kill_group ends it too, quietly.
        with contextlib.suppress(OSError, ValueError):
            for line in stdout:
                lines.put(line)
        lines.put(b"")

    threading.Thread(target=read, daemon=True).start()
    done: dict[int, Outcome] = {}
    started = time.monotonic()  # of the job after the last one done
    while True:
        try:
            line = lines.get(timeout=max(0.0, started + timeout - time.monotonic()))
        except queue.Empty:
            return done, (len(done), _stacks(proc, dump))
        if not line:
            return done, None
        report = json.loads(line)
        found = [Finding.from_json(f, root) for f in report["findings"]]
        done[int(report["done"])] = Outcome(found, bool(report["cacheable"]))
        if len(done) == len(jobs):
            # Every job reported: the child's exit is not waited for. A non-daemon thread
            # started at import, a slow atexit or CUDA teardown kept it alive past the
            # timeout, which then read as a job after the last one (an IndexError).
            return done, None
        started = time.monotonic()


def _stacks(proc: subprocess.Popen[bytes], dump: str) -> str:
    """Every thread's stack of a stuck child (its faulthandler answers SIGUSR1)."""
    import time

    if not hasattr(signal, "SIGUSR1"):
        return ""  # Windows: no stack, the finding names the file without a line
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGUSR1)
    # The handler writes synchronously; wait until the dump stops growing (at most 2 s).
    size, deadline = -1, time.monotonic() + 2.0
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = os.path.getsize(dump) if os.path.exists(dump) else 0
        if now and now == size:
            break
        size = now
    return _read_text(dump)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """End the child and anything it started (an experiment may spawn processes)."""
    if hasattr(os, "killpg"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    elif proc.poll() is None:
        proc.kill()
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def _crash_finding(job: Job, dump: str) -> Finding:
    """RK500 for a file during whose check the child interpreter ended."""
    code, _, tail = dump[len(_CRASHED) :].partition("\n")
    how = f"signal {-int(code)}" if code.lstrip("-").isdigit() and int(code) < 0 else f"exit {code}"
    last = f": {tail.splitlines()[-1]}" if tail.strip() else ""
    return Finding(
        job.path,
        1,
        1,
        "RK500",
        f"importing or checking it ended the interpreter ({how}){last}",
        "run python -c 'import " + job.module + "' to see what ends it (a crash in an"
        " extension module, os._exit or sys.exit at module level)",
    )


def _settings_data(settings: Settings) -> dict[str, Any]:
    """The settings as JSON for the child (paths as text, :data:`_PATH_FIELDS`)."""
    data = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        data[f.name] = str(value) if isinstance(value, Path) else value
    return data


def _frames(dump: str, root: Path) -> list[list[tuple[Path, int]]]:
    """The stack of each thread in a faulthandler dump (most recent call first), keeping
    only frames in project files."""
    threads: list[list[tuple[Path, int]]] = []
    prefix = str(root) + os.sep
    for line in dump.splitlines():
        if line.startswith(("Thread ", "Current thread ")):
            threads.append([])
            continue
        m = _FRAME_RE.match(line)
        if m and threads and m[1].startswith(prefix):
            threads[-1].append((Path(m[1]), int(m[2])))
    return threads


def _timeout_finding(job: Job, dump: str, settings: Settings) -> tuple[Finding, int]:
    """RK506 for a job that ran out of time, at the project file and line it was stuck in
    (from the child's stack dump), else at the job's file; and the job's own line in that
    stack (where it imports the stuck file)."""
    root, limit = settings.root, settings.check_timeout
    threads = _frames(dump, root)
    # The thread running the job is the one with a frame in the job's file; else the first.
    stack = next((t for t in threads if any(p == job.path for p, _ in t)), None)
    stack = stack or next((t for t in threads if t), [])
    # Past the import, the stack runs through the config checks (checks/dynamic.py).
    checking = f"{os.sep}checks{os.sep}dynamic.py" in dump
    path, line = stack[0] if stack else (job.path, 1)
    what = "checking its config (round trip, smoke)" if checking else "importing it"
    message = f"{what} did not finish within {limit:g} s, the check timeout" + (
        f" (stuck at line {line})" if stack else ""
    )
    hint = (
        "move slow work (loading data, downloads, waiting) from module level into"
        f" {settings.entry}(config); or raise check_timeout in [tool.reprokit]"
    )
    own = next((n for p, n in stack if p == job.path), 1)
    return Finding(path, line, 1, "RK506", message, hint), own


def _see_finding(job: Job, line: int, upstream: Finding, root: Path) -> Finding:
    """For a file that imports the stuck file: one short line pointing there."""
    from reprokit.checks.locations import display_name

    name = display_name(upstream.path, job.path, root)
    return Finding(
        job.path,
        line,
        1,
        "RK506",
        f"not checked: {name} did not finish within the check timeout (see {name}:{upstream.line})",
        f"fix {name}; this finding goes away with it",
    )


def child(request_path: str) -> None:
    """The child's side: check each file of the request, reporting on stdout."""
    import faulthandler

    with open(request_path, encoding="utf-8") as f:
        request = json.load(f)
    _die_with_parent(request["watch_fd"], request["parent"], os.path.dirname(request_path))
    raw = request["settings"]
    fields: dict[str, Any] = {k: Path(v) if k in _PATH_FIELDS else v for k, v in raw.items()}
    settings = Settings(**fields)
    sys.path[:0] = request["sys_path"]
    # Reports go to the original stdout; anything the experiment prints, from Python or
    # from C, goes to stderr (a file the parent reads only when the child crashes).
    reports = os.dup(1)
    os.dup2(2, 1)
    dump = open(request["dump"], "wb", buffering=0)  # noqa: SIM115 - for the child's life
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, file=dump, all_threads=True)

    def report(data: dict[str, Any]) -> None:
        os.write(reports, json.dumps(data).encode() + b"\n")

    # One write per file: a pipe write wakes the parent, and at 1,000 files three reports
    # a file cost ~0.1 s. The parent takes "done i" as the start of i + 1.
    for i, (path_text, module, is_base) in enumerate(request["jobs"]):
        found, cacheable = _check_one(Path(path_text), module, settings, is_base)
        findings = [f.to_json(settings.root) for f in found]
        report({"done": i, "cacheable": cacheable, "findings": findings})


_PATH_FIELDS = frozenset(("root", "experiments", "outputs"))


def _die_with_parent(watch_fd: int | None, parent: int, tmp: str) -> None:
    """End this child, and its process group, as soon as the parent (pid ``parent``) is gone.

    The child sits in its own session, so a parent killed without unwinding (SIGKILL, the
    OOM killer) once left it, and whatever the experiment started, running forever. A
    thread blocks on a pipe whose only write end the parent holds: it sees end of file
    whatever ended the parent, on any POSIX system, and then removes the temporary folder
    ``tmp`` (the parent's clean-up never ran) and kills the whole group.

    Linux's ``PR_SET_PDEATHSIG`` was tried as well and left out: the kernel's SIGKILL
    reaches the child itself a moment after the pipe closes, before this thread can end
    the group, so what the experiment started survived (the test saw it every time). What
    this thread cannot handle is an import stuck in one long C call that holds the GIL:
    the child then ends when that call returns.
    """
    import threading
    import time

    if watch_fd is None:
        return

    def watch() -> None:
        # The parent never writes: a read returns only at end of file. One that fails, or
        # ends while the parent is still there (an experiment that closes every descriptor
        # at import), proves nothing. The parent's descriptors close a moment before the
        # child is handed to another parent, hence the short wait.
        try:
            while os.read(watch_fd, 1):
                pass
        except OSError:
            return
        deadline = time.monotonic() + 2.0
        while os.getppid() == parent and time.monotonic() < deadline:
            time.sleep(0.01)
        if os.getppid() == parent:
            return
        shutil.rmtree(tmp, ignore_errors=True)
        _end_group()

    threading.Thread(target=watch, name="reprokit-parent-watch", daemon=True).start()


def _end_group() -> None:
    """SIGKILL this process's group when it leads one (the child does), else just exit."""
    if hasattr(os, "killpg") and os.getpgid(0) == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(1)


def _check_one(
    path: Path, module: str, settings: Settings, is_base: bool
) -> tuple[list[Finding], bool]:
    from reprokit.checks import dynamic, importing

    _drop_racy_pyc(path)
    imported = importing.import_for_check(path, module, settings.root)
    if isinstance(imported, list):
        return imported, False
    return dynamic.module_findings(path, imported, settings, is_base=is_base), True


def _drop_racy_pyc(path: Path) -> None:
    """Delete a .pyc that may hide an edit made in the second it was compiled.

    Python trusts a .pyc whose recorded source mtime (whole seconds) and size match, so a
    same-size edit within that second would import the old code. Such a .pyc was written
    in the same second as the source's last change; any other is safe and kept (deleting
    every .pyc would double the cold check time).
    """
    import importlib.util

    with contextlib.suppress(OSError, ValueError, NotImplementedError):
        pyc = importlib.util.cache_from_source(str(path))
        if int(os.stat(pyc).st_mtime) == int(path.stat().st_mtime):
            os.unlink(pyc)
