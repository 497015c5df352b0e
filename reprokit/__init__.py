"""reprokit: git-integrated lineage and reproducibility for Python/PyTorch experiments.

The public API is re-exported here lazily, so ``import reprokit`` inside a training
script costs almost nothing and never imports torch, yaml or pandas by itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "ReprokitError": "reprokit.errors",
    "dump": "reprokit.config.codec",
    "load": "reprokit.config.codec",
    "dumps": "reprokit.config.codec",
    "loads": "reprokit.config.codec",
    "to_data": "reprokit.config.codec",
    "from_data": "reprokit.config.codec",
    "log": "reprokit.launch.metrics",
    "current_run": "reprokit.launch.metrics",
    "runs": "reprokit.analysis.query",
    "runs_frame": "reprokit.analysis.query",
}

__all__ = [
    "ReprokitError",
    "__version__",
    "current_run",
    "dump",
    "dumps",
    "from_data",
    "load",
    "loads",
    "log",
    "runs",
    "runs_frame",
    "to_data",
]

if TYPE_CHECKING:
    from reprokit.analysis.query import runs, runs_frame
    from reprokit.config.codec import dump, dumps, from_data, load, loads, to_data
    from reprokit.errors import ReprokitError
    from reprokit.launch.metrics import current_run, log


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'reprokit' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
