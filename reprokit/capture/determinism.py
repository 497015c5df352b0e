"""Seeds, thread counts and deterministic/precision flags: apply them, and record them.

Never imports NumPy or torch by itself, so a run that does not use torch does not pay
~1.3 s to seed it. A library the experiment has already imported is seeded at once; one it
imports later (``import torch`` inside ``main``, as the README recommends) is seeded the
moment its import finishes, by a finder on ``sys.meta_path`` that :func:`release` removes
when the run ends.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
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
    """Seed ``random``, NumPy and torch; set torch's thread counts and deterministic flags.

    NumPy and torch are set up now when already imported, else as soon as their import
    finishes (:class:`_SetUpOnImport`). Replay passes the recorded thread counts;
    inter-op threads must be set first, since torch refuses to change them once parallel
    work has started.
    """
    prepare_environment(deterministic)
    random.seed(seed)

    def numpy_ready(numpy: ModuleType) -> None:
        numpy.random.seed(seed % 2**32)

    def torch_ready(torch: ModuleType) -> None:
        _set_up_torch(torch, seed, deterministic, intra_op_threads, inter_op_threads)

    release()
    later: dict[str, Callable[[ModuleType], None]] = {}
    for name, ready in (("numpy", numpy_ready), ("torch", torch_ready)):
        module = sys.modules.get(name)
        if module is not None:
            ready(module)
        else:
            later[name] = ready
    if later:
        sys.meta_path.insert(0, _SetUpOnImport(later))


def release() -> None:
    """Stop watching for imports (the run is over): a later import is left as it is."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _SetUpOnImport)]


def _set_up_torch(
    torch: ModuleType,
    seed: int,
    deterministic: bool,
    intra_op_threads: int | None,
    inter_op_threads: int | None,
) -> None:
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


class _SetUpOnImport:
    """A ``sys.meta_path`` finder that calls ``ready(module)`` once a watched top-level
    module has finished importing, before the importer sees it.

    It finds nothing itself: it asks the finders after it for the real spec and wraps the
    loader, so the module is loaded exactly as it would have been.
    """

    def __init__(self, watched: dict[str, Callable[[ModuleType], None]]) -> None:
        self._watched = watched

    def find_spec(self, name: str, path: Sequence[str] | None, target: Any = None) -> Any:
        ready = self._watched.get(name)
        if ready is None:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            del self._watched[name]  # once: a re-import after `del sys.modules[...]` is not ours
            spec.loader = _ThenSetUp(spec.loader, ready)
        return spec


class _ThenSetUp:
    """The real loader, then ``ready(module)``; the module keeps the real loader."""

    def __init__(self, loader: Any, ready: Callable[[ModuleType], None]) -> None:
        self._loader = loader
        self._ready = ready

    def create_module(self, spec: Any) -> ModuleType | None:
        return self._loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        # Restored first: the package's own code may ask its loader for resources.
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        self._ready(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


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
