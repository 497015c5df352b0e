"""``runs --exp PATTERN`` matches what the table shows (issue 12: ``--exp 'gpt/*'`` once
matched nothing while the table listed ``gpt/...``), nested families, a configured
experiments folder, and from a subfolder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _helpers import write_run

from conftest import write
from reprokit.cli import main


def _ids(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return sorted(r["id"] for r in json.loads(capsys.readouterr().out))


@pytest.mark.parametrize("folder", ["experiments", "src/exps"])
def test_exp_patterns_match_the_tables_form(
    repo: Path, folder: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        repo / "pyproject.toml",
        f'[project]\nname = "t"\nversion = "0"\n\n[tool.reprokit]\nexperiments = "{folder}"\n',
    )
    (repo / folder / "gpt").mkdir(parents=True)
    outputs = repo / "outputs"
    write_run(outputs, 1, f"{folder}/gpt/small/a_01_01.py", summary={"loss": 1.0})
    write_run(outputs, 2, f"{folder}/gpt/a_01_01.py", summary={"loss": 1.0})
    write_run(outputs, 3, f"{folder}/bert/b_01_01.py", summary={"loss": 1.0})
    monkeypatch.chdir(repo)
    assert main(["runs", "--columns", "id,experiment"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "run_3  bert/b_01_01",
        "run_2  gpt/a_01_01",
        "run_1  gpt/small/a_01_01",
    ]
    for pattern, expected in {
        "gpt/*": ["run_1", "run_2"],
        "gpt/small/*": ["run_1"],
        "gpt/*/a_01_01": ["run_1"],
        f"{folder}/gpt/*": ["run_1", "run_2"],
        "*/b_01_01": ["run_3"],
    }.items():
        assert main(["runs", "--exp", pattern, "--format", "json"]) == 0, pattern
        assert _ids(capsys) == expected, pattern
    monkeypatch.chdir(repo / folder)  # the same from inside the experiments folder
    assert main(["runs", "--exp", "gpt/*", "--format", "json"]) == 0
    assert _ids(capsys) == ["run_1", "run_2"]
