"""The README's main job (scripts/demo.sh) runs end to end, so it cannot silently break."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT, git


@pytest.mark.slow
def test_demo_script_launches_replays_and_blames(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md", ".gitignore"):
        shutil.copy2(REPO_ROOT / name, project / name)
    for folder in ("experiments", "scripts"):
        shutil.copytree(
            REPO_ROOT / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "example project")

    env = {
        **os.environ,
        "REPROKIT_SKIP_INSTALL": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    result = subprocess.run(
        ["bash", "scripts/demo.sh", "--quick"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "checked 4 experiments: all good" in out
    # replay --verify of the last run reproduced every metric exactly.
    assert "verify: match" in result.stderr
    assert "mismatch" not in out
    # blame walked the whole chain, with the changed fields of each step.
    assert "blame val_acc along experiments/digits/mlp/adam_04_03.py" in out
    for step in ("01 baseline", "02 wide", "03 deep", "04 adam"):
        assert step in out
    assert "model.hidden: 16 → 64" in out
    assert "optim.name: sgd → adam" in out
    # 4 experiments x 2 seeds, plus the replay.
    runs = sorted((project / "outputs").glob("run_*"))
    assert len(runs) == 9
    assert (project / "outputs" / "val_acc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The user's working tree is untouched by launch and replay.
    assert git(project, "status", "--porcelain") == ""
