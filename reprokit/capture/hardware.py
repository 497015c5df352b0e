"""The hardware of a run: CPU, memory, GPUs. Never initializes CUDA.

GPUs come from ``nvidia-smi`` (a separate process, so this process's CUDA state is
untouched); when it is not on PATH no subprocess is started at all.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any

NVIDIA_SMI_QUERY = "index,name,uuid,memory.total,compute_cap,driver_version"
NVIDIA_SMI_TIMEOUT_S = 10.0
_CUDA_VERSION_RE = re.compile(r"CUDA Version:\s*([0-9.]+)")


def cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or None


def logical_cores() -> dict[str, int | None]:
    """All logical cores, and those this process may use (affinity, containers)."""
    usable = None
    if hasattr(os, "sched_getaffinity"):
        usable = len(os.sched_getaffinity(0))
    return {"total": os.cpu_count(), "usable": usable}


def memory_bytes() -> int | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _int(text: str) -> int | None:
    try:
        return int(float(text))
    except ValueError:
        return None


def parse_gpus(csv_text: str, cuda_driver_version: str | None) -> list[dict[str, Any]]:
    """Rows of ``nvidia-smi --query-gpu=... --format=csv,noheader,nounits``."""
    gpus = []
    for line in csv_text.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 6:
            continue
        index, name, uuid, memory_mib, capability, driver = fields
        mib = _int(memory_mib)
        gpus.append(
            {
                "index": _int(index),
                "name": name,
                "uuid": uuid,
                "memory_bytes": mib * 1024 * 1024 if mib is not None else None,
                "compute_capability": capability,
                "driver": driver,
                "cuda_driver_version": cuda_driver_version,
            }
        )
    return gpus


def gpus() -> list[dict[str, Any]]:
    """Every GPU ``nvidia-smi`` sees (not only the visible ones); [] without it."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        query = subprocess.run(
            [smi, f"--query-gpu={NVIDIA_SMI_QUERY}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=NVIDIA_SMI_TIMEOUT_S,
        )
        # The header of plain `nvidia-smi` is the only place it prints the highest CUDA
        # version the driver supports.
        header = subprocess.run(
            [smi], capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    if query.returncode != 0:
        return []
    m = _CUDA_VERSION_RE.search(header)
    return parse_gpus(query.stdout, m.group(1) if m else None)


def capture() -> dict[str, Any]:
    """The ``hardware`` object of run.json."""
    cores = logical_cores()
    return {
        "cpu": {
            "model": cpu_model(),
            "logical_cores": cores["total"],
            "usable_cores": cores["usable"],
        },
        "memory_bytes": memory_bytes(),
        "gpus": gpus(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
