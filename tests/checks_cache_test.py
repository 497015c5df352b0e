"""The content-hash cache: unchanged experiments are not re-imported; changes are seen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import write
from reprokit.checks.cache import default_cache_path
from reprokit.cli import main


def base_text(marker: Path, lr: float = 0.1) -> str:
    return f"""
from dataclasses import dataclass

open({str(marker)!r}, "a").write("base\\n")


@dataclass(frozen=True)
class Config:
    lr: float = {lr}


config = Config()


def main(config: Config) -> dict[str, float]:
    return {{"score": config.lr}}


def smoke(config: Config) -> Config:
    return config
"""


def child_text(marker: Path, lr: float = 0.2) -> str:
    return f"""
from dataclasses import replace

from experiments.toy.base_01_01 import config as parent_config, main, smoke

open({str(marker)!r}, "a").write("child\\n")
config = replace(parent_config, lr={lr})
"""


@pytest.fixture
def fam(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(repo)
    return repo / "experiments" / "toy"


def imports(marker: Path) -> list[str]:
    lines = marker.read_text().splitlines() if marker.exists() else []
    marker.unlink(missing_ok=True)
    return lines


def check(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["check", *argv]) == 0
    return capsys.readouterr().out


def test_second_run_does_not_import(
    fam: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "imported.txt"
    write(fam / "base_01_01.py", base_text(marker))
    write(fam / "wide_02_01.py", child_text(marker))
    assert check(capsys) == "checked 2 experiments: all good\n"
    # One process, each module imported once: the child's import reuses the base.
    assert imports(marker) == ["base", "child"]
    assert check(capsys) == "checked 2 experiments: all good\n"
    assert imports(marker) == []
    # A change to the child re-imports only the child (and the base it imports).
    write(fam / "wide_02_01.py", child_text(marker, lr=0.3))
    check(capsys)
    assert imports(marker) == ["base", "child"]
    check(capsys)
    assert imports(marker) == []


def test_parent_change_invalidates_the_child(
    fam: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "imported.txt"
    write(fam / "base_01_01.py", base_text(marker))
    write(fam / "wide_02_01.py", child_text(marker))
    check(capsys)
    imports(marker)
    write(fam / "base_01_01.py", base_text(marker, lr=0.5))
    check(capsys)
    # Both re-checked: the child's import closure contains the base.
    assert imports(marker) == ["base", "child"]


def test_findings_are_cached_too(
    fam: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "imported.txt"
    write(fam / "base_01_01.py", base_text(marker).replace("frozen=True", "frozen=False"))
    assert main(["check"]) == 1
    first = capsys.readouterr().out
    assert "RK503" in first
    imports(marker)
    assert main(["check"]) == 1
    assert capsys.readouterr().out == first
    assert imports(marker) == []


def test_no_cache_flag_and_corrupt_cache(
    repo: Path, fam: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "imported.txt"
    write(fam / "base_01_01.py", base_text(marker))
    check(capsys)
    cache = default_cache_path(repo)
    assert cache == repo / ".git" / "reprokit" / "check-cache.json"
    assert json.loads(cache.read_text())["version"] == 1
    imports(marker)
    check(capsys, "--no-cache")
    assert imports(marker) == ["base"]
    cache.write_text("{not json")
    assert check(capsys) == "checked 1 experiment: all good\n"
    assert imports(marker) == ["base"]
    check(capsys)
    assert imports(marker) == []


def test_import_errors_are_not_cached(
    fam: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The failure may come from the environment (a missing package), which hashes miss.
    pkg = tmp_path / "site" / "late_pkg_for_check"
    write(fam / "base_01_01.py", "import late_pkg_for_check\n" + base_text(tmp_path / "m.txt"))
    assert main(["check"]) == 1
    assert "No module named 'late_pkg_for_check'" in capsys.readouterr().out
    write(pkg / "__init__.py", "")
    # The package appears in the environment the checks' child interpreter starts with.
    monkeypatch.setenv("PYTHONPATH", str(pkg.parent))
    assert check(capsys) == "checked 1 experiment: all good\n"


def test_cache_outside_git(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "plain"
    write(root / "pyproject.toml", "[tool.reprokit]\n")
    write(root / "experiments" / "toy" / "base_01_01.py", base_text(tmp_path / "m.txt"))
    monkeypatch.chdir(root)
    check(capsys)
    assert (root / ".reprokit-cache" / "check-cache.json").is_file()
    assert (root / ".reprokit-cache" / ".gitignore").read_text().endswith("*\n")


def test_deleted_files_leave_the_cache(
    repo: Path, fam: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "imported.txt"
    write(fam / "base_01_01.py", base_text(marker))
    write(fam / "wide_02_01.py", child_text(marker))
    check(capsys)
    cache = default_cache_path(repo)
    assert "experiments/toy/wide_02_01.py" in json.loads(cache.read_text())["dynamic"]
    (fam / "wide_02_01.py").rename(fam / "tall_02_01.py")
    check(capsys)
    tables = json.loads(cache.read_text())
    assert "experiments/toy/wide_02_01.py" not in tables["dynamic"]
    assert "experiments/toy/tall_02_01.py" in tables["dynamic"]


def test_launch_reads_a_targets_verdict_without_the_runner(
    repo: Path, fam: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from reprokit.checks.verdict import cached_findings
    from reprokit.settings import load_settings

    marker = tmp_path / "imported.txt"
    base, child = fam / "base_01_01.py", fam / "wide_02_01.py"
    write(base, base_text(marker))
    write(child, child_text(marker))
    settings = load_settings(repo)
    assert cached_findings(child, settings) is None  # never checked
    check(capsys)
    assert cached_findings(child, settings) == []
    assert cached_findings(base, settings) == []
    write(base, base_text(marker, lr=0.5))  # in the child's import closure
    assert cached_findings(child, settings) is None
    check(capsys)
    assert cached_findings(child, settings) == []
    write(fam / "other_03_01.py", child_text(marker))  # the family's names changed
    assert cached_findings(child, settings) is None
    check(capsys)
    assert cached_findings(child, settings) == []
    write(base, base_text(marker).replace("frozen=True", "frozen=False"))
    assert main(["check"]) == 1
    codes = [f["code"] for f in cached_findings(base, settings) or []]
    assert codes == ["RK503"]
