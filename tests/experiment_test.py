from __future__ import annotations

from pathlib import Path

import pytest

from conftest import write
from reprokit.errors import ReprokitError
from reprokit.experiments import discovery as experiment
from reprokit.settings import load_settings


def _family(root: Path) -> Path:
    fam = root / "experiments" / "toy" / "fam"
    for folder in (root / "experiments", root / "experiments" / "toy", fam):
        write(folder / "__init__.py", "")
    write(fam / "base_01_01.py", "X = 1\n")
    write(fam / "wide_02_01.py", "X = 2\n")
    write(fam / "deep_03_02.py", "X = 3\n")
    write(fam / "_helper.py", "")
    return fam


def test_discovery_and_lineage(tmp_path: Path) -> None:
    fam = _family(tmp_path)
    found = [p.name for p in experiment.iter_experiment_paths(tmp_path / "experiments")]
    assert found == ["base_01_01.py", "deep_03_02.py", "wide_02_01.py"]
    chain = experiment.lineage(fam / "deep_03_02.py")
    assert [e.path.name for e in chain] == ["base_01_01.py", "wide_02_01.py", "deep_03_02.py"]
    assert (
        experiment.module_name(fam / "deep_03_02.py", tmp_path) == "experiments.toy.fam.deep_03_02"
    )


def test_lineage_missing_parent(tmp_path: Path) -> None:
    fam = _family(tmp_path)
    write(fam / "odd_04_09.py", "")
    with pytest.raises(ReprokitError, match="parent 09 does not exist"):
        experiment.lineage(fam / "odd_04_09.py")


def test_import_experiment_reports_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    fam = _family(tmp_path)
    write(fam / "broken_05_01.py", "import no_such_module_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = load_settings(tmp_path)
    module = experiment.import_experiment(fam / "wide_02_01.py", settings)
    assert module.X == 2
    with pytest.raises(ReprokitError, match="No module named 'no_such_module_here'"):
        experiment.import_experiment(fam / "broken_05_01.py", settings)
