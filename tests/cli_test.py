from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reprokit.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("reprokit ")


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys\nfrom reprokit.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'numpy', 'yaml', 'pygit2', 'pandas') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout


def test_unknown_command_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2


def test_ablation_options_need_ablate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `blame --seeds 5` without --ablate used to be accepted and silently ignored.
    (tmp_path / "pyproject.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    assert main(["blame", "val_acc", "x.py", "--seeds", "5"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: --seeds only applies with --ablate\n"
        "  hint: add --ablate, or drop --seeds\n"
    )
