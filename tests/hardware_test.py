from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from reprokit.capture import hardware

SMI = """\
#!/bin/sh
if [ "$1" = "" ]; then
  echo "| NVIDIA-SMI 550.54.15    Driver Version: 550.54.15    CUDA Version: 12.4     |"
  exit 0
fi
echo "0, NVIDIA H100 80GB HBM3, GPU-1111, 81559, 9.0, 550.54.15"
echo "1, NVIDIA H100 80GB HBM3, GPU-2222, 81559, 9.0, 550.54.15"
"""


def test_cpu_and_memory() -> None:
    hw = hardware.capture()
    assert hw["cpu"]["logical_cores"] == os.cpu_count()
    assert 1 <= hw["cpu"]["usable_cores"] <= os.cpu_count()
    assert hw["memory_bytes"] > 2**20
    assert isinstance(hw["cpu"]["model"], str) and hw["cpu"]["model"]


def test_gpus_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    smi = tmp_path / "bin" / "nvidia-smi"
    smi.parent.mkdir()
    smi.write_text(SMI)
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{smi.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    hw = hardware.capture()
    assert hw["gpus"][1] == {
        "index": 1,
        "name": "NVIDIA H100 80GB HBM3",
        "uuid": "GPU-2222",
        "memory_bytes": 81559 * 2**20,
        "compute_capability": "9.0",
        "driver": "550.54.15",
        "cuda_driver_version": "12.4",
    }
    assert hw["cuda_visible_devices"] == "1"


def test_no_nvidia_smi_means_no_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert hardware.gpus() == []
