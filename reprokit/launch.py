"""``reprokit launch``: run an experiment's ``main(config)`` in this process and record it.

Order matters for speed and correctness: the run folder is claimed first (an atomic
mkdir), then the git snapshot and the environment/hardware probes run in threads while
this thread imports the experiment, resolves its config and seeds the RNGs. The record is
written as ``running`` before ``main`` starts and finalized whatever happens after.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from reprokit import determinism, environment, experiment, metrics, store
from reprokit.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, ReprokitError
from reprokit.settings import Settings

if TYPE_CHECKING:  # only for annotations: a runtime alias costs typing work on every launch
    from types import FrameType

    _Handler = Callable[[int, FrameType | None], Any] | int | None


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so it unwinds like Ctrl-C."""


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _shown(path: Path) -> str:
    """Relative to the working directory when inside it, else absolute (a replay runs in a
    temporary worktree: ``../../home/me/proj/outputs/run_9`` would help nobody)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class _Probe:
    """Run a function in a daemon thread; ``result()`` joins and re-raises its error."""

    def __init__(self, func: Callable[[], Any]) -> None:
        self._func = func
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._func()
        except BaseException as e:
            self._error = e

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


class _Record:
    """The run.json of a live run: one writer at a time (main thread and heartbeat)."""

    def __init__(self, run_dir: Path, data: dict[str, Any]) -> None:
        self.path = run_dir / store.RECORD_FILE
        self.data = data
        self.lock = threading.Lock()

    def update(self, **values: Any) -> None:
        with self.lock:
            self.data.update(values)
            store.write_json(self.path, self.data)


class _Heartbeat:
    """Flushes metrics every second and rewrites ``heartbeat_at`` in run.json every 10 s.

    The heartbeat lives in run.json itself (atomically rewritten), so readers need only one
    file; store.effective_status treats a record silent for 60 s as crashed.
    """

    def __init__(
        self,
        record: _Record,
        writer: metrics.MetricsWriter,
        interval: float = store.HEARTBEAT_INTERVAL_S,
    ) -> None:
        self._record = record
        self._writer = writer
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reprokit-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        last_beat = time.monotonic()
        while not self._stop.wait(metrics.FLUSH_INTERVAL_S):
            try:
                self._writer.flush()
                if time.monotonic() - last_beat >= self._interval:
                    last_beat = time.monotonic()
                    self._record.update(heartbeat_at=_now_iso())
            except (OSError, ValueError):
                pass  # the disk filled or the run is closing; main's own writes will tell

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _describe_experiment(path: Path, settings: Settings, config: Any) -> dict[str, Any]:
    desc = experiment.describe(path)
    if desc is None:  # guarded by _validate_path
        raise AssertionError(path)
    chain = experiment.lineage(path)
    root = settings.root.resolve()
    config_type = type(config)
    return {
        "path": path.relative_to(root).as_posix(),
        "module": experiment.module_name(path, root),
        "family": path.parent.relative_to(root).as_posix(),
        "name": desc.parsed.name,
        "id": desc.parsed.id_str,
        "parent": desc.parsed.parent_str,
        "config_type": f"{config_type.__module__}:{config_type.__qualname__}",
        "lineage": [
            {
                "id": e.parsed.id_str,
                "name": e.parsed.name,
                "path": e.path.relative_to(root).as_posix(),
                "sha256": experiment.file_sha256(e.path),
            }
            for e in chain
        ],
    }


def _validate_path(path: Path, settings: Settings) -> Path:
    resolved = path.resolve()
    if not resolved.is_file():
        raise ReprokitError(f"{path}: no such experiment file")
    if experiment.describe(resolved) is None:
        raise ReprokitError(
            f"{path}: not an experiment file name",
            hint="experiments are named <name>_<id>_<parent>.py, e.g. wide_02_01.py",
        )
    experiment.module_name(resolved, settings.root)  # raises when outside the project
    return resolved


def _parse_extra(extra_json: str | None) -> dict[str, Any]:
    if not extra_json:
        return {}
    try:
        extra = json.loads(extra_json)
    except json.JSONDecodeError as e:
        raise ReprokitError(f"--extra-json: not valid JSON: {e.msg}") from e
    if not isinstance(extra, dict):
        raise ReprokitError("--extra-json: expected a JSON object of run.json keys")
    reserved = {"id", "status", "format_version", "started_at", "pid", "host"} & set(extra)
    if reserved:
        raise ReprokitError(f"--extra-json: cannot set {', '.join(sorted(reserved))}")
    return extra


def _resolve_config(
    module: ModuleType,
    path: Path,
    *,
    seed: int | None,
    smoke: bool,
    config_file: Path | None,
) -> tuple[Any, int, str]:
    """The config main receives, its seed, and where the seed came from."""
    if not hasattr(module, "config"):
        raise ReprokitError(
            f"{path}: the experiment has no module-level `config`",
            hint="define `config = Config(...)` (a frozen dataclass instance)",
        )
    config = module.config
    if config_file is not None:
        from reprokit import configio

        config = configio.load(config_file, type(config))
    if smoke:
        smoke_func = getattr(module, "smoke", None)
        if not callable(smoke_func):
            raise ReprokitError(
                f"{path}: --smoke needs a `smoke(config)` function in the experiment",
                hint="define smoke(config) returning a quick variant, or import the parent's",
            )
        config = smoke_func(config)
    has_seed = dataclasses.is_dataclass(config) and any(
        f.name == "seed" for f in dataclasses.fields(config)
    )
    if seed is not None:
        if has_seed:
            config = dataclasses.replace(config, seed=seed)
        return config, seed, "cli"
    if has_seed and isinstance(config.seed, int) and not isinstance(config.seed, bool):
        return config, config.seed, "config"
    drawn = determinism.draw_seed()
    if has_seed:  # a `seed: int | None = None` field: record what was used in config.yaml
        config = dataclasses.replace(config, seed=drawn)
    return config, drawn, "drawn"


def _entry(module: ModuleType, path: Path, settings: Settings) -> Callable[[Any], Any]:
    func = getattr(module, settings.entry, None)
    if not callable(func):
        raise ReprokitError(
            f"{path}: the experiment has no `{settings.entry}(config)` function",
            hint=f"define def {settings.entry}(config): ... (or import the parent's)",
        )
    return func  # type: ignore[no-any-return]


def _start_git(settings: Settings, git_from: Path | None) -> _Probe | None:
    """Start the git capture's work that needs no run id (status, the tree) on a thread."""
    if git_from is not None:
        return None

    def start() -> Any:
        from reprokit import gitstate

        return gitstate.start_capture(
            settings.root,
            untracked_size_cap=settings.untracked_size_cap,
            # Even when .gitignore does not ignore them: every earlier run's files would be
            # "untracked" and copied into each snapshot.
            exclude=(settings.outputs, settings.root / ".reprokit-cache"),
        )

    return _Probe(start)


def _cancel_git(started: _Probe | None) -> None:
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
    started: _Probe | None,
) -> Callable[[], dict[str, Any] | None]:
    patch = run_dir / store.PATCH_FILE

    def copy_from_run() -> dict[str, Any] | None:
        assert git_from is not None
        source = git_from if (git_from / store.RECORD_FILE).is_file() else settings.root / git_from
        git = store.read_record(source).get("git")
        if git is not None and (source / store.PATCH_FILE).is_file():
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

        from reprokit.checks.command import print_report

        report = io.StringIO()
        with contextlib.redirect_stdout(report):
            print_report(CheckResult(result.checked, findings))
        print(report.getvalue(), end="", file=sys.stderr)
        raise ReprokitError(
            f"{_shown(path)}: refusing to launch: the checks above failed",
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
    from reprokit import hardware

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
    module = experiment.import_experiment(path, settings)
    config, used_seed, _ = _resolve_config(
        module, path, seed=seed, smoke=smoke, config_file=config_file
    )
    determinism.apply(used_seed, deterministic=deterministic)
    _entry(module, path, settings)(config)
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
    path = _validate_path(path, settings)
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
    env_probe = _Probe(environment.capture)
    hw_probe = _Probe(_hardware)
    try:
        if not no_check:
            _check(path, settings)
        if settings.require_git and git_from is None:
            _require_git(settings)
        started_wall = _now_iso()
        started = time.monotonic()
        run_id, run_dir = store.new_run_dir(settings.outputs)
    except BaseException:
        _cancel_git(git_started)
        raise
    print(f"reprokit: {run_id} → {_shown(run_dir)}", file=sys.stderr, flush=True)
    label = path.relative_to(settings.root.resolve()).as_posix()
    git_probe = _Probe(_git_probe(settings, run_id, run_dir, git_from, label, git_started))

    from reprokit.tee import Tee

    tee = Tee(run_dir / store.OUTPUT_FILE)
    tee.start()
    record = _Record(
        run_dir,
        {key: None for key in store.RECORD_KEYS}
        | {
            "format_version": store.FORMAT_VERSION,
            "id": run_id,
            "status": "running",
            "started_at": started_wall,
            "heartbeat_at": started_wall,
            "pid": os.getpid(),
            "host": store.hostname(),
            "command": environment.scrub_argv(sys.argv),
            "cwd": os.getcwd(),
            "smoke": smoke,
            "deterministic": deterministic,
            "note": note,
            "checked": not no_check,
            "replay_of": replay_of,
            "rank": rank,
            "world_size": world_size,
            "inputs": [],
        }
        | extra,
    )
    # Written at once, so even a launch killed during set-up leaves a readable record.
    record.update()
    writer: metrics.MetricsWriter | None = None
    heartbeat: _Heartbeat | None = None
    previous_term = _install_sigterm()
    outcome: dict[str, Any] = {"status": "failed", "exit_code": EXIT_FAILURE, "error": None}
    result: object = None
    try:
        try:
            if exits_after:
                import gc

                gc.freeze()
            module = experiment.import_experiment(path, settings)
            config, used_seed, seed_source = _resolve_config(
                module, path, seed=seed, smoke=smoke, config_file=config_file
            )
            main = _entry(module, path, settings)
            determinism.apply(used_seed, deterministic=deterministic)
            _write_config(run_dir, config)
            from reprokit.inputs import fingerprint_inputs

            record.data.update(
                experiment=_describe_experiment(path, settings, config),
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
            heartbeat = _Heartbeat(record, writer)
            heartbeat.start()
        except BaseException as e:
            outcome = _outcome_of(e, run_dir, during_setup=True)
            # Keep a failed set-up's record complete, and never leave the snapshot half-made.
            probes = {"git": git_probe, "environment": env_probe, "hardware": hw_probe}
            for key, probe in probes.items():
                if record.data.get(key) is None:
                    with contextlib.suppress(Exception):
                        record.data[key] = probe.result()
            raise
        try:
            result = main(config)
            outcome = {"status": "completed", "exit_code": EXIT_OK, "error": None}
        except BaseException as e:
            outcome = _outcome_of(e, run_dir, during_setup=False)
    except ReprokitError as e:
        print(f"reprokit: error: {e}", file=sys.stderr)
    finally:
        # Ctrl-C while finalizing would leave a `running` record behind: ignore it briefly.
        previous_int = _ignore_signals()
        try:
            if heartbeat is not None:
                heartbeat.stop()
            metrics.activate(None, None)
            last: dict[str, Any] = {}
            if writer is not None:
                writer.close()
                last = writer.last
            store.write_json(run_dir / store.SUMMARY_FILE, metrics.summary_from(result, last))
            duration = time.monotonic() - started
            record.update(
                **outcome,
                ended_at=_now_iso(),
                duration_s=round(duration, 6),
                heartbeat_at=_now_iso(),
            )
            tee.stop()
            status = outcome["status"]
            print(
                f"reprokit: {run_id} {status} in {duration:.1f} s → {_shown(run_dir)}",
                file=sys.stderr,
                flush=True,
            )
        finally:
            _restore_signals(previous_term, previous_int)
    return int(outcome["exit_code"])


def _write_config(run_dir: Path, config: Any) -> None:
    from reprokit import configio

    store.write_text(run_dir / store.CONFIG_FILE, configio.dumps(config))


def _outcome_of(exc: BaseException, run_dir: Path, *, during_setup: bool) -> dict[str, Any]:
    """Status, exit code and error object for an exception out of setup or main."""
    if isinstance(exc, KeyboardInterrupt):
        kind = "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"
        print(f"reprokit: interrupted ({kind})", file=sys.stderr)
        return {
            "status": "interrupted",
            "exit_code": EXIT_INTERRUPTED,
            "error": {"type": type(exc).__name__, "message": kind, "traceback_file": None},
        }
    if isinstance(exc, SystemExit) and exc.code in (None, 0):
        return {"status": "completed", "exit_code": EXIT_OK, "error": None}
    import traceback

    tb = exc.__traceback__
    if not during_setup and tb is not None and tb.tb_next is not None:
        tb = tb.tb_next  # start at main: launch's own frame is noise to the user
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    store.write_text(run_dir / store.TRACEBACK_FILE, text)
    if not during_setup:
        print(text, file=sys.stderr, end="")
    if isinstance(exc, SystemExit):
        code = exc.code if isinstance(exc.code, int) else EXIT_FAILURE
    else:
        code = EXIT_FAILURE
    message = exc.message if isinstance(exc, ReprokitError) else str(exc)
    return {
        "status": "failed",
        "exit_code": code,
        "error": {
            "type": type(exc).__name__,
            "message": message,
            "traceback_file": store.TRACEBACK_FILE,
        },
    }


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def _install_sigterm() -> _Handler:
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


def _ignore_signals() -> _Handler:
    if threading.current_thread() is not threading.main_thread():
        return None
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return signal.signal(signal.SIGINT, signal.SIG_IGN)


def _restore_signals(term: _Handler, interrupt: _Handler) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, term if term is not None else signal.SIG_DFL)
    signal.signal(signal.SIGINT, interrupt if interrupt is not None else signal.default_int_handler)
