"""``reprokit new --set PATH=V1,V2``: sweeps written as one derived file per value, grids,
the limit, and ``--set field=ClassName``; each on a real project, through the real CLI."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from new_test import BASE, FAMILY

from conftest import write
from reprokit.cli import main
from reprokit.experiments.new_grid import value_texts

BEFORE = ["__init__.py", "base_01_01.py"]


@pytest.fixture
def toy(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write(repo / "experiments" / "toy" / "__init__.py", "")
    write(repo / FAMILY / "__init__.py", "")
    write(repo / FAMILY / "base_01_01.py", BASE)
    monkeypatch.chdir(repo)
    return repo


def _files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / FAMILY).glob("*.py"))


def _configs(root: Path, stems: list[str], expr: str) -> list[str]:
    """``expr`` (over ``c``, each file's config) evaluated in a fresh interpreter."""
    code = textwrap.dedent(
        f"""
        import importlib
        for stem in {stems!r}:
            c = importlib.import_module("{FAMILY.replace("/", ".")}." + stem).config
            print(repr({expr}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_a_value_list_writes_one_file_per_value_in_id_order(
    toy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["new", f"{FAMILY}/base_01_01.py", "lr", "--set", "lr=0.3,3e-4,-1"])
    assert code == 0
    assert capsys.readouterr().out == (
        "wrote experiments/toy/exp/lr_lr0p3_02_01.py (parent: base_01_01.py)\n"
        "  lr: 0.1 → 0.3\n"
        "wrote experiments/toy/exp/lr_lr3em4_03_01.py (parent: base_01_01.py)\n"
        "  lr: 0.1 → 0.0003\n"
        "wrote experiments/toy/exp/lr_lrm1_04_01.py (parent: base_01_01.py)\n"
        "  lr: 0.1 → -1.0\n"
        "3 experiments, one per value; after launching them compare them with:"
        " reprokit sweep METRIC experiments/toy/exp/base_01_01.py\n"
    )
    stems = ["lr_lr0p3_02_01", "lr_lr3em4_03_01", "lr_lrm1_04_01"]
    assert _configs(toy, stems, "(c.lr, c.model.hidden)") == [
        "(0.3, 64)",
        "(0.0003, 64)",
        "(-1.0, 64)",
    ]
    # Each is an ordinary derived file: it passes every check.
    assert main(["check", "--no-cache", f"{FAMILY}"]) == 0, capsys.readouterr()


def test_several_lists_form_a_grid_the_first_varying_slowest(
    toy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["new", f"{FAMILY}/base_01_01.py", "g", "--set", "lr=0.3,0.03"]
    argv += ["--set", "model.hidden=32,128", "--set", "model.activation=gelu"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    stems = ["g_lr0p3_hidden32_02_01", "g_lr0p3_hidden128_03_01"]
    stems += ["g_lr0p03_hidden32_04_01", "g_lr0p03_hidden128_05_01"]
    assert _files(toy) == sorted(BEFORE + [s + ".py" for s in stems])
    assert [line.split()[1] for line in out.splitlines() if line.startswith("wrote")] == [
        f"{FAMILY}/{s}.py" for s in stems
    ]
    assert _configs(toy, stems, "(c.lr, c.model.hidden, c.model.activation)") == [
        "(0.3, 32, 'gelu')",
        "(0.3, 128, 'gelu')",
        "(0.03, 32, 'gelu')",
        "(0.03, 128, 'gelu')",
    ]


def test_a_tuple_field_sweeps_bracketed_values_and_keeps_its_bare_comma_form(
    toy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", f"{FAMILY}/base_01_01.py", "one", "--set", "model.sizes=3,4,5"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("one_02_01.py (parent: base_01_01.py)")
    argv = ["new", f"{FAMILY}/base_01_01.py", "s", "--set", "model.sizes=[8,8], (16, 16)"]
    assert main(argv) == 0
    capsys.readouterr()
    assert _files(toy) == sorted(
        [*BEFORE, "one_02_01.py", "s_sizes_8_8_03_01.py", "s_sizes_16_16_04_01.py"]
    )
    assert _configs(
        toy, ["one_02_01", "s_sizes_8_8_03_01", "s_sizes_16_16_04_01"], "c.model.sizes"
    ) == [
        "(3, 4, 5)",
        "(8, 8)",
        "(16, 16)",
    ]


def test_splitting_rules() -> None:
    assert value_texts("x", "1,2", sequence=False) == ["1", "2"]
    assert value_texts("x", "1,2", sequence=True) == ["1,2"]
    assert value_texts("x", "[1,2],[3]", sequence=True) == ["[1,2]", "[3]"]
    assert value_texts("x", '"a,b",c', sequence=False) == ["a,b", "c"]
    assert value_texts("x", '"a,b"', sequence=False) == ["a,b"]
    assert value_texts("x", "{a: 1, b: 2}", sequence=False) == ["{a: 1, b: 2}"]
    assert value_texts("x", "don't,stop", sequence=False) == ["don't", "stop"]
    assert value_texts("x", "relu, gelu", sequence=False) == ["relu", "gelu"]
    assert value_texts("x", " one value ", sequence=False) == [" one value "]


def test_a_bad_list_writes_nothing(toy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["new", f"{FAMILY}/base_01_01.py", "bad"]
    assert main([*base, "--set", "lr=0.3,fast"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: lr: expected float, got 'fast'\n  hint: the field is declared as float\n"
    )
    assert main([*base, "--set", "lr=0.3,,0.2"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: --set lr=0.3,,0.2: an empty item in the list of values\n"
        "  hint: give the values separated by single commas, e.g. --set lr=1,2,3\n"
    )
    assert main([*base, "--set", "lr=0.3,3e-1"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: --set lr: '0.3' and '3e-1' are the same value; each file of a"
        " sweep must differ\n  hint: list each value once\n"
    )
    # 0.1 is the parent's own: that file would be a copy, so none is written.
    assert main([*base, "--set", "lr=0.3,0.1"]) == 1
    assert capsys.readouterr().err.startswith(
        "reprokit: error: --set changes nothing: base_01_01.py already has lr=0.1"
        " (drop that value from the list)\n"
    )
    assert _files(toy) == BEFORE


def test_a_grid_over_the_limit_needs_yes(toy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["new", f"{FAMILY}/base_01_01.py", "big", "--set", "lr=1,2,3"]
    argv += ["--set", "model.hidden=1,2,3,4,5,6,7"]
    assert main(argv) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: --set lists make a grid of 3 (lr) × 7 (model.hidden) = 21 files,"
        " more than 20\n  hint: add --yes to write them all, or give shorter lists\n"
    )
    assert _files(toy) == BEFORE
    assert main([*argv, "--yes"]) == 0
    written = capsys.readouterr().out
    assert written.count("wrote ") == 21
    assert len(_files(toy)) == len(BEFORE) + 21
    assert "big_lr3_hidden7_22_01.py" in _files(toy)


CLASSES = """
from dataclasses import dataclass


@dataclass(frozen=True)
class MLP:
    hidden: int = 64


@dataclass(frozen=True)
class CNN:
    channels: int = 16
    kernel: int = 3


@dataclass(frozen=True)
class Other:
    size: int = 1


class Optimizer:
    pass


class SGD(Optimizer):
    pass


class Adam(Optimizer):
    pass


@dataclass(frozen=True)
class Config:
    seed: int = 0
    model: MLP | CNN = MLP()
    optimizer: type[Optimizer] = SGD


config = Config()


def main(config: Config) -> dict[str, float]:
    return {"score": 1.0}


def smoke(config: Config) -> Config:
    return config
"""


def test_a_class_valued_field_is_set_by_class_name(
    toy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(toy / FAMILY / "base_01_01.py", CLASSES)
    argv = ["new", f"{FAMILY}/base_01_01.py", "cnn", "--set", "model=CNN"]
    assert main([*argv, "--set", "optimizer=Adam"]) == 0
    assert capsys.readouterr().out == (
        "wrote experiments/toy/exp/cnn_02_01.py (parent: base_01_01.py)\n"
        "  model._type: MLP → CNN\n"
        "  model.hidden: 64 → null\n"
        "  model.channels: null → 16\n"
        "  model.kernel: null → 3\n"
        "  optimizer: experiments.toy.exp.base_01_01:SGD → experiments.toy.exp.base_01_01:Adam\n"
    )
    source = (toy / FAMILY / "cnn_02_01.py").read_text()
    assert "from experiments.toy.exp.base_01_01 import (" in source or (
        "import CNN, Adam, config as parent_config" in source
    )
    assert "model=CNN()" in source and "optimizer=Adam" in source
    assert _configs(toy, ["cnn_02_01"], "(type(c.model).__name__, c.optimizer.__name__)") == [
        "('CNN', 'Adam')"
    ]
    assert main(["check", "--no-cache", f"{FAMILY}/cnn_02_01.py"]) == 0, capsys.readouterr()
    # A class the field cannot hold is refused, naming the field's type.
    assert main(["new", f"{FAMILY}/base_01_01.py", "x", "--set", "optimizer=MLP"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: optimizer: MLP is not a subclass of Optimizer\n"
    )
    assert main(["new", f"{FAMILY}/base_01_01.py", "x", "--set", "model=Other"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: model: Other is not MLP | CNN, the field's declared type\n"
        "  hint: declare the field as MLP | CNN | Other to allow it\n"
    )
    assert main(["new", f"{FAMILY}/base_01_01.py", "x", "--set", "model=SGD"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: model: SGD is not a dataclass; a config group is swapped only for"
        " another dataclass (written as SGD() with its defaults)\n"
    )
    assert _files(toy) == ["__init__.py", "base_01_01.py", "cnn_02_01.py"]


MAPPINGS = """
import math
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Config:
    seed: int = 0
    weights: dict[str, int] = field(default_factory=lambda: {"a": 1})
    tags: frozenset[str] = frozenset({"x"})
    rounding: Callable[[float], int] = math.floor


config = Config()


def main(config: Config) -> dict[str, float]:
    return {"score": 1.0}


def smoke(config: Config) -> Config:
    return config
"""


def test_dicts_sets_and_function_references_are_written(
    toy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(toy / FAMILY / "base_01_01.py", MAPPINGS)
    argv = ["new", f"{FAMILY}/base_01_01.py", "m", "--set", "weights={a: 2, b: 3}"]
    argv += ["--set", "tags=z,y", "--set", "rounding=math:ceil"]
    assert main(argv) == 0, capsys.readouterr()
    source = (toy / FAMILY / "m_02_01.py").read_text()
    assert 'weights={"a": 2, "b": 3}' in source
    assert 'tags=frozenset({"y", "z"})' in source
    assert "rounding=ceil" in source and "from math import ceil" in source
    assert _configs(toy, ["m_02_01"], "(c.weights, sorted(c.tags), c.rounding(1.5))") == [
        "({'a': 2, 'b': 3}, ['y', 'z'], 2)"
    ]


def test_a_value_new_cannot_write_says_no_file_was_written() -> None:
    from reprokit.errors import ReprokitError
    from reprokit.experiments.new_source import render_value

    with pytest.raises(ReprokitError) as e:
        render_value(object(), set())
    assert e.value.hint == (
        "no file was written; write one with --copy (the parent's config) and set this"
        " field there by hand, or set it in the parent"
    )
