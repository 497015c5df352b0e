from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import write
from reprokit.cli import main

FAMILY = "experiments/toy/exp"

BASE = """
import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Model:
    hidden: int = 64
    activation: Literal["relu", "gelu"] = "relu"
    color: Color = Color.RED
    sizes: tuple[int, ...] = (1, 2)

    def __post_init__(self) -> None:
        # Normalizes silently: `new` must notice the written config is not what was asked.
        if self.hidden > 1000:
            object.__setattr__(self, "hidden", 1000)


@dataclass(frozen=True)
class Data:
    dir: Path = Path("data")
    fraction: float = 0.5


@dataclass(frozen=True)
class Config:
    seed: int = 0
    lr: float = 0.1
    model: Model = Model()
    data: Data = Data()


config = Config()


def main(config: Config) -> dict[str, float]:
    return {"score": config.lr * config.model.hidden}


def smoke(config: Config) -> Config:
    return config
"""

# A derived parent: `new` must take the enum's import from where it is defined.
WIDE = """
from dataclasses import replace

from experiments.toy.exp.base_01_01 import config as parent_config, main, smoke

__all__ = ["config", "main", "smoke"]

config = replace(parent_config, model=replace(parent_config.model, hidden=128))
"""

NO_SMOKE = """
from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    seed: int = 0


config = Config()


def main(config: Config) -> None:
    pass
"""


@pytest.fixture
def toy(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write(repo / "experiments" / "toy" / "__init__.py", "")
    write(repo / FAMILY / "__init__.py", "")
    write(repo / FAMILY / "base_01_01.py", BASE)
    write(repo / FAMILY / "wide_02_01.py", WIDE)
    monkeypatch.chdir(repo)
    return repo


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.py"))


def _python(root: Path, code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _check_passes(root: Path, path: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`reprokit check` on the written file, once the checks exist."""
    import importlib

    try:
        importlib.import_module("reprokit.checks.command")
        importlib.import_module("reprokit.config.codec")  # the round-trip checks need it
    except ImportError:
        return
    assert main(["check", "--no-cache", path]) == 0, capsys.readouterr()
    capsys.readouterr()


def test_new_with_several_sets_writes_the_next_id(
    toy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("reprokit.config.codec")
    code = main(
        [
            "new",
            f"{FAMILY}/wide_02_01.py",
            "big",
            "--set",
            "model.hidden=256",
            "--set",
            "lr=3e-4",
            "--set",
            "model.activation=gelu",
            "--set",
            "model.color=BLUE",
            "--set",
            "data.dir=/data/digits",
            "--set",
            "model.sizes=3,4,5",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out == (
        "wrote experiments/toy/exp/big_03_02.py (parent: wide_02_01.py)\n"
        # Field order and value text as blame and diff show them.
        "  lr: 0.1 → 0.0003\n"
        "  model.hidden: 128 → 256\n"
        "  model.activation: relu → gelu\n"
        "  model.color: RED → BLUE\n"
        "  model.sizes: [1, 2] → [3, 4, 5]\n"
        "  data.dir: data → /data/digits\n"
    )
    written = toy / FAMILY / "big_03_02.py"
    assert written.read_text() == textwrap.dedent(
        '''\
        """Derived from wide_02_01.py: say here what this experiment tests.

        - model.hidden = 256
        - lr = 0.0003
        - model.activation = "gelu"
        - model.color = Color.BLUE
        - data.dir = Path("/data/digits")
        - model.sizes = (3, 4, 5)
        """

        from dataclasses import replace
        from pathlib import Path

        from experiments.toy.exp.wide_02_01 import config as parent_config, main, smoke

        __all__ = ["config", "main", "smoke"]

        config = replace(
            parent_config,
            model=replace(
                parent_config.model,
                hidden=256,
                activation="gelu",
                color=type(parent_config.model.color).BLUE,
                sizes=(3, 4, 5),
            ),
            lr=0.0003,
            data=replace(parent_config.data, dir=Path("/data/digits")),
        )
        '''
    )
    # In a fresh interpreter: exactly the parent's config with those changes.
    assert (
        _python(
            toy,
            """
        from dataclasses import replace
        from pathlib import Path
        from experiments.toy.exp.base_01_01 import Color
        from experiments.toy.exp.wide_02_01 import config as p
        from experiments.toy.exp.big_03_02 import config
        expected = replace(
            p,
            lr=3e-4,
            model=replace(p.model, hidden=256, activation="gelu", color=Color.BLUE, sizes=(3, 4, 5)),
            data=replace(p.data, dir=Path("/data/digits")),
        )
        print(config == expected and type(config.model.sizes[0]) is int)
        """,
        )
        == "True"
    )
    _check_passes(toy, f"{FAMILY}/big_03_02.py", capsys)


def test_enum_imports_come_from_the_parent_only(
    toy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("reprokit.config.codec")
    # From the base, where Color is defined: imported by name.
    assert main(["new", f"{FAMILY}/base_01_01.py", "blue", "--set", "model.color=BLUE"]) == 0
    text = (toy / FAMILY / "blue_03_01.py").read_text()
    assert (
        "from experiments.toy.exp.base_01_01 import Color, config as parent_config, main, smoke\n"
        in text
    )
    assert (
        "config = replace(parent_config, model=replace(parent_config.model, color=Color.BLUE))\n"
        in text
    )
    # From a child that re-exports Color: imported from that parent, not from the base.
    write(toy / FAMILY / "reexp_04_01.py", WIDE.replace("import config", "import Color, config"))
    assert main(["new", f"{FAMILY}/reexp_04_01.py", "red", "--set", "model.color=BLUE"]) == 0
    text = (toy / FAMILY / "red_05_04.py").read_text()
    assert (
        "from experiments.toy.exp.reexp_04_01 import Color, config as parent_config, main, smoke\n"
        in text
    )
    assert "base_01_01" not in text
    for name in ("blue_03_01.py", "red_05_04.py"):
        _check_passes(toy, f"{FAMILY}/{name}", capsys)


def test_new_is_formatted_like_ruff_would(toy: Path) -> None:
    pytest.importorskip("reprokit.config.codec")
    assert main(["new", f"{FAMILY}/base_01_01.py", "lr", "--set", "lr=0.5"]) == 0
    proc = subprocess.run(
        [Path(sys.executable).parent / "ruff", "format", "--diff", FAMILY],
        cwd=toy,
        capture_output=True,
        text=True,
    )
    if proc.returncode == 127 or "No such file" in proc.stderr:  # pragma: no cover
        pytest.skip("ruff is not installed next to this python")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_next_id_follows_the_highest_in_the_family(
    toy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(toy / FAMILY / "gap_07_02.py", WIDE)
    assert main(["new", f"{FAMILY}/base_01_01.py", "again", "--set", "lr=0.5"]) == 0
    assert capsys.readouterr().out == (
        "wrote experiments/toy/exp/again_08_01.py (parent: base_01_01.py)\n  lr: 0.1 → 0.5\n"
    )
    text = (toy / FAMILY / "again_08_01.py").read_text()
    assert "config = replace(parent_config, lr=0.5)\n" in text
    _check_passes(toy, f"{FAMILY}/again_08_01.py", capsys)


def test_parent_without_smoke_is_imported_without_it(
    toy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(toy / "experiments" / "plain" / "__init__.py", "")
    write(toy / "experiments" / "plain" / "base_01_01.py", NO_SMOKE)
    assert main(["new", "experiments/plain/base_01_01.py", "child", "--set", "seed=1"]) == 0
    text = (toy / "experiments" / "plain" / "child_02_01.py").read_text()
    assert "from experiments.plain.base_01_01 import config as parent_config, main\n" in text
    assert '__all__ = ["config", "main"]\n' in text


def test_unknown_field_is_refused_with_a_suggestion(
    toy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _files(toy / FAMILY)
    code = main(["new", f"{FAMILY}/wide_02_01.py", "typo", "--set", "model.hiden=3"])
    assert code == 1
    assert capsys.readouterr().err == (
        "reprokit: error: model.hiden: unknown field; did you mean hidden?\n"
        "  hint: fields of Model: hidden, activation, color, sizes\n"
    )
    assert _files(toy / FAMILY) == before


def test_group_and_value_paths_are_refused(toy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", f"{FAMILY}/wide_02_01.py", "x", "--set", "model=3"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: model: a config group, not a single value\n"
        "  hint: set its fields one by one, e.g. --set model.hidden=..., or swap the whole"
        " group for another dataclass the parent's file defines or imports:"
        " --set model=ClassName\n"
    )
    assert main(["new", f"{FAMILY}/wide_02_01.py", "x", "--set", "seed.low=3"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: seed.low: seed is a value (int), not a config group\n"
    )
    assert main(["new", f"{FAMILY}/wide_02_01.py", "x", "--set", "lr"]) == 2
    assert capsys.readouterr().err == (
        "reprokit: error: --set 'lr': expected PATH=VALUE\n  hint: e.g. --set optim.lr=3e-4\n"
    )
    assert _files(toy / FAMILY) == ["__init__.py", "base_01_01.py", "wide_02_01.py"]


def test_wrong_typed_value_is_refused(toy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("reprokit.config.codec")
    code = main(["new", f"{FAMILY}/wide_02_01.py", "bad", "--set", "model.hidden=wide"])
    assert code == 1
    assert capsys.readouterr().err == (
        "reprokit: error: model.hidden: expected int, got 'wide'\n"
        "  hint: the field is declared as int\n"
    )
    code = main(["new", f"{FAMILY}/wide_02_01.py", "bad", "--set", "model.activation=tanh"])
    assert code == 1
    assert capsys.readouterr().err == (
        "reprokit: error: model.activation: expected one of 'relu', 'gelu', got 'tanh'\n"
        "  hint: the field is declared as Literal['relu', 'gelu']\n"
    )
    assert _files(toy / FAMILY) == ["__init__.py", "base_01_01.py", "wide_02_01.py"]


def test_a_written_config_that_differs_from_the_request_is_removed(
    toy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("reprokit.config.codec")
    # Model.__post_init__ clamps hidden to 1000, so the file would not say what was asked.
    code = main(["new", f"{FAMILY}/wide_02_01.py", "huge", "--set", "model.hidden=5000"])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "reprokit: error: huge_03_02.py: its config differs from the parent's by "
        "{'model.hidden': '1000'}, expected {'model.hidden': '5000'}; the file was removed\n"
    )
    assert _files(toy / FAMILY) == ["__init__.py", "base_01_01.py", "wide_02_01.py"]


def test_bad_names_are_refused(toy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", f"{FAMILY}/wide_02_01.py", "Wide-Net"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: 'Wide-Net' is not a valid experiment name\n"
        "  hint: use lowercase snake_case, e.g. 'wide_net'\n"
    )
    assert main(["new", f"{FAMILY}/nothere_09_01.py", "x"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: experiments/toy/exp/nothere_09_01.py: no such file\n"
        "  hint: experiments in experiments/toy/exp/: base_01_01.py, wide_02_01.py\n"
    )
    assert main(["new", f"{FAMILY}/wde_02_01.py", "x"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: experiments/toy/exp/wde_02_01.py: no such file\n"
        "  hint: did you mean wide_02_01.py? experiments in experiments/toy/exp/:"
        " wide_02_01.py, base_01_01.py\n"
    )
    assert main(["new", "experiments/nofolder/a_02_01.py", "x"]) == 1
    assert "the folder experiments/nofolder/ does not exist either" in capsys.readouterr().err
    write(toy / FAMILY / "notes.txt", "")
    assert main(["new", f"{FAMILY}/notes.txt", "x"]) == 1
    assert "notes.txt: not an experiment file" in capsys.readouterr().err


def test_new_without_a_change_is_refused(toy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", f"{FAMILY}/wide_02_01.py", "same"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: no --set given: same would be an exact copy of wide_02_01.py\n"
        "  hint: a new experiment is a change to its parent's config; say which: reprokit new"
        " experiments/toy/exp/wide_02_01.py same --set seed=VALUE (seed is 0 now)"
        " (or --copy to change only the code, by hand)\n"
    )
    assert not (toy / FAMILY / "same_03_02.py").exists()
    # --copy writes one on purpose (same config, code to change by hand).
    assert main(["new", f"{FAMILY}/wide_02_01.py", "same", "--copy"]) == 0
    assert (toy / FAMILY / "same_03_02.py").is_file()


def test_new_leaves_no_experiment_modules_imported(toy: Path) -> None:
    # Later imports in this process (another project, an edited file) must not see stale code.
    assert main(["new", f"{FAMILY}/wide_02_01.py", "again", "--set", "lr=0.5"]) == 0
    assert not [m for m in sys.modules if m.split(".")[0] == "experiments"]


def test_new_family_creates_packages_and_a_base_that_runs(
    toy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "--family", "experiments/vision/cnn", "base"]) == 0
    assert capsys.readouterr().out == (
        "wrote experiments/vision/cnn/base_01_01.py (base of a new family)\n"
    )
    family = toy / "experiments" / "vision" / "cnn"
    assert (toy / "experiments" / "vision" / "__init__.py").read_text() == ""
    assert _files(family) == ["__init__.py", "base_01_01.py"]
    # The existing experiments/__init__.py is left alone.
    assert (toy / "experiments" / "__init__.py").read_text() == ""
    _check_passes(toy, "experiments/vision/cnn/base_01_01.py", capsys)
    assert main(["smoke", "experiments/vision/cnn"]) == 0
    assert capsys.readouterr().out.startswith("PASS    experiments/vision/cnn/base_01_01.py  (")
    # And it can be derived from straight away.
    assert main(["new", "experiments/vision/cnn/base_01_01.py", "longer", "--set", "seed=1"]) == 0
    assert (family / "longer_02_01.py").is_file()


def test_new_family_refusals(toy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", "--family", FAMILY, "base"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: experiments/toy/exp: the family already exists\n"
        "  hint: derive from one of its experiments: reprokit new <experiment.py> NAME\n"
    )
    assert main(["new", "--family", "experiments/qwen_0.5b/sft", "base"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: experiments/qwen_0.5b/sft: folder name 'qwen_0.5b' is not a Python "
        "identifier, so it cannot be imported\n"
        "  hint: use 'qwen_0_5b' instead\n"
    )
    assert main(["new", "--family", "elsewhere/sft", "base"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: elsewhere/sft: a family folder must be inside experiments/\n"
        "  hint: e.g. experiments/<task>/<family>\n"
    )
    assert not (toy / "experiments" / "qwen_0.5b").exists()
    assert not (toy / "elsewhere").exists()


@pytest.mark.slow
def test_concurrent_new_commands_take_distinct_ids(toy: Path) -> None:
    names = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reprokit",
                "new",
                f"{FAMILY}/base_01_01.py",
                name,
                "--set",
                "lr=0.5",
            ],
            cwd=toy,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    written = [n for n in _files(toy / FAMILY) if n.split("_")[0] in names]
    ids = sorted(int(n.split("_")[1]) for n in written)
    assert ids == list(range(3, 3 + len(names)))


def test_a_set_that_repeats_the_parents_value_is_refused(
    toy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", f"{FAMILY}/wide_02_01.py", "same", "--set", "seed=0"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: --set changes nothing: wide_02_01.py already has seed=0\n"
        "  hint: give a value that differs from the parent's (or --copy to change only the"
        " code, by hand)\n"
    )
    assert not (toy / FAMILY / "same_03_02.py").exists()
