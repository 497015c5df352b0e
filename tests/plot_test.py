"""``reprokit plot``: a real PNG of metric-over-step curves."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from _helpers import launch_seeds, write_run

from conftest import write
from reprokit.analysis import plot
from reprokit.cli import main

FAMILY = "experiments/toy"


def _runs(repo: Path) -> None:
    write(repo / FAMILY / "base_01_01.py", "config = None\n")
    write(repo / FAMILY / "wide_02_01.py", "config = None\n")
    outputs = repo / "outputs"
    for n, (exp, offset) in enumerate(
        [("base_01_01", 0.0), ("base_01_01", 0.1), ("wide_02_01", 0.5)], 1
    ):
        rows = [{"step": s, "time": 0.0, "loss": 1.0 / (s + 1) + offset} for s in range(10)]
        write_run(
            outputs,
            n,
            f"{FAMILY}/{exp}.py",
            seed=n,
            summary={"loss": rows[-1]["loss"]},
            metrics=rows,
        )


def test_plot_writes_a_png_of_the_expected_size(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _runs(repo)
    monkeypatch.chdir(repo)
    out = repo / "plots" / "loss.png"
    assert (
        main(["plot", "loss", f"{FAMILY}/wide_02_01.py", f"{FAMILY}/base_01_01.py", "-o", str(out)])
        == 0
    )
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    assert (width, height) == (800, 500)
    import matplotlib.image

    assert matplotlib.image.imread(out).shape[:2] == (500, 800)


def test_plot_groups_by_experiment_in_lineage_order(repo: Path) -> None:
    _runs(repo)
    from reprokit.settings import load_settings

    groups = plot.collect(
        [f"{FAMILY}/wide_02_01.py", f"{FAMILY}/base_01_01.py"], load_settings(repo)
    )
    assert [(g.name, g.kind, [d.name for d in g.dirs]) for g in groups] == [
        (f"{FAMILY}/base_01_01.py", "experiment", ["run_1", "run_2"]),
        (f"{FAMILY}/wide_02_01.py", "experiment", ["run_3"]),
    ]


def test_a_named_run_is_its_own_line_never_merged(repo: Path) -> None:
    # Trial: `plot val_loss run_31 run_6` (one experiment, one run dirty) drew one line
    # "wide_02_01 (2 runs)".
    _runs(repo)
    from reprokit.settings import load_settings

    settings = load_settings(repo)
    groups = plot.collect(["run_2", "run_1", f"{FAMILY}/base_01_01.py"], settings)
    assert [(g.name, g.kind, [d.name for d in g.dirs]) for g in groups] == [
        (f"{FAMILY}/base_01_01.py", "experiment", ["run_1", "run_2"]),
        ("run_1", "run", ["run_1"]),
        ("run_2", "run", ["run_2"]),
    ]
    labels = [plot.label(g, g.records, repo) for g in groups]
    assert labels == ["base_01_01 (2 runs)", "run_1 (base_01_01)", "run_2 (base_01_01)"]


def test_an_experiment_over_several_code_states_says_so(repo: Path) -> None:
    write(repo / FAMILY / "wide_02_01.py", "config = None\n")
    rows = [{"step": 0, "loss": 1.0}]
    for n, sha in enumerate(["a", "a", "b", "c"], 1):
        write_run(
            repo / "outputs", n, f"{FAMILY}/wide_02_01.py", seed=n, sha=sha * 40, metrics=rows
        )
    from reprokit.settings import load_settings

    ((group,),) = [plot.collect([f"{FAMILY}/wide_02_01.py"], load_settings(repo))]
    assert plot.label(group, group.records, repo) == "wide_02_01 (4 runs, 3 code states)"
    assert plot.label(group, group.records[:2], repo) == "wide_02_01 (2 runs)"


def test_a_family_folder_is_every_experiment_in_lineage_order(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _runs(repo)
    write(repo / FAMILY / "__init__.py", "")
    write(repo / FAMILY / "_helpers.py", "")
    write(repo / FAMILY / "deep_03_02.py", "config = None\n")  # never run: no line
    from reprokit.settings import load_settings

    groups = plot.collect([FAMILY], load_settings(repo))
    assert [g.name for g in groups] == [f"{FAMILY}/base_01_01.py", f"{FAMILY}/wide_02_01.py"]
    monkeypatch.chdir(repo)
    assert main(["plot", "loss", FAMILY, "-o", "fam.png"]) == 0
    assert (repo / "fam.png").read_bytes()[:4] == b"\x89PNG"


def test_a_folder_above_the_families_suggests_them(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _runs(repo)
    write(repo / "experiments/toy2/base_01_01.py", "config = None\n")
    monkeypatch.chdir(repo)
    assert main(["plot", "loss", "experiments", "-o", "x.png"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: experiments: no experiment files in this folder\n"
        "  hint: did you mean experiments/toy, experiments/toy2?\n"
    )


def test_a_glob_skips_helpers_but_a_lone_helper_is_refused(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _runs(repo)
    write(repo / FAMILY / "__init__.py", "")
    write(repo / FAMILY / "_helpers.py", "")
    monkeypatch.chdir(repo)
    glob = sorted(str(p.relative_to(repo)) for p in (repo / FAMILY).glob("*.py"))
    assert glob[0] == f"{FAMILY}/__init__.py"
    assert main(["plot", "loss", *glob, "-o", "glob.png"]) == 0
    assert (repo / "glob.png").is_file()
    capsys.readouterr()
    assert main(["plot", "loss", f"{FAMILY}/_helpers.py", "-o", "x.png"]) == 1
    assert capsys.readouterr().err == (
        f"reprokit: error: {FAMILY}/_helpers.py: not an experiment file "
        "(files starting with _ are helpers)\n"
        "  hint: pass an experiment file (<name>_<id>_<parent>.py), a run, or a family folder\n"
    )


def test_series_uses_steps_and_skips_rows_without_the_metric() -> None:
    rows = [{"step": 0, "loss": 2}, {"step": 5, "acc": 1}, {"step": 10, "loss": 1.5}, {"loss": 1.0}]
    assert plot.series(rows, "loss") == {0.0: 2.0, 10.0: 1.5, 2.0: 1.0}


def test_plot_a_metric_nobody_logged(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _runs(repo)
    monkeypatch.chdir(repo)
    assert main(["plot", "acc", "run_1", "-o", "x.png"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: no run of run_1 logged 'acc' in metrics.jsonl\n"
        "  hint: log it with reprokit.log(step=..., acc=...)\n"
    )
    assert not (repo / "x.png").exists()


def test_a_misspelled_metric_suggests_the_logged_one(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _runs(repo)
    monkeypatch.chdir(repo)
    assert main(["plot", "los", FAMILY, "-o", "x.png"]) == 1
    assert capsys.readouterr().err == (
        f"reprokit: error: no run of {FAMILY} logged 'los' in metrics.jsonl\n"
        "  hint: did you mean loss?\n"
    )


LOGGING = """
from __future__ import annotations

from dataclasses import dataclass

import reprokit


@dataclass(frozen=True)
class Config:
    seed: int = 0
    rate: float = 0.5


config = Config()


def smoke(config: Config) -> Config:
    return config


def main(config: Config) -> dict[str, float]:
    loss = 1.0 + config.seed
    for step in range(5):
        loss *= config.rate
        reprokit.log(step=step, loss=loss)
    return {"loss": loss}
"""


@pytest.mark.slow
def test_plot_real_launched_runs(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import git

    write(repo / FAMILY / "__init__.py", "")
    write(repo / FAMILY / "base_01_01.py", LOGGING)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "toy")
    launch_seeds(repo, f"{FAMILY}/base_01_01.py", (0, 1))
    monkeypatch.chdir(repo)
    assert main(["plot", "loss", f"{FAMILY}/base_01_01.py", "-o", "loss.png"]) == 0
    assert struct.unpack(">II", (repo / "loss.png").read_bytes()[16:24]) == (800, 500)
    from reprokit.record.store import read_metrics
    from reprokit.settings import load_settings

    (group,) = plot.collect([f"{FAMILY}/base_01_01.py"], load_settings(repo))
    assert [plot.series(read_metrics(d), "loss") for d in group.dirs] == [
        {0.0: 0.5, 1.0: 0.25, 2.0: 0.125, 3.0: 0.0625, 4.0: 0.03125},
        {0.0: 1.0, 1.0: 0.5, 2.0: 0.25, 3.0: 0.125, 4.0: 0.0625},
    ]
