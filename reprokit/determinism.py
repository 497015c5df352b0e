"""Seeds, thread counts and deterministic/precision flags: apply them, and record them.

Never imports NumPy or torch by itself: each is seeded only if the experiment already
imported it, so a run that does not use torch does not pay ~1.3 s to seed it.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
from typing import Any

SEED_LIMIT = 2**31
# cuBLAS needs this set before CUDA starts for deterministic GEMMs (see the PyTorch
# "Reproducibility" notes); launch sets it before importing the experiment.
CUBLAS_WORKSPACE = ":4096:8"


def draw_seed() -> int:
    """A fresh seed for configs without a ``seed`` field (recorded as ``seed_source: drawn``)."""
    import secrets  # only here: most configs carry their seed, and launch time counts

    return secrets.randbelow(SEED_LIMIT)


def prepare_environment(deterministic: bool) -> None:
    """Environment variables that must be set before CUDA initializes."""
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)


def apply(
    seed: int,
    *,
    deterministic: bool = False,
    intra_op_threads: int | None = None,
    inter_op_threads: int | None = None,
) -> None:
    """Seed ``random``, NumPy (if imported) and torch (if imported); set torch flags.

    Replay passes the recorded thread counts; inter-op threads must be set first, since
    torch refuses to change them once parallel work has started.
    """
    prepare_environment(deterministic)
    random.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is None:
        return
    if inter_op_threads is not None:
        # Fails once parallel work has started; the recorded value shows what was used.
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(inter_op_threads)
    if intra_op_threads is not None:
        torch.set_num_threads(intra_op_threads)
    torch.manual_seed(seed)
    # manual_seed also seeds every CUDA device (lazily, so it never starts CUDA itself).
    if deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def record() -> dict[str, Any]:
    """The thread counts and deterministic/precision flags torch runs with ({} without torch)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {}
    return {
        "intra_op_threads": torch.get_num_threads(),
        "inter_op_threads": torch.get_num_interop_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "allow_tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "allow_tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }
