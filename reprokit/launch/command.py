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
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reprokit import redact
from reprokit.background import Background
from reprokit.capture import determinism, environment, process
from reprokit.errors import EXIT_FAILURE, EXIT_OK, ReprokitError
from reprokit.experiments import discovery
from reprokit.launch import liverun, metrics, target
from reprokit.paths import shown
from reprokit.record import store
from reprokit.settings import Settings


def _parse_extra(extra_json: str | None) -> dict[str, Any]:
    if not extra_json:
        return {}
    try:
        extra = json.loads(extra_json)
    except json.JSONDecodeError as e:
        raise ReprokitError(f"--extra-json: not valid JSON: {e.msg}") from e
    if not isinstance(extra, dict):
        raise ReprokitError("--extra-json: expected a JSON object of run.json keys")
    reserved = {"id", "status", "format_version", "started_at", "pid", "pid_started", "host"}
    reserved &= set(extra)
    if reserved:
        raise ReprokitError(f"--extra-json: cannot set {', '.join(sorted(reserved))}")
    return extra


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
        source = git_from if (git_from / store.RECORD_FILE).is_file() else settings.root / git_from
        git = store.read_record(source).get("git")
        from reprokit.record.trust import regular_file_inside

        # Only the run's own patch: a diff.patch linking to a file elsewhere (a private
        # key) would otherwise be copied into this run's folder, which people share.
        if git is not None and regular_file_inside(source / store.PATCH_FILE, source):
            import shutil

            shutil.copyfile(source / store.PATCH_FILE, patch)
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


def _check(path: Path, settings: Settings) -> None:
    """The fast checks (cached by content hash); findings are shown only when they fail."""
    from reprokit.checks.verdict import cached_findings

    known = cached_findings(path, settings)
    if known is not None and all(f.get("code") in _NOT_LAUNCH_BLOCKERS for f in known):
        return  # unchanged since a check passed: the runner need not even be imported
    from reprokit.checks.runner import CheckResult, run_checks

    result = run_checks([path], settings, static_only=False, use_cache=True)
    findings = [f for f in result.findings if f.code not in _NOT_LAUNCH_BLOCKERS]
    if findings:
        import io

        from reprokit.checks.report import print_report

        report = io.StringIO()
        with contextlib.redirect_stdout(report):
            print_report(CheckResult(result.checked, findings))
        print(report.getvalue(), end="", file=sys.stderr)
        raise ReprokitError(
            f"{shown(path)}: refusing to launch: the checks above failed",
            hint="fix the findings, or pass --no-check to launch anyway (recorded)",
        )


def _require_git(settings: Settings) -> None:
    from reprokit.gitcmd import git_toplevel

    if git_toplevel(settings.root) is None:
        raise ReprokitError(
            f"{settings.root} is not in a git repository, and require_git is set",
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
    config_file: Path | None,
    deterministic: bool,
) -> int:
    """Ranks other than 0 under torchrun: same config and seeding, nothing recorded.

    A drawn seed would differ per rank; experiments that need agreement give a seed field.
    """
    module = discovery.import_experiment(path, settings)
    config, used_seed, _ = target.resolve_config(
        module, path, seed=seed, smoke=smoke, config_file=config_file
    )
    determinism.apply(used_seed, deterministic=deterministic)
    target.entry_point(module, path, settings)(config)
    return EXIT_OK


def launch(
    path: Path,
    *,
    settings: Settings,
    seed: int | None = None,
    smoke: bool = False,
    deterministic: bool = False,
    note: str | None = None,
    no_check: bool = False,
    config_file: Path | None = None,
    replay_of: str | None = None,
    git_from: Path | None = None,
    extra_json: str | None = None,
    exits_after: bool = False,
) -> int:
    """Run ``main(config)`` of the experiment at ``path`` and record the run.

    Returns 0 when main returned, 1 when it raised, 130 on Ctrl-C or SIGTERM.
    ``exits_after`` (the CLI, whose process ends with the run): before the experiment is
    imported, the objects that exist so far (reprokit's and the standard library's modules)
    are frozen out of the garbage collector (``gc.freeze``), so the full collection Python
    makes at shutdown skips them: ~6 ms of every launch. Objects the experiment creates are
    collected and finalized as usual.
    """
    path = target.validate_path(path, settings)
    extra = _parse_extra(extra_json)
    deterministic = deterministic or settings.deterministic
    determinism.prepare_environment(deterministic)
    rank, world_size = _rank()
    if rank != 0:
        return _run_other_rank(
            path,
            settings,
            seed=seed,
            smoke=smoke,
            config_file=config_file,
            deterministic=deterministic,
        )
    # The probes change nothing a user sees, so they start before the checks, which may
    # refuse. git first: its processes are the longest chain of the launch. Before the run
    # id it writes only unreferenced objects (the tree of a temporary index); the commit
    # and its ref wait for the run id, after the checks.
    git_started = _start_git(settings, git_from)
    env_probe = Background(environment.capture)
    hw_probe = Background(_hardware)
    signals = liverun.RunSignals()
    try:
        if not no_check:
            _check(path, settings)
        if settings.require_git and git_from is None:
            _require_git(settings)
        # From the file names and files alone, before the run folder exists: a broken
        # lineage (a missing parent, with --no-check) is refused without leaving a folder,
        # and a run whose import fails still says which experiment it was.
        described = target.describe_experiment(path, settings)
        started_wall = liverun.now_iso()
        started = time.monotonic()
        first = (
            {key: None for key in store.RECORD_KEYS}
            | {
                "format_version": store.FORMAT_VERSION,
                "status": "running",
                "started_at": started_wall,
                "heartbeat_at": started_wall,
                "pid": os.getpid(),
                # With the pid, names this process: readers tell it from a later one on the pid.
                "pid_started": process.pid_started(os.getpid()),
                "host": process.hostname(),
                # Every free-text string the record keeps is scrubbed of credentials: the
                # run folder is shared and feeds the index (reprokit.redact).
                "command": environment.scrub_argv(sys.argv),
                "cwd": redact.scrub_text(os.getcwd()),
                "smoke": smoke,
                "deterministic": deterministic,
                "note": _scrubbed_note(note),
                "checked": not no_check,
                "replay_of": replay_of,
                "rank": rank,
                "world_size": world_size,
                "inputs": [],
                "experiment": described,
            }
            | extra
        )
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
    with contextlib.suppress(OSError, ValueError):  # fd 2 may be closed (a daemon)
        print(f"reprokit: {run_id} → {shown(run_dir)}", file=sys.stderr, flush=True)
    label = path.relative_to(settings.root.resolve()).as_posix()
    git_probe = Background(_git_probe(settings, run_id, run_dir, git_from, label, git_started))

    from reprokit.launch.tee import Tee

    log_path = run_dir / store.OUTPUT_FILE
    tee = Tee(log_path, on_error=lambda e: signals.fail(liverun.WriteFailed(log_path, e)))
    record = liverun.LiveRecord(run_dir, first | {"id": run_id})
    # Kept fresh from now on: importing the experiment (torch alone takes seconds), waiting
    # for the snapshot or hashing inputs can take over a minute, which read as crashed.
    heartbeat = liverun.Heartbeat(record)
    writer: metrics.MetricsWriter | None = None
    outcome: dict[str, Any] | None = None
    result: object = None
    try:
        try:
            tee.start()
            heartbeat.start()
            signals.arm()
            if exits_after:
                import gc

                gc.freeze()
            module = discovery.import_experiment(path, settings)
            config, used_seed, seed_source = target.resolve_config(
                module, path, seed=seed, smoke=smoke, config_file=config_file
            )
            main = target.entry_point(module, path, settings)
            determinism.apply(used_seed, deterministic=deterministic)
            _write_config(run_dir, config)
            from reprokit.capture.inputs import fingerprint_inputs

            record.set(
                experiment={**described, "config_type": target.config_type(config)},
                seed=used_seed,
                seed_source=seed_source,
                inputs=fingerprint_inputs(config, Path.cwd()),
                torch=environment.torch_facts(),
                environment=env_probe.result(),
                hardware=hw_probe.result(),
            )
            git = git_probe.result()
            if git is None and git_from is None:
                print(
                    f"reprokit: warning: {settings.root} is not in a git repository; "
                    "the run records no code state (git: null)",
                    file=sys.stderr,
                )
            record.update(git=git)
            writer = metrics.MetricsWriter(run_dir / store.METRICS_FILE)
            metrics.activate(metrics.RunInfo(run_id, run_dir, config, used_seed), writer)
        except BaseException as e:
            signals.hold()
            outcome = liverun.outcome_of(e, run_dir, during_setup=True)
            probes: dict[str, Background[Any]] = {
                "git": git_probe,
                "environment": env_probe,
                "hardware": hw_probe,
            }
            retry = _git_retry(settings, run_id, run_dir, label, git_from, e)
            missing = _finish_probes(record, probes, retry)
            if missing and isinstance(outcome.get("error"), dict):
                outcome["error"]["missing"] = missing
            raise
        try:
            result = main(config)
            signals.hold()
            outcome = {"status": "completed", "exit_code": EXIT_OK, "error": None}
        except BaseException as e:
            signals.hold()
            outcome = liverun.outcome_of(e, run_dir, during_setup=False)
    except ReprokitError as e:
        # Still tee'd into output.log: scrubbed like the record's copy of the message.
        liverun.say(f"reprokit: error: {redact.scrub_text(str(e))}")
    except (KeyboardInterrupt, liverun.WriteFailed) as e:
        # Set-up's own (its outcome is set), or a second SIGTERM that landed while the
        # first was being recorded.
        if outcome is None:
            outcome = liverun.outcome_of(e, run_dir, during_setup=False)
    finally:
        # Ctrl-C while finalizing would leave a `running` record behind: ignore it briefly.
        signals.quiet()
        if outcome is None:
            outcome = {"status": "failed", "exit_code": EXIT_FAILURE, "error": None}
        stopped_by = signals.failure
        try:
            heartbeat.stop()
            metrics.activate(None, None)
            determinism.release()
            if writer is not None:
                writer.close()
            if stopped_by is not None:
                # Whatever main did once stopped (its own SIGTERM handler, a clean return).
                outcome = liverun.write_failure(stopped_by)
            _finalize(record, outcome, result, writer, started)
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
                f"open; what it prints from now on is not in {shown(log_path)}"
            )
        _say_ended(run_id, run_dir, outcome, record.data.get("duration_s"), signals.failure)
    return int(outcome["exit_code"])


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


def _finish_probes(
    record: liverun.LiveRecord,
    probes: dict[str, Background[Any]],
    git_retry: Callable[[], dict[str, Any] | None] | None,
) -> list[str]:
    """After a failed or interrupted set-up: record what the probes captured (never leave
    the snapshot half-made); the keys that could not be captured.

    Signals are held meanwhile (a second Ctrl-C once interrupted the temp index's removal
    and left the record without its git state); the wait is bounded instead, so a hung
    probe costs at most :data:`_SETUP_GRACE_S` seconds.
    """
    deadline = time.monotonic() + _SETUP_GRACE_S
    missing = []
    for key, probe in probes.items():
        if record.data.get(key) is not None:
            continue
        if probe.wait(max(0.0, deadline - time.monotonic())):
            with contextlib.suppress(Exception):
                record.set(**{key: probe.result()})
                continue
            if key == "git" and git_retry is not None:
                again = Background(git_retry)
                if again.wait(max(0.0, deadline - time.monotonic())):
                    with contextlib.suppress(Exception):
                        record.set(git=again.result())
                        continue
        missing.append(key)
    return missing


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

    store.write_text(run_dir / store.CONFIG_FILE, codec.dumps(config))
