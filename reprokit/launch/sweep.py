"""``reprokit launch A.py [B.py | FAMILY ...] --seeds 0-4 --jobs N``: many runs at once.

Every experiment × seed is one ordinary run, launched in its own child process, so each
has its own complete record exactly as a single launch makes it; this module only plans
the jobs, schedules up to N children at a time, hands each its own GPUs, shows progress
and prints a summary. Children run in their own process group: a Ctrl-C reaches this
process alone, which stops starting jobs and forwards one SIGINT (or the SIGTERM it got)
to every running child, so each records ``interrupted`` instead of being hit twice.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from reprokit import interrupts
from reprokit.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, ReprokitError
from reprokit.experiments import discovery
from reprokit.launch import target
from reprokit.launch.request import ChildLaunch, LaunchRequest
from reprokit.paths import shown
from reprokit.record import store
from reprokit.settings import Settings
from reprokit.tables import format_duration, plural, render_table, safe_text

# How often the scheduler looks at its children (and redraws the progress line on a TTY).
_POLL_S = 0.05
_REDRAW_S = 1.0
# More seeds than this in one --seeds is a typo (0-10000000), not a sweep.
MAX_SEEDS = 10_000


def parse_seeds(text: str) -> list[int]:
    """``0-4``, ``0,1,2``, ``0-2,7`` → the seeds in order, each once."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        low, dash, high = part.partition("-")
        try:
            first = int(low)
            last = int(high) if dash else first
        except ValueError:
            raise ReprokitError(
                f"--seeds: {part!r} is not a seed or a range",
                hint="give seeds as 0-4, 0,1,2 or 0-2,7 (non-negative integers)",
            ) from None
        if first < 0 or last < first:
            raise ReprokitError(
                f"--seeds: {part!r} is not an increasing range of non-negative seeds",
                hint="write the lower seed first: 0-4",
            )
        if last - first + len(seeds) >= MAX_SEEDS:
            raise ReprokitError(f"--seeds: more than {MAX_SEEDS} seeds in {text!r}")
        seeds.extend(s for s in range(first, last + 1) if s not in seeds)
    return seeds


def expand_experiments(paths: Sequence[Path], settings: Settings) -> list[Path]:
    """The experiment files named: a file as is, a family folder as every experiment in it
    (by id); each checked as a single launch checks it, each once."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            members = [m.path for m in discovery.family_members(path.resolve())]
            if not members:
                raise ReprokitError(
                    f"{path}: no experiment files in this folder",
                    hint="experiments are named <name>_<id>_<parent>.py, e.g. wide_02_01.py",
                )
        else:
            members = [path]
        for member in members:
            resolved = target.validate_path(member, settings)
            if resolved not in found:
                found.append(resolved)
    return found


@dataclass(frozen=True)
class Job:
    """One run of a sweep: an experiment file and its seed (None: the config's own)."""

    number: int  # 1-based, the order of the plan
    experiment: Path
    seed: int | None


def plan(experiments: Sequence[Path], seeds: Sequence[int] | None) -> list[Job]:
    """Every experiment × seed, experiment by experiment."""
    pairs = [(e, s) for e in experiments for s in (seeds if seeds else [None])]
    return [Job(i, e, s) for i, (e, s) in enumerate(pairs, start=1)]


def gpu_pool(environ: Mapping[str, str], detected: Callable[[], list[str]]) -> list[str]:
    """The GPUs a sweep may hand out: ``CUDA_VISIBLE_DEVICES`` as the user set it (indices
    or UUIDs; empty or ``-1``: none), else every GPU ``detected`` lists."""
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return detected()
    devices = [d.strip() for d in visible.split(",") if d.strip()]
    # CUDA stops at the first invalid entry: "-1" is the usual way to hide every GPU.
    if "-1" in devices:
        devices = devices[: devices.index("-1")]
    return devices


def gpu_slices(pool: Sequence[str], jobs: int) -> list[str | None]:
    """What each of ``jobs`` parallel slots gets as ``CUDA_VISIBLE_DEVICES``: an equal,
    disjoint share of ``pool`` (``len(pool) // jobs`` GPUs; the rest unused), or with fewer
    GPUs than slots one GPU each, shared round robin. None: leave the variable alone (one
    job at a time, or no GPU)."""
    if jobs <= 1 or not pool:
        return [None] * max(jobs, 1)
    if len(pool) < jobs:
        return [pool[slot % len(pool)] for slot in range(jobs)]
    share = len(pool) // jobs
    return [",".join(pool[slot * share : (slot + 1) * share]) for slot in range(jobs)]


def _detected_gpus() -> list[str]:
    from reprokit.capture import hardware

    return [str(gpu["index"]) for gpu in hardware.gpus() if gpu.get("index") is not None]


class Child(Protocol):
    """One job running in a child process: the one interface the scheduler needs."""

    def poll(self) -> int | None:
        """The exit code once it ended, else None."""

    def stop(self, signum: int) -> None:
        """Send ``signum`` to the child and what it started (its process group)."""

    def wait(self) -> int:
        """Wait for the end; the exit code."""

    def run_dir(self) -> Path | None:
        """The run folder it claimed, once it ended (None: it never claimed one)."""

    def error_tail(self) -> str:
        """The last line it wrote to stderr (why it failed before claiming a folder)."""


@dataclass(frozen=True)
class LaunchOptions:
    """The options every job of the sweep is launched with."""

    outputs: Path
    smoke: bool = False
    deterministic: bool = False
    note: str | None = None
    no_check: bool = False

    def request(self, job: Job, root: Path) -> LaunchRequest:
        """The job as a launch request: an ordinary run of one experiment and seed."""
        return LaunchRequest(
            experiment=job.experiment.relative_to(root.resolve()).as_posix(),
            outputs=self.outputs,
            seed=job.seed,
            smoke=self.smoke,
            deterministic=self.deterministic,
            note=self.note,
            check=not self.no_check,
        )


class EntryChild:
    """A job as the launch child entry (:mod:`reprokit.launch.entry`) in its own process
    group, which names the run folder it claimed in its result file.

    Its output goes to the run's own ``output.log`` (the launch tees it there), so the
    terminal shows only the sweep's progress; stderr is also kept in a temporary file for
    the reason of a launch that failed before claiming a folder.
    """

    def __init__(self, request: LaunchRequest, outputs: Path, env: Mapping[str, str]) -> None:
        import tempfile

        self._folder = Path(tempfile.mkdtemp(prefix="reprokit-sweep-"))
        self._launch = ChildLaunch(self._folder, request, outputs)
        # Closed by _ended (read once the child exited): it outlives this method.
        self._stderr: IO[bytes] | None = open(self._folder / "stderr", "w+b")  # noqa: SIM115
        self._proc = subprocess.Popen(
            self._launch.argv(),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            process_group=0,
        )
        self._run_dir: Path | None = None
        self._tail = ""

    def poll(self) -> int | None:
        code = self._proc.poll()
        if code is not None:
            self._ended(code)
        return code

    def stop(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signum)

    def wait(self) -> int:
        code = self._proc.wait()
        self._ended(code)
        return code

    def run_dir(self) -> Path | None:
        return self._run_dir

    def error_tail(self) -> str:
        return self._tail

    def _ended(self, code: int) -> None:
        """Read the claimed run and the last error line; remove the request's folder."""
        if self._stderr is None:
            return
        try:
            with self._stderr:
                self._stderr.seek(0, os.SEEK_END)
                self._stderr.seek(max(0, self._stderr.tell() - 4096))
                text = self._stderr.read().decode("utf-8", "replace")
            self._stderr = None
            lines = text.strip().splitlines()
            errors = [line for line in lines if "error:" in line]
            self._tail = (errors or lines or [""])[-1]
            launched = self._launch.result(code)
            self._run_dir = launched.run_dir if launched is not None else None
        except ReprokitError as e:  # a result file that is not what the entry writes
            self._tail = e.message
        finally:
            shutil.rmtree(self._folder, ignore_errors=True)


StartJob = Callable[[Job, str | None], Child]


@dataclass
class Outcome:
    """How one job ended (``exit_code`` None: never started)."""

    job: Job
    gpus: str | None = None
    exit_code: int | None = None
    run_dir: Path | None = None
    status: str = "not started"
    duration_s: float | None = None
    error: str = ""


@dataclass
class _Running:
    job: Job
    slot: int
    child: Child
    started: float


@dataclass
class Progress:
    """The live line on stderr: redrawn in place on a terminal, a plain line per event
    otherwise (a log file or CI gets no carriage returns)."""

    total: int
    stream: IO[str] = field(default_factory=lambda: sys.stderr)
    tty: bool = False
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    failed: int = 0
    running: int = 0
    _drawn: float = 0.0

    def line(self) -> str:
        elapsed = format_duration(time.monotonic() - self.started)
        return (
            f"sweep: {self.done}/{self.total} done, {self.running} running, "
            f"{self.failed} failed, {elapsed} elapsed"
        )

    def event(self, text: str) -> None:
        """A job started or ended: its own line, then the progress."""
        text = safe_text(text)  # paths may hold terminal escapes
        if self.tty:
            self.stream.write("\r\x1b[K" + text + "\n" + self.line())
        else:
            self.stream.write(f"{text}  [{self.line()}]\n")
        self.stream.flush()
        self._drawn = time.monotonic()

    def tick(self) -> None:
        if self.tty and time.monotonic() - self._drawn >= _REDRAW_S:
            self.stream.write("\r\x1b[K" + self.line())
            self.stream.flush()
            self._drawn = time.monotonic()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _job_name(job: Job) -> str:
    seed = "config seed" if job.seed is None else f"seed {job.seed}"
    return f"{shown(job.experiment)} {seed}"


def _ended(run: _Running, code: int) -> Outcome:
    """A finished child's outcome, from its record when it wrote one."""
    outcome = Outcome(run.job, exit_code=code, duration_s=time.monotonic() - run.started)
    outcome.run_dir = run.child.run_dir()
    if outcome.run_dir is None:
        outcome.status = "no record"
        outcome.error = run.child.error_tail()
        return outcome
    try:
        record = store.read_record(outcome.run_dir)
        outcome.status = store.effective_status(record)
        recorded = record.get("duration_s")
        if isinstance(recorded, int | float):
            outcome.duration_s = float(recorded)
    except ReprokitError as e:
        outcome.status = "unreadable"
        outcome.error = e.message
    return outcome


class Scheduler:
    """Runs jobs, at most one per slot at a time; a slot's GPUs go with it."""

    def __init__(
        self,
        start: StartJob,
        slots: Sequence[str | None],
        progress: Progress,
        name: Callable[[Job], str],
    ) -> None:
        self._start = start
        self._slots = list(slots)
        self._progress = progress
        self._name = name
        self.interrupted: str | None = None  # the signal's name

    def run(self, jobs: Iterable[Job]) -> list[Outcome]:
        """Every job's outcome in the plan's order; a Ctrl-C/SIGTERM stops the sweep
        (running jobs are stopped the same way and waited for, pending ones never start)."""
        pending = deque(jobs)
        outcomes = {job.number: Outcome(job) for job in pending}
        running: dict[int, _Running] = {}
        free = deque(range(len(self._slots)))
        try:
            with interrupts.sigterm_unwinds():
                while pending or running:
                    while pending and free:
                        self._launch(pending.popleft(), free.popleft(), running, outcomes)
                    if not self._reap(running, free, outcomes):
                        self._progress.tick()
                        time.sleep(_POLL_S)
        except KeyboardInterrupt as e:
            self.interrupted = e.signame if isinstance(e, interrupts.Terminated) else "SIGINT"
        finally:
            # Also when starting a job failed (OSError): no child is left running unwaited.
            self._stop_all(running, outcomes)
            self._progress.close()
        return [outcomes[n] for n in sorted(outcomes)]

    def _launch(
        self, job: Job, slot: int, running: dict[int, _Running], outcomes: dict[int, Outcome]
    ) -> None:
        gpus = self._slots[slot]
        outcomes[job.number].gpus = gpus
        running[slot] = _Running(job, slot, self._start(job, gpus), time.monotonic())
        self._progress.running += 1
        on = f" on GPU {gpus}" if gpus is not None else ""
        self._progress.event(f"started {self._name(job)}{on}")

    def _reap(
        self, running: dict[int, _Running], free: deque[int], outcomes: dict[int, Outcome]
    ) -> bool:
        """Record the children that ended and free their slots; whether any had."""
        ended = []
        for slot, run in running.items():
            code = run.child.poll()
            if code is not None:
                ended.append((slot, run, code))
        for slot, run, code in ended:
            del running[slot]
            free.append(slot)
            self._finish(run, code, outcomes)
        return bool(ended)

    def _finish(self, run: _Running, code: int, outcomes: dict[int, Outcome]) -> None:
        outcome = _ended(run, code)
        outcome.gpus = outcomes[run.job.number].gpus
        outcomes[run.job.number] = outcome
        progress = self._progress
        progress.running -= 1
        progress.done += 1
        progress.failed += code != EXIT_OK
        where = outcome.run_dir.name if outcome.run_dir is not None else "no run folder"
        progress.event(f"{outcome.status} {self._name(run.job)} ({where}, exit {code})")

    def _stop_all(self, running: dict[int, _Running], outcomes: dict[int, Outcome]) -> None:
        """Forward the signal once to each running child and wait for every record."""
        if not running:
            return
        signum = getattr(signal, self.interrupted or "SIGINT", signal.SIGINT)
        # A second Ctrl-C must not leave children unwaited for (their records "running").
        with interrupts.signals_ignored():
            for run in running.values():
                run.child.stop(signum)
            for run in list(running.values()):
                self._finish(run, run.child.wait(), outcomes)
            running.clear()


def summary(outcomes: Sequence[Outcome], interrupted: str | None) -> str:
    """The table at the end, one row per job, and a line that counts them."""
    with_gpus = any(o.gpus is not None for o in outcomes)
    header = ["run", "experiment", "seed", *(["gpus"] if with_gpus else []), "status", "exit"]
    header.append("duration")
    body = []
    for o in outcomes:
        row = [
            o.run_dir.name if o.run_dir is not None else "-",
            shown(o.job.experiment),
            "-" if o.job.seed is None else str(o.job.seed),
            *([o.gpus or "-"] if with_gpus else []),
            o.status,
            "-" if o.exit_code is None else str(o.exit_code),
            format_duration(o.duration_s),
        ]
        body.append(row)
    table = render_table(header, body, numeric={2, len(header) - 2})
    return table + _counts(outcomes, interrupted)


def _counts(outcomes: Sequence[Outcome], interrupted: str | None) -> str:
    by_status: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_status.setdefault(o.status, []).append(o)
    parts = [plural(len(v), "run") + f" {k}" for k, v in sorted(by_status.items())]
    lines = [f"sweep: {len(outcomes)} jobs: " + ", ".join(parts)]
    if interrupted is not None:
        finished = [o for o in outcomes if o.status == "completed"]
        lines.append(f"sweep: stopped by {interrupted}; {plural(len(finished), 'run')} finished")
    for o in outcomes:
        # An interrupted run was stopped, not failed: the line above says by what.
        if o.exit_code not in (None, EXIT_OK) and o.status != "interrupted":
            where = o.run_dir.name if o.run_dir is not None else "no run folder"
            why = f": {safe_text(o.error)}" if o.error else ""
            seed = "config seed" if o.job.seed is None else f"seed {o.job.seed}"
            lines.append(f"  failed: {o.job.experiment.name} {seed} ({where}){why}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class SweepRequest:
    """What ``reprokit launch`` was asked for when it is a sweep."""

    paths: Sequence[Path]
    seeds: Sequence[int] | None
    jobs: int
    options: LaunchOptions


def sweep(request: SweepRequest, *, settings: Settings, start: StartJob | None = None) -> int:
    """Run every job of the request; 0 when every run completed, 130 when stopped by a
    signal, else 1. ``start`` runs one job in a child (default: :class:`EntryChild`)."""
    if request.jobs < 1:
        raise ReprokitError(f"--jobs: must be at least 1, not {request.jobs}")
    experiments = expand_experiments(request.paths, settings)
    if not request.options.no_check:
        from reprokit.launch.command import check_before_launch

        # Once, here, with the findings shown: a child's would only say that it refused.
        check_before_launch(experiments, settings)
    jobs = plan(experiments, request.seeds)
    parallel = min(request.jobs, len(jobs))
    # One job at a time keeps the GPUs as they are (nvidia-smi is not even asked).
    pool = gpu_pool(os.environ, _detected_gpus) if parallel > 1 else []
    slots = gpu_slices(pool, parallel)
    if start is None:

        def start_entry(job: Job, gpus: str | None) -> Child:
            env = dict(os.environ)
            if gpus is not None:
                env["CUDA_VISIBLE_DEVICES"] = gpus
            launch = request.options.request(job, settings.root)
            return EntryChild(launch, request.options.outputs, env)

        start = start_entry
    print(
        f"sweep: {plural(len(jobs), 'run')}, up to {len(slots)} at once "
        f"→ {shown(request.options.outputs)}",
        file=sys.stderr,
        flush=True,
    )
    progress = Progress(len(jobs), tty=sys.stderr.isatty())
    scheduler = Scheduler(start, slots, progress, _job_name)
    outcomes = scheduler.run(jobs)
    print(summary(outcomes, scheduler.interrupted), end="", flush=True)
    if scheduler.interrupted is not None:
        return EXIT_INTERRUPTED
    return EXIT_OK if all(o.exit_code == EXIT_OK for o in outcomes) else EXIT_FAILURE
