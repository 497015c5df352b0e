from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

import reprokit
from reprokit.cli import main
from reprokit.cli.commands import COMMANDS

ROOT = Path(__file__).resolve().parents[1]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"reprokit {reprokit.__version__}\n"


def test_one_version_source() -> None:
    # pyproject reads the version from reprokit/__init__.py: a second copy drifted before.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert metadata.version("reprokit") == reprokit.__version__


def test_license_and_typed_marker_are_shipped() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Copyright (c) reprokit contributors" in text
    assert (ROOT / "reprokit" / "py.typed").is_file()
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["reprokit"]


def test_help_does_not_import_heavy_or_command_modules() -> None:
    code = (
        "import sys\nfrom reprokit.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('LOADED', sorted(sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = out.stdout.split("LOADED", 1)[1]
    for heavy in ("torch", "numpy", "yaml", "pandas", "sqlite3"):
        assert f"'{heavy}'" not in loaded
    # Each command's module is imported when that command runs, not to print --help.
    for package in ("checks", "launch", "replay", "analysis", "experiments", "record"):
        assert f"'reprokit.{package}." not in loaded
    assert "Usage" in out.stdout or "usage" in out.stdout


def test_help_lists_every_command_of_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert f"    {command.name}" in out and command.help[:40] in out


def test_unknown_command_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("usage: reprokit")
    assert err[-1].startswith("reprokit: error: argument COMMAND: invalid choice: 'frobnicate'")


def test_argparse_errors_have_the_one_prefix(capsys: pytest.CaptureFixture[str]) -> None:
    # argparse alone said `reprokit runs: error: ...`; every other error `reprokit: error:`.
    with pytest.raises(SystemExit) as exc:
        main(["runs", "--limit", "x"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("usage: reprokit runs")
    assert err[-1] == "reprokit: error: argument --limit: invalid int value: 'x'"


USAGE_ERRORS = [
    (
        ["runs", "--limit", "0"],
        "--limit 0: must be at least 1\n  hint: leave --limit out to list every run",
    ),
    (
        ["runs", "--limit", "-1"],
        "--limit -1: must be at least 1\n  hint: leave --limit out to list every run",
    ),
    (
        ["runs", "--status", "done"],
        "--status 'done'\n"
        "  hint: one of completed, failed, interrupted, crashed, running, incomplete",
    ),
    (["runs", "--where", "a=1"], "--where 'a=1': expected FIELD OP VALUE\n  hint: operators:"),
    (
        ["blame", "val_acc", "x.py", "--seeds", "5"],
        "--seeds only applies with --ablate\n  hint: add --ablate, or drop --seeds",
    ),
    (
        ["blame", "val_acc", "x.py", "--smoke"],
        "--smoke only applies with --ablate\n  hint: add --ablate, or drop --smoke",
    ),
    (
        ["replay", "run_1", "--smoke", "--verify"],
        "--smoke and --verify cannot be combined: a smoke replay runs the smoke config, not "
        "the recorded one, so its numbers are not comparable\n"
        "  hint: drop --smoke to verify, or --verify to run a quick smoke replay",
    ),
    (["replay", "run_1", "--rtol", "-1"], "--rtol and --atol must be >= 0"),
    (["smoke", "--timeout", "0"], "--timeout 0: must be a positive number of seconds"),
    (
        ["new", "experiments/a_01_01.py", "b", "--family", "experiments/t/f"],
        "give either a parent experiment or --family, not both",
    ),
    (
        ["new", "--family", "experiments/t/f", "base", "--set", "lr=1"],
        "--set needs a parent experiment; a new family starts from a template",
    ),
    (
        ["new", "experiments/a_01_01.py", "b", "--set", "lr"],
        "--set 'lr': expected PATH=VALUE\n  hint: e.g. --set optim.lr=3e-4",
    ),
    (
        ["new", "experiments/a_01_01.py", "b", "--set", "lr=1", "--set", "lr=2"],
        "--set lr: given twice",
    ),
]


@pytest.mark.parametrize(
    ("argv", "message"), USAGE_ERRORS, ids=[" ".join(a) for a, _ in USAGE_ERRORS]
)
def test_command_line_mistakes_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    # These exited 1, the code of a command that ran and failed; a script could not tell
    # "fix the call" from "the command found a problem".
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("")
    monkeypatch.chdir(project)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"reprokit: error: {message}")
    # Refused before any work: nothing written into the project.
    assert sorted(p.name for p in project.iterdir()) == ["pyproject.toml"]


def test_an_unexpected_error_has_the_one_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import reprokit.analysis.show as show

    def crash(*args: object, **kwargs: object) -> int:
        raise RuntimeError("boom")

    (tmp_path / "pyproject.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(show, "show", crash)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    assert main(["show", "run_1"]) == 1
    first, second = capsys.readouterr().err.splitlines()
    assert first == "reprokit: error: unexpected error: RuntimeError: boom"
    assert second.startswith("  the full traceback is in ")


def test_no_extra_declares_a_package_nothing_imports() -> None:
    # `history = ["pygit2"]` was declared for years and never imported.
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert set(extras) == {"torch", "examples", "plot", "frame", "dev"}
    imports = {"scikit-learn": "sklearn", "PyYAML": "yaml", "types-PyYAML": "yaml"}
    sources = [
        p.read_text()
        for folder in ("reprokit", "experiments", "tests")
        for p in (ROOT / folder).rglob("*.py")
    ]
    tools = {"pytest", "pre-commit", "ruff", "mypy"}  # run, not imported
    for name in {req.split(">")[0].split("=")[0] for reqs in extras.values() for req in reqs}:
        if name in tools:
            continue
        module = imports.get(name, name)
        assert any(f"import {module}" in s or f"from {module}" in s for s in sources), name
