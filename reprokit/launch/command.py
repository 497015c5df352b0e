"""``reprokit launch``: run an experiment's ``main(config)`` in this process and record it.

Order matters for speed and correctness: the git capture and the environment/hardware
probes start on threads first (they change nothing a user sees), then the checks run and
may refuse; only then is the run folder claimed (atomically, with its first run.json
inside; ending signals are held back until set-up can record them) and the snapshot commit
made under the run's ref, while this thread imports the experiment, resolves its config
and seeds the RNGs. The record is written as ``running`` before ``main`` starts and
finalized whatever happens after (:mod:`reprokit.launch.liverun`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from reprokit import redact
from reprokit.background import Background
from reprokit.capture import determinism, environment, process
from reprokit.errors import EXIT_FAILURE, EXIT_OK, ReprokitError
from reprokit.experiments import discovery
from reprokit.files import write_atomic
from reprokit.gitcmd import not_a_repository, require_toplevel
from reprokit.launch import liverun, metrics, target
from reprokit.launch.request import LaunchedRun, LaunchRequest
from reprokit.paths import shown
from reprokit.record import store
from reprokit.settings import Settings

if TYPE_CHECKING:  # only for annotations (tee is imported once the run folder exists)
    from reprokit.launch.tee import Tee
    from reprokit.record.schema import Experiment, RunRecord


def _start_git(settings: Settings, git_from: Path | None) -> Background[Any] | None:
    """Start the git capture's work that needs no run id (status, the tree) on a thread."""
    if git_from is not None:
        return None

    def start() -> Any:
        from reprokit.capture import snapshot

        return snapshot.start_capture(
            settings.root,
            untracked_size_cap=settings.untracked_size_cap,
            # Even when .gitignore does not ignore them: every earlier run's files would be
            # "untracked" and copied into each snapshot.
            exclude=(settings.outputs, settings.root / ".reprokit-cache"),
            outputs=settings.outputs,
        )

    return Background(start)


def _cancel_git(started: Background[Any] | None) -> None:
    """A launch refused before its run folder: wait for the git calls, drop the temp index."""
    if started is not None:
        with contextlib.suppress(Exception):
            pending = started.result()
            if pending is not None:
                pending.cancel()


def _git_probe(
    settings: Settings,
    run_id: str,
    run_dir: Path,
    git_from: Path | None,
    label: str,
    started: Background[Any] | None,
) -> Callable[[], dict[str, Any] | None]:
    patch = run_dir / store.PATCH_FILE

    def copy_from_run() -> dict[str, Any] | None:
        assert git_from is not None
        source = git_from  # checked: a run folder inside the outputs folder
        git = store.read_record(source).get("git")
        if git is not None:
            # Read as every file of a run folder is (store.read_regular): only the run's
            # own regular file, size-capped. A diff.patch linking to a file elsewhere (a
            # private key) would otherwise be copied into this run's folder, which people
            # share, and a FIFO or /dev/zero would hang or fill the disk.
            try:
                data = store.read_regular(source / store.PATCH_FILE)
            except (FileNotFoundError, ReprokitError):
                return git  # type: ignore[no-any-return]
            patch.write_bytes(data)
        return git  # type: ignore[no-any-return]

    def capture() -> dict[str, Any] | None:
        assert started is not None
        pending = started.result()
        if pending is None:
            return None
        return pending.finish(run_id, patch_path=patch, label=label)  # type: ignore[no-any-return]

    return copy_from_run if git_from is not None else capture


# A missing smoke() matters to `reprokit smoke`, not to this run (--smoke reports it itself).
_NOT_LAUNCH_BLOCKERS = frozenset({"RK610"})


def check_before_launch(paths: Sequence[Path], settings: Settings) -> None:
    """The fast checks (cached by content hash); findings are shown only when they fail.

    A sweep checks all its experiments once, before any job starts (each job's own launch
    then finds them cached)."""
    from reprokit.checks.verdict import cached_findings

    unknown = []
    for path in paths:
        known = cached_findings(path, settings)
        if known is None or any(f.get("code") not in _NOT_LAUNCH_BLOCKERS for f in known):
            unknown.append(path)
    if not unknown:
        return  # unchanged since a check passed: the runner need not even be imported
    from reprokit.checks.runner import CheckResult, run_checks

    result = run_checks(unknown, settings, static_only=False, use_cache=True)
    findings = [f for f in result.findings if f.code not in _NOT_LAUNCH_BLOCKERS]
    if findings:
        import io

        from reprokit.checks.report import print_report

        report = io.StringIO()
        with contextlib.redirect_stdout(report):
            print_report(CheckResult(result.checked, findings))
        print(report.getvalue(), end="", file=sys.stderr)
        # A finding may be in another file (the parent): then every experiment checked.
        flagged = {f.path.resolve() for f in findings}
        failing = [shown(p) for p in unknown if p.resolve() in flagged] or list(map(shown, unknown))
        raise ReprokitError(
            f"{', '.join(failing)}: refusing to launch: the checks above failed",
            hint="fix the findings, or pass --no-check to launch anyway (recorded)",
        )


def _require_git(settings: Settings) -> None:
    require_toplevel(
        settings.root,
        because=", and require_git is set",
        hint="run `git init` and commit, or set require_git = false in [tool.reprokit]",
    )


def _hardware() -> dict[str, Any]:
    from reprokit.capture import hardware

    return hardware.capture()


def _rank() -> tuple[int, int]:
    try:
        return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 0, 1


def _run_other_rank(
    path: Path,
    settings: Settings,
    *,
    seed: int | None,
    smoke: bool,
    config: Any,
    deterministic: bool,
) -> int:
    """Ranks other than 0 under torchrun: same config and seeding, nothing recorded.

    A drawn seed would differ per rank; experiments that need agreement give a seed field.
    """
    module = discovery.import_experiment(path, settings)
    config, used_seed, _ = target.resolve_config(
        module, path, seed=seed, smoke=smoke, config_data=config
    )
    determinism.apply(used_seed, deterministic=deterministic)
    target.entry_point(module, path, settings)(config)
    return EXIT_OK


class _Options(NamedTuple):
    """How the run is made: the launch options set-up and the run itself need."""

    seed: int | None
    smoke: bool
    deterministic: bool
    config: Any  # plain data, or None: the experiment's own
    git_from: Path | None
    exits_after: bool
    resume_of: Path | None


class _Claimed(NamedTuple):
    """What set-up hands to the run: its folder (claimed, first record inside) and probes."""

    path: Path
    settings: Settings
    options: _Options
    run_id: str
    run_dir: Path
    first: dict[str, Any]
    described: dict[str, Any]
    started: float
    signals: liverun.RunSignals
    git_started: Background[Any] | None
    env_probe: Background[dict[str, Any]]
    hw_probe: Background[dict[str, Any]]


class _Ending:
    """How the run ended so far: set by set-up and main, read by the finalization."""

    def __init__(self) -> None:
        self.outcome: dict[str, Any] | None = None
        self.result: object = None
        self.writer: metrics.MetricsWriter | None = None


def launch(
    request: LaunchRequest,
    *,
    settings: Settings,
    exits_after: bool = False,
    on_claimed: Callable[[str, Path], None] | None = None,
) -> int:
    """:func:`run` for the CLI: the run's exit code."""
    return run(request, settings=settings, exits_after=exits_after, on_claimed=on_claimed).exit_code


def run(
    request: LaunchRequest,
    *,
    settings: Settings,
    exits_after: bool = False,
    on_claimed: Callable[[str, Path], None] | None = None,
) -> LaunchedRun:
    """Run ``main(config)`` of the requested experiment and record the run; the run made.

    Its exit code is 0 when main returned, 1 when it raised, 130 on Ctrl-C or SIGTERM.
    ``on_claimed(run_id, run_dir)`` is called as soon as the run folder exists (a child
    tells its parent where the record is: :mod:`reprokit.launch.entry`).
    ``exits_after`` (the CLI, whose process ends with the run): before the experiment is
    imported, the objects that exist so far (reprokit's and the standard library's modules)
    are frozen out of the garbage collector (``gc.freeze``), so the full collection Python
    makes at shutdown skips them: ~6 ms of every launch. Objects the experiment creates are
    collected and finalized as usual.

    Three steps: :func:`_set_up` (probes, checks, the claimed run folder),
    :func:`_run_main` (import, config, record, ``main``), :func:`_wind_up` (the final
    record, whatever happened).
    """
    path = target.validate_path(request.experiment_file(settings.root), settings)
    git_from = request.checked_git_from(settings.outputs)
    deterministic = request.deterministic or settings.deterministic
    determinism.prepare_environment(deterministic)
    rank, world_size = _rank()
    if rank != 0:
        code = _run_other_rank(
            path,
            settings,
            seed=request.seed,
            smoke=request.smoke,
            config=request.config,
            deterministic=deterministic,
        )
        return LaunchedRun(None, None, code, None)
    resume_of = request.checked_resume_of(settings.outputs)
    options = _Options(
        request.seed, request.smoke, deterministic, request.config, git_from, exits_after,
        resume_of,
    )  # fmt: skip
    facts = {
        "note": request.note,
        "checked": request.check,
        "replay_of": request.replay_of,
        "resumed_from": resume_of.name if resume_of is not None else None,
        "replay": request.replay,
        "ablation_of": request.ablation_of,
        # The given config already is a smoke config (a replay of a smoke run).
        "smoke": request.smoke or request.smoke_label,
        "rank": rank,
        "world_size": world_size,
    }
    claimed = _set_up(path, settings, options, facts)
    return _run_main(claimed, on_claimed)


def _set_up(
    path: Path,
    settings: Settings,
    options: _Options,
    facts: dict[str, Any],
) -> _Claimed:
    """Start the probes, run the checks, claim the run folder with its first record."""
    # The probes change nothing a user sees, so they start before the checks, which may
    # refuse. git first: its processes are the longest chain of the launch. Before the run
    # id it writes only unreferenced objects (the tree of a temporary index); the commit
    # and its ref wait for the run id, after the checks.
    git_started = _start_git(settings, options.git_from)
    # The variables as the user launched: libraries set their own while the experiment
    # imports (scikit-learn sets KMP_INIT_AT_FORK), and a probe reading os.environ later
    # recorded them or not depending on which thread came first.
    env_probe = Background(environment.capture, dict(os.environ))
    hw_probe = Background(_hardware)
    signals = liverun.RunSignals()
    try:
        if facts["checked"]:
            check_before_launch([path], settings)
        if settings.require_git and options.git_from is None:
            _require_git(settings)
        # From the file names and files alone, before the run folder exists: a broken
        # lineage (a missing parent, with --no-check) is refused without leaving a folder,
        # and a run whose import fails still says which experiment it was.
        described = target.describe_experiment(path, settings)
        started_wall = liverun.now_iso()
        started = time.monotonic()
        first = _first_record(started_wall, described, options, facts)
        # From the claim until set-up's handler is in place, a Ctrl-C or SIGTERM is held
        # back (raised as soon as the handler is there): one that landed in between left a
        # folder without run.json, or a record stuck at "running" with no git state.
        signals.defer()
        # The folder appears with this first record inside: a launch killed during set-up
        # still leaves a readable record.
        run_id, run_dir = store.new_run_dir(settings.outputs, lambda rid: first | {"id": rid})
    except BaseException:
        signals.restore()
        _cancel_git(git_started)
        raise
    return _Claimed(
        path, settings, options, run_id, run_dir, first, described, started, signals,
        git_started, env_probe, hw_probe,
    )  # fmt: skip


def _first_record(
    started_wall: str, described: dict[str, Any], options: _Options, facts: dict[str, Any]
) -> dict[str, Any]:
    """run.json as the run folder appears with it: ``running``, nothing captured yet."""
    # Every key spelled out and typed by the schema (record/schema.py): mypy refuses a
    # misspelled key, a value of the wrong type, and a key added to the format but not here.
    record: RunRecord = {
        "format_version": store.FORMAT_VERSION,
        "id": None,  # the folder's, once claimed
        "status": "running",
        "exit_code": None,
        "error": None,
        "started_at": started_wall,
        "ended_at": None,
        "duration_s": None,
        "heartbeat_at": started_wall,
        "pid": os.getpid(),
        # With the pid, names this process: readers tell it from a later one on the pid.
        "pid_started": process.pid_started(os.getpid()),
        "host": process.hostname(),
        # Every free-text string the record keeps is scrubbed of credentials: the
        # run folder is shared and feeds the index (reprokit.redact).
        "command": redact.scrub_argv(sys.argv),
        "cwd": redact.scrub_text(os.getcwd()),
        "experiment": cast("Experiment", described),
        "seed": None,
        "seed_source": None,
        "smoke": facts["smoke"],
        "deterministic": options.deterministic,
        "note": _scrubbed_note(facts["note"]),
        "checked": facts["checked"],
        "replay_of": facts["replay_of"],
        "resumed_from": facts["resumed_from"],
        "replay": facts["replay"],
        "ablation_of": facts["ablation_of"],
        "rank": facts["rank"],
        "world_size": facts["world_size"],
        "git": None,
        "environment": None,
        "hardware": None,
        "torch": None,
        "inputs": [],
    }
    return dict(record)


def _run_main(c: _Claimed, on_claimed: Callable[[str, Path], None] | None) -> LaunchedRun:
    """Set-up in the claimed folder, then ``main``; the record finalized whatever happens."""
    with contextlib.suppress(OSError, ValueError):  # fd 2 may be closed (a daemon)
        print(f"reprokit: {c.run_id} → {shown(c.run_dir)}", file=sys.stderr, flush=True)
    label = c.path.relative_to(c.settings.root.resolve()).as_posix()
    git_probe = Background(
        _git_probe(c.settings, c.run_id, c.run_dir, c.options.git_from, label, c.git_started)
    )

    from reprokit.launch.tee import Tee

    log_path = c.run_dir / store.OUTPUT_FILE
    signals = c.signals
    tee = Tee(log_path, on_error=lambda e: signals.fail(liverun.WriteFailed(log_path, e)))
    record = liverun.LiveRecord(c.run_dir, c.first | {"id": c.run_id})
    # Kept fresh from now on: importing the experiment (torch alone takes seconds), waiting
    # for the snapshot or hashing inputs can take over a minute, which read as crashed.
    heartbeat = liverun.Heartbeat(record)
    ending = _Ending()
    try:
        try:
            tee.start()
            heartbeat.start()
            signals.arm()
            if on_claimed is not None:
                # Here, not before the tee: a failure to tell is a failed set-up, recorded.
                on_claimed(c.run_id, c.run_dir)
            ready = _prepare(c, record, git_probe, ending)
        except BaseException as e:
            signals.hold()
            _setup_failed(c, record, git_probe, label, e, ending)
            raise
        try:
            ending.result = ready.main(ready.config)
            signals.hold()
            ending.outcome = {"status": "completed", "exit_code": EXIT_OK, "error": None}
        except BaseException as e:
            signals.hold()
            ending.outcome = liverun.outcome_of(e, c.run_dir, during_setup=False)
            _say_path_hint(e, ready.config, c.settings)
    except ReprokitError as e:
        # Still tee'd into output.log: scrubbed like the record's copy of the message.
        from reprokit.tables import safe_text

        # Escaped too: messages quote records and config keys, which may hold ESC/BEL.
        liverun.say(f"reprokit: error: {safe_text(redact.scrub_text(str(e)), lines=True)}")
    except (KeyboardInterrupt, liverun.WriteFailed) as e:
        # Set-up's own (its outcome is set), or a second SIGTERM that landed while the
        # first was being recorded.
        if ending.outcome is None:
            ending.outcome = liverun.outcome_of(e, c.run_dir, during_setup=False)
    finally:
        outcome = _wind_up(c, record, heartbeat, tee, ending)
    return LaunchedRun(c.run_id, c.run_dir, int(outcome["exit_code"]), str(outcome["status"]))


def _say_path_hint(error: BaseException, config: Any, settings: Settings) -> None:
    """A missing file under a relative config path, launched from a subfolder: say why."""
    from reprokit.capture.inputs import relative_path_hint

    hint = relative_path_hint(error, config, Path.cwd(), settings.root)
    if hint is not None:
        liverun.say(f"reprokit: hint: {hint}")


def _setup_failed(
    c: _Claimed,
    record: liverun.LiveRecord,
    git_probe: Background[Any],
    label: str,
    error: BaseException,
    ending: _Ending,
) -> None:
    """Set the outcome of a set-up that raised, then record what the probes captured."""
    ending.outcome = outcome = liverun.outcome_of(error, c.run_dir, during_setup=True)
    probes: dict[str, Background[Any]] = {
        "git": git_probe,
        "environment": c.env_probe,
        "hardware": c.hw_probe,
    }
    retry = _git_retry(c.settings, c.run_id, c.run_dir, label, c.options.git_from, error)
    # A terminal's Ctrl-C (SIGINT) hits the whole process group: the first capture's git
    # is dead, and waiting long for it only waits for what holds its pipe.
    first_wait = _FIRST_CAPTURE_WAIT_S if type(error) is KeyboardInterrupt else None
    missing = _finish_probes(record, probes, retry, c.settings.root, first_wait)
    if missing and isinstance(outcome.get("error"), dict):
        outcome["error"]["missing"] = missing


class _Ready(NamedTuple):
    """Set-up's result: the entry point and the config to call it with."""

    main: Callable[[Any], object]
    config: Any


def _prepare(
    c: _Claimed, record: liverun.LiveRecord, git_probe: Background[Any], ending: _Ending
) -> _Ready:
    """Import the experiment, resolve and write its config, seed, and record what the
    probes captured; metrics are live from here on."""
    opts = c.options
    if opts.exits_after:
        import gc

        gc.freeze()
    module = discovery.import_experiment(c.path, c.settings)
    config, used_seed, seed_source = target.resolve_config(
        module, c.path, seed=opts.seed, smoke=opts.smoke, config_data=opts.config
    )
    main = target.entry_point(module, c.path, c.settings)
    determinism.apply(used_seed, deterministic=opts.deterministic)
    _write_config(c.run_dir, config)
    from reprokit.capture.inputs import fingerprint_inputs

    record.set(
        experiment={**c.described, "config_type": target.config_type(config)},
        seed=used_seed,
        seed_source=seed_source,
        inputs=fingerprint_inputs(config, Path.cwd()),
        torch=environment.torch_facts(),
        environment=c.env_probe.result(),
        hardware=c.hw_probe.result(),
    )
    git = git_probe.result()
    if git is None and opts.git_from is None:
        print(
            f"reprokit: warning: {not_a_repository(c.settings.root)}; "
            "the run records no code state (git: null)",
            file=sys.stderr,
        )
    record.update(git=git)
    ending.writer = metrics.MetricsWriter(c.run_dir / store.METRICS_FILE)
    metrics.activate(_run_info(c, config, used_seed), ending.writer)
    return _Ready(main, config)


def _run_info(c: _Claimed, config: Any, seed: int) -> metrics.RunInfo:
    previous = c.options.resume_of
    if previous is None:
        return metrics.RunInfo(c.run_id, c.run_dir, config, seed)
    from reprokit.record import chain  # only a resume reads the earlier attempts

    return metrics.RunInfo(
        c.run_id,
        c.run_dir,
        config,
        seed,
        resumed_from=previous.name,
        previous_dir=previous,
        start_step=chain.next_step(previous),
    )


def _wind_up(
    c: _Claimed,
    record: liverun.LiveRecord,
    heartbeat: liverun.Heartbeat,
    tee: Tee,
    ending: _Ending,
) -> dict[str, Any]:
    """Finalize the record, stop the heartbeat and the tee, say how the run ended; the
    outcome."""
    signals = c.signals
    # Ctrl-C while finalizing would leave a `running` record behind: ignore it briefly.
    signals.quiet()
    outcome = ending.outcome
    if outcome is None:
        outcome = {"status": "failed", "exit_code": EXIT_FAILURE, "error": None}
    stopped_by = signals.failure
    try:
        heartbeat.stop()
        metrics.activate(None, None)
        determinism.release()
        if ending.writer is not None:
            ending.writer.close()
        if stopped_by is not None:
            # Whatever main did once stopped (its own SIGTERM handler, a clean return).
            outcome = liverun.write_failure(stopped_by)
        _finalize(record, outcome, ending.result, ending.writer, c.started)
    finally:
        drained = tee.stop()
        signals.restore()
    if signals.failure is not None and stopped_by is None:
        # The run's last output failed to reach the log as the tee drained it.
        outcome = liverun.write_failure(signals.failure)
        record.finish(**outcome)
    if not drained:
        liverun.say(
            "reprokit: warning: a process started by the run still holds its output "
            f"open; what it prints from now on is not in {shown(c.run_dir / store.OUTPUT_FILE)}"
        )
    _say_ended(c.run_id, c.run_dir, outcome, record.data.get("duration_s"), signals.failure)
    return outcome


def _scrubbed_note(note: str | None) -> str | None:
    """``--note`` without credentials (``https://user:token@host`` → ``https://host``),
    saying so when something was removed."""
    if note is None:
        return None
    scrubbed = redact.scrub_text(note)
    if scrubbed != note:
        print("reprokit: warning: removed credentials from --note", file=sys.stderr)
    return scrubbed


def _git_retry(
    settings: Settings,
    run_id: str,
    run_dir: Path,
    label: str,
    git_from: Path | None,
    error: BaseException,
) -> Callable[[], dict[str, Any] | None] | None:
    """A second git capture for a set-up stopped by Ctrl-C: a terminal's Ctrl-C reaches
    the whole process group, so it also killed the capture's git processes (the record
    then said ``git: null`` and could not be replayed). The capture takes milliseconds."""
    if git_from is not None or not isinstance(error, KeyboardInterrupt):
        return None

    def again() -> dict[str, Any] | None:
        from reprokit.capture import snapshot

        return snapshot.capture(
            settings.root,
            run_id,
            untracked_size_cap=settings.untracked_size_cap,
            patch_path=run_dir / store.PATCH_FILE,
            label=label,
            exclude=(settings.outputs, settings.root / ".reprokit-cache"),
            outputs=settings.outputs,
        )

    return again


# How long a stopped set-up waits for its probes (and a second git capture) to finish.
_SETUP_GRACE_S = 10.0
# After a Ctrl-C, how long it waits for the first git capture before starting the second
# one anyway. The Ctrl-C that killed the capture's git may leave a process git started (a
# hook that ignores or dodges the signal) holding git's output pipe: the first capture then
# waits for that process, not for git, and a second one that waited for it never started
# (the record said `git: null` after the whole grace, under load, when the Ctrl-C landed
# as the fsmonitor hook forked).
_FIRST_CAPTURE_WAIT_S = 2.0


def _finish_probes(
    record: liverun.LiveRecord,
    probes: dict[str, Background[Any]],
    git_retry: Callable[[], dict[str, Any] | None] | None,
    root: Path,
    first_wait: float | None = None,
) -> list[str]:
    """After a failed or interrupted set-up: record what the probes captured (never leave
    the snapshot half-made); the keys that could not be captured.

    Signals are held meanwhile (a second Ctrl-C once interrupted the temp index's removal
    and left the record without its git state); the wait is bounded instead, so a hung
    probe costs at most :data:`_SETUP_GRACE_S` seconds. ``first_wait``: how long the first
    git capture is waited for before the second starts (by default, until it ends).
    """
    deadline = time.monotonic() + _SETUP_GRACE_S
    missing = []
    for key, probe in probes.items():
        if record.data.get(key) is not None:
            continue
        if key == "git" and git_retry is not None:
            found = _finish_git(record, probe, git_retry, (first_wait, deadline), root)
        else:
            found = _take(record, key, probe, deadline)
        if not found:
            missing.append(key)
    return missing


def _take(record: liverun.LiveRecord, key: str, probe: Background[Any], by: float) -> bool:
    """Record ``key`` from ``probe`` if it ends (without error) before the time ``by``."""
    if probe.wait(max(0.0, by - time.monotonic())):
        with contextlib.suppress(Exception):
            record.set(**{key: probe.result()})
            return True
    return False


def _finish_git(
    record: liverun.LiveRecord,
    first: Background[Any],
    retry: Callable[[], dict[str, Any] | None],
    times: tuple[float | None, float],
    root: Path,
) -> bool:
    """The git state of a set-up stopped by Ctrl-C or SIGTERM: the first capture's, else a
    second capture's, started when the first failed or has not ended within ``times[0]``
    seconds (None: the deadline ``times[1]``)."""
    first_wait, deadline = times
    first_by = deadline if first_wait is None else time.monotonic() + first_wait
    if _take(record, "git", first, min(deadline, first_by)):
        return True
    again = Background(retry)
    if not _take(record, "git", again, deadline):
        return False
    if first.wait(0) and _succeeded(first):
        # Both made a snapshot under the run's ref (the first was slow, not killed: a
        # `kill -INT` of this process alone): the record names the one the ref names now.
        record.set(git=_ref_holder(first.result(), record.data["git"], root))
    return True


def _succeeded(job: Background[Any]) -> bool:
    try:
        return job.result() is not None
    except Exception:
        return False


def _ref_holder(first: dict[str, Any], second: dict[str, Any], root: Path) -> dict[str, Any]:
    """Of two captures of one run, the one whose snapshot its ref names."""
    from reprokit.gitcmd import run_git

    ref = second.get("snapshot_ref")
    with contextlib.suppress(Exception):
        now = run_git("rev-parse", "-q", "--verify", f"{ref}^{{commit}}", cwd=root, check=False)
        if now.decode().strip() == first.get("snapshot") and ref == first.get("snapshot_ref"):
            return first
    return second


def _finalize(
    record: liverun.LiveRecord,
    outcome: dict[str, Any],
    result: object,
    writer: metrics.MetricsWriter | None,
    started: float,
) -> None:
    """summary.json and the final record; each written even when another cannot be."""
    if record.data.get("torch") is None:
        # main imported torch itself (seeded on import): record what it ran with.
        with contextlib.suppress(Exception):
            record.data["torch"] = environment.torch_facts()
    last = writer.last if writer is not None else {}
    summary_path = record.path.with_name(store.SUMMARY_FILE)
    with contextlib.suppress(OSError):  # a full disk: the record matters more
        store.write_json(summary_path, metrics.summary_from(result, last))
    record.finish(
        **outcome,
        ended_at=liverun.now_iso(),
        duration_s=round(time.monotonic() - started, 6),
        heartbeat_at=liverun.now_iso(),
    )


def _say_ended(
    run_id: str,
    run_dir: Path,
    outcome: dict[str, Any],
    duration: float | None,
    failure: liverun.WriteFailed | None,
) -> None:
    """The last lines on the terminal (it may be gone: an ssh session that dropped)."""
    if failure is not None:
        liverun.say(
            f"reprokit: error: {failure}\n"
            "  hint: free disk space or raise the file-size limit (`ulimit -f`), "
            "then launch again; the run was stopped"
        )
    took = f" in {duration:.1f} s" if isinstance(duration, float | int) else ""
    liverun.say(f"reprokit: {run_id} {outcome['status']}{took} → {shown(run_dir)}")


def _write_config(run_dir: Path, config: Any) -> None:
    from reprokit.config import codec

    write_atomic(run_dir / store.CONFIG_FILE, codec.dumps(config).encode("utf-8"))
