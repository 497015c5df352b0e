from __future__ import annotations

from pathlib import Path

import pytest

from reprokit.errors import ReprokitError
from reprokit.settings import DEFAULT_UNTRACKED_CAP, load_settings


def test_defaults_without_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    (tmp_path / "sub").mkdir()
    s = load_settings(tmp_path / "sub")
    assert s.root == tmp_path.resolve()
    assert s.experiments == tmp_path.resolve() / "experiments"
    assert s.outputs == tmp_path.resolve() / "outputs"
    assert s.entry == "main"
    assert s.untracked_size_cap == DEFAULT_UNTRACKED_CAP
    assert s.require_smoke and not s.allow_mutable_fields


def test_values_from_tool_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.reprokit]\n"
        'experiments = "exps"\noutputs = "runs"\nentry = "run"\nallow_mutable_fields = true\n'
        'untracked_size_cap = 1024\n[tool.reprokit.metric_directions]\nval_loss = "lower"\n'
    )
    s = load_settings(tmp_path)
    assert s.experiments.name == "exps" and s.outputs.name == "runs"
    assert s.entry == "run" and s.allow_mutable_fields and s.untracked_size_cap == 1024
    assert s.metric_directions == {"val_loss": "lower"}


def test_unknown_key_is_named(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.reprokit]\nouptuts = "x"\n')
    with pytest.raises(ReprokitError, match="unknown key 'ouptuts'"):
        load_settings(tmp_path)


def test_wrong_type_and_direction(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.reprokit]\nrequire_git = 1\n")
    with pytest.raises(ReprokitError, match="require_git has the wrong type"):
        load_settings(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.reprokit.metric_directions]\nacc = "up"\n')
    with pytest.raises(ReprokitError, match='use "higher" or "lower"'):
        load_settings(tmp_path)


def test_outputs_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    s = load_settings(tmp_path).with_outputs("elsewhere")
    assert s.outputs == tmp_path.resolve() / "elsewhere"
