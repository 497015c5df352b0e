"""``reprokit replay``: rebuild a run's exact code state, re-run it, and check the numbers.

1. The run's snapshot is checked out as a temporary detached ``git worktree``
   (:func:`reprokit.gitrestore.materialize`: from the local snapshot ref, fetched from a
   remote, or rebuilt from HEAD + ``diff.patch``). The user's branches, index and files
   are never touched; the worktree is removed at the end unless ``--keep-worktree``.
2. Inputs outside git are made visible in the worktree (the project's ignored entries,
   such as ``data/``, and untracked files the snapshot skipped for size are symlinked;
   see :mod:`reprokit.replayprep`), and the recorded input fingerprints are compared
   with the files now there: a changed input is reported before the run.
3. The recorded environment is compared with the one the child will have (a probe
   process set up like the child): differences are printed; ``--strict`` refuses to run
   when one can change results (exit 4). What is said about it, and about a mismatch's
   likely causes, is :mod:`reprokit.replaynotes`.
4. The run is launched in a child process whose working directory and import root are
   the worktree, with the recorded config, seed, deterministic flag, allow-listed
   environment variables, GPU selection, thread counts and precision flags (``--smoke``:
   the snapshot's smoke config with the recorded seed). The child is started before the
   probe of step 3 and waits at a gate (see :func:`reprokit.replayprep.launch_command`),
   so its start-up overlaps the probe; it runs nothing unless the replay goes ahead. It
   writes a full record to the original's outputs folder, carrying the original's
   snapshot (``--git-from``) and ``replay_of`` pointing at the root original (a replay of
   a replay points at the root).
5. ``--verify`` compares summary metrics and per-step series with the original's
   (:mod:`reprokit.verify`), stores the verdict in the replay's record and exits 3 on a
   mismatch. A failed original is reproduced when the replay raises the same exception type.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprokit import (
    envcompare,
    replaynotes,
    replayprep,
    store,
    verify as verification,  # `verify` is replay()'s flag
)
from reprokit.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_MISMATCH,
    EXIT_OK,
    ReprokitError,
)
from reprokit.gitrestore import materialize, remove_worktree
from reprokit.paths import rel_path
from reprokit.replaynotes import say
from reprokit.settings import Settings


@dataclass(frozen=True)
class _Original:
    """The run being replayed, and what the replay needs from its record."""

    dir: Path
    record: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.record["id"])

    @property
    def root_id(self) -> str:
        return str(self.record.get("replay_of") or self.record["id"])

    @property
    def experiment_path(self) -> str:
        exp = self.record.get("experiment") or {}
        path = exp.get("path")
        if not path:
            raise ReprokitError(
                f"{self.dir / store.RECORD_FILE}: the record names no experiment file "
                f"(experiment.path); the run failed before its experiment was imported",
                hint="there is nothing to replay; launch the experiment again instead",
            )
        return str(path)


def _load(run: str, settings: Settings, smoke: bool) -> _Original:
    run_dir = store.resolve_run(run, settings)
    original = _Original(run_dir, store.read_record(run_dir))
    stopped = store.setup_incomplete(original.record)
    if stopped is not None:
        # Stopped in set-up, main never ran: say so, not "launched outside a repository".
        missing = ["code state (git)" for m in stopped if m == "git"]
        if not smoke and not (run_dir / store.CONFIG_FILE).is_file():
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
    original.experiment_path  # noqa: B018 - fail early, before any worktree exists
    if not smoke and not (run_dir / store.CONFIG_FILE).is_file():
        raise ReprokitError(
            f"{run_dir / store.CONFIG_FILE} is missing: the recorded config is what a replay runs",
            hint="restore the run folder, or replay with --smoke to run the smoke config",
        )
    status = store.effective_status(original.record)
    if status in ("running", "crashed", "interrupted"):
        say(f"warning: {original.id} is {status}: its metrics may be incomplete")
    return original


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
) -> int:
    """Rebuild ``run``'s code state in a temporary worktree and run it again.

    Returns 0 when the replay ended as the original did (both completed, or both raised
    the same exception type) and, with ``verify``, the metrics matched; 3
    (``EXIT_MISMATCH``) when ``verify`` found a difference; 4 (``EXIT_ENV_REFUSED``) when
    ``strict`` refused a differing environment; 1 when the replay ended differently.
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
    # `outputs/run_1`'s.
    settings = settings.with_outputs(original.dir.parent)
    from reprokit.gitcmd import git_toplevel

    top = git_toplevel(settings.root)
    if top is None:
        raise ReprokitError(
            f"{settings.root} is not in a git repository",
            hint="run replay from a clone of the repository the run was launched in",
        )
    dest = Path(tempfile.mkdtemp(prefix="reprokit-replay-"))
    linked: list[str] = []
    skipped_links: list[str] = []
    work_root = dest / settings.root.resolve().relative_to(top.resolve())
    try:
        rebuild = _materialize(settings.root, original, dest)
        snapshot = str(original.record["git"].get("snapshot") or "?")[:12]
        say(f"rebuilt snapshot {snapshot} of {original.id} ({_rebuild_words(rebuild)}) in {dest}")
        linked = replayprep.link_ignored(settings.root, work_root, settings.outputs)
        if linked:
            say("linked ignored " + ", ".join(linked) + " into the worktree")
        skipped_links, warnings = replayprep.link_skipped_untracked(
            top, dest, original.record["git"].get("skipped_untracked")
        )
        for warning in warnings:
            say(f"warning: {warning}")
        return _run(
            original,
            settings,
            work_root=work_root,
            rebuild=rebuild,
            verify=verify,
            rtol=rtol,
            atol=atol,
            strict=strict,
            smoke=smoke,
        )
    finally:
        if keep_worktree and dest.exists():
            # The links stay, so the kept worktree runs as the replay did; neither
            # `git worktree remove` nor `rm -r` follows them into the user's data.
            say(
                f"kept the worktree at {dest} (remove it with `git worktree remove --force {dest}`)"
            )
        else:
            replayprep.unlink_links(work_root, linked)
            replayprep.unlink_links(dest, skipped_links)
            _remove(settings.root, dest)


def _materialize(root: Path, original: _Original, dest: Path) -> str:
    try:
        return materialize(root, original.record["git"], original.dir, dest)
    except BaseException:
        # mkdtemp made the folder; materialize fails before git registers a worktree.
        shutil.rmtree(dest, ignore_errors=True)
        raise


def _remove(root: Path, dest: Path) -> None:
    if dest.exists():
        remove_worktree(root, dest)


def _rebuild_words(rebuild: str) -> str:
    return {
        "ref": "from its snapshot ref",
        "commit": "from its snapshot commit (its ref is gone)",
        "fetched": "fetched from a remote",
        "patch": "from its base commit + diff.patch",
    }.get(rebuild, rebuild)


def _child_cwd(original: _Original, settings: Settings, work_root: Path) -> Path:
    """The original's working directory, mapped into the worktree (else the worktree root)."""
    # A replay ran in a worktree that is gone now; it recorded where in the worktree it
    # ran, which is where the root original ran.
    replay_info = original.record.get("replay")
    recorded_rel = replay_info.get("cwd") if isinstance(replay_info, dict) else None
    cwd = original.record.get("cwd")
    if isinstance(recorded_rel, str):
        rel = Path(recorded_rel)
    elif isinstance(cwd, str):
        try:
            rel = Path(cwd).resolve().relative_to(settings.root.resolve())
        except (ValueError, OSError):
            return work_root
    else:
        return work_root
    if not rel.is_absolute() and (work_root / rel).is_dir():
        return work_root / rel
    return work_root


def _run(
    original: _Original,
    settings: Settings,
    *,
    work_root: Path,
    rebuild: str,
    verify: bool,
    rtol: float,
    atol: float,
    strict: bool,
    smoke: bool,
) -> int:
    record = original.record
    exp_file = work_root / original.experiment_path
    if not exp_file.is_file():
        raise ReprokitError(
            f"the rebuilt snapshot has no {original.experiment_path}",
            hint="the snapshot does not match run.json; was the record edited?",
        )
    cwd = _child_cwd(original, settings, work_root)
    from reprokit import hardware

    gpus, gpu_warning = envcompare.gpu_selection(record.get("hardware"), hardware.capture())
    if gpu_warning:
        say(f"warning: {gpu_warning}")
    if (record.get("world_size") or 1) > 1:
        say(
            f"warning: {original.id} ran on {record['world_size']} processes; replaying rank 0 alone"
        )
    env = replayprep.child_environment(record, gpus)
    seed = record.get("seed")
    args = _launch_args(
        original, settings, exp_file, rebuild=rebuild, smoke=smoke, cwd=cwd.relative_to(work_root)
    )
    before = {p.name for p in store.run_dirs(settings.outputs)}
    # The child starts now and waits at a gate while the environment is probed and the
    # differences reported, so its interpreter start-up overlaps the probe's; it runs
    # nothing until the gate opens, and is killed when --strict refuses or we stop.
    gate_read, gate = os.pipe()
    try:
        proc = subprocess.Popen(
            replayprep.launch_command(args, gate=gate_read),
            cwd=cwd,
            env=env,
            pass_fds=(gate_read,),
        )
    finally:
        os.close(gate_read)
    opened = False
    try:
        here = replayprep.probe(
            env,
            cwd,
            with_torch=record.get("torch") is not None,
            experiment=None if smoke else exp_file,
            seed=seed,
            smoke=bool(record.get("smoke")),
        )
        env_differences = replaynotes.report_environment(record, here, strict=strict)
        if not smoke:
            replaynotes.report_config(
                original.dir / store.CONFIG_FILE, original.experiment_path, here
            )
        from reprokit.inputs import compare_inputs

        input_changes = compare_inputs(record.get("inputs"), cwd)
        for change in input_changes:
            say(f"warning: {change.describe()}")
        say(f"replaying {original.id} ({original.experiment_path}, seed {seed})")
        replayprep.open_gate(gate)
        opened = True
    finally:
        os.close(gate)
        if not opened:
            proc.kill()
            proc.wait()
    try:
        returncode = proc.wait()
    except KeyboardInterrupt:
        # The child got the same Ctrl-C and finalizes its record; wait for it to finish.
        returncode = proc.wait()
    replay_dir = _find_replay(settings.outputs, before, proc.pid)
    if replay_dir is None:
        raise ReprokitError(
            f"the replay of {original.id} exited with code {returncode} before it recorded a run",
            hint="see the error above; --keep-worktree keeps the rebuilt code to debug it",
        )
    if returncode == EXIT_INTERRUPTED:
        return EXIT_INTERRUPTED
    replayed = store.read_record(replay_dir)
    same_end, outcome = verification.same_ending(record, replayed)
    say(outcome)
    if smoke or not verify:
        return EXIT_OK if same_end else EXIT_FAILURE
    result = verification.verify_replay(
        original.dir, record, replay_dir, replayed, rtol=rtol, atol=atol
    )
    print(verification.format_table(result), flush=True)
    verification.store_verdict(replay_dir, result)
    ended = verification.unfinished(record)
    if ended:
        say(f"note: {original.id} was {ended}: compared only the steps it logged")
    say(verification.summary_line(result))
    if result.verdict == "mismatch":
        causes = replaynotes.likely_causes(record, env_differences, len(input_changes))
        say("  likely causes, most likely first:\n    - " + "\n    - ".join(causes))
    return EXIT_OK if result.ok else EXIT_MISMATCH


def _launch_args(
    original: _Original,
    settings: Settings,
    exp_file: Path,
    *,
    rebuild: str,
    smoke: bool,
    cwd: Path,
) -> list[str]:
    """The ``reprokit launch`` arguments that re-run ``original`` from the worktree.

    ``cwd`` is the child's working directory relative to the worktree root.
    """
    record = original.record
    seed = record.get("seed")
    replay_info = {
        "source_path": rel_path(original.dir, settings.root),
        "rebuild": rebuild,
        "smoke": smoke,
        "cwd": cwd.as_posix(),
        "verify": None,
    }
    extra: dict[str, Any] = {"replay": replay_info}
    args = ["launch", str(exp_file), "--replay-of", original.root_id]
    args += ["--git-from", str(original.dir), "--outputs", str(settings.outputs), "--no-check"]
    if isinstance(seed, int):
        args += ["--seed", str(seed)]
    if record.get("deterministic"):
        args.append("--deterministic")
    if smoke:
        args.append("--smoke")
    else:
        args += ["--config-file", str(original.dir / store.CONFIG_FILE)]
        # The recorded config of a smoke run is already its smoke config: keep the label
        # (so `runs` hides it as it hides the original) without applying smoke() twice.
        if record.get("smoke"):
            extra["smoke"] = True
    args += ["--extra-json", json.dumps(extra)]
    return args


def _find_replay(outputs: Path, before: set[str], pid: int) -> Path | None:
    """The run folder the child claimed: new since we started, and its record has its pid."""
    for run_dir in reversed(store.run_dirs(outputs)):
        if run_dir.name in before:
            continue
        try:
            data = store.read_json(run_dir / store.RECORD_FILE)
        except (OSError, ReprokitError):
            continue
        if isinstance(data, dict) and data.get("pid") == pid:
            return run_dir
    return None
