from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

from reprokit.capture import inputs


@dataclasses.dataclass(frozen=True)
class Data:
    train: Path = Path("data/train.csv")
    extra: tuple[Path, ...] = (Path("data/folder"),)


@dataclasses.dataclass(frozen=True)
class Config:
    data: Data = Data()
    out: Path = Path("results")  # does not exist: not an input
    lr: float = 0.1
    name: str = "data/train.csv"  # a str, not a Path: not an input


def _make_data(root: Path) -> None:
    (root / "data" / "folder" / "sub").mkdir(parents=True)
    (root / "data" / "train.csv").write_text("a,b\n1,2\n")
    (root / "data" / "folder" / "x.bin").write_bytes(b"x" * 10)
    (root / "data" / "folder" / "sub" / "y.bin").write_bytes(b"y" * 5)


def test_fingerprints_path_fields_relative_to_cwd(tmp_path: Path) -> None:
    _make_data(tmp_path)
    entries = inputs.fingerprint_inputs(Config(), tmp_path)
    assert [(e["field"], e["path"], e["kind"]) for e in entries] == [
        ("data.train", "data/train.csv", "file"),
        ("data.extra.0", "data/folder", "dir"),
    ]
    train, folder = entries
    assert train["size"] == 8
    assert train["sha256"] == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert train["mtime"] == (tmp_path / "data" / "train.csv").stat().st_mtime
    assert (folder["files"], folder["size"], folder["sha256"]) == (2, 15, None)


def test_large_files_are_not_hashed(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (inputs.HASH_LIMIT + 1))
    fp = inputs.fingerprint_path(big)
    assert fp is not None
    assert (fp["size"], fp["sha256"]) == (inputs.HASH_LIMIT + 1, None)


def test_compare_reports_content_missing_and_folder_changes(tmp_path: Path) -> None:
    _make_data(tmp_path)
    recorded = inputs.fingerprint_inputs(Config(), tmp_path)
    assert inputs.compare_inputs(recorded, tmp_path) == []

    # Same size, new content: only the hash can tell.
    (tmp_path / "data" / "train.csv").write_text("a,b\n1,3\n")
    (tmp_path / "data" / "folder" / "z.bin").write_bytes(b"z")
    changes = inputs.compare_inputs(recorded, tmp_path)
    assert [(c.field, c.what) for c in changes] == [
        ("data.train", "content"),
        ("data.extra.0", "size"),
    ]
    assert (
        changes[0]
        .describe()
        .startswith(
            "input data.train (data/train.csv) changed since the original run: content sha256 "
        )
    )
    (tmp_path / "data" / "train.csv").unlink()
    changes = inputs.compare_inputs(recorded, tmp_path)
    assert changes[0].describe() == "input data.train (data/train.csv) no longer exists"


def test_touching_a_hashed_file_is_not_a_change_but_touching_a_folder_is(tmp_path: Path) -> None:
    _make_data(tmp_path)
    recorded = inputs.fingerprint_inputs(Config(), tmp_path)
    later = recorded[0]["mtime"] + 100
    os.utime(tmp_path / "data" / "train.csv", (later, later))
    os.utime(tmp_path / "data" / "folder" / "x.bin", (later, later))
    changes = inputs.compare_inputs(recorded, tmp_path)
    assert [(c.field, c.what) for c in changes] == [("data.extra.0", "mtime")]


READS_DATA = """
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Config:
    data: Path = Path("data/train.csv")


config = Config()


def main(config: Config) -> dict[str, float]:
    return {"rows": float(len(config.data.read_text().splitlines()))}


def smoke(config: Config) -> Config:
    return config
"""


def test_a_relative_config_path_launched_from_a_subfolder_gets_a_hint(repo: Path) -> None:
    from conftest import run_cli, write

    write(repo / "experiments" / "toy" / "__init__.py", "")
    write(repo / "experiments" / "toy" / "base_01_01.py", READS_DATA)
    write(repo / "data" / "train.csv", "a\nb\n")
    (repo / "notebooks").mkdir()
    proc = run_cli(repo / "notebooks", "launch", "../experiments/toy/base_01_01.py")
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    assert "FileNotFoundError" in out
    assert (
        "reprokit: hint: config field data is the relative path 'data/train.csv', resolved"
        f" against the working directory notebooks/, not the project root {repo} (it exists"
        " there); launch from the project root, or make the path absolute"
    ) in out
    # From the root the same file runs, and no hint is printed.
    proc = run_cli(repo, "launch", "experiments/toy/base_01_01.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "hint" not in proc.stdout + proc.stderr
