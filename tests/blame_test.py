"""``reprokit blame``: deterministic records for exact text, plus real launched families."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _helpers import launch_seeds, write_run

from conftest import MINIMAL_EXPERIMENT, git, run_cli, write
from reprokit import stats
from reprokit.analysis import blame as blame_mod
from reprokit.cli import main
from reprokit.settings import load_settings

FAMILY = "experiments/toy"


def _toy_files(repo: Path) -> None:
    write(repo / FAMILY / "__init__.py", "")
    for name in ("base_01_01.py", "both_02_01.py", "noop_03_02.py"):
        write(repo / FAMILY / name, "config = None\n\ndef main(config):\n    return {}\n")


def _two_commits(repo: Path, helper: str, message: str) -> tuple[str, str]:
    """The toy family committed, then a commit changing its training helper: both SHAs."""
    _toy_files(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "toy family")
    first = git(repo, "rev-parse", "HEAD").strip()
    write(repo / FAMILY / "_helper.py", helper)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return first, git(repo, "rev-parse", "HEAD").strip()


def _toy_records(outputs: Path) -> None:
    n = 0
    configs = {
        "base_01_01": {"a": 1, "b": 1.0, "note": "x"},
        "both_02_01": {"a": 2, "b": 0.5, "note": "x"},
        "noop_03_02": {"a": 2, "b": 0.5, "note": "y"},
    }
    scores = {
        "base_01_01": [1.00, 1.02, 0.98],
        "both_02_01": [3.00, 3.02, 2.98],
        "noop_03_02": [3.01, 2.99, 3.03],
    }
    for stem, values in scores.items():
        for seed, value in enumerate(values):
            n += 1
            write_run(
                outputs,
                n,
                f"{FAMILY}/{stem}.py",
                seed=seed,
                config=configs[stem],
                summary={"score": value},
            )
    # Runs blame must not count: smoke, failed, ablation, and one without the metric.
    write_run(outputs, 20, f"{FAMILY}/base_01_01.py", smoke=True, summary={"score": 100.0})
    write_run(outputs, 21, f"{FAMILY}/base_01_01.py", status="failed", summary={"score": 100.0})
    write_run(
        outputs,
        22,
        f"{FAMILY}/both_02_01.py",
        ablation_of={"experiment": f"{FAMILY}/both_02_01.py", "field": "a", "step": "02"},
        summary={"score": 100.0},
    )
    write_run(
        outputs, 23, f"{FAMILY}/both_02_01.py", config=configs["both_02_01"], summary={"loss": 1}
    )


@pytest.fixture
def toy(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The toy family and its deterministic records, with the repo as the current folder."""
    _toy_files(repo)
    _toy_records(repo / "outputs")
    monkeypatch.chdir(repo)
    return repo


EXPECTED_TABLE = """\
blame score along experiments/toy/noop_03_02.py (higher is better)

step     runs  score        Δ vs parent
01 base     3  1 ± 0.02
02 both     3  3 ± 0.02     +2 (+100.0σ) ▲ better
    a: 1 → 2
    b: 1.0 → 0.5
03 noop     3  3.01 ± 0.02  +0.01 (+0.5σ) ▲ within noise
    note: x → y"""


def test_blame_table_exact_text(toy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["blame", "score", f"{FAMILY}/noop_03_02.py"]) == 0
    assert capsys.readouterr().out == EXPECTED_TABLE + "\n"


def test_blame_json_structure(toy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["blame", "score", "run_7", "--json"]) == 0  # run_7 is a noop run
    steps = json.loads(capsys.readouterr().out)
    assert [s["experiment"] for s in steps] == [
        {"id": "01", "name": "base", "path": f"{FAMILY}/base_01_01.py"},
        {"id": "02", "name": "both", "path": f"{FAMILY}/both_02_01.py"},
        {"id": "03", "name": "noop", "path": f"{FAMILY}/noop_03_02.py"},
    ]
    both = steps[1]
    assert (both["runs"], both["seeds"], both["diverged"], both["diverged_values"]) == (3, 3, 0, [])
    assert both["mean"] == pytest.approx(3.0)
    assert both["std"] == pytest.approx(0.02)
    assert both["delta"] == pytest.approx(2.0)
    assert both["sigma"] == pytest.approx(0.02)
    assert both["delta_sigma"] == pytest.approx(100.0)
    assert both["verdict"] == "better"
    assert both["changes"] == [
        {"path": "a", "old": 1, "new": 2},
        {"path": "b", "old": 1.0, "new": 0.5},
    ]
    assert both["code_states"] == [
        {
            "sha": "a" * 40,
            "dirty": False,
            "snapshot": None,
            "runs": 3,
            "seeds": 3,
            "diverged": 0,
            "mean": pytest.approx(3.0),
            "std": pytest.approx(0.02),
            "commits_since_previous": [],
        }
    ]
    assert steps[2]["verdict"] == "within noise"
    assert steps[0]["delta"] is None and steps[0]["changes"] == []


def test_lower_is_better_flips_the_verdict(repo: Path) -> None:
    _toy_files(repo)
    _toy_records(repo / "outputs")
    settings = load_settings(repo)
    steps = blame_mod.blame(
        "score", repo / FAMILY / "both_02_01.py", settings=settings, direction="lower"
    )
    assert steps[1].verdict == "worse"


def test_no_noise_estimate_with_one_run_per_side(repo: Path) -> None:
    _toy_files(repo)
    outputs = repo / "outputs"
    write_run(outputs, 1, f"{FAMILY}/base_01_01.py", config={"a": 1}, summary={"score": 1.0})
    write_run(outputs, 2, f"{FAMILY}/both_02_01.py", config={"a": 2}, summary={"score": 2.0})
    write_run(outputs, 3, f"{FAMILY}/both_02_01.py", config={"a": 2}, summary={"score": 2.2})
    steps = blame_mod.blame("score", repo / FAMILY / "both_02_01.py", settings=load_settings(repo))
    assert (steps[1].delta, steps[1].delta_sigma, steps[1].verdict) == (
        pytest.approx(1.1),
        None,
        "no noise estimate",
    )


@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        ("val_acc", "higher"),
        ("val_loss", "lower"),
        ("f1", "higher"),
        ("train_time", "lower"),
        ("ppl", "lower"),
        ("widgets", None),
    ],
)
def test_direction_inferred_from_the_name(metric: str, direction: str | None) -> None:
    assert stats.infer_direction(metric) == direction


def test_direction_override_from_settings() -> None:
    assert stats.infer_direction("score", {"score": "lower"}) == "lower"
    assert stats.infer_direction("score", {"score": "lower"}, "higher") == "higher"


def test_code_states_split_runs_and_list_commits(repo: Path) -> None:
    first, second = _two_commits(repo, "SCALE = 2\n", "double the scale")
    outputs = repo / "outputs"
    for n, (sha, value) in enumerate([(first, 1.0), (first, 1.1), (second, 2.0), (second, 2.1)], 1):
        write_run(
            outputs,
            n,
            f"{FAMILY}/base_01_01.py",
            seed=n,
            config={"a": 1},
            sha=sha,
            summary={"score": value},
        )
    steps = blame_mod.blame("score", repo / FAMILY / "base_01_01.py", settings=load_settings(repo))
    states = steps[0].code_states
    assert [(s.sha, s.runs) for s in states] == [(first, 2), (second, 2)]
    assert states[0].mean == pytest.approx(1.05) and states[1].mean == pytest.approx(2.05)
    assert states[1].commits_since_previous == (f"{second[:7]} double the scale",)
    text = blame_mod.render("score", "x", steps, "higher")
    assert text.endswith(
        "01 base     4  1.55 ± 0.58\n"
        "    code states:\n"
        f"      {first[:7]}  2 runs  1.05 ± 0.071\n"
        f"        {second[:7]} double the scale\n"
        f"      {second[:7]}  2 runs  2.05 ± 0.071"
    )


def test_variant_config_sets_or_removes_one_field() -> None:
    from reprokit.analysis.blame_ablate import variant_config

    parent = {"optim": {"lr": 0.1, "name": "sgd"}, "old": 1, "seed": 0}
    child = {"optim": {"lr": 0.01, "name": "adam"}, "seed": 0}
    change = blame_mod.Change("optim.lr", 0.1, 0.01)
    assert variant_config(parent, child, change) == {
        "optim": {"lr": 0.01, "name": "sgd"},
        "old": 1,
        "seed": 0,
    }
    assert variant_config(parent, child, blame_mod.Change("old", 1, None)) == {
        "optim": {"lr": 0.1, "name": "sgd"},
        "seed": 0,
    }
    assert parent["optim"]["lr"] == 0.1  # the parent's data is not modified


def test_ablation_reuses_recorded_variants(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _toy_files(repo)
    outputs = repo / "outputs"
    _toy_records(outputs)
    both = f"{FAMILY}/both_02_01.py"
    # Single-field variants already recorded for seeds 0 and 1 (the parent's first two seeds):
    # a alone moves the score by +1.5, b alone by +0.4 (base scores are 1.00 and 1.02).
    n = 30
    for field, values in (("a", [2.5, 2.52]), ("b", [1.4, 1.42])):
        for seed, value in enumerate(values):
            n += 1
            marker = {"experiment": both, "field": field, "step": "02"}
            write_run(outputs, n, both, seed=seed, ablation_of=marker, summary={"score": value})
    monkeypatch.chdir(repo)
    before = sorted(p.name for p in outputs.iterdir())
    assert main(["blame", "score", both, "--ablate"]) == 0
    assert sorted(p.name for p in outputs.iterdir() if p.name != ".index.sqlite") == [
        b for b in before if b != ".index.sqlite"
    ]
    out = capsys.readouterr().out
    assert out.endswith(
        "    single-field effects:\n"
        "      a: +1.5 (+106.1σ)  [2 runs]\n"
        "      b: +0.4 (+28.3σ)  [2 runs]\n"
        "      interaction: +0.1\n"
    )
    assert main(["blame", "score", both, "--ablate", "--json"]) == 0
    step = json.loads(capsys.readouterr().out)[1]
    assert [a["field"] for a in step["ablation"]] == ["a", "b"]
    assert step["ablation"][0]["delta"] == pytest.approx(1.5)
    assert step["interaction"] == pytest.approx(0.1)
    assert step["ablation_warning"] is None


def test_ablation_at_another_commit_warns(repo: Path) -> None:
    _toy_files(repo)
    outputs = repo / "outputs"
    _toy_records(outputs)
    both = f"{FAMILY}/both_02_01.py"
    for n, (field, seed) in enumerate([("a", 0), ("a", 1), ("b", 0), ("b", 1)], 40):
        marker = {"experiment": both, "field": field, "step": "02"}
        write_run(
            outputs, n, both, seed=seed, sha="b" * 40, ablation_of=marker, summary={"score": 2.0}
        )
    from reprokit.analysis.blame_ablate import ablate_steps

    settings = load_settings(repo)
    steps = blame_mod.blame("score", repo / both, settings=settings)
    ablated = ablate_steps("score", steps, settings=settings, seeds=2, smoke=False)[1]
    assert ablated.ablation_warning == (
        "variants ran at commit bbbbbbb, the parent's runs at aaaaaaa: code changes are mixed "
        "into the effects; re-launch the parent at the current commit to separate them"
    )
    assert "      warning: variants ran at commit bbbbbbb" in blame_mod.render(
        "score", both, [steps[0], ablated], None
    )


# --- end to end: a toy family launched for real -------------------------------------------

BASE = """
from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    seed: int = 0
    a: float = 1.0
    b: float = 1.0
    note: str = "x"


config = Config()


def smoke(config: Config) -> Config:
    return config


def main(config: Config) -> dict[str, float]:
    from experiments.toy import _helper

    noise = random.Random(config.seed).gauss(0.0, 1.0)
    return {"score": _helper.SCALE * (2 * config.a - 3 * config.b) + 0.01 * noise}
"""

DERIVED = """
from __future__ import annotations

from dataclasses import replace

from experiments.toy.{parent} import config as parent_config, main, smoke

config = replace(parent_config, {changes})

__all__ = ["config", "main", "smoke"]
"""


def _real_family(repo: Path) -> None:
    write(repo / FAMILY / "__init__.py", "")
    write(repo / FAMILY / "_helper.py", "SCALE = 1.0\n")
    write(repo / FAMILY / "base_01_01.py", BASE)
    write(
        repo / FAMILY / "both_02_01.py", DERIVED.format(parent="base_01_01", changes="a=2.0, b=0.5")
    )
    write(repo / FAMILY / "noop_03_02.py", DERIVED.format(parent="both_02_01", changes='note="y"'))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "toy family")


def _launch(repo: Path, exp: str, *seeds: int) -> None:
    launch_seeds(repo, f"{FAMILY}/{exp}", seeds)


@pytest.mark.slow
def test_blame_and_ablate_a_real_family(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _real_family(repo)
    for exp in ("base_01_01.py", "both_02_01.py", "noop_03_02.py"):
        _launch(repo, exp, 0, 1, 2)
    monkeypatch.chdir(repo)
    assert main(["blame", "score", f"{FAMILY}/noop_03_02.py", "--json"]) == 0
    base, both, noop = json.loads(capsys.readouterr().out)
    assert base["runs"] == both["runs"] == noop["runs"] == 3
    assert base["mean"] == pytest.approx(-1.0, abs=0.05)
    # score = 2a - 3b: a 1 -> 2 adds 2, b 1 -> 0.5 adds 1.5.
    assert both["delta"] == pytest.approx(3.5, abs=1e-9)
    assert both["verdict"] == "better"
    assert both["changes"] == [
        {"path": "a", "old": 1.0, "new": 2.0},
        {"path": "b", "old": 1.0, "new": 0.5},
    ]
    assert noop["changes"] == [{"path": "note", "old": "x", "new": "y"}]
    assert noop["verdict"] == "within noise"
    assert [s["runs"] for s in both["code_states"]] == [3]

    assert main(["blame", "score", f"{FAMILY}/both_02_01.py", "--ablate", "--json"]) == 0
    steps = json.loads(capsys.readouterr().out)
    ablation = {a["field"]: a for a in steps[1]["ablation"]}
    assert ablation["a"]["delta"] == pytest.approx(2.0, abs=1e-9)
    assert ablation["b"]["delta"] == pytest.approx(1.5, abs=1e-9)
    # --seeds 2 (default): the parent's seeds 0 and 1.
    assert ablation["a"]["runs"] == ablation["b"]["runs"] == 2
    assert steps[1]["interaction"] == pytest.approx(0.0, abs=1e-9)
    runs_after_first = sorted(
        (p.name for p in (repo / "outputs").glob("run_*")), key=lambda n: int(n[4:])
    )
    assert len(runs_after_first) == 9 + 4
    record = json.loads((repo / "outputs" / runs_after_first[-1] / "run.json").read_text())
    assert record["ablation_of"]["experiment"] == f"{FAMILY}/both_02_01.py"

    # A second call reuses the ablation runs and prints the table.
    assert main(["blame", "score", f"{FAMILY}/both_02_01.py", "--ablate"]) == 0
    out = capsys.readouterr().out
    assert len(list((repo / "outputs").glob("run_*"))) == 9 + 4
    assert "    single-field effects:\n      a: +2 (" in out
    assert "      b: +1.5 (" in out
    assert "      interaction: " in out
    # Ablation runs are hidden from the step's own statistics.
    assert "02 both     3" in out


@pytest.mark.slow
def test_blame_shows_a_code_move(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _real_family(repo)
    _launch(repo, "base_01_01.py", 0, 1)
    write(repo / FAMILY / "_helper.py", "SCALE = 2.0\n")
    git(repo, "commit", "-q", "-am", "double the scale")
    second = git(repo, "rev-parse", "--short=7", "HEAD").strip()
    _launch(repo, "base_01_01.py", 0, 1)
    monkeypatch.chdir(repo)
    assert main(["blame", "score", f"{FAMILY}/base_01_01.py", "--json"]) == 0
    (step,) = json.loads(capsys.readouterr().out)
    states = step["code_states"]
    assert [s["runs"] for s in states] == [2, 2]
    assert states[0]["mean"] == pytest.approx(-1.0, abs=0.05)
    assert states[1]["mean"] == pytest.approx(-2.0, abs=0.05)
    assert states[1]["commits_since_previous"] == [f"{second} double the scale"]
    assert main(["blame", "score", FAMILY]) == 0
    out = capsys.readouterr().out
    assert f"        {second} double the scale\n" in out
    assert "blame score along experiments/toy/noop_03_02.py" in out  # the family's leaf
    assert "    (never run: config read from today's file)" in out


def test_unknown_metric_suggests_logged_ones(toy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["blame", "scor", f"{FAMILY}/both_02_01.py"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: no completed run along this lineage logged 'scor' in summary.json\n"
        "  hint: did you mean score?\n"
    )


def test_dirty_runs_group_by_snapshot_tree(repo: Path) -> None:
    _toy_files(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "toy family")
    head = git(repo, "rev-parse", "HEAD").strip()

    def snapshot(text: str, message: str) -> str:
        write(repo / FAMILY / "_helper.py", text)
        git(repo, "add", "-A")
        tree = git(repo, "write-tree").strip()
        git(repo, "reset", "-q")
        return git(repo, "commit-tree", tree, "-p", head, "-m", message).strip()

    s1 = snapshot("SCALE = 2\n", "snapshot run_2")
    s2 = snapshot("SCALE = 2\n", "snapshot run_3")  # same files, another commit
    s3 = snapshot("SCALE = 3\n", "snapshot run_4")
    assert len({s1, s2, s3}) == 3
    outputs = repo / "outputs"
    exp = f"{FAMILY}/base_01_01.py"
    write_run(outputs, 1, exp, seed=1, sha=head, summary={"score": 1.0})
    helper = [f"{FAMILY}/_helper.py"]
    for n, snap, score in ((2, s1, 2.0), (3, s2, 2.2), (4, s3, 3.0)):
        write_run(
            outputs, n, exp, seed=n, sha=head, dirty=True, snapshot=snap, modified=helper,
            summary={"score": score},
        )  # fmt: skip
    (step,) = blame_mod.blame("score", repo / exp, settings=load_settings(repo))
    assert [(s.dirty, s.snapshot, s.runs, s.mean) for s in step.code_states] == [
        (False, None, 1, 1.0),
        (True, s1, 2, pytest.approx(2.1)),
        (True, s3, 1, 3.0),
    ]
    assert blame_mod.render("score", exp, [step], None).endswith(
        "    code states:\n"
        f"      {head[:7]}{' ' * 38}1 run  1\n"
        f"      {head[:7]} + uncommitted _helper.py [{s1[:7]}]  2 runs  2.1 ± 0.14\n"
        f"      {head[:7]} + uncommitted _helper.py [{s3[:7]}]   1 run  3"
    )


# --- seeds, not runs, are the samples; diverged runs are shown, never averaged ---------------


def _strict_json(text: str) -> object:
    """``json.loads`` that fails on NaN/Infinity, which strict JSON parsers reject."""

    def refuse(constant: str) -> object:
        raise AssertionError(f"--json printed {constant}")

    return json.loads(text, parse_constant=refuse)


def _launch_plain(repo: Path, exp: str, times: int) -> None:
    """``reprokit launch`` with no --seed: every run uses the config's default seed 0."""
    for _ in range(times):
        proc = run_cli(repo, "launch", f"{FAMILY}/{exp}")
        assert proc.returncode == 0, proc.stdout + proc.stderr


EXPECTED_RELAUNCHED = """\
blame score along experiments/toy/tiny_04_01.py (higher is better)

step           runs  score    Δ vs parent
01 base  2 (1 seed)  -0.9906
04 tiny  2 (1 seed)  -0.9906  +2e-07 ▲ no noise estimate
    a: 1.0 → 1.0000001"""


@pytest.mark.slow
def test_relaunched_seed_is_one_sample(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: each re-launch of seed 0 counted as a sample, so deterministic runs gave σ = 0
    # and a 1e-7 change read "+infσ ▲ better".
    _real_family(repo)
    write(
        repo / FAMILY / "tiny_04_01.py", DERIVED.format(parent="base_01_01", changes="a=1.0000001")
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "tiny change")
    _launch_plain(repo, "base_01_01.py", 2)
    _launch_plain(repo, "tiny_04_01.py", 2)
    monkeypatch.chdir(repo)
    assert main(["blame", "score", f"{FAMILY}/tiny_04_01.py"]) == 0
    assert capsys.readouterr().out == EXPECTED_RELAUNCHED + "\n"

    # A second seed on each side gives a real noise estimate: the change is within it, and
    # seed 0's two runs still count once (mean over 2 seeds, std from 2 values).
    _launch(repo, "base_01_01.py", 1)
    _launch(repo, "tiny_04_01.py", 1)
    assert main(["blame", "score", f"{FAMILY}/tiny_04_01.py", "--json"]) == 0
    base, tiny = _strict_json(capsys.readouterr().out)  # type: ignore[misc]
    assert (tiny["runs"], tiny["seeds"]) == (3, 2)
    values = [stats.as_float(v) for v in (base["mean"], tiny["mean"])]
    assert values[1] - values[0] == pytest.approx(2e-7, abs=1e-9)  # type: ignore[operator]
    assert tiny["std"] > 0.001 and tiny["verdict"] == "within noise"
    assert [(s["runs"], s["seeds"]) for s in tiny["code_states"]] == [(3, 2)]


NAN_CHILD = """
from __future__ import annotations

from dataclasses import replace

from experiments.toy.base_01_01 import config as parent_config, main as parent_main, smoke

config = replace(parent_config, b=0.5)


def main(config):
    # Seed 2 diverges; seed 3 overflows.
    bad = {2: float("nan"), 3: float("inf")}
    return {"score": bad[config.seed]} if config.seed in bad else parent_main(config)


__all__ = ["config", "main", "smoke"]
"""


@pytest.mark.slow
def test_diverged_runs_are_shown_and_left_out(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: a NaN run made the mean NaN, printed "nan ± nan +nan (+nanσ) = worse", and
    # --json emitted NaN (not JSON).
    _real_family(repo)
    write(repo / FAMILY / "diverge_04_01.py", NAN_CHILD)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a child that diverges")
    _launch(repo, "base_01_01.py", 0, 1)
    _launch(repo, "diverge_04_01.py", 0, 1, 2, 2, 3)
    monkeypatch.chdir(repo)
    assert main(["blame", "score", f"{FAMILY}/diverge_04_01.py"]) == 0
    out = capsys.readouterr().out
    assert "04 diverge     2  0.5" in out
    # b 1 -> 0.5 adds 1.5 exactly: seeds 0 and 1 carry the same noise on both sides.
    assert "+1.5 (+" in out and "▲ better\n" in out
    assert out.endswith(
        "    b: 1.0 → 0.5\n    3 runs diverged (inf, nan): left out of mean and σ\n"
    )
    assert "nan ±" not in out and "nanσ" not in out

    assert main(["blame", "score", f"{FAMILY}/diverge_04_01.py", "--json"]) == 0
    base, child = _strict_json(capsys.readouterr().out)  # type: ignore[misc]
    assert (child["runs"], child["seeds"], child["diverged"]) == (2, 2, 3)
    assert child["diverged_values"] == ["inf", "nan"]
    assert child["mean"] == pytest.approx(0.5, abs=0.05)
    assert child["delta"] == pytest.approx(1.5, abs=1e-9)
    assert isinstance(child["delta_sigma"], float) and child["verdict"] == "better"
    assert child["code_states"][0]["diverged"] == 3
    assert base["diverged"] == 0 and base["diverged_values"] == []


@pytest.mark.slow
def test_only_diverged_runs_give_no_mean(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _real_family(repo)
    write(repo / FAMILY / "diverge_04_01.py", NAN_CHILD)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a child that diverges")
    _launch(repo, "diverge_04_01.py", 2, 3)
    monkeypatch.chdir(repo)
    # The metric was logged (as NaN/inf): not "no run logged 'score'".
    assert main(["blame", "score", f"{FAMILY}/diverge_04_01.py", "--json"]) == 0
    child = _strict_json(capsys.readouterr().out)[1]  # type: ignore[index]
    assert (child["runs"], child["seeds"], child["diverged"]) == (0, 0, 2)
    assert child["mean"] is child["std"] is child["delta"] is child["delta_sigma"] is None
    assert child["verdict"] == "no data"


def test_exact_seed_agreement_is_sigma_zero_not_infinity(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two distinct seeds per side that agree exactly: noise was measured and is 0, so the
    # move is real; JSON says so with sigma 0 and delta_sigma null (never the string "inf").
    _toy_files(repo)
    outputs = repo / "outputs"
    records = [
        ("base_01_01", 0, 1.0),
        ("base_01_01", 1, 1.0),
        ("both_02_01", 0, 2.0),
        ("both_02_01", 1, 2.0),
    ]
    for n, (stem, seed, value) in enumerate(records, 1):
        write_run(outputs, n, f"{FAMILY}/{stem}.py", seed=seed, summary={"score": value})
    monkeypatch.chdir(repo)
    assert main(["blame", "score", f"{FAMILY}/both_02_01.py"]) == 0
    assert capsys.readouterr().out.endswith("02 both     2  2 ± 0  +1 (σ = 0) ▲ better\n")
    assert main(["blame", "score", f"{FAMILY}/both_02_01.py", "--json"]) == 0
    step = _strict_json(capsys.readouterr().out)[1]  # type: ignore[index]
    assert (step["sigma"], step["delta_sigma"], step["verdict"]) == (0.0, None, "better")


def test_nan_in_a_config_change_stays_strict_json(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _toy_files(repo)
    outputs = repo / "outputs"
    write_run(outputs, 1, f"{FAMILY}/base_01_01.py", config={"clip": 1.0}, summary={"score": 1})
    both = f"{FAMILY}/both_02_01.py"
    write_run(outputs, 2, both, config={"clip": float("inf")}, summary={"score": 2})
    monkeypatch.chdir(repo)
    assert main(["blame", "score", both, "--json"]) == 0
    step = _strict_json(capsys.readouterr().out)[1]  # type: ignore[index]
    assert step["changes"] == [{"path": "clip", "old": 1.0, "new": "inf"}]


# --- a step compared with its parent at the same code -----------------------------------------


def test_a_code_change_is_not_credited_to_the_config_change(repo: Path) -> None:
    # The child ran at the parent's code (no effect of its config change) and again after a
    # commit that changed the training code (+2). The headline Δ mixes both; the same-code
    # line compares like with like.
    old, new = _two_commits(repo, "SCALE = 3\n", "train better")
    outputs = repo / "outputs"
    runs = [
        ("base_01_01", old, 1, 1.0, {"a": 1}),
        ("base_01_01", old, 2, 1.1, {"a": 1}),
        ("both_02_01", old, 1, 1.05, {"a": 2}),
        ("both_02_01", old, 2, 1.15, {"a": 2}),
        ("both_02_01", new, 3, 3.0, {"a": 2}),
        ("both_02_01", new, 4, 3.1, {"a": 2}),
    ]
    for n, (stem, sha, seed, score, config) in enumerate(runs, 1):
        write_run(
            outputs, n, f"{FAMILY}/{stem}.py", seed=seed, sha=sha, config=config,
            summary={"score": score},
        )  # fmt: skip
    steps = blame_mod.blame("score", repo / FAMILY / "both_02_01.py", settings=load_settings(repo))
    child = steps[1]
    assert child.delta == pytest.approx(1.025)
    assert child.same_code is not None and child.same_code.code is not None
    assert child.same_code.code.sha == old
    assert child.same_code.delta == pytest.approx(0.05)
    assert child.same_code.verdict == "within noise"
    text = blame_mod.render("score", "x", steps, "higher")
    assert (
        f"    at the same code as its parent ({old[:7]}, 2 vs 2 runs): +0.05 (+0.7σ) ▲ within noise\n"
        in text
    )
    assert child.to_json()["same_code"] == {
        "sha": old,
        "snapshot": None,
        "runs": 2,
        "parent_runs": 2,
        "delta": pytest.approx(0.05),
        "delta_sigma": pytest.approx(0.7071, abs=1e-3),
        "verdict": "within noise",
    }


def test_a_step_that_never_ran_at_its_parents_code_says_so(repo: Path) -> None:
    # The parent ran at a, the child at b and later at c: its runs span code states and
    # none of them is the parent's.
    outputs = repo / "outputs"
    runs = [("base_01_01", "a", 1), ("base_01_01", "a", 2), ("both_02_01", "b", 1)]
    runs.append(("both_02_01", "c", 2))
    for n, (stem, sha, seed) in enumerate(runs, 1):
        write_run(outputs, n, f"{FAMILY}/{stem}.py", seed=seed, sha=sha * 40, summary={"score": n})
    _toy_files(repo)
    steps = blame_mod.blame("score", repo / FAMILY / "both_02_01.py", settings=load_settings(repo))
    assert steps[1].same_code == blame_mod.SameCode(None)
    assert (
        "    never ran at the same code as its parent: the Δ above mixes code and config"
        in blame_mod.render("score", "x", steps, "higher")
    )


def test_the_everyday_workflow_has_no_same_code_line(repo: Path) -> None:
    # Run the parent, commit the child, run it: one code state each, and the commit in
    # between is the child itself; no warning about mixed code.
    outputs = repo / "outputs"
    runs = [("base_01_01", "a", 1), ("base_01_01", "a", 2), ("both_02_01", "b", 1)]
    for n, (stem, sha, seed) in enumerate(runs, 1):
        write_run(outputs, n, f"{FAMILY}/{stem}.py", seed=seed, sha=sha * 40, summary={"score": n})
    _toy_files(repo)
    steps = blame_mod.blame("score", repo / FAMILY / "both_02_01.py", settings=load_settings(repo))
    assert steps[1].same_code is None
    assert "same code" not in blame_mod.render("score", "x", steps, "higher")


def test_a_headline_over_mixed_code_says_so(repo: Path) -> None:
    # Trial: "+0.0001614 (+0.0σ) ▲ within noise" above "at the same code as its parent
    # (...): +0.1149 (+3.0σ) ▲ worse": the headline verdict must not be read alone.
    outputs = repo / "outputs"
    runs = [
        ("base_01_01", "a", 1, 1.0), ("base_01_01", "a", 2, 1.1),
        ("both_02_01", "a", 1, 1.05), ("both_02_01", "a", 2, 1.15),
        ("both_02_01", "b", 3, 3.0), ("both_02_01", "b", 4, 3.1),
    ]  # fmt: skip
    for n, (stem, sha, seed, score) in enumerate(runs, 1):
        write_run(
            outputs, n, f"{FAMILY}/{stem}.py", seed=seed, sha=sha * 40, summary={"score": score}
        )
    _toy_files(repo)
    steps = blame_mod.blame("score", repo / FAMILY / "both_02_01.py", settings=load_settings(repo))
    lines = blame_mod.render("score", "x", steps, "higher").splitlines()
    assert lines[3:6] == [
        "01 base     2  1.05 ± 0.071",
        "02 both     4  2.075 ± 1.1   +1.025 (+1.0σ) ▲ within noise, mixed code",
        "    at the same code as its parent (aaaaaaa, 2 vs 2 runs): +0.05 (+0.7σ) ▲ within noise",
    ]
    assert [s.to_json()["mixed_code"] for s in steps] == [False, True]


def test_an_experiment_whose_runs_all_failed_is_not_never_run(
    toy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(toy / FAMILY / "late_04_03.py", MINIMAL_EXPERIMENT)
    write(toy / FAMILY / "next_05_04.py", MINIMAL_EXPERIMENT)
    write_run(toy / "outputs", 30, f"{FAMILY}/late_04_03.py", status="failed")
    write_run(toy / "outputs", 31, f"{FAMILY}/late_04_03.py", status="failed")
    steps = blame_mod.blame("score", toy / FAMILY / "next_05_04.py", settings=load_settings(toy))
    text = blame_mod.render("score", "x", steps, "higher")
    late, after_late = text.split("\n04 late ")[1].split("\n05 next ")
    assert "    (no completed run: 2 failed; config read from today's file)" in late
    assert "    (never run: config read from today's file)" in after_late


def test_a_folder_above_the_families_suggests_them(
    toy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(toy / "experiments/toy/reg/base_01_01.py", "config = None\n")
    write(toy / "experiments/other/base_01_01.py", "config = None\n")
    assert main(["blame", "score", "experiments"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: experiments: no experiment files in this folder\n"
        "  hint: did you mean experiments/other, experiments/toy, experiments/toy/reg?\n"
    )
    (toy / "notes").mkdir()  # far from any family name: the generic hint
    assert main(["blame", "score", "notes"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: notes: no experiment files in this folder\n"
        "  hint: pass an experiment file, run_N, or a family folder\n"
    )


def test_json_names_the_runs_counted(toy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_run(toy / "outputs", 10, f"{FAMILY}/base_01_01.py", seed=5, summary={"score": 1.0})
    write_run(toy / "outputs", 11, f"{FAMILY}/base_01_01.py", summary={"score": float("nan")})
    assert main(["blame", "score", FAMILY, "--json"]) == 0
    (section,) = json.loads(capsys.readouterr().out)
    # Counted: finite values of completed plain runs, by run number (run_10 after run_3).
    assert [s["run_ids"] for s in section["steps"]] == [
        ["run_1", "run_2", "run_3", "run_10"],
        ["run_4", "run_5", "run_6"],
        ["run_7", "run_8", "run_9"],
    ]
