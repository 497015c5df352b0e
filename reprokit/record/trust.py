"""What a run record may make reprokit do: every value is checked here before it is used.

A run folder (``run.json``, ``config.yaml``, ``diff.patch``, metrics) is a file people
share: one that arrives from someone else is hostile until shown otherwise. The user's own
repository, configured remotes and reprokit install are trusted. So nothing a record says
reaches the environment of a process, a file-system path, git's command line or another
process's command line without passing one of the rules below, all in this module:

* ids (``run_7``), commit ids and snapshot refs match strict patterns, so none can be read
  as an option (an id ``--foo`` once reached the replay's command line);
* paths are relative, normalised (no ``..``, nothing absolute) and stay inside the folder
  they belong to (the worktree, the run folder) after symlinks are resolved: a
  ``replay.cwd`` of ``../x`` once ran the replay outside its worktree, where a planted
  module shadowed the standard library;
* environment variables are re-applied only when their exact name is on
  :data:`REPLAY_ENV`, the short list of switches known to change numerics or determinism
  (``PYTHONPATH`` once made a planted ``sitecustomize.py`` run in the replay, and
  launch's prefix list took ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``, which turns
  ``torch.load`` back into unpickling arbitrary code); every other recorded variable is
  information only;
* numbers (seed, thread counts) are integers in range, and flags are from a fixed set.

A refusal names ``run.json`` and the key; a value whose loss is harmless is left out with
a warning instead (see each function).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from reprokit.errors import ReprokitError

RUN_ID = re.compile(r"run_[0-9]{1,18}")
# A teammate's namespace in the outputs folder (``outputs/alice@gpu-3/run_7``, record/
# sharing.py): ``<user>@<host>``, letters, digits and ``_.-`` (the host without ``_``),
# starting with a letter or digit. The ``@`` means it can never be a local run id, a hidden
# claim folder or a reprokit file; no ``..``, no ``@{`` and no trailing ``.``/``.lock``
# keeps it one plain git ref component (``refs/reprokit/shared/<namespace>/run_7``).
NAMESPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}@[A-Za-z0-9][A-Za-z0-9.-]{0,127}")
# A pulled run's id as shown and typed: ``alice@gpu-3/run_7``.
SHARED_RUN_ID = re.compile(rf"(?P<namespace>{NAMESPACE.pattern})/(?P<run>{RUN_ID.pattern})")
COMMIT_ID = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
SNAPSHOT_REFS = "refs/reprokit/"
# One ref component: what git accepts, minus anything that could be read as a revision
# expression (``..``, ``@{``, ``^``, ``~``, ``:``, ``*``, spaces). The whole ref starts
# with ``refs/``, so no component can make it an option.
_REF_PART = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Locations (CUDA_HOME, TORCH_HOME, NCCL_DEBUG_FILE, ...) are this machine's, never the
# record's: another machine's paths break imports, and a path chosen by someone else can
# make a library write or load a file there.
LOCATION_SUFFIXES = ("_HOME", "_PATH", "_DIR", "_DIRECTORY", "_ROOT", "_CACHE", "_FILE")
# Variables that change what code a process loads: never from a record, even where an
# allow-listed prefix (CUDA_*, NCCL_*, OMP_*) would take them. CUDA_INJECTION64_PATH loads
# a library into every CUDA process; NCCL_NET_PLUGIN / NCCL_TUNER_PLUGIN /
# NCCL_PROFILER_PLUGIN / NCCL_ENV_PLUGIN dlopen a library by name; OMP_TOOL_LIBRARIES loads
# OpenMP tools (OMP_TOOL turns them on, OMP_TOOL_VERBOSE_INIT writes a log file).
_CODE_LOADING_PREFIXES = ("PATH", "PYTHON", "LD_", "DYLD_", "GIT_")
_CODE_LOADING_WORDS = ("PRELOAD", "PLUGIN", "LIBRAR", "INJECT", "HOOK")
_CODE_LOADING_PARTS = frozenset(("TOOL", "TOOLS"))
# As the last word only: KMP_DUPLICATE_LIB_OK is a switch, MKL_LIB would name a library.
_CODE_LOADING_LAST = frozenset(("LIB", "LIBS", "SO", "DLL", "DYLIB"))
# Variables that point a process at another machine: TorchInductor's remote caches
# (TORCHINDUCTOR_FX_GRAPH_REMOTE_CACHE, TORCHINDUCTOR_REDIS_HOST) load compiled code from
# whatever host they name, and NCCL_COMM_ID connects to one.
_NETWORK_WORDS = ("REMOTE", "HOST", "ADDR", "URL", "URI", "ENDPOINT", "SERVER", "PROXY")
_NETWORK_NAMES = frozenset(("NCCL_COMM_ID",))
# The recorded variables a replay re-applies: exact names, each known to change what a run
# computes or whether it is deterministic. Exact, not prefixes: launch's "TORCH_*" took
# TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD (a record then made torch.load unpickle its own file),
# and a prefix takes every variable upstream adds later. Left out on purpose: XLA_FLAGS
# and TF_XLA_FLAGS (dump and cache paths), TORCH_LOGS* (TORCH_LOGS_OUT writes a file),
# CUDNN_* (cuDNN's are logging and debug switches; torch's cuDNN flags travel as torch
# facts), NCCL_* (a replay is one process), CUDA_MODULE_LOADING and
# TORCH_CUDA_ARCH_LIST (speed and build targets, not results).
REPLAY_ENV = frozenset(
    (
        "PYTHONHASHSEED",  # set and dict order; value checked below
        # BLAS and OpenMP thread counts and scheduling change the order of reductions.
        "OMP_NUM_THREADS",
        "OMP_SCHEDULE",
        "OMP_PROC_BIND",
        "OMP_DYNAMIC",
        "MKL_NUM_THREADS",
        "MKL_DYNAMIC",
        "MKL_CBWR",  # MKL's conditional numerical reproducibility
        "MKL_ENABLE_INSTRUCTIONS",  # which kernels MKL picks
        "OPENBLAS_NUM_THREADS",
        "OPENBLAS_CORETYPE",  # which kernels OpenBLAS picks
        "VECLIB_MAXIMUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "KMP_AFFINITY",
        "KMP_BLOCKTIME",
        "KMP_DETERMINISTIC_REDUCTION",
        "KMP_DUPLICATE_LIB_OK",  # whether a run with two OpenMP runtimes starts at all
        "ATEN_CPU_CAPABILITY",  # which vectorised CPU kernels torch uses
        # GPU math: workspace (deterministic cuBLAS), TF32, kernel choice, device order.
        "CUBLAS_WORKSPACE_CONFIG",
        "NVIDIA_TF32_OVERRIDE",
        "CUDA_LAUNCH_BLOCKING",
        "CUDA_DEVICE_ORDER",
        "PYTORCH_CUDA_ALLOC_CONF",
        "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE",
        "TORCH_CUDNN_V8_API_DISABLED",
        "TORCH_BLAS_PREFER_CUBLASLT",
        # TensorFlow's determinism and oneDNN switches (oneDNN changes rounding).
        "TF_DETERMINISTIC_OPS",
        "TF_CUDNN_DETERMINISTIC",
        "TF_ENABLE_ONEDNN_OPTS",
    )
)
_MAX_ENV_VALUE = 4096
_HASHSEED_MAX = 4294967295
_MAX_THREADS = 65536
MATMUL_PRECISIONS = frozenset(("highest", "high", "medium"))
# The reason given for a recorded variable that is simply not on REPLAY_ENV: information
# only, named once in one warning rather than one line each.
NOT_REAPPLIED = "recorded for information; not re-applied"
_RESTORE_HINT = "the record was edited or damaged; restore the run folder from its source"


def refusal(record_file: Path, key: str, problem: str, value: Any) -> ReprokitError:
    """The error for a record value that must not be used: file, key, what is wrong."""
    shown = repr(value) if len(repr(value)) <= 200 else repr(value)[:200] + "..."
    return ReprokitError(f"{record_file}: {key} {problem}: {shown}", hint=_RESTORE_HINT)


def is_namespace(name: str) -> bool:
    """Whether ``name`` is a teammate's namespace (:data:`NAMESPACE`): the folder of
    pulled runs, and a component of their shared refs."""
    return bool(
        NAMESPACE.fullmatch(name) and ".." not in name and not name.endswith((".", ".lock"))
    )


def shared_run_id(value: str) -> tuple[str, str] | None:
    """``alice@gpu-3/run_7`` -> (namespace, run id); None for anything else."""
    m = SHARED_RUN_ID.fullmatch(value)
    if m is None or not is_namespace(m.group("namespace")):
        return None
    return m.group("namespace"), m.group("run")


def run_id(value: Any, record_file: Path, key: str) -> str:
    """A run id (``run_7``, or a pulled run's ``alice@gpu-3/run_7``) from a record, as it
    may appear on a command line."""
    if not (
        isinstance(value, str) and (RUN_ID.fullmatch(value) or shared_run_id(value) is not None)
    ):
        raise refusal(
            record_file, key, "is not a run id (run_<number> or <user>@<host>/run_<number>)", value
        )
    return value


def commit_id(value: Any, record_file: Path, key: str) -> str | None:
    """A full commit id (40 or 64 lowercase hex digits) or None."""
    if value is None:
        return None
    if not (isinstance(value, str) and COMMIT_ID.fullmatch(value)):
        raise refusal(record_file, key, "is not a commit id", value)
    return value


def snapshot_ref(value: Any, record_file: Path, key: str) -> str | None:
    """A snapshot ref under ``refs/reprokit/`` whose every part is a plain name, or None."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith(SNAPSHOT_REFS):
        raise refusal(record_file, key, f"must be a ref under {SNAPSHOT_REFS}", value)
    parts = value.split("/")[2:]
    if not parts or not all(
        _REF_PART.fullmatch(p) and not p.endswith((".lock", ".")) and ".." not in p for p in parts
    ):
        raise refusal(record_file, key, "is not a plain ref name", value)
    return value


def seed(value: Any, record_file: Path, key: str = "seed") -> int | None:
    """The recorded seed: an integer (not a bool, not a string) or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise refusal(record_file, key, "is not an integer", value)
    return value


def relative_path_problem(value: Any) -> str | None:
    """Why ``value`` is not a safe relative path (posix, normalised, no ``..``); None if it is."""
    if not isinstance(value, str) or not value:
        return "is not a path"
    if "\0" in value or "\\" in value or any(ord(c) < 32 for c in value):
        return "holds a NUL, a backslash or a control character"
    path = PurePosixPath(value)
    if path.is_absolute() or value.startswith("~"):
        return "is an absolute path"
    if ".." in path.parts:
        return "leaves its folder (..)"
    if value != "." and path.as_posix() != value.rstrip("/"):
        return "is not a normalised path"
    return None


def is_inside(path: Path | str, folder: Path | str, *, links: bool = True) -> bool:
    """Whether ``path`` is ``folder`` or below it: once symlinks are resolved, or with
    ``links=False`` as written (``..`` folded, links not followed: for a path whose links
    are trusted, such as the replay's own links into the user's data).

    The one "inside that folder" rule of reprokit: the checks of record paths here and of
    run-folder files in :func:`reprokit.record.store.open_regular` both use it.
    """
    if not links:
        inner, outer = os.path.normpath(path), os.path.normpath(folder)
        return inner == outer or inner.startswith(os.path.join(outer, ""))
    try:
        return Path(path).resolve().is_relative_to(Path(folder).resolve())
    except (OSError, RuntimeError):  # a symlink loop
        return False


def path_inside(
    value: Any, folder: Path, record_file: Path, key: str, *, folder_name: str | None = None
) -> Path:
    """``folder / value`` for a recorded relative path that stays inside ``folder``.

    Checked twice: as written (no absolute path, no ``..``), and after symlinks resolve,
    since a folder of the rebuilt snapshot may itself be a link that points elsewhere.
    ``folder_name`` names the folder in the error (``"the worktree"``); else its path.
    """
    where = folder_name or str(folder)
    problem = relative_path_problem(value)
    if problem is not None:
        raise refusal(
            record_file, key, f"must be a relative path inside {where}; it {problem}", value
        )
    target = folder / str(value)
    if not is_inside(target, folder):
        raise refusal(record_file, key, f"leads out of {where} through a link", value)
    return target


def env_refusal(name: Any, value: Any) -> str | None:
    """Why a recorded environment variable must not reach a process; None if it may."""
    if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
        return "not a variable name"
    if name not in REPLAY_ENV:
        if loads_code(name):
            return "it can change what code loads"
        if name.upper() in _NETWORK_NAMES or any(w in name.upper() for w in _NETWORK_WORDS):
            return "it points at another machine"
        return NOT_REAPPLIED
    if not isinstance(value, str):
        return "its value is not a string"
    if any(c in value for c in "\0\n\r") or len(value) > _MAX_ENV_VALUE:
        return "its value holds a NUL or a line break, or is too long"
    if name == "PYTHONHASHSEED":
        # Needed to reproduce set and dict order; only the two forms Python accepts.
        ok = value == "random" or (
            value.isascii() and value.isdigit() and int(value) <= _HASHSEED_MAX
        )
        return None if ok else 'PYTHONHASHSEED must be "random" or 0..4294967295'
    if "/" in value or "\\" in value:
        # None of these takes a path; one from another machine could name anything.
        return "its value names a path"
    return None


def loads_code(name: str) -> bool:
    """Whether a variable of this name can make a process load other code."""
    upper = name.upper()
    if upper.startswith(_CODE_LOADING_PREFIXES) and upper != "PYTHONHASHSEED":
        return True
    if any(word in upper for word in _CODE_LOADING_WORDS):
        return True
    parts = upper.split("_")
    return bool(_CODE_LOADING_PARTS & set(parts)) or parts[-1] in _CODE_LOADING_LAST


def is_location(name: str) -> bool:
    """A variable naming a place on this machine (its value here is kept, never the record's)."""
    return name.upper().endswith(LOCATION_SUFFIXES)


def recorded_env(env: Any) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The recorded variables a replay may re-apply, and ``(name, why)`` for each refused.

    Locations are neither applied nor reported: launch records them for information, and
    every replay on another machine would otherwise warn about them.
    """
    if not isinstance(env, Mapping):
        return {}, []
    applied: dict[str, str] = {}
    refused: list[tuple[str, str]] = []
    for name, value in env.items():
        if (
            isinstance(name, str)
            and _ENV_NAME.fullmatch(name)
            and is_location(name)
            and not loads_code(name)
        ):
            continue
        why = env_refusal(name, value)
        if why is None:
            applied[name] = value
        else:
            # A name that is no variable name is shown quoted: it may hold anything.
            shown = name if why != "not a variable name" else repr(name)
            refused.append((str(shown)[:80], why))
    return applied, refused


def torch_settings(facts: Any) -> tuple[dict[str, Any], list[str]]:
    """The recorded torch thread counts and flags a replay applies, and the refused keys.

    Thread counts are integers 1..65536, the matmul precision one of torch's three words,
    flags booleans: anything else is left out (the replay runs with this machine's value).
    """
    if not isinstance(facts, Mapping):
        return {}, []
    wanted: dict[str, Any] = {}
    refused: list[str] = []
    for key in ("inter_op_threads", "intra_op_threads"):
        value = facts.get(key)
        if value is None:
            continue
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= _MAX_THREADS:
            wanted[key] = value
        else:
            refused.append(f"torch.{key}")
    precision = facts.get("float32_matmul_precision")
    if precision in MATMUL_PRECISIONS:
        wanted["float32_matmul_precision"] = precision
    elif precision is not None:
        refused.append("torch.float32_matmul_precision")
    for key in ("allow_tf32_matmul", "allow_tf32_cudnn", "cudnn_benchmark"):
        value = facts.get(key)
        if isinstance(value, bool):
            wanted[key] = value
        elif value is not None:
            refused.append(f"torch.{key}")
    return wanted, refused


_GPU_TOKEN = re.compile(r"[0-9]{1,4}|(GPU|MIG)-[A-Za-z0-9-]{1,80}")


def gpu_devices(value: str | None) -> str | None:
    """A ``CUDA_VISIBLE_DEVICES`` value: empty, or indices / GPU UUIDs separated by commas."""
    if value is None or value == "":
        return value
    if all(_GPU_TOKEN.fullmatch(token) for token in value.split(",")):
        return value
    raise ReprokitError(f"refusing a GPU selection that is not indices or GPU UUIDs: {value!r}")
