"""Checks 1-4 (naming, ids, parents, imports): exact findings, and that nothing is imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import MINIMAL_EXPERIMENT, git, write
from reprokit.checks import static
from reprokit.cli import main

BASE = MINIMAL_EXPERIMENT


def derived(parent: str, lr: float = 0.2) -> str:
    return f"""
from dataclasses import replace

from experiments.digits.mlp.{parent} import config as parent_config, main, smoke

config = replace(parent_config, lr={lr})
"""


def family(repo: Path) -> Path:
    fam = repo / "experiments" / "digits" / "mlp"
    write(fam / "baseline_01_01.py", BASE)
    write(fam / "wide_02_01.py", derived("baseline_01_01"))
    return fam


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["check", "--static", "--no-cache", *argv])
    return code, capsys.readouterr().out


@pytest.fixture
def fam(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(repo)
    return family(repo)


def test_good_family_passes(fam: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(fam / "deep_03_02.py", derived("wide_02_01"))
    write(fam / "_helpers.py", "x = 1\n")
    assert run(capsys) == (0, "checked 3 experiments: all good\n")


def test_relative_and_module_imports_of_the_parent_count(
    fam: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(fam / "deep_03_02.py", "from .wide_02_01 import config, main\n")
    write(fam / "tall_04_01.py", "import experiments.digits.mlp.baseline_01_01 as parent\n")
    write(fam / "tiny_05_01.py", "from experiments.digits.mlp import baseline_01_01\n")
    code, out = run(capsys)
    assert (code, out) == (0, "checked 5 experiments: all good\n")


def test_bad_name_suggests_the_next_free_id(fam: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(fam / "WideNet.py", derived("baseline_01_01"))
    code, out = run(capsys)
    assert code == 1
    assert out == (
        "experiments/digits/mlp/WideNet.py:1:1: RK101 file name WideNet.py does not follow"
        " <name>_<id>_<parent>.py\n"
        "  hint: rename it, e.g. to wide_net_03_01.py (the next free id, derived from the base);"
        " helper modules start with _\n"
        "checked 3 experiments: 1 problem in 1 file\n"
    )


def test_unpadded_ids_keep_the_name(fam: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(fam / "deep_3_2.py", derived("wide_02_01"))
    code, out = run(capsys)
    assert code == 1
    assert "rename it, e.g. to deep_03_01.py" in out


def test_unimportable_folder_suggests_identifier(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo)
    write(repo / "experiments" / "sft" / "qwen_0.5b" / "base_01_01.py", BASE)
    code, out = run(capsys)
    assert code == 1
    assert out == (
        "experiments/sft/qwen_0.5b/base_01_01.py:1:1: RK102 folder experiments/sft/qwen_0.5b/"
        ' cannot be imported: "qwen_0.5b" is not a Python identifier\n'
        "  hint: rename the folder to experiments/sft/qwen_0_5b/ (module names come from"
        " folder names)\n"
        "checked 1 experiment: 1 problem in 1 file\n"
    )


def test_duplicate_id_names_both_files(fam: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(fam / "deep_03_02.py", derived("wide_02_01"))
    write(fam / "tall_03_01.py", derived("baseline_01_01"))
    code, out = run(capsys, "experiments/digits/mlp/tall_03_01.py")
    assert code == 1
    # Only the given file is reported, but its siblings were read to find the clash.
    assert out == (
        "experiments/digits/mlp/tall_03_01.py:1:1: RK201 id 03 is used by 2 files in this"
        " family: deep_03_02.py and tall_03_01.py\n"
        "  hint: ids are unique per family folder; rename tall_03_01.py (it is untracked),"
        " e.g. to tall_04_01.py (04 is the next free id)\n"
        "checked 1 experiment: 1 problem in 1 file\n"
    )


def test_missing_parent(fam: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(fam / "deep_05_04.py", derived("wide_02_01"))
    code, out = run(capsys)
    assert code == 1
    assert out.startswith(
        "experiments/digits/mlp/deep_05_04.py:1:1: RK301 parent 04 does not exist in this"
        " family (mlp/)\n"
        "  hint: existing older ids: 01, 02; name one of them as the parent, e.g. rename to"
        " deep_05_01.py\n"
    )


def test_parent_must_be_older(fam: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(fam / "deep_03_04.py", derived("wide_02_01"))
    write(fam / "tall_04_03.py", derived("deep_03_04"))
    code, out = run(capsys)
    assert code == 1
    assert "deep_03_04.py:1:1: RK302 parent 04 is not older than this experiment (id 03)" in out
    assert "tall_04_03.py" not in out


def test_no_base_and_bad_base(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo)
    fam = repo / "experiments" / "a"
    write(fam / "first_02_02.py", BASE)
    code, out = run(capsys)
    assert code == 1
    assert "RK202 this family has no base: no <name>_01_01.py in a/" in out
    assert (
        "RK203 first_02_02.py names itself as its parent, but only 01_01 can be the"
        " family's base\n  hint: rename it to first_01_01.py\n"
    ) in out


def test_two_bases_are_duplicate_ids(fam: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(fam / "other_01_01.py", BASE)
    code, out = run(capsys)
    assert code == 1
    assert (
        "RK201 id 01 is used by 2 files in this family: baseline_01_01.py and other_01_01.py" in out
    )


def test_wrong_import_points_at_the_line(fam: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(fam / "deep_03_02.py", derived("wide_02_01"))
    write(fam / "tall_04_03.py", derived("wide_02_01"))
    code, out = run(capsys, "experiments/digits/mlp/tall_04_03.py")
    assert code == 1
    assert out == (
        "experiments/digits/mlp/tall_04_03.py:3:1: RK402 imports wide_02_01, but the file name"
        " declares parent 03 (deep_03_02)\n"
        "  hint: import from experiments.digits.mlp.deep_03_02 instead, or rename this file to"
        " tall_04_02.py if that is its real parent\n"
        "checked 1 experiment: 1 problem in 1 file\n"
    )


def test_derived_without_parent_import(fam: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(fam / "deep_03_02.py", BASE)
    code, out = run(capsys)
    assert code == 1
    assert out == (
        "experiments/digits/mlp/deep_03_02.py:1:1: RK401 does not import its parent wide_02_01\n"
        "  hint: derive the config from the parent: from experiments.digits.mlp.wide_02_01"
        " import config as parent_config, main\n"
        "checked 3 experiments: 1 problem in 1 file\n"
    )


def test_base_importing_a_sibling(fam: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(fam / "baseline_01_01.py", BASE + "\nfrom . import wide_02_01\n")
    code, out = run(capsys)
    assert code == 1
    assert "baseline_01_01.py:19:1: RK403 the base imports wide_02_01" in out


def test_syntax_error(fam: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(fam / "deep_03_02.py", "x = (\n")
    code, out = run(capsys)
    assert code == 1
    assert (
        "experiments/digits/mlp/deep_03_02.py:1:5: RK001 syntax error: '(' was never closed" in out
    )


def test_static_checks_never_import(fam: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = fam.parent.parent.parent / "imported.txt"
    write(fam / "deep_03_02.py", f"open({str(marker)!r}, 'a').write('x')\n" + derived("wide_02_01"))
    assert run(capsys)[0] == 0
    assert not marker.exists()
    assert not any(m.startswith("experiments") for m in sys.modules)


def test_paths_select_files_and_folders(fam: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(fam.parent / "cnn" / "base_01_01.py", BASE)
    assert run(capsys, "experiments/digits/cnn")[1] == "checked 1 experiment: all good\n"
    write(fam / "_x.py", "")
    write(fam.parents[2] / "scripts" / "Tool.py", "")
    assert run(capsys, "experiments/digits/mlp/_x.py", "pyproject.toml", "scripts/Tool.py")[1] == (
        "checked 0 experiments: all good\n"
    )
    # A folder above the experiments tree: only the experiments inside it are checked.
    assert run(capsys, ".")[1] == "checked 3 experiments: all good\n"
    assert main(["check", "--static", "nope.py"]) == 1
    assert "nope.py: no such file or folder" in capsys.readouterr().err


def test_imported_modules_resolves_relative_imports() -> None:
    import ast

    tree = ast.parse(
        "from ..b import c\nfrom . import d\nimport x.y\n"
        "def f():\n    if True:\n        from z import w\n"
    )
    found = static.imported_modules(tree, "pkg.sub.mod")
    assert found == [
        ("pkg.b", 1, 1),
        ("pkg.b.c", 1, 1),
        ("pkg.sub", 2, 1),
        ("pkg.sub.d", 2, 1),
        ("x.y", 3, 1),
        ("z", 6, 9),
        ("z.w", 6, 9),
    ]


def test_duplicate_id_hint_renames_the_new_file_not_the_imported_one(
    repo: Path, fam: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A newcomer's report: the hint said to rename the committed wide_02_01.py, which a
    # child imports. The new (here untracked, then staged) file is the one to rename.
    write(fam / "adam_03_02.py", derived("wide_02_01"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "family")
    write(fam / "wider_02_01.py", derived("baseline_01_01"))
    hint = (
        "  hint: ids are unique per family folder; rename wider_02_01.py ({why};"
        " wide_02_01.py is imported by adam_03_02.py), e.g. to wider_04_01.py (04 is the"
        " next free id)\n"
    )
    code, out = run(capsys, "--static", "experiments/digits/mlp/wide_02_01.py")
    assert code == 1
    assert out == (
        "experiments/digits/mlp/wide_02_01.py:1:1: RK201 id 02 is used by 2 files in this"
        " family: wide_02_01.py and wider_02_01.py\n"
        + hint.format(why="it is untracked")
        + "checked 1 experiment: 1 problem in 1 file\n"
    )
    git(repo, "add", "-A")
    code, out = run(capsys, "--static", "experiments/digits/mlp/wide_02_01.py")
    assert hint.format(why="it is staged, not yet committed") in out


def test_duplicate_id_hint_prefers_the_file_added_later(
    repo: Path, fam: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(fam / "zeta_03_01.py", derived("baseline_01_01"))
    git(repo, "add", "-A")
    old = {"GIT_COMMITTER_DATE": "2020-01-01T00:00:00"}
    subprocess.run(["git", "commit", "-q", "-m", "zeta"], cwd=repo, env={**os.environ, **old})
    write(fam / "alpha_03_01.py", derived("baseline_01_01"))
    git(repo, "add", "-A")
    env = {"GIT_COMMITTER_DATE": "2030-01-01T00:00:00"}
    subprocess.run(["git", "commit", "-q", "-m", "alpha"], cwd=repo, env={**os.environ, **env})
    _, out = run(capsys, "--static", "experiments/digits/mlp/zeta_03_01.py")
    # By name order zeta would be chosen; git history says alpha is the newer file.
    assert "rename alpha_03_01.py (it was added to git later), e.g. to alpha_04_01.py" in out


def test_missing_parent_is_reported_before_not_older(
    fam: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(fam / "adam2_06_09.py", derived("baseline_01_01"))
    code, out = run(capsys, "--static", "experiments/digits/mlp/adam2_06_09.py")
    assert code == 1
    assert out == (
        "experiments/digits/mlp/adam2_06_09.py:1:1: RK301 parent 09 does not exist in this"
        " family (mlp/)\n"
        "  hint: existing older ids: 01, 02; name one of them as the parent, e.g. rename to"
        " adam2_06_01.py\n"
        "checked 1 experiment: 1 problem in 1 file\n"
    )
