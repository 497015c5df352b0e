"""Checks 5-6 (frozen configs, YAML round-trip, main, smoke): real imports of real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO_ROOT, write
from reprokit.cli import main

BASE = """
from dataclasses import dataclass


@dataclass(frozen=True)
class Model:
    hidden: int = 16


@dataclass(frozen=True)
class Config:
    lr: float = 0.1
    model: Model = Model()


config = Config()


def main(config: Config) -> dict[str, float]:
    return {"score": config.lr}


def smoke(config: Config) -> Config:
    return config
"""


@pytest.fixture
def fam(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(repo)
    fam = repo / "experiments" / "toy"
    write(fam / "base_01_01.py", BASE)
    return fam


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["check", "--no-cache", *argv])
    return code, capsys.readouterr().out


def test_good_experiments_pass(fam: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        fam / "wide_02_01.py",
        """
        from dataclasses import replace
        from experiments.toy.base_01_01 import config as parent_config, main, smoke
        config = replace(parent_config, lr=0.5)
        """,
    )
    assert run(capsys) == (0, "checked 2 experiments: all good\n")


def test_not_frozen_points_at_the_class(fam: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = BASE.replace("@dataclass(frozen=True)\nclass Model", "@dataclass\nclass Model")
    text = text.replace("model: Model = Model()", "model: Model = field(default_factory=Model)")
    write(fam / "base_01_01.py", text.replace("import dataclass", "import dataclass, field"))
    code, out = run(capsys)
    assert code == 1
    assert out == (
        "experiments/toy/base_01_01.py:5:1: RK503 config.model is a Model, a dataclass without"
        " frozen=True\n"
        "  hint: declare it @dataclass(frozen=True) so code cannot change config.model during a"
        " run (nested dataclasses too)\n"
        "checked 1 experiment: 1 problem in 1 file\n"
    )


def test_mutable_field_points_at_the_field(
    repo: Path, fam: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        fam / "base_01_01.py",
        BASE.replace(
            "    lr: float = 0.1\n",
            "    lr: float = 0.1\n    milestones: list[int] = None  # type: ignore\n",
        ).replace("config = Config()", "config = Config(milestones=[3, 6])"),
    )
    code, out = run(capsys)
    assert code == 1
    assert out.startswith(
        "experiments/toy/base_01_01.py:12:5: RK504 config.milestones holds a list, which can be"
        " changed in place\n"
        "  hint: use a tuple; or set allow_mutable_fields = true in [tool.reprokit]\n"
    )
    write(repo / "pyproject.toml", "[tool.reprokit]\nallow_mutable_fields = true\n")
    assert "RK504" not in run(capsys)[1]


def test_lambda_field_does_not_round_trip(fam: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        fam / "wide_02_01.py",
        """
        from dataclasses import dataclass, field
        from typing import Callable
        from experiments.toy.base_01_01 import main, smoke


        @dataclass(frozen=True)
        class Training:
            schedule: Callable[[int], float] = lambda step: 0.1


        @dataclass(frozen=True)
        class Config:
            training: Training = field(default_factory=Training)


        config = Config()
        """,
    )
    code, out = run(capsys)
    assert code == 1
    assert out == (
        "experiments/toy/wide_02_01.py:8:5: RK601 config does not round-trip: training.schedule:"
        " a lambda cannot be referenced by name; define it as a top-level function\n"
        "checked 2 experiments: 1 problem in 1 file\n"
    )


def test_config_and_main_must_exist(fam: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        fam / "wide_02_01.py", "from experiments.toy.base_01_01 import smoke\nconfig = {'lr': 1}\n"
    )
    code, out = run(capsys)
    assert code == 1
    assert out == (
        "experiments/toy/wide_02_01.py:1:1: RK604 no callable main(config)\n"
        "  hint: define def main(config) or import it from the parent\n"
        "experiments/toy/wide_02_01.py:2:1: RK502 config is a dict, not a dataclass instance\n"
        "  hint: define config = Config(...), an instance of a frozen dataclass\n"
        "checked 2 experiments: 2 problems in 1 file\n"
    )


def test_base_must_define_smoke(repo: Path, fam: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(fam / "base_01_01.py", BASE.split("def smoke")[0])
    code, out = run(capsys)
    assert code == 1
    assert out == (
        "experiments/toy/base_01_01.py:1:1: RK610 the family's base defines no smoke(config)\n"
        "  hint: add def smoke(config) returning a quick variant of config (e.g. one epoch) for"
        " `reprokit smoke`; or set require_smoke = false in [tool.reprokit]\n"
        "checked 1 experiment: 1 problem in 1 file\n"
    )
    write(repo / "pyproject.toml", "[tool.reprokit]\nrequire_smoke = false\n")
    assert run(capsys) == (0, "checked 1 experiment: all good\n")


def test_smoke_must_return_the_config_type(fam: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(fam / "base_01_01.py", BASE.replace("    return config\n", "    return {}\n"))
    code, out = run(capsys)
    assert code == 1
    assert "base_01_01.py:22:1: RK605 smoke(config) returned a dict, expected a Config" in out


def test_import_error_is_reported_with_its_cause(
    fam: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        fam / "wide_02_01.py",
        "from experiments.toy.base_01_01 import config, main\nimport no_such_pkg_xyz\n",
    )
    code, out = run(capsys)
    assert code == 1
    assert out.startswith(
        "experiments/toy/wide_02_01.py:2:1: RK500 cannot import experiments.toy.wide_02_01:"
        " ModuleNotFoundError: No module named 'no_such_pkg_xyz'\n"
        "  hint: fix the error; python -c 'import experiments.toy.wide_02_01' shows the full"
        " traceback\n"
    )


def test_precommit_env_hint(
    fam: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setenv("PRE_COMMIT_HOME", str(Path(sys.prefix).parent))
    write(
        fam / "wide_02_01.py",
        "from experiments.toy.base_01_01 import config, main\nimport no_such_pkg_xyz\n",
    )
    out = run(capsys)[1]
    assert "hint: this hook runs in pre-commit's isolated environment" in out
    assert "`repo: local` hook with `language: system`" in out


def test_static_mode_skips_import_checks(fam: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        fam / "wide_02_01.py",
        "from experiments.toy.base_01_01 import config, main\nimport no_such_pkg_xyz\n",
    )
    assert run(capsys, "--static") == (0, "checked 2 experiments: all good\n")


def test_the_project_own_experiments_pass(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO_ROOT)
    code, out = run(capsys, "experiments")
    assert code == 0, out
    assert out.endswith(": all good\n")
