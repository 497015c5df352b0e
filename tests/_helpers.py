"""Run folders written straight in the record format of docs/architecture.md, so the
analysis commands are tested on deterministic records without launching anything."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from conftest import run_cli
from reprokit.record import schema, store


def schema_problems(record: dict[str, Any]) -> list[str]:
    """Keys of ``record`` (nested objects' too) that the record schema does not have, and
    the type check's complaint: a helper's record that drifts from the format fails here
    rather than testing readers on records no launch writes."""
    known = {name for name, _, _ in schema.all_keys()}
    # Objects whose keys the schema lists (``git``), not free maps (``environment.packages``).
    objects = {name.rsplit(".", 1)[0] for name in known if "." in name}

    def unknown(data: dict[str, Any], prefix: str) -> list[str]:
        found = []
        for key, value in data.items():
            name = prefix + key
            if name not in known:
                found.append(name)
            elif isinstance(value, dict) and name in objects:
                found += unknown(value, name + ".")
        return found

    problem = schema.first_problem(record)
    return unknown(record, "") + ([problem] if problem else [])


def write_run(
    outputs: Path,
    n: int,
    exp_path: str,
    *,
    seed: int = 0,
    config: dict[str, Any] | None = None,
    summary: dict[str, Any] | None = None,
    sha: str = "a" * 40,
    dirty: bool = False,
    snapshot: str | None = None,
    status: str = "completed",
    smoke: bool = False,
    ablation_of: dict[str, Any] | None = None,
    replay_of: str | None = None,
    started_at: str | None = None,
    metrics: list[dict[str, Any]] | None = None,
    packages: dict[str, str] | None = None,
    modified: list[str] | None = None,
) -> Path:
    """A run folder ``outputs/run_<n>`` following docs/architecture.md (format_version 1)."""
    run_dir = outputs / f"run_{n}"
    run_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(exp_path).stem
    name, id_, parent = stem.rsplit("_", 2)
    record: dict[str, Any] = dict.fromkeys(store.RECORD_KEYS)
    record.update(
        format_version=1,
        id=f"run_{n}",
        status=status,
        started_at=started_at or f"2026-11-25T10:{n // 60:02d}:{n % 60:02d}.000000+00:00",
        duration_s=1.5,
        experiment={
            "path": exp_path,
            "module": exp_path[:-3].replace("/", "."),
            "family": str(Path(exp_path).parent),
            "name": name,
            "id": id_,
            "parent": parent,
        },
        seed=seed,
        smoke=smoke,
        ablation_of=ablation_of,
        replay_of=replay_of,
        git={
            "sha": sha,
            "branch": "main",
            "dirty": dirty,
            "snapshot": snapshot or sha,
            "modified": modified or [],
        },
        environment={
            "python": {"version": "3.11.9"},
            "packages": packages or {"torch": "2.3.0", "numpy": "1.26.4"},
        },
        hardware={"cpu": {"model": "cpu", "logical_cores": 2}, "memory_bytes": 1, "gpus": []},
    )
    assert schema_problems(record) == []
    (run_dir / "run.json").write_text(json.dumps(record, sort_keys=True), encoding="utf-8")
    (run_dir / "config.yaml").write_text(
        yaml.safe_dump({**(config or {}), "seed": seed}, sort_keys=False)
    )
    (run_dir / "summary.json").write_text(json.dumps(summary or {}), encoding="utf-8")
    lines = [json.dumps(m) for m in metrics or []]
    (run_dir / "metrics.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return run_dir


def make_run(
    outputs: Path, n: int, *, summary: dict[str, Any] | None = None, **fields: Any
) -> Path:
    """A run folder with a complete, fixed record (no launch needed)."""
    run = outputs / f"run_{n}"
    run.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {key: None for key in store.RECORD_KEYS}
    record.update(
        format_version=1,
        id=run.name,
        status="completed",
        exit_code=0,
        started_at=f"2026-11-25T20:0{n}:00.000000+00:00",
        ended_at=f"2026-11-25T20:0{n}:30.000000+00:00",
        duration_s=30.0 * n,
        heartbeat_at=f"2026-11-25T20:0{n}:30.000000+00:00",
        pid=4242,
        host="gpu-box",
        experiment={
            "path": f"experiments/digits/mlp/wide_0{n}_01.py",
            "module": f"experiments.digits.mlp.wide_0{n}_01",
            "family": "experiments/digits/mlp",
            "name": "wide",
            "id": f"0{n}",
            "parent": "01",
            "config_type": "experiments.digits.mlp.baseline_01_01:Config",
            "lineage": [
                {"id": "01", "name": "baseline", "path": "x", "sha256": "0" * 64},
                {"id": f"0{n}", "name": "wide", "path": "y", "sha256": "1" * 64},
            ],
        },
        seed=n,
        seed_source="config",
        smoke=False,
        deterministic=False,
        checked=True,
        git={
            "sha": f"{n}" * 40,
            "branch": "main",
            "dirty": n % 2 == 0,
            "modified": ["train.py"] if n % 2 == 0 else [],
            "untracked": [],
            "snapshot": "f" * 40,
            "snapshot_ref": f"refs/reprokit/runs/run_{n}",
        },
        environment={"python": {"version": "3.11.9"}, "packages": {"torch": "2.13.0"}},
        hardware={
            "cpu": {"model": "Xeon", "logical_cores": 8},
            "memory_bytes": 16 * 2**30,
            "gpus": [],
            "cuda_visible_devices": None,
        },
        rank=0,
        world_size=1,
        inputs=[],
    )
    assert schema_problems(record) == []
    record.update(fields)  # may break the format on purpose (tests of corrupt records)
    store.write_json(run / "run.json", record)
    store.write_json(run / "summary.json", summary if summary is not None else {})
    (run / "config.yaml").write_text(f"seed: {n}\noptim:\n  lr: 0.{n}\n")
    return run


def launch_seeds(repo: Path, exp: str, seeds: Iterable[int]) -> None:
    """Launch ``exp`` once per seed through the real CLI in a subprocess (experiment modules
    stay out of the test process), failing the test with launch's output if one fails."""
    for seed in seeds:
        proc = run_cli(repo, "launch", exp, "--seed", str(seed))
        assert proc.returncode == 0, proc.stdout + proc.stderr
