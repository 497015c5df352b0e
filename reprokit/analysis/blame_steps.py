"""What ``reprokit blame`` finds: one :class:`Step` per experiment along the chain, its
config :class:`Change` s, the :class:`SameCode` comparison and ``--ablate``'s
:class:`Ablation` s.

Apart from the command (:mod:`reprokit.analysis.blame`) so the ablation
(:mod:`reprokit.analysis.blame_ablate`), which the command imports only with ``--ablate``,
and the renderer use these types without importing the command back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reprokit import stats
from reprokit.analysis.blame_render import step_json
from reprokit.analysis.codestates import CodeState


@dataclass(frozen=True)
class Change:
    """One config field that differs between a step and its parent (None when absent)."""

    path: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Ablation:
    """The effect of changing one field alone (single-field variant vs the parent)."""

    field: str
    delta: float | None
    delta_sigma: float | None
    runs: int


@dataclass(frozen=True)
class SameCode:
    """A step compared with its parent on the runs both made at one code state.

    Shown when their runs span several code states: the headline Δ then mixes a code
    change into the config change, this one does not. ``code`` is None when the two never
    ran at the same code (there is no like-for-like comparison to make)."""

    code: CodeState | None
    runs: int = 0
    parent_runs: int = 0
    delta: float | None = None
    delta_sigma: float | None = None
    verdict: str = ""


@dataclass(frozen=True)
class Step:
    """One experiment along the chain, compared with its parent."""

    id: str
    name: str
    path: str
    runs: int
    mean: float | None
    std: float | None
    delta: float | None
    delta_sigma: float | None
    verdict: str
    changes: tuple[Change, ...]
    config_from: str  # "runs" (recorded config.yaml) or "file" (never run: today's file)
    code_states: tuple[CodeState, ...]
    ablation: tuple[Ablation, ...] | None = None
    interaction: float | None = None
    ablation_warning: str | None = None
    # The pooled seed std the delta was divided by (None: no noise estimate).
    sigma: float | None = None
    # Set when this step's or its parent's runs span several code states.
    same_code: SameCode | None = None
    # Runs whose metric was NaN or ±inf: shown, never averaged in.
    diverged: int = 0
    diverged_kinds: tuple[str, ...] = ()
    # The runs counted in ``runs`` (a finite value), by run number.
    run_ids: tuple[str, ...] = ()
    # Runs that did not complete, as lineage names them (``2 failed, 1 crashed``); "" if none.
    unfinished: str = ""
    # Values used by --ablate; not part of the output (``std_parts.n`` is the seed count).
    config: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    seeds: tuple[int, ...] = field(default=(), repr=False, compare=False)
    seed_values: Mapping[int, float] = field(default_factory=dict, repr=False, compare=False)
    std_parts: stats.Summary = field(
        default=stats.Summary(0, None, None), repr=False, compare=False
    )

    def to_json(self) -> dict[str, Any]:
        """The stable ``--json`` structure of one step."""
        return step_json(self)
