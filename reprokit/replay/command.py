"""``reprokit replay``: rebuild a run's exact code state, re-run it, and check the numbers.

1. The run's snapshot is checked out as a temporary detached ``git worktree``
   (:func:`reprokit.replay.restore.materialize`: from the local snapshot ref, fetched from one
   of the user's configured remotes, or, with ``--from-patch`` only, rebuilt from HEAD +
   the run folder's ``diff.patch``), and its tree
   must be the recorded ``git.tree`` (``--allow-tree-mismatch`` runs it anyway, recorded).
   The user's branches, index and files are never touched; the worktree is removed at
   the end, also on Ctrl-C or SIGTERM, unless ``--keep-worktree``.
2. Inputs outside git are made visible in the worktree (the project's ignored entries,
   such as ``data/``, and untracked files the snapshot skipped for size are symlinked;
   see :mod:`reprokit.replay.child`), and the recorded input fingerprints are compared
   with the files now there: a changed input is reported before the run.
3. The recorded environment is compared with the one the child will have (a probe
   process set up like the child): differences are printed; ``--strict`` refuses to run
   when one can change results (exit 4). What is said about it, and about a mismatch's
   likely causes, is :mod:`reprokit.replay.notes`.
4. The run is launched in a child process whose working directory and import root are
   the worktree, with the recorded config, seed, deterministic flag, allow-listed
   environment variables (never one that can change what code loads), GPU selection,
   thread counts and precision flags (``--smoke``:
   the snapshot's smoke config with the recorded seed). The child is started before the
   probe of step 3 and waits at a gate (see :func:`reprokit.replay.child.launch_command`),
   so its start-up overlaps the probe; it runs nothing unless the replay goes ahead. It
   writes a full record to the original's outputs folder, carrying the original's
   snapshot (the request's ``git_from``) and ``replay_of`` pointing at the root original
   (a replay of a replay points at the root). The child is a launch made from a
   :class:`~reprokit.launch.request.LaunchRequest`; it names the run it claimed in a
   result file (no scanning of the outputs folder).
5. ``--verify`` compares summary metrics and per-step series with the original's
   (:mod:`reprokit.replay.verify`), stores the verdict in the replay's record and exits 3 on a
   mismatch. A failed original is reproduced when the replay raises the same exception type.

The record may come from someone else: every value of it that reaches a path, the
environment, git or the child's command line is checked first by
:mod:`reprokit.record.trust` (docs/security.md lists them).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprokit import interrupts
from reprokit.capture import compare
from reprokit.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_MISMATCH,
    EXIT_OK,
    ReprokitError,
)
from reprokit.gitcmd import run_git
from reprokit.launch import request as launch_request
from reprokit.launch.request import LaunchRequest
from reprokit.paths import rel_path
from reprokit.record import store, trust
from reprokit.record.schema import Replay
from reprokit.replay import child, notes, verify as verification
from reprokit.replay.notes import say
from reprokit.replay.restore import Rebuilt, materialize, remove_worktree
from reprokit.settings import Settings

_WORKTREE = "the rebuilt worktree"


@dataclass(frozen=True)
class _Original:
    """The run being replayed, and what the replay needs from its record."""

    dir: Path
    record: dict[str, Any]

    @property
    def record_file(self) -> Path:
        return self.dir / store.RECORD_FILE

    @property
    def id(self) -> str:
        """The run's id as this outputs folder knows it (``alice@gpu-3/run_2`` when pulled)."""
        return store.qualified(
            self.dir, trust.run_id(self.record.get("id"), self.record_file, "id")
        )

    @property
    def root_id(self) -> str:
        """The root original's id: it reaches the child's launch request (``replay_of``)."""
        replay_of = self.record.get("replay_of")
        if replay_of is None:
            return self.id
        return store.qualified(self.dir, trust.run_id(replay_of, self.record_file, "replay_of"))

    @property
    def experiment_path(self) -> str:
        exp = self.record.get("experiment") or {}
        path = exp.get("path")
        if not path:
            raise ReprokitError(
                f"{self.record_file}: the record names no experiment file "
                f"(experiment.path); the run failed before its experiment was imported",
                hint="there is nothing to replay; launch the experiment again instead",
            )
        problem = trust.relative_path_problem(path)
        if problem is None and not str(path).endswith(".py"):
            problem = "is not a .py file"
        if problem is not None:
            raise trust.refusal(
                self.record_file,
                "experiment.path",
                f"must be a relative path to a .py file; it {problem}",
                path,
            )
        return str(path)


def _load(run: str, settings: Settings, smoke: bool) -> _Original:
    run_dir = store.resolve_run(run, settings)
    original = _Original(run_dir, store.read_record(run_dir))
    stopped = store.setup_incomplete(original.record)
    if stopped is not None:
        # Stopped in set-up, main never ran: say so, not "launched outside a repository".
        missing = ["code state (git)" for m in stopped if m == "git"]
        if not smoke and not os.path.lexists(run_dir / store.CONFIG_FILE):
            missing.append("config (config.yaml)")
        if missing:
            were = "were" if len(missing) > 1 else "was"
            raise ReprokitError(
                f"{original.id} was {original.record.get('status')} during set-up, before "
                f"main started: its {' and '.join(missing)} {were} never recorded, so the "
                "run cannot be rebuilt",
                hint="launch the experiment again"
                + ("" if "git" in stopped else ", or replay it with --smoke"),
            )
    if original.record.get("git") is None:
        raise ReprokitError(
            f"{original.id} was launched outside a git repository (run.json has git: null), "
            "so its code state was not recorded and cannot be rebuilt",
            hint="set require_git = true in [tool.reprokit] so future runs always record it",
        )
    # Fail early, before any worktree exists: these reach paths and command lines.
    original.experiment_path  # noqa: B018
    original.root_id  # noqa: B018
    trust.seed(original.record.get("seed"), original.record_file)
    if not smoke:
        check_recorded_config(run_dir / store.CONFIG_FILE)
    status = store.effective_status(original.record)
    if status in ("running", "crashed", "interrupted"):
        say(f"warning: {original.id} is {status}: its metrics may be incomplete")
    return original


def check_recorded_config(config: Path) -> None:
    """Refuse a recorded config the replay must not read: missing, a link to a file outside
    the run folder (a key, a token: a parse error quoting it would land in the replay's
    output.log), or not a regular file (a FIFO once read as "missing")."""
    if os.path.islink(config) and not trust.is_inside(config, config.parent):
        raise ReprokitError(
            f"{config} is a link to a file outside the run folder; refusing to read it",
            hint="replace the link with the run's own config.yaml",
        )
    try:
        with store.open_regular(config):
            pass
    except FileNotFoundError:
        raise ReprokitError(
            f"{config} is missing: the recorded config is what a replay runs",
            hint="restore the run folder, or replay with --smoke to run the smoke config",
        ) from None


def replay(
    run: str,
    *,
    settings: Settings,
    verify: bool = False,
    rtol: float = 0.0,
    atol: float = 0.0,
    strict: bool = False,
    smoke: bool = False,
    keep_worktree: bool = False,
    allow_tree_mismatch: bool = False,
    from_patch: bool = False,
) -> int:
    """Rebuild ``run``'s code state in a temporary worktree and run it again.

    Returns 0 when the replay ended as the original did (both completed, or both raised
    the same exception type) and, with ``verify``, the metrics matched; 3
    (``EXIT_MISMATCH``) when ``verify`` found a difference; 4 (``EXIT_ENV_REFUSED``) when
    ``strict`` refused a differing environment; 1 when the replay ended differently.
    The rebuilt code must have the recorded tree unless ``allow_tree_mismatch``; code
    from the run folder's ``diff.patch`` is run only with ``from_patch``.
    """
    if smoke and verify:
        raise ReprokitError(
            "--smoke and --verify cannot be combined: a smoke replay runs the smoke config, "
            "not the recorded one, so its numbers are not comparable",
            hint="drop --smoke to verify, or --verify to run a quick smoke replay",
        )
    if rtol < 0 or atol < 0:
        raise ReprokitError("--rtol and --atol must be >= 0")
    original = _load(run, settings, smoke)
    # The replay is recorded next to its original: run ids (and so `replay_of`) are unique
    # per outputs folder only, and `sweep/run_1`'s replay must not read as one of
    # `outputs/run_1`'s. A teammate's pulled run (`outputs/alice@gpu-3/run_1`) is the
    # exception: its folder is filled only by `reprokit pull`, so its replay goes into the
    # outputs folder around it, its `replay_of` naming it in full (`alice@gpu-3/run_1`).
    folder = original.dir.parent
    if store.namespace_of(original.dir) is not None:
        folder = folder.parent
    settings = settings.with_outputs(folder)
    from reprokit.gitcmd import require_toplevel

    top = require_toplevel(
        settings.root, hint="run replay from a clone of the repository the run was launched in"
    )
    options = _Options(verify, rtol, atol, strict, smoke, allow_tree_mismatch, from_patch)
    # SIGTERM unwinds like Ctrl-C, so a killed replay still removes its worktree (a
    # `kill` once left the folder and git's registration of it behind).
    with interrupts.sigterm_unwinds():
        return _in_worktree(original, settings, top, options, keep_worktree)


@dataclass(frozen=True)
class _Options:
    verify: bool
    rtol: float
    atol: float
    strict: bool
    smoke: bool
    allow_tree_mismatch: bool
    from_patch: bool


def _in_worktree(
    original: _Original, settings: Settings, top: Path, options: _Options, keep_worktree: bool
) -> int:
    dest = Path(tempfile.mkdtemp(prefix="reprokit-replay-"))
    linked: list[str] = []
    skipped_links: list[str] = []
    work_root = dest / settings.root.resolve().relative_to(top.resolve())
    try:
        rebuilt = _materialize(settings.root, original, dest, options)
        _say_rebuilt(original, rebuilt, dest)
        linked = child.link_ignored(settings.root, work_root, settings.outputs)
        if linked:
            say("linked ignored " + ", ".join(linked) + " into the worktree")
        skipped_links, warnings = child.link_skipped_untracked(
            top, dest, original.record["git"].get("skipped_untracked")
        )
        for warning in warnings:
            say(f"warning: {warning}")
        return _run(original, settings, work_root=work_root, rebuilt=rebuilt, options=options)
    finally:
        # A second Ctrl-C or SIGTERM must not stop the clean-up half-way.
        with interrupts.signals_ignored():
            _clean_up(settings.root, dest, work_root, linked, skipped_links, keep_worktree)


def _clean_up(
    root: Path,
    dest: Path,
    work_root: Path,
    linked: list[str],
    skipped_links: list[str],
    keep_worktree: bool,
) -> None:
    if keep_worktree and dest.exists():
        # The links stay, so the kept worktree runs as the replay did; neither
        # `git worktree remove` nor `rm -r` follows them into the user's data.
        say(f"kept the worktree at {dest} (remove it with `git worktree remove --force {dest}`)")
        return
    child.unlink_links(work_root, linked)
    child.unlink_links(dest, skipped_links)
    _remove(root, dest)


def _say_rebuilt(original: _Original, rebuilt: Rebuilt, dest: Path) -> None:
    snapshot = str(original.record["git"].get("snapshot") or "?")[:12]
    say(f"rebuilt snapshot {snapshot} of {original.id} ({_rebuild_words(rebuilt)}) in {dest}")
    if rebuilt.tree_matches is None:
        say(
            f"note: {original.id}'s record has no git.tree (an older record), so the rebuilt "
            "code could not be checked against it"
        )
    elif not rebuilt.tree_matches:
        say(
            f"warning: the rebuilt code has tree {rebuilt.tree[:12]}, not the recorded "
            f"{str(rebuilt.expected_tree)[:12]}; running it anyway (--allow-tree-mismatch, "
            "recorded in the replay's record)"
        )


def _materialize(root: Path, original: _Original, dest: Path, options: _Options) -> Rebuilt:
    try:
        return materialize(
            root,
            original.record["git"],
            original.dir,
            dest,
            allow_tree_mismatch=options.allow_tree_mismatch,
            from_patch=options.from_patch,
        )
    except BaseException:
        # mkdtemp made the folder; an interrupted `git worktree add` may have registered it.
        shutil.rmtree(dest, ignore_errors=True)
        with contextlib.suppress(ReprokitError):
            run_git("worktree", "prune", cwd=root)
        raise


def _remove(root: Path, dest: Path) -> None:
    if dest.exists():
        remove_worktree(root, dest)


def _rebuild_words(rebuilt: Rebuilt) -> str:
    if rebuilt.how == "fetched":
        return f"fetched from {rebuilt.remote}"
    return {
        "ref": "from its snapshot ref",
        "commit": "from its snapshot commit, not its ref",
        "patch": "from its base commit + diff.patch",
    }.get(rebuilt.how, rebuilt.how)


def _child_cwd(original: _Original, settings: Settings, work_root: Path) -> Path:
    """The original's working directory, mapped into the worktree (else the worktree root).

    A recorded ``replay.cwd`` must be a relative path that stays inside the worktree once
    links resolve: one with ``..`` once ran the child outside it, where a planted module
    shadowed the standard library.
    """
    # A replay ran in a worktree that is gone now; it recorded where in the worktree it
    # ran, which is where the root original ran.
    replay_info = original.record.get("replay")
    recorded_rel = replay_info.get("cwd") if isinstance(replay_info, dict) else None
    cwd = original.record.get("cwd")
    if recorded_rel is not None:
        target = trust.path_inside(
            recorded_rel, work_root, original.record_file, "replay.cwd", folder_name=_WORKTREE
        )
    elif isinstance(cwd, str):
        try:
            rel = Path(cwd).resolve().relative_to(settings.root.resolve())
        except (ValueError, OSError):
            return work_root
        target = work_root / rel
    else:
        return work_root
    if target.is_dir() and trust.is_inside(target, work_root):
        return target
    return work_root


def _run(
    original: _Original,
    settings: Settings,
    *,
    work_root: Path,
    rebuilt: Rebuilt,
    options: _Options,
) -> int:
    exp_file = trust.path_inside(
        original.experiment_path,
        work_root,
        original.record_file,
        "experiment.path",
        folder_name=_WORKTREE,
    )
    if not exp_file.is_file():
        raise ReprokitError(
            f"the rebuilt snapshot has no {original.experiment_path}",
            hint="the snapshot does not match run.json; was the record edited?",
        )
    cwd = _child_cwd(original, settings, work_root)
    env, refused = _child_env(original)
    wanted = _launch_request(
        original,
        settings,
        exp_file.relative_to(work_root).as_posix(),
        rebuilt=rebuilt,
        smoke=options.smoke,
        cwd=cwd.relative_to(work_root),
        env_refused=refused,
    )
    with launch_request.child(wanted, settings.outputs) as launching:
        returncode, env_differences, input_changes = _run_child(
            original, launching, (cwd, work_root), env, exp_file, options
        )
        launched = launching.result(returncode)
    if launched is None or launched.run_dir is None:
        raise ReprokitError(
            f"the replay of {original.id} exited with code {returncode} before it recorded a run",
            hint="see the error above; --keep-worktree keeps the rebuilt code to debug it",
        )
    if returncode == EXIT_INTERRUPTED:
        return EXIT_INTERRUPTED
    return _judge(original, launched.run_dir, options, env_differences, input_changes)


def _run_child(
    original: _Original,
    launching: launch_request.ChildLaunch,
    where: tuple[Path, Path],
    env: dict[str, str],
    exp_file: Path,
    options: _Options,
) -> tuple[int, int, int]:
    """Start the child, report the differences, let it run; its exit code, the number of
    environment differences and of changed inputs."""
    cwd, _work_root = where
    # The child starts now and waits at a gate while the environment is probed and the
    # differences reported, so its interpreter start-up overlaps the probe's; it runs
    # nothing until the gate opens, and is killed when --strict refuses or we stop.
    gate_read, gate = os.pipe()
    try:
        proc = subprocess.Popen(
            child.launch_command(launching.entry_args, gate=gate_read),
            cwd=cwd,
            env=env,
            pass_fds=(gate_read,),
        )
    finally:
        os.close(gate_read)
    opened = False
    try:
        env_differences, input_changes = _before_the_run(original, env, where, exp_file, options)
        child.open_gate(gate)
        opened = True
    finally:
        os.close(gate)
        if not opened:
            proc.kill()
            proc.wait()
    return _wait(proc), env_differences, len(input_changes)


def _child_env(original: _Original) -> tuple[dict[str, str], list[str]]:
    """The child's environment, and the recorded variables refused (each warned about)."""
    from reprokit.capture import hardware

    record = original.record
    gpus, gpu_warning = compare.gpu_selection(record.get("hardware"), hardware.capture())
    if gpu_warning:
        say(f"warning: {gpu_warning}")
    world_size = record.get("world_size")
    if isinstance(world_size, int) and world_size > 1:
        say(f"warning: {original.id} ran on {world_size} processes; replaying rank 0 alone")
    env, refused = child.child_environment(record, trust.gpu_devices(gpus))
    info = [name for name, why in refused if why == trust.NOT_REAPPLIED]
    for name, why in refused:
        if why != trust.NOT_REAPPLIED:
            say(f"warning: {original.record_file}: not applying {name} ({why})")
    if info:
        # Named once: most are harmless (a log level), and a replay re-applies only the
        # switches known to change results (a record once turned torch.load into unpickling).
        say(
            f"warning: {original.record_file}: recorded but not re-applied: {', '.join(info)}; "
            "set them yourself if the replay needs them"
        )
    return env, [name for name, _ in refused]


def _before_the_run(
    original: _Original,
    env: dict[str, str],
    where: tuple[Path, Path],
    exp_file: Path,
    options: _Options,
) -> tuple[int, list[Any]]:
    """Probe and report what differs from the original (environment, config, inputs);
    ``where`` is the child's working directory and the worktree root."""
    record = original.record
    cwd, work_root = where
    seed = record.get("seed")
    here = child.probe(
        env,
        cwd,
        with_torch=record.get("torch") is not None,
        experiment=None if options.smoke else exp_file,
        seed=seed,
        smoke=bool(record.get("smoke")),
    )
    env_differences = notes.report_environment(record, here, strict=options.strict)
    if not options.smoke:
        notes.report_config(original.dir / store.CONFIG_FILE, original.experiment_path, here)
    from reprokit.capture.inputs import compare_inputs

    inputs, ignored = child.comparable_inputs(record.get("inputs"), cwd, work_root)
    for item in ignored:
        say(f"warning: {original.record_file}: not comparing input {item}")
    input_changes = compare_inputs(inputs, cwd)
    for change in input_changes:
        say(f"warning: {change.describe()}")
    say(f"replaying {original.id} ({original.experiment_path}, seed {seed})")
    return env_differences, input_changes


def _wait(proc: subprocess.Popen[bytes]) -> int:
    """The child's exit code; on Ctrl-C or SIGTERM here, the child is stopped the same way
    (it finalizes its record) and waited for."""
    try:
        return proc.wait()
    except KeyboardInterrupt as e:
        # From a terminal the child got the same Ctrl-C; a `kill` reached us alone.
        try:
            return proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            proc.send_signal(
                signal.SIGTERM if isinstance(e, interrupts.Terminated) else signal.SIGINT
            )
        except KeyboardInterrupt:
            pass
        with interrupts.signals_ignored():
            return proc.wait()


def _judge(
    original: _Original,
    replay_dir: Path,
    options: _Options,
    env_differences: int,
    input_changes: int,
) -> int:
    """Compare the replay with the original: its outcome, and with --verify its numbers."""
    record = original.record
    replayed = store.read_record(replay_dir)
    same_end, outcome = verification.same_ending(record, replayed)
    say(outcome)
    if options.smoke or not options.verify:
        return EXIT_OK if same_end else EXIT_FAILURE
    result = verification.verify_replay(
        original.dir, record, replay_dir, replayed, rtol=options.rtol, atol=options.atol
    )
    print(verification.format_table(result), flush=True)
    verification.store_verdict(replay_dir, result)
    ended = verification.unfinished(record)
    if ended:
        say(f"note: {original.id} was {ended}: compared only the steps it logged")
    say(verification.summary_line(result))
    if result.verdict == "mismatch":
        causes = notes.likely_causes(record, env_differences, input_changes)
        say("  likely causes, most likely first:\n    - " + "\n    - ".join(causes))
    return EXIT_OK if result.ok else EXIT_MISMATCH


def _launch_request(
    original: _Original,
    settings: Settings,
    experiment: str,
    *,
    rebuilt: Rebuilt,
    smoke: bool,
    cwd: Path,
    env_refused: list[str],
) -> LaunchRequest:
    """The launch that re-runs ``original`` from the worktree (``experiment`` relative to
    its root, ``cwd`` the child's working directory in it). Every value from the record
    was checked (:mod:`reprokit.record.trust`), and the request is checked again as the
    child reads it (:func:`reprokit.launch.request.from_json`)."""
    record = original.record
    replay_info: Replay = {
        "source_path": rel_path(original.dir, settings.root),
        "rebuild": rebuilt.how,
        "smoke": smoke,
        "cwd": cwd.as_posix(),
        "verify": None,
    }
    # Said only when there is something to say, so a plain replay's record stays as it was.
    if rebuilt.remote is not None:
        replay_info["fetched_from"] = rebuilt.remote
    if rebuilt.how == "patch":
        # The user's consent to run code that came with the run folder (--from-patch).
        replay_info["from_patch"] = True
    if rebuilt.tree_matches is False:
        replay_info["tree_mismatch"] = {"recorded": rebuilt.expected_tree, "ran": rebuilt.tree}
    if env_refused:
        replay_info["env_refused"] = env_refused
    return LaunchRequest(
        experiment=experiment,
        outputs=settings.outputs.absolute(),
        seed=trust.seed(record.get("seed"), original.record_file),
        smoke=smoke,
        deterministic=record.get("deterministic") is True,
        # A smoke replay runs the snapshot's smoke config; else the recorded config.
        config=None if smoke else recorded_config(original.dir / store.CONFIG_FILE),
        check=False,
        git_from=original.dir.absolute(),
        replay_of=original.root_id,
        replay=replay_info,
        # The recorded config of a smoke run is already its smoke config: keep the label
        # (so `runs` hides it as it hides the original) without applying smoke() twice.
        smoke_label=not smoke and record.get("smoke") is True,
    )


def recorded_config(config_file: Path) -> dict[str, Any]:
    """The plain data of a recorded config.yaml (checked by :func:`check_recorded_config`)."""
    import yaml

    text = store.read_regular(config_file).decode("utf-8", errors="replace")
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        raise ReprokitError(f"{config_file}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ReprokitError(f"{config_file}: expected a mapping of the config's fields")
    return data
