"""Several readers at once on one outputs folder: each builds or refreshes the SQLite index
while the others do, and every one lists every run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from _helpers import make_run

from conftest import write


def test_three_listings_rebuilding_the_index_at_once(tmp_path: Path) -> None:
    root = tmp_path / "project"
    write(root / "pyproject.toml", "[tool.reprokit]\n")
    outputs = root / "outputs"
    make_run(outputs, 1)
    for n in range(2, 301):
        shutil.copytree(outputs / "run_1", outputs / f"run_{n}")
        record = json.loads((outputs / f"run_{n}" / "run.json").read_text())
        (outputs / f"run_{n}" / "run.json").write_text(json.dumps({**record, "id": f"run_{n}"}))
    for _ in range(2):  # the first round builds the index, the second refreshes it
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "reprokit", "runs", "--json"],
                cwd=root,
                env=dict(os.environ),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(3)
        ]
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            assert err == b""
            assert len(json.loads(out)) == 300
        (outputs / "run_7" / "summary.json").write_text('{"score": 7}')
