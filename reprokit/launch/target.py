"""What a run runs: the experiment file checked, its ``main``, and the config ``main``
receives (the request's config data, else the experiment's; then ``smoke()`` and
``--seed``), with the seed it used.

Shared by :mod:`reprokit.launch.command` and the replay's probe of the snapshot
(:mod:`reprokit.replay.child`), so both resolve a config the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from reprokit.capture import determinism
from reprokit.errors import ReprokitError
from reprokit.experiments import discovery
from reprokit.files import file_digest
from reprokit.settings import Settings


def validate_path(path: Path, settings: Settings) -> Path:
    """The resolved path of an experiment file inside the project, or a clear error."""
    resolved = path.resolve()
    if not resolved.is_file():
        raise ReprokitError(f"{path}: no such experiment file")
    if discovery.describe(resolved) is None:
        raise ReprokitError(
            f"{path}: not an experiment file name",
            hint="experiments are named <name>_<id>_<parent>.py, e.g. wide_02_01.py",
        )
    discovery.module_name(resolved, settings.root)  # raises when outside the project
    return resolved


def resolve_config(
    module: ModuleType,
    path: Path,
    *,
    seed: int | None,
    smoke: bool,
    config_data: Any = None,
) -> tuple[Any, int, str]:
    """The config main receives, its seed, and where the seed came from."""
    if not hasattr(module, "config"):
        raise ReprokitError(
            f"{path}: the experiment has no module-level `config`",
            hint="define `config = Config(...)` (a frozen dataclass instance)",
        )
    config = module.config
    if config_data is not None:  # a LaunchRequest's config (replay, an ablation variant)
        from reprokit.config import codec

        config = codec.from_data(config_data, type(config))
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


def entry_point(module: ModuleType, path: Path, settings: Settings) -> Callable[[Any], Any]:
    """The experiment's ``main`` (or the entry point named in ``[tool.reprokit]``)."""
    func = getattr(module, settings.entry, None)
    if not callable(func):
        raise ReprokitError(
            f"{path}: the experiment has no `{settings.entry}(config)` function",
            hint=f"define def {settings.entry}(config): ... (or import the parent's)",
        )
    return func  # type: ignore[no-any-return]


def config_type(config: Any) -> str:
    """``module:qualname`` of the config's class, as the record names it."""
    cls = type(config)
    return f"{cls.__module__}:{cls.__qualname__}"


def describe_experiment(path: Path, settings: Settings) -> dict[str, Any]:
    """The record's ``experiment`` object: path, module, ids and the hashed lineage chain,
    from the files alone; ``config_type`` is None until the experiment is imported."""
    desc = discovery.describe(path)
    if desc is None:  # guarded by validate_path
        raise AssertionError(path)
    chain = discovery.lineage(path)
    root = settings.root.resolve()
    return {
        "path": path.relative_to(root).as_posix(),
        "module": discovery.module_name(path, root),
        "family": path.parent.relative_to(root).as_posix(),
        "name": desc.parsed.name,
        "id": desc.parsed.id_str,
        "parent": desc.parsed.parent_str,
        "config_type": None,
        "lineage": [
            {
                "id": e.parsed.id_str,
                "name": e.parsed.name,
                "path": e.path.relative_to(root).as_posix(),
                "sha256": file_digest(e.path),
            }
            for e in chain
        ],
    }
