"""``reprokit launch --resume run_N``: run a crashed, failed or stopped run again.

The resumed run is an ordinary launch of the recorded experiment with the recorded config
(``config.yaml``, exactly as ``main`` received it) and seed, recorded as ``resumed_from``
the earlier attempt; ``reprokit.current_run()`` tells ``main`` it is a resume, where the
earlier attempt's folder (its checkpoints) is and the step after the last one logged.

It runs in place, in this working tree, and only when the code here is the code the
earlier attempt ran (the same snapshot tree): a resume must continue the same
computation, and its checkpoints live in the earlier attempt's folder under this outputs
folder. Changed code is refused with the way back to the snapshot (a rebuilt worktree, as
replay makes, would run code the user cannot edit to fix the crash being resumed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from reprokit.errors import ReprokitError
from reprokit.record import store, trust
from reprokit.settings import Settings

# Only a run that did not finish is resumed; a completed one would be re-run from a
# finished state, and a running one is still writing its folder.
_RESUMABLE = frozenset({"failed", "interrupted", "crashed"})


def _resumable(run_dir: Path, record: dict[str, Any], settings: Settings) -> str:
    """The run's id, or why it cannot be resumed."""
    record_file = run_dir / store.RECORD_FILE
    run_id = trust.run_id(record.get("id"), record_file, "id")
    status = store.effective_status(record)
    if status not in _RESUMABLE:
        raise ReprokitError(
            f"{run_id} is {status}: only a failed, interrupted or crashed run is resumed",
            hint=f"launch the experiment again for a new run, or `reprokit replay {run_id}`",
        )
    namespace = store.namespace_of(run_dir)
    if namespace is not None:
        raise ReprokitError(
            f"{namespace}/{run_id} was pulled from {namespace}: its owner resumes it",
            hint=f"`reprokit replay {namespace}/{run_id}` re-runs it here as a new run",
        )
    if run_dir.resolve().parent != settings.outputs.resolve():
        raise ReprokitError(
            f"{run_dir}: not in the outputs folder {settings.outputs}",
            hint=f"resume with --outputs {run_dir.parent}: a chain lives in one outputs folder",
        )
    from reprokit.record import index

    # From the index (refreshed as `runs` refreshes it): not every run.json read again.
    later = [r["id"] for r in index.rows(settings.outputs) if r["resumed_from"] == run_id]
    if later:
        raise ReprokitError(
            f"{run_id} was already resumed by {later[-1]}",
            hint=f"resume the latest attempt: reprokit launch --resume {later[-1]}",
        )
    return run_id


def _same_code(record: dict[str, Any], record_file: Path, settings: Settings) -> None:
    """Refuse when this working tree is not the snapshot the earlier attempt ran."""
    git = record.get("git")
    if not isinstance(git, dict):
        if settings.require_git:
            raise ReprokitError(
                f"{record_file}: the run recorded no code state (git: null)",
                hint="a run without its code state cannot be resumed with the same code",
            )
        return
    recorded = trust.commit_id(git.get("tree"), record_file, "git.tree")
    from reprokit.capture import snapshot

    pending = snapshot.start_capture(
        settings.root,
        untracked_size_cap=settings.untracked_size_cap,
        exclude=(settings.outputs, settings.root / ".reprokit-cache"),
        outputs=settings.outputs,
    )
    if pending is None:
        raise ReprokitError(f"{settings.root}: not in a git repository, as the run was")
    try:
        here = pending.tree()
    finally:
        pending.cancel()
    if recorded is not None and here != recorded:
        sha = trust.commit_id(git.get("snapshot"), record_file, "git.snapshot")
        raise ReprokitError(
            f"the code here differs from what {record.get('id')} ran "
            f"(tree {here[:12]}, recorded {recorded[:12]})",
            hint="put the files back as they were (`git stash`, then "
            f"`git checkout {sha or git.get('sha')} -- .`) and resume again; "
            "a resume continues the same code",
        )


def resume(
    run: str,
    *,
    settings: Settings,
    note: str | None = None,
    no_check: bool = False,
    exits_after: bool = False,
) -> int:
    """Launch ``run`` again as its next attempt; the launch's exit code."""
    run_dir = store.resolve_run(run, settings)
    record = store.read_record(run_dir)
    record_file = run_dir / store.RECORD_FILE
    run_id = _resumable(run_dir, record, settings)
    experiment = record.get("experiment") or {}
    trust.path_inside(experiment.get("path"), settings.root, record_file, "experiment.path")
    config = run_dir / store.CONFIG_FILE
    if not os.path.lexists(config):
        raise ReprokitError(
            f"{run_id} has no {store.CONFIG_FILE}: it stopped before its config was resolved",
            hint=f"launch {experiment.get('path')} again instead (nothing of it ran)",
        )
    from reprokit.replay.command import check_recorded_config, recorded_config

    check_recorded_config(config)
    _same_code(record, record_file, settings)
    from reprokit.launch.command import launch
    from reprokit.launch.request import LaunchRequest

    request = LaunchRequest(
        experiment=str(experiment.get("path")),  # checked just above
        outputs=settings.outputs,
        seed=trust.seed(record.get("seed"), record_file),
        deterministic=record.get("deterministic") is True,
        config=recorded_config(config),
        note=note if note is not None else record.get("note"),  # text: read_record checked it
        # Launched with --no-check, resumed without: the checks refused it once already.
        check=not no_check and record.get("checked") is not False,
        # The recorded config of a smoke run is already its smoke config: keep the label.
        smoke_label=record.get("smoke") is True,
        resume_of=run_dir,
    )
    return launch(request, settings=settings, exits_after=exits_after)
