"""``blame --ablate``: split a step that changed several fields into single-field variants.

Each variant is the parent's recorded config with one field set to the child's value,
launched as an ordinary run of the child experiment in its own process (a
:class:`~reprokit.launch.request.LaunchRequest` run by :mod:`reprokit.launch.entry`) and
marked ``ablation_of: {experiment, field, step}`` so a later ``blame --ablate`` reuses it
(matched by that marker, the seed and the smoke flag). Effects are measured against the
parent's runs on the same seeds; with ``--smoke`` both ends are re-run as smoke variants too
(fields ``(parent)`` and ``(all fields)``), since full-size runs do not compare with smoke ones.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from reprokit import stats
from reprokit.analysis.blame_steps import Ablation, Change, Step
from reprokit.analysis.blame_targets import load_chain_records
from reprokit.analysis.evidence import metric_value
from reprokit.config import codec
from reprokit.errors import ReprokitError
from reprokit.launch import request as launch_request
from reprokit.launch.request import LaunchRequest
from reprokit.record.schema import Ablation as Ablation_
from reprokit.settings import Settings


def variant_config(
    parent: Mapping[str, Any], child: Mapping[str, Any], change: Change
) -> dict[str, Any]:
    """The parent's plain config with the one dotted field as the child has it (or removed)."""
    data: dict[str, Any] = copy.deepcopy(dict(parent))
    *parents, leaf = change.path.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    if change.path in codec.flatten(child):
        node[leaf] = copy.deepcopy(change.new)
    else:
        node.pop(leaf, None)
    return data


def ablation_seeds(parent: Step, count: int) -> list[int]:
    """The parent's seeds (the first ``count``), or 0..count-1 when the parent has none."""
    return list(parent.seeds[:count]) if parent.seeds else list(range(count))


def _find(
    records: Sequence[Mapping[str, Any]], marker: Mapping[str, Any], seed: int, smoke: bool
) -> bool:
    return any(
        r.get("ablation_of") == marker
        and r.get("seed") == seed
        and bool(r.get("smoke")) == smoke
        and r.get("status") == "completed"
        for r in records
    )


def _launch(
    settings: Settings,
    step: Step,
    config: Mapping[str, Any],
    marker: Ablation_,
    seed: int,
    smoke: bool,
) -> None:
    request = LaunchRequest(
        experiment=step.path,
        outputs=settings.outputs.absolute(),
        seed=seed,
        smoke=smoke,
        config=dict(config),
        ablation_of=marker,
    )
    print(f"ablation: {marker['field']} seed {seed} ...", file=sys.stderr, flush=True)
    with launch_request.child(request, settings.outputs) as launching:
        proc = subprocess.run(launching.argv(), cwd=settings.root, capture_output=True, text=True)
        launched = launching.result(proc.returncode)
    if proc.returncode != 0 or launched is None:
        tail = "\n  ".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise ReprokitError(
            f"ablation run of {step.path} with only {marker['field']} changed (seed {seed}) failed:\n  {tail}",
            hint="fix the experiment, then run `reprokit blame --ablate` again; finished variants are reused",
        )


def _on_seeds(step: Step, seeds: Sequence[int]) -> stats.Summary:
    """The step's metric over ``seeds`` when it has all of them, else over all its runs."""
    if seeds and all(seed in step.seed_values for seed in seeds):
        return stats.summarize([step.seed_values[seed] for seed in seeds])
    return step.std_parts


# With --smoke the parent's and the child's recorded runs are full-size, so the comparison
# needs smoke runs of both ends too; they are variants with these pseudo-field names.
PARENT_REF = "(parent)"
CHILD_REF = "(all fields)"


def _variant_values(
    records: Sequence[Mapping[str, Any]],
    marker: Mapping[str, Any],
    metric: str,
    seeds: Sequence[int],
    smoke: bool,
) -> stats.Summary:
    # Records are oldest first: the latest run per seed wins. Unlike a step's runs (averaged
    # per seed), a variant is re-launched only to replace a stale one, e.g. after a code change.
    by_seed: dict[int, float] = {}
    for r in records:
        value = metric_value(r, metric)
        if (
            r.get("ablation_of") == marker
            and r.get("status") == "completed"
            and bool(r.get("smoke")) == smoke
            and r.get("seed") in seeds
            and value is not None
        ):
            by_seed[r["seed"]] = value
    return stats.summarize(list(by_seed.values()))


def ablate_step(
    metric: str, parent: Step, step: Step, *, settings: Settings, seeds: int, smoke: bool
) -> Step:
    """Launch (or reuse) the single-field variants of one step; return it with their effects."""
    seed_list = ablation_seeds(parent, seeds)
    variants = [(c.path, variant_config(parent.config, step.config, c)) for c in step.changes]
    if smoke:
        variants += [(PARENT_REF, dict(parent.config)), (CHILD_REF, dict(step.config))]
    existing = load_chain_records(settings, [step.path])[step.path]
    for name, config in variants:
        marker: Ablation_ = {"experiment": step.path, "field": name, "step": step.id}
        for seed in seed_list:
            if not _find(existing, marker, seed, smoke):
                _launch(settings, step, config, marker, seed, smoke)
    records = load_chain_records(settings, [step.path])[step.path]
    summaries = {
        name: _variant_values(
            records,
            {"experiment": step.path, "field": name, "step": step.id},
            metric,
            seed_list,
            smoke,
        )
        for name, _ in variants
    }
    if smoke:
        base, full = summaries[PARENT_REF], summaries[CHILD_REF]
    else:
        # Compare on the same seeds where the parent has them, so seed noise cancels.
        base, full = _on_seeds(parent, seed_list), _on_seeds(step, seed_list)
    effects: list[Ablation] = []
    for change in step.changes:
        summary = summaries[change.path]
        delta = None if summary.mean is None or base.mean is None else summary.mean - base.mean
        pooled = stats.pooled_std(base, summary)
        sigma = None if delta is None else stats.delta_sigma(delta, pooled)
        effects.append(Ablation(change.path, delta, sigma, summary.n))
    interaction = None
    deltas = [e.delta for e in effects if e.delta is not None]
    if full.mean is not None and base.mean is not None and len(deltas) == len(effects):
        interaction = full.mean - base.mean - sum(deltas)
    warning = None if smoke else _code_warning(parent, records, step, seed_list)
    return dataclasses.replace(
        step, ablation=tuple(effects), interaction=interaction, ablation_warning=warning
    )


def _code_warning(
    parent: Step, records: Sequence[Mapping[str, Any]], step: Step, seeds: Sequence[int]
) -> str | None:
    """A note when the variants ran at another commit than the parent's runs: a code change
    would then be counted as the fields' effect."""
    parent_shas = {s.sha for s in parent.code_states}
    variant_shas = {
        (r.get("git") or {}).get("sha")
        for r in records
        if (r.get("ablation_of") or {}).get("step") == step.id and r.get("seed") in seeds
    }
    if not parent_shas or variant_shas <= parent_shas:
        return None
    short = ", ".join(sorted(str(s)[:7] for s in variant_shas - parent_shas))
    return (
        f"variants ran at commit {short}, the parent's runs at "
        f"{', '.join(sorted(str(s)[:7] for s in parent_shas))}: code changes are mixed into "
        "the effects; re-launch the parent at the current commit to separate them"
    )


def ablate_steps(
    metric: str, steps: Sequence[Step], *, settings: Settings, seeds: int, smoke: bool
) -> list[Step]:
    """Ablate every step that changed several fields at once; other steps pass through."""
    out = list(steps[:1])
    for parent, step in itertools.pairwise(steps):
        if len(step.changes) < 2:
            out.append(step)
        else:
            out.append(
                ablate_step(metric, parent, step, settings=settings, seeds=seeds, smoke=smoke)
            )
    return out
