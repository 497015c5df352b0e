"""docs/adopting.md works as written: its files, taken from the page itself, make a family
that passes the checks, commits through the hook, launches, and derives as shown.

The page marks each block the reader writes with an HTML comment just above its fence:
``<!-- adopting-test: write PATH -->`` (the block is that file), ``append PATH`` (added to
the end of an existing file) and ``generated PATH`` (what ``reprokit new`` writes, to the
byte). Editing a block edits this test.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import REPO_ROOT, git, run_cli

GUIDE = REPO_ROOT / "docs" / "adopting.md"
FAMILY = "experiments/digits/cnn"
BASE = f"{FAMILY}/baseline_01_01.py"
VARIANT = f"{FAMILY}/lr_half_02_01.py"
BLOCK = re.compile(
    r"^<!-- adopting-test: (write|append|generated) (\S+) -->\n```[\w-]*\n(.*?)^```$",
    re.MULTILINE | re.DOTALL,
)

# The project before adopting reprokit (train.py itself is replaced by the guide's wrapper).
PYPROJECT = '[project]\nname = "digits-cnn"\nversion = "0.1.0"\n'
GITIGNORE = "__pycache__/\ndata/\n*.pt\n"


@dataclass(frozen=True)
class Block:
    action: str
    path: str
    text: str


def guide_blocks() -> list[Block]:
    blocks = [Block(*m.groups()) for m in BLOCK.finditer(GUIDE.read_text(encoding="utf-8"))]
    assert blocks, f"no `<!-- adopting-test: ... -->` blocks in {GUIDE}"
    return blocks


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def adopt(root: Path) -> None:
    """An existing script project, turned into a family by the guide's steps 1-3."""
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (root / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "digits CNN training script")
    blocks = guide_blocks()
    for block in blocks:
        if block.action == "append":
            with (root / block.path).open("a", encoding="utf-8") as f:
                f.write("\n" + block.text)
    # The guide's step 2 starts the family with the CLI, then replaces the template base.
    assert "base of a new family" in ok(run_cli(root, "new", "--family", FAMILY, "baseline"))
    for block in blocks:
        if block.action == "write":
            (root / block.path).write_text(block.text, encoding="utf-8")


def test_the_guide_marks_the_files_a_reader_writes() -> None:
    marked = {(b.action, b.path) for b in guide_blocks()}
    assert marked == {
        ("append", "pyproject.toml"),
        ("append", ".gitignore"),
        ("write", "prepare_data.py"),
        ("write", BASE),
        ("write", f"{FAMILY}/_train.py"),
        ("write", "train.py"),
        ("generated", VARIANT),
    }
    appended = {b.path: b.text for b in guide_blocks() if b.action == "append"}
    assert appended[".gitignore"].splitlines() == ["outputs/"]  # said up front, and done


def test_the_guides_family_passes_the_checks_and_new_writes_the_shown_variant(
    tmp_path: Path,
) -> None:
    root = tmp_path / "project"
    adopt(root)
    assert "checked 1 experiment: all good" in ok(run_cli(root, "check"))
    out = ok(run_cli(root, "new", BASE, "lr_half", "--set", "optim.lr=0.5"))
    assert "optim.lr: 1.0 → 0.5" in out
    (shown,) = [b.text for b in guide_blocks() if b.action == "generated"]
    assert (root / VARIANT).read_text(encoding="utf-8") == shown
    assert "checked 2 experiments: all good" in ok(run_cli(root, "check"))


@pytest.mark.slow
def test_the_guides_family_commits_launches_and_keeps_train_py_working(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    root = tmp_path / "project"
    adopt(root)
    ok(
        subprocess.run(
            [sys.executable, "prepare_data.py"], cwd=root, capture_output=True, text=True
        )
    )
    ok(run_cli(root, "install-hooks"))
    git(root, "add", "-A")
    commit = subprocess.run(
        ["git", "commit", "-m", "digits/cnn: train.py as a reprokit family"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert "checked 1 experiment: all good" in ok(commit)  # the hook ran
    # outputs/ and data/ are ignored, the rest is committed.
    assert git(root, "status", "--porcelain") == ""

    # The base, as the guide launches it: five epochs, a checkpoint in the run folder.
    out = ok(run_cli(root, "launch", BASE, "--seed", "1"))
    assert "reprokit: run_1 completed" in out
    run = root / "outputs" / "run_1"
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert record["status"] == "completed"
    assert record["seed"] == 1
    assert record["git"]["dirty"] is False
    (data_input,) = record["inputs"]
    assert data_input["field"] == "data.path"
    assert data_input["path"] == "data/digits.npz"
    assert data_input["sha256"]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2, 3, 4, 5]
    assert {"train_loss", "test_loss", "test_acc"} <= rows[-1].keys()
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary["test_acc"] == rows[-1]["test_acc"] > 0.8
    assert (run / "digits_cnn.pt").stat().st_size > 0
    assert "Test set: Average loss" in (run / "output.log").read_text(encoding="utf-8")

    # The derived variant, launched with its smoke config before it is committed.
    ok(run_cli(root, "new", BASE, "lr_half", "--set", "optim.lr=0.5"))
    ok(run_cli(root, "launch", VARIANT, "--seed", "1", "--smoke"))
    run = root / "outputs" / "run_2"
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert (record["status"], record["smoke"], record["git"]["dirty"]) == ("completed", True, True)
    config = (run / "config.yaml").read_text(encoding="utf-8")
    assert "  lr: 0.5\n" in config and "  epochs: 1\n" in config
    assert "save_model: false" in config
    assert not (run / "digits_cnn.pt").exists()
    assert json.loads((run / "summary.json").read_text(encoding="utf-8"))["test_acc"] > 0

    blame = ok(run_cli(root, "blame", "test_acc", VARIANT))
    assert "optim.lr: 1.0 → 0.5" in blame

    # The transition wrapper: `python train.py` still trains, records nothing.
    legacy = subprocess.run(
        [sys.executable, "train.py", "--epochs", "1"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Test set: Average loss" in ok(legacy)
    assert sorted(p.name for p in (root / "outputs").glob("run_*")) == ["run_1", "run_2"]
