"""Prepare a replay's child process: its interpreter command, environment and inputs.

Used by :mod:`reprokit.replay.command` only. Three decisions live here:

*Which reprokit the child imports.* The child runs with the worktree as its working
directory, and ``python -m`` (and ``-c``) put the working directory first on ``sys.path``.
When the replayed project is reprokit itself, the worktree holds an old ``reprokit/``
folder that would shadow the installed package; PYTHONPATH cannot win against it either,
since it comes after that first entry. So the child starts with a small ``-c`` bootstrap
that loads the package folder of the *currently imported* reprokit by its location
(``spec_from_file_location``), without adding anything to ``sys.path``: the child runs
exactly the reprokit the replay runs, and nothing else next to it (its parent folder may
be the user's repository, whose current files must not leak into the replay; or
site-packages, which must not shadow the standard library) becomes importable. The
experiment and its local modules then come from the worktree, as at the original launch.

*Environment.* The recorded variables (``environment.env``, which includes
PYTHONHASHSEED when it was set) whose exact names are on
:data:`reprokit.record.trust.REPLAY_ENV` (switches known to change numerics or
determinism; values without paths or line breaks) replace those variables here: one of
them set here but not at the original run is removed. Every other recorded variable is
information only: not applied, named once in a warning ("recorded but not re-applied")
and, like each refused value, in the replay's record (``replay.env_refused``); this
machine's value of it stays. Two kinds are exempt: locations
(``*_HOME``, ``*_PATH``, ``*_DIR``, ...) stay as they are here, and torchrun's rendezvous
variables are never applied (a replay is one process). CUDA_VISIBLE_DEVICES is then chosen by
:func:`reprokit.capture.compare.gpu_selection`, and the recorded torch thread counts and
precision flags are passed as JSON in ``REPROKIT_REPLAY_TORCH``, which the child's
bootstrap applies (:func:`apply_recorded_torch`) before launch imports the experiment.

*Inputs outside git.* Each ignored entry of the user's project (a ``data/`` folder, a
``.env`` file, ``experiments/x/cache.npz``) that the worktree lacks is symlinked into it,
except the outputs folder, virtualenvs, bytecode and caches, so relative paths in a config
resolve as the user expects. The links point at the user's *current* files: inputs are
not versioned, which is why launch fingerprints them and replay reports what changed.
Large untracked files that the snapshot skipped are linked the same way, when their
recorded path is a plain relative path inside the worktree.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import reprokit
from reprokit import redact
from reprokit.capture import environment
from reprokit.files import file_digest
from reprokit.gitcmd import run_git
from reprokit.record import trust

# Never linked into the worktree: rebuilt or irrelevant, and a linked virtualenv or cache
# could make the replay read state the original run did not have.
_NOT_LINKED = (
    ".git",
    "__pycache__",
    ".venv",
    "venv",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".cache",
    ".ipynb_checkpoints",
    "*.egg-info",
    "*.pyc",
)
# The recorded torch settings travel to the child as JSON in this variable (a REPROKIT_*
# name, so the replay's own record shows what it was given).
TORCH_VAR = "REPROKIT_REPLAY_TORCH"
# A replay is one process: torchrun's rendezvous variables would make it wait for peers.
_DISTRIBUTED = frozenset(environment.TORCHRUN_VARS)
_PROBE_MARKER = "REPROKIT-PROBE:"
# Re-hashing a skipped untracked file costs ~1 s per GiB; past this only sizes are compared.
_REHASH_LIMIT = 1024**3
# How much of a linked file is searched for credentials (launch searches up to its size
# cap, 10 MiB by default; a skipped file is larger, and is read into memory for this).
_SECRET_SCAN_LIMIT = 64 * 1024**2

_BOOTSTRAP = """\
import importlib.util, os, sys
_package = sys.argv.pop(1)
_spec = importlib.util.spec_from_file_location(
    "reprokit", os.path.join(_package, "__init__.py"), submodule_search_locations=[_package]
)
sys.modules["reprokit"] = _module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
import reprokit.cli
{tail}
"""
_LAUNCH_TAIL = """\
_gate = sys.argv.pop(1)
if _gate:
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import reprokit.launch.command
import reprokit.launch.entry
from reprokit.replay.child import apply_recorded_torch, await_go
apply_recorded_torch()
await_go(_gate)
sys.argv[0] = reprokit.launch.entry.__name__
sys.exit(reprokit.launch.entry.main(sys.argv[1:]))
"""
_PROBE_TAIL = """\
from reprokit.replay.child import probe_main
probe_main(sys.argv[1:])
"""


def reprokit_package() -> str:
    """The folder of the imported ``reprokit`` package (in site-packages, or a checkout)."""
    return str(Path(reprokit.__file__).resolve().parent)


def launch_command(args: list[str], *, gate: int | None = None) -> list[str]:
    """:mod:`reprokit.launch.entry` with ``args`` (the request and result files) in a fresh
    interpreter, with this process's reprokit.

    With ``gate`` (the read end of a pipe, passed to the child in ``pass_fds``) the child
    starts up, imports launch and applies the recorded torch settings, then waits for
    :func:`open_gate` before it runs anything, so its start-up overlaps the parent's
    environment probe. Until then Ctrl-C is left to the parent, which kills the child
    when it does not open the gate.
    """
    code = _BOOTSTRAP.format(tail=_LAUNCH_TAIL)
    return [
        sys.executable,
        "-c",
        code,
        reprokit_package(),
        "" if gate is None else str(gate),
        *args,
    ]


def open_gate(gate: int) -> bool:
    """Let a child started with ``launch_command(gate=...)`` go on; False when it is gone."""
    try:
        os.write(gate, b"1")
    except BrokenPipeError:
        return False  # it exited early; its exit code tells the parent why
    return True


def await_go(gate: str) -> None:
    """In the child: wait until the parent opens the gate; exit quietly when it does not."""
    if not gate:
        return
    with os.fdopen(int(gate), "rb") as pipe:
        go = pipe.read(1)
    if go != b"1":
        # The parent refused (--strict) or stopped; nothing has been recorded yet.
        os._exit(0)
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)


def child_environment(
    record: Mapping[str, Any],
    gpu_devices: str | None,
    base: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The child's environment: ``base`` (os.environ) with the recorded settings applied,
    and ``(name, why)`` for each recorded variable or torch setting that was refused.

    Only what :mod:`reprokit.record.trust` accepts is applied: a record from someone else
    once put PYTHONPATH, PATH and LD_PRELOAD into the replay's child.
    """
    env = dict(os.environ if base is None else base)
    environment_facts = record.get("environment")
    recorded = environment_facts.get("env") if isinstance(environment_facts, Mapping) else None
    scrubbed: set[str] = set()
    if isinstance(recorded, Mapping):
        # A value launch scrubbed (a token in an allow-listed variable) is not the value the
        # run had: applying "<redacted>" would break the replay, so this machine's stays.
        scrubbed = {k for k, v in recorded.items() if isinstance(v, str) and redact.REDACTED in v}
        # Never applied, and not worth a warning: torchrun's own, where runs go (the
        # replay writes where --outputs says), and the GPU selection (chosen from the
        # recorded GPUs by gpu_selection, below).
        skipped = {*_DISTRIBUTED, "REPROKIT_OUTPUTS", "CUDA_VISIBLE_DEVICES", *scrubbed}
        recorded = {k: v for k, v in recorded.items() if k not in skipped}
    # Only the variables a replay re-applies are taken from the record, so only those of
    # this machine give way (one set here but not at the original run is removed); every
    # other variable keeps this machine's value, except torchrun's, which would make the
    # one process a replay is wait for peers.
    for name in (trust.REPLAY_ENV | _DISTRIBUTED) & env.keys():
        if name not in scrubbed:
            del env[name]
    applied, refused = trust.recorded_env(recorded)
    env.update(applied)
    env.pop("REPROKIT_OUTPUTS", None)
    if gpu_devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu_devices
    settings, refused_torch = trust.torch_settings(record.get("torch"))
    if settings:
        env[TORCH_VAR] = json.dumps(settings, sort_keys=True)
    refused += [(key, "not a valid value") for key in refused_torch]
    return env, refused


def apply_recorded_torch() -> None:
    """In the child, before launch: apply the thread counts and precision flags the
    original run started ``main`` with (from :data:`TORCH_VAR`; nothing when unset).

    Done before the experiment is imported: torch refuses a new inter-op thread count once
    parallel work has started, so it is set first. Only runs that recorded torch facts (so
    their experiment imports torch anyway) get the variable. Flags the experiment sets
    itself when imported still win, as they did in the original run. Deterministic
    algorithms are launch's own ``--deterministic``.
    """
    raw = os.environ.get(TORCH_VAR)
    if not raw:
        return
    wanted = json.loads(raw)
    import torch

    if "inter_op_threads" in wanted:
        torch.set_num_interop_threads(int(wanted["inter_op_threads"]))
    if "intra_op_threads" in wanted:
        torch.set_num_threads(int(wanted["intra_op_threads"]))
    # The precision setting decides allow_tf32_matmul; writing the legacy flag as well
    # makes recent torch raise ("mix of the legacy and new APIs") when it reads the
    # precision back, so the flag is only applied for records without a precision.
    if "float32_matmul_precision" in wanted:
        torch.set_float32_matmul_precision(str(wanted["float32_matmul_precision"]))
    elif "allow_tf32_matmul" in wanted:
        torch.backends.cuda.matmul.allow_tf32 = bool(wanted["allow_tf32_matmul"])
    if "allow_tf32_cudnn" in wanted:
        torch.backends.cudnn.allow_tf32 = bool(wanted["allow_tf32_cudnn"])
    if "cudnn_benchmark" in wanted:
        torch.backends.cudnn.benchmark = bool(wanted["cudnn_benchmark"])


def link_ignored(project: Path, work_root: Path, outputs: Path) -> list[str]:
    """Symlink the project's ignored entries that the worktree lacks; their relative paths.

    ``git ls-files --others --ignored --directory`` names the outermost ignored entries
    (``data/``, ``experiments/toy/cache.npz``) without descending into ignored folders, so
    this stays fast on a large dataset. Caches, virtualenvs, bytecode, the outputs folder
    and anything inside it are skipped, as is an entry whose folder the snapshot lacks.
    """
    out = run_git(
        "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory",
        cwd=project,
    )  # fmt: skip
    linked = []
    for raw in out.split(b"\0"):
        rel = os.fsdecode(raw).rstrip("/")
        if not rel or any(fnmatch.fnmatch(Path(rel).name, p) for p in _NOT_LINKED):
            continue
        source = project / rel
        if trust.is_inside(source, outputs) or trust.is_inside(source, work_root):
            continue
        target = work_root / rel
        if target.exists() or target.is_symlink() or not target.parent.is_dir():
            continue
        target.symlink_to(source, target_is_directory=source.is_dir())
        linked.append(rel)
    return linked


def link_skipped_untracked(
    git_top: Path, worktree: Path, skipped: Any
) -> tuple[list[str], list[str]]:
    """Link the untracked files the snapshot left out (for their size, as likely secrets,
    or as repositories without a commit) into the worktree.

    Returns the links made, and warnings for the files that are gone or whose content
    changed since the run (by sha256 where recorded, skipped above :data:`_REHASH_LIMIT`
    where the size alone is compared), and for recorded paths that are not plain relative
    paths inside the worktree (a ``../../x`` once made a link outside it): those are
    ignored. The list is the record's, so it must not make the replay a probe of the
    user's files: a path tracked here is ignored, a "secret" entry is linked only when
    the secret rules match the file here, and a file the secret rules match is never
    compared (a made-up ``.env`` entry once printed this machine's size of it, and a
    recorded sha256 answered yes or no for any file).
    """
    linked: list[str] = []
    warnings: list[str] = []
    entries: list[tuple[str, Mapping[str, Any]]] = []
    for entry in skipped if isinstance(skipped, list) else []:
        if not isinstance(entry, Mapping):
            continue
        rel = entry.get("path")
        problem = trust.relative_path_problem(rel)
        if problem is None and not trust.is_inside((worktree / str(rel)).parent, worktree):
            problem = "leads out of the worktree through a link"
        if problem is not None:
            shown = repr(rel)[:120]
            warnings.append(f"git.skipped_untracked path {shown} {problem}; ignored")
            continue
        entries.append((str(rel), entry))
    tracked = _tracked(git_top, [rel for rel, _ in entries])
    for rel, entry in entries:
        if rel in tracked:
            warnings.append(f"git.skipped_untracked path {rel!r} is tracked here; ignored")
            continue
        warning = _link_one(git_top, worktree, rel, entry, linked)
        if warning:
            warnings.append(warning)
    return linked, warnings


def _tracked(git_top: Path, rels: list[str]) -> set[str]:
    """Which of ``rels`` (paths from the top of the repository) git tracks here."""
    if not rels:
        return set()
    out = run_git("--literal-pathspecs", "ls-files", "-z", "--", *rels, cwd=git_top, check=False)
    names = {os.fsdecode(raw) for raw in out.split(b"\0") if raw}
    # A tracked folder shows as the files under it.
    return {rel for rel in rels if rel in names or any(n.startswith(rel + "/") for n in names)}


def _looks_secret(source: Path, rel: str) -> bool:
    """Whether the secret rules of launch (:mod:`reprokit.redact`) match this file here."""
    if redact.secret_file_name(rel):
        return True
    # A folder or an unreadable file holds no content the rules could match.
    return source.is_file() and redact.secret_file_content(source, _SECRET_SCAN_LIMIT) is not None


def _link_one(
    git_top: Path, worktree: Path, rel: str, entry: Mapping[str, Any], linked: list[str]
) -> str | None:

    source, target = git_top / rel, worktree / rel
    reason = str(entry.get("reason"))
    why = {"secret": "as a likely secret", "empty-repository": "as a repository with no commit"}
    what = f"{rel} (left out of the snapshot {why.get(reason, 'for its size')})"
    if not (source.is_file() or source.is_dir()):
        return f"{what} is not here; the replay runs without it"
    secret = source.is_file() and _looks_secret(source, rel)
    if reason == "secret" and not secret:
        return f"{what}: the file here does not look like a secret; not linked"
    if not target.exists() and not target.is_symlink() and target.parent.is_dir():
        target.symlink_to(source, target_is_directory=source.is_dir())
        linked.append(rel)
    if secret or source.is_dir() or entry.get("size") is None:
        # A secret's size and hash here are never compared, so never printed: a record
        # could otherwise ask about any of the user's credential files.
        return None
    size = source.stat().st_size
    if entry.get("size") != size:
        return f"{what} changed size since the run: {entry.get('size')} -> {size}"
    if size <= _REHASH_LIMIT and entry.get("sha256") not in (None, file_digest(source)):
        return f"{what} changed since the run (sha256 differs)"
    return None


def comparable_inputs(
    recorded: Any, cwd: Path, work_root: Path
) -> tuple[list[dict[str, Any]], list[str]]:
    """The recorded inputs replay compares, and a description of each one it will not.

    An input is compared where the replayed run reads it: an absolute path as recorded
    (a place on this machine, named by the recorded config the run receives anyway), a
    relative one from the child's folder, provided it stays inside the worktree (links
    into the user's data are the replay's own). Anything else in the list is ignored.
    """
    kept: list[dict[str, Any]] = []
    ignored: list[str] = []
    for entry in recorded if isinstance(recorded, list) else []:
        if not isinstance(entry, dict):
            continue
        spelled = entry.get("path")
        if not isinstance(spelled, str) or not spelled or "\0" in spelled:
            ignored.append(f"{spelled!r} (not a path)")
            continue
        path = Path(spelled)
        # As written, not after links: data/ is the replay's own link to the user's data.
        if not path.is_absolute() and not trust.is_inside(cwd / path, work_root, links=False):
            ignored.append(f"{spelled!r} (leaves the worktree)")
            continue
        kept.append(entry)
    return kept, ignored


def unlink_links(work_root: Path, names: list[str]) -> None:
    """Remove our links before the worktree goes, so nothing can follow them into data."""
    for name in names:
        link = work_root / name
        if link.is_symlink():
            link.unlink()


def probe(
    env: Mapping[str, str],
    cwd: Path,
    *,
    with_torch: bool,
    experiment: Path | None,
    seed: int | None,
    smoke: bool,
) -> dict[str, Any]:
    """What the child will see, measured in a process set up like it.

    Returns ``{"environment", "hardware", "torch"}`` (torch facts only when ``with_torch``:
    importing torch costs ~1.3 s) and, when ``experiment`` is given, ``config`` (the YAML
    of the config launch would resolve from the snapshot's experiment file) or
    ``config_error``. ``{"error": ...}`` when the probe itself failed.
    """
    code = _BOOTSTRAP.format(tail=_PROBE_TAIL)
    request = {
        "with_torch": with_torch,
        "experiment": str(experiment) if experiment else None,
        "seed": seed,
        "smoke": smoke,
    }
    argv = [sys.executable, "-c", code, reprokit_package(), json.dumps(request)]
    proc = subprocess.run(
        argv, cwd=cwd, env=dict(env), capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(_PROBE_MARKER):
            result: dict[str, Any] = json.loads(line[len(_PROBE_MARKER) :])
            return result
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"exit code {proc.returncode}: {tail}"}


def probe_main(argv: list[str]) -> None:
    """The probe's child side (see :func:`probe`); prints one marked JSON line."""
    import contextlib
    import io

    request = json.loads(argv[0])
    out: dict[str, Any] = {}
    if request["with_torch"]:
        with contextlib.suppress(ImportError):
            import torch  # noqa: F401 - imported for its facts
    if request["experiment"]:
        # Module-level prints of the experiment must not be mistaken for the answer.
        with contextlib.redirect_stdout(io.StringIO()):
            out.update(_resolve_config(Path(request["experiment"]), request))
    from reprokit.capture import hardware

    out["environment"] = environment.capture()
    out["hardware"] = hardware.capture()
    out["torch"] = environment.torch_facts()
    print(_PROBE_MARKER + json.dumps(out, default=str), flush=True)


def _resolve_config(path: Path, request: Mapping[str, Any]) -> dict[str, str]:
    try:
        from reprokit.config import codec
        from reprokit.experiments import discovery
        from reprokit.launch import target
        from reprokit.settings import load_settings

        settings = load_settings()
        module = discovery.import_experiment(path, settings)
        config, _, _ = target.resolve_config(
            module, path, seed=request["seed"], smoke=request["smoke"]
        )
        return {"config": codec.dumps(config)}
    except Exception as e:
        return {"config_error": f"{type(e).__name__}: {e}"}
