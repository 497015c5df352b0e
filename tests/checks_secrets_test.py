"""Check RK505: a config field that holds a credential, by its name or by its value."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import write
from reprokit.cli import main

BASE = """
from dataclasses import dataclass


@dataclass(frozen=True)
class Api:
    url: str = "https://api.example.com/v1"
    api_key: str = {api_key}


@dataclass(frozen=True)
class Config:
    lr: float = 0.1
    api: Api = Api()
    tokenizer: str = "gpt2"
    max_tokens: int = 512
    num_tokens: int = 4
    key_dim: int = 64
    keypoints: tuple[int, ...] = (1, 2)
    pad_token: str = "<pad>"
    token_file: str = "~/.cache/hf/token"


config = Config()


def main(config: Config) -> dict[str, float]:
    return {{"score": config.lr}}


def smoke(config: Config) -> Config:
    return config
"""
HINT = (
    "  hint: leave it empty and read the secret from the environment inside main"
    " (os.environ[...]); or set secret_fields = false in [tool.reprokit]\n"
)


@pytest.fixture
def fam(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(repo)
    return repo / "experiments" / "toy"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["check", *argv])
    return code, capsys.readouterr().out


@pytest.mark.parametrize("value", ['""', '"  "', '"${OPENAI_API_KEY}"', '"$OPENAI_API_KEY"'])
def test_empty_or_environment_reference_passes(
    fam: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    # Also: tokenizer, max_tokens, num_tokens, key_dim, keypoints, pad_token and token_file
    # hold values and are no secrets.
    write(fam / "base_01_01.py", BASE.format(api_key=value))
    assert run(capsys, "--no-cache") == (0, "checked 1 experiment: all good\n")


def test_secret_field_with_a_value_points_at_the_field(
    fam: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(fam / "base_01_01.py", BASE.format(api_key='"not-a-real-key-1234"'))
    code, out = run(capsys, "--no-cache")
    assert code == 1
    assert out == (
        "experiments/toy/base_01_01.py:7:5: RK505 config.api.api_key has a value, and its name"
        " says it holds a secret: it would be recorded in the run's config.yaml and the index\n"
        + HINT
        + "checked 1 experiment: 1 problem in 1 file\n"
    )
    assert "not-a-real-key-1234" not in out  # the finding never shows the value


def test_derived_experiment_setting_a_secret_points_at_its_keyword(
    fam: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(fam / "base_01_01.py", BASE.format(api_key='""'))
    write(
        fam / "keyed_02_01.py",
        """
        from dataclasses import replace

        from experiments.toy.base_01_01 import config as parent_config, main, smoke

        config = replace(
            parent_config,
            api=replace(parent_config.api, api_key="not-a-real-key-1234"),
        )
        """,
    )
    code, out = run(capsys, "--no-cache")
    assert code == 1
    assert out.startswith(
        "experiments/toy/keyed_02_01.py:7:36: RK505 config.api.api_key has a value, and its"
        " name says it holds a secret"
    )


def test_a_credential_in_a_value_is_a_finding_whatever_the_name(
    fam: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = BASE.format(api_key='""').replace(
        '"https://api.example.com/v1"', '"https://bot:hunter2@api.example.com/v1"'
    )
    write(fam / "base_01_01.py", text)
    code, out = run(capsys, "--no-cache")
    assert code == 1
    assert out.startswith(
        "experiments/toy/base_01_01.py:6:5: RK505 config.api.url holds a password in a URL:"
    )
    assert "hunter2" not in out


def test_secret_fields_false_turns_it_off_and_the_cache_follows(
    repo: Path, fam: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(fam / "base_01_01.py", BASE.format(api_key='"not-a-real-key-1234"'))
    assert run(capsys)[0] == 1  # cached with the check on...
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "secret_fields = false\n")
    assert run(capsys) == (0, "checked 1 experiment: all good\n")  # ...not reused when off


def test_secret_fields_must_be_a_bool(repo: Path, fam: Path) -> None:
    from reprokit.errors import ReprokitError
    from reprokit.settings import load_settings

    (repo / "pyproject.toml").write_text('[tool.reprokit]\nsecret_fields = "no"\n')
    with pytest.raises(ReprokitError, match="secret_fields has the wrong type"):
        load_settings(repo)


def test_launch_refuses_so_the_secret_never_reaches_config_yaml(repo: Path, fam: Path) -> None:
    from conftest import git, run_cli

    write(fam / "__init__.py", "")
    write(fam / "base_01_01.py", BASE.format(api_key='"not-a-real-key-1234"'))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "keyed")
    result = run_cli(repo, "launch", "experiments/toy/base_01_01.py")
    assert result.returncode == 1
    assert "RK505 config.api.api_key has a value" in result.stderr
    assert "refusing to launch" in result.stderr
    assert not (repo / "outputs" / "run_1").exists()
    assert "not-a-real-key-1234" not in result.stderr
