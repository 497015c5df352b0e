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


CHILD = """
from dataclasses import replace
from experiments.toy.{parent} import config as parent_config, main, smoke
config = replace(parent_config, lr={lr})
"""


def _lineage(fam: Path) -> None:
    write(fam / "wide_02_01.py", CHILD.format(parent="base_01_01", lr=0.5))
    write(fam / "deep_03_02.py", CHILD.format(parent="wide_02_01", lr=0.6))


def test_mutable_default_is_one_rk503_at_the_class(
    fam: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A newcomer's report: Python's "mutable default ... use default_factory" ValueError
    # came once per experiment, with "fix the error"; the fix is to freeze the class.
    write(
        fam / "base_01_01.py",
        BASE.replace("@dataclass(frozen=True)\nclass Model", "@dataclass\nclass Model"),
    )
    _lineage(fam)
    code, out = run(capsys)
    assert code == 1
    assert out == (
        "experiments/toy/base_01_01.py:5:1: RK503 Model is a dataclass without frozen=True, so"
        " Python refuses an instance of it as the default of Config.model (ValueError: mutable"
        " default ... use default_factory)\n"
        "  hint: declare Model @dataclass(frozen=True): configs are frozen all the way down"
        " (a default_factory would import, then fail RK503)\n"
        "experiments/toy/deep_03_02.py:2:1: RK500 cannot import: its ancestor base_01_01.py"
        " fails (see base_01_01.py:5, RK503)\n"
        "  hint: fix base_01_01.py; this finding goes away with it\n"
        "experiments/toy/wide_02_01.py:2:1: RK500 cannot import: its parent base_01_01.py"
        " fails (see base_01_01.py:5, RK503)\n"
        "  hint: fix base_01_01.py; this finding goes away with it\n"
        "checked 3 experiments: 3 problems in 3 files\n"
    )
    # Checking a descendant alone still states the root cause, at the base.
    code, out = run(capsys, "experiments/toy/deep_03_02.py")
    assert out.startswith("experiments/toy/base_01_01.py:5:1: RK503 Model is a dataclass")
    assert out.endswith("checked 1 experiment: 2 problems in 2 files\n")


def test_missing_main_is_reported_once_with_short_lines_below(
    fam: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(fam / "base_01_01.py", BASE.replace("def main(", "def train("))
    _lineage(fam)
    code, out = run(capsys)
    assert code == 1
    assert out == (
        "experiments/toy/base_01_01.py:1:1: RK604 no callable main(config)\n"
        "  hint: define def main(config) or import it from the parent\n"
        "experiments/toy/deep_03_02.py:2:1: RK500 cannot import: its parent wide_02_01.py"
        " fails (see wide_02_01.py:2, RK500)\n"
        "  hint: fix wide_02_01.py; this finding goes away with it\n"
        "experiments/toy/wide_02_01.py:2:1: RK500 cannot import main from its parent"
        " base_01_01.py, which does not define it\n"
        "  hint: define main in base_01_01.py (or import it from the file that defines it)\n"
        "checked 3 experiments: 3 problems in 3 files\n"
    )


def test_not_frozen_config_class_is_stated_once_at_its_definition(
    fam: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        fam / "base_01_01.py",
        BASE.replace("@dataclass(frozen=True)\nclass Config", "@dataclass\nclass Config"),
    )
    _lineage(fam)
    code, out = run(capsys)
    assert code == 1
    assert out == (
        "experiments/toy/base_01_01.py:10:1: RK503 config is a Config, a dataclass without"
        " frozen=True\n"
        "  hint: declare it @dataclass(frozen=True) so code cannot change config during a run"
        " (nested dataclasses too)\n"
        "experiments/toy/deep_03_02.py:3:1: RK503 config is a Config, defined without"
        " frozen=True in base_01_01.py (see base_01_01.py:10)\n"
        "  hint: fix base_01_01.py; this finding goes away with it\n"
        "experiments/toy/wide_02_01.py:3:1: RK503 config is a Config, defined without"
        " frozen=True in base_01_01.py (see base_01_01.py:10)\n"
        "  hint: fix base_01_01.py; this finding goes away with it\n"
        "checked 3 experiments: 3 problems in 3 files\n"
    )


def test_staged_check_names_no_temporary_path(
    repo: Path, fam: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conftest import git

    # An error whose text names the file it read: the staged export's temporary folder
    # must read as the repository.
    write(fam / "wide_02_01.py", "open(__file__ + '.missing')\n")
    git(repo, "add", "-A")
    code = main(["check", "--staged", "--no-cache"])
    out = capsys.readouterr().out
    assert code == 1
    assert "reprokit-staged-" not in out
    assert f"No such file or directory: '{fam / 'wide_02_01.py'}.missing'" in out


def test_nan_in_a_config_round_trips(fam: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # NaN is never equal to itself; a config holding it on purpose still round-trips.
    write(fam / "base_01_01.py", BASE.replace("lr: float = 0.1", 'lr: float = float("nan")'))
    code, out = run(capsys, "experiments/toy")
    assert (code, out) == (0, "checked 1 experiment: all good\n")


def test_same_config_is_equality_with_nan_equal_to_nan() -> None:
    import dataclasses
    from pathlib import PurePosixPath

    from reprokit.checks.roundtrip import same_config

    @dataclasses.dataclass(frozen=True)
    class C:
        x: float
        xs: tuple[float, ...] = ()

    nan = float("nan")
    assert same_config(C(nan, (1.0, nan)), C(float("nan"), (1.0, float("nan"))))
    assert not same_config(C(nan), C(1.0))
    assert not same_config((1, 2), [1, 2])  # a type that changes is a different config
    assert not same_config(PurePosixPath("x"), "x")
