"""The software environment of a run: Python, installed packages, allow-listed environment
variables (secrets never), the scrubbed command line, and torch facts.

Packages are read from ``*.dist-info/METADATA`` (and ``*.egg-info/PKG-INFO``) headers on
``sys.path``: a couple of milliseconds, against ~200 ms for ``pip freeze``.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# Credential rules live in reprokit.redact (one owner); nothing of it is re-exported here.
from reprokit.redact import is_secret_env_name, scrub_text

# torchrun's rendezvous variables: recorded (they say how the run was started), never
# re-applied by a replay, which is one process and would wait for peers.
TORCHRUN_VARS = (
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
)
# Environment variables that change what a run computes or where it runs.
ENV_ALLOW = (
    "CUDA_*",
    "CUBLAS_*",
    "CUDNN_*",
    "NCCL_*",
    "NVIDIA_*",
    "OMP_*",
    "MKL_*",
    "KMP_*",
    "OPENBLAS_*",
    "VECLIB_*",
    "NUMEXPR_*",
    "TORCH_*",
    "PYTORCH_*",
    "TORCHINDUCTOR_*",
    "ATEN_CPU_CAPABILITY",
    "XLA_FLAGS",
    # TensorFlow's own variables only: "TF_*" would take Terraform's (TF_VAR_db_pass).
    "TF_CPP_*",
    "TF_ENABLE_*",
    "TF_CUDNN_*",
    "TF_GPU_*",
    "TF_XLA_FLAGS",
    "TF_DETERMINISTIC_OPS",
    "TF_FORCE_GPU_ALLOW_GROWTH",
    "TF_NUM_INTEROP_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_USE_LEGACY_KERAS",
    "PYTHONHASHSEED",
    *TORCHRUN_VARS,
    # Where runs go; reprokit's other variables are its own plumbing (the replay's torch
    # settings, the demo's install switch) and would only clutter the record.
    "REPROKIT_OUTPUTS",
)


def _allow_rules() -> tuple[tuple[str, ...], frozenset[str], tuple[str, ...]]:
    """ENV_ALLOW as (prefixes, exact names, other patterns): "PREFIX_*" and plain names are
    tested as strings, since fnmatch compiles a regex per pattern (~2 ms of every launch)."""
    prefixes: list[str] = []
    exact: set[str] = set()
    other: list[str] = []
    for pattern in ENV_ALLOW:
        if pattern.endswith("*") and not any(c in pattern[:-1] for c in "*?["):
            prefixes.append(pattern[:-1])
        elif not any(c in pattern for c in "*?["):
            exact.add(pattern)
        else:
            other.append(pattern)
    return tuple(prefixes), frozenset(exact), tuple(other)


def allowed_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allow-listed environment variables, minus any whose name looks like a secret,
    with credentials scrubbed from the values (``NCCL_...=tcp://user:pw@host``)."""
    source = os.environ if environ is None else environ
    prefixes, exact, other = _allow_rules()
    return {
        name: scrub_text(source[name])
        for name in sorted(source)
        if (
            name.startswith(prefixes)
            or name in exact
            or any(fnmatch.fnmatchcase(name, pattern) for pattern in other)
        )
        and not is_secret_env_name(name)
    }


def _headers(path: Path) -> tuple[str, str] | None:
    """Name and Version from the first lines of a METADATA/PKG-INFO file."""
    name = version = None
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("Name:"):
                    name = line[5:].strip()
                elif line.startswith("Version:"):
                    version = line[8:].strip()
                if (name and version) or line in ("\n", "\r\n"):
                    break  # the headers end at the first blank line
    except OSError:
        return None
    return (name, version) if name and version else None


def packages(paths: Sequence[str] | None = None) -> dict[str, str]:
    """Installed distributions as ``{name: version}``; earlier sys.path entries win."""
    found: dict[str, str] = {}
    for entry in sys.path if paths is None else paths:
        try:
            scan = list(os.scandir(entry or "."))
        except OSError:
            continue
        for item in scan:
            if item.name.endswith(".dist-info"):
                meta = Path(item.path) / "METADATA"
            elif item.name.endswith(".egg-info"):
                meta = Path(item.path) / "PKG-INFO" if item.is_dir() else Path(item.path)
            else:
                continue
            headers = _headers(meta)
            if headers and headers[0] not in found:
                found[headers[0]] = headers[1]
    return dict(sorted(found.items(), key=lambda kv: kv[0].lower()))


def platform_string() -> str:
    """``Linux-6.1.0-x86_64``; avoids ``platform.platform()``, which reads the libc binary."""
    if hasattr(os, "uname"):
        u = os.uname()
        return f"{u.sysname}-{u.release}-{u.machine}"
    import platform

    return platform.platform()


def python_info() -> dict[str, str]:
    return {
        "version": sys.version.split()[0],
        "executable": sys.executable,
        "implementation": sys.implementation.name,
    }


def capture(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``environment`` object of run.json."""
    return {
        "python": python_info(),
        "platform": platform_string(),
        "packages": packages(),
        "env": allowed_env(environ),
    }


def torch_facts() -> dict[str, Any] | None:
    """The ``torch`` object of run.json; None unless the experiment imported torch.

    Read in the run's own process after seeding and flags, so it shows what main ran with.
    """
    if "torch" not in sys.modules:
        return None
    import torch

    from reprokit.capture import determinism

    cudnn = None
    try:
        if torch.backends.cudnn.is_available():  # type: ignore[no-untyped-call]
            cudnn = torch.backends.cudnn.version()  # type: ignore[no-untyped-call]
    except Exception:
        cudnn = None
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except Exception:
        capability = None
    return {
        "version": str(torch.__version__),
        "cuda": torch.version.cuda,
        "cudnn": cudnn,
        "cpu_capability": capability,
        **determinism.record(),
    }
