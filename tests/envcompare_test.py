from __future__ import annotations

import copy
from typing import Any

from reprokit.capture import compare as envcompare, environment, hardware


def _here() -> dict[str, Any]:
    return {"environment": environment.capture(), "hardware": hardware.capture(), "torch": None}


def _gpu(index: int, uuid: str, name: str = "NVIDIA A100-SXM4-80GB") -> dict[str, Any]:
    return {"index": index, "name": name, "uuid": uuid, "driver": "550.54"}


def test_same_environment_has_no_differences() -> None:
    here = _here()
    assert envcompare.compare(copy.deepcopy(here), here) == []


def test_package_python_and_gpu_differences_table() -> None:
    recorded = {
        "environment": {
            "python": {"version": "3.11.4", "implementation": "cpython"},
            "packages": {
                "Torch": "2.3.0",
                "zlib-thing": "1",
                "nvidia_cudnn_cu12": "8.9",
                "PyYAML": "6.0",
            },
        },
        "hardware": {"cpu": {"model": "Xeon"}, "gpus": [_gpu(0, "GPU-a"), _gpu(1, "GPU-b")]},
        "torch": {"cuda": "12.1", "cudnn": 8902, "cpu_capability": "AVX512"},
    }
    here = {
        "environment": {
            "python": {"version": "3.11.9", "implementation": "cpython"},
            "packages": {"torch": "2.3.1", "pyyaml": "6.0", "aaa": "2"},
        },
        "hardware": {"cpu": {"model": "Xeon"}, "gpus": []},
        "torch": {"cuda": None, "cudnn": None, "cpu_capability": "AVX2"},
    }
    diffs = envcompare.compare(recorded, here)
    assert envcompare.format_table(diffs).splitlines() == [
        "what                        | recorded                  | here",
        "----------------------------+---------------------------+---------",
        "python *                    | 3.11.4                    | 3.11.9",
        "package torch *             | 2.3.0                     | 2.3.1",
        "package nvidia-cudnn-cu12 * | 8.9                       | (absent)",
        "package aaa *               | (absent)                  | 2",
        "package zlib-thing *        | 1                         | (absent)",
        "torch CUDA *                | 12.1                      | -",
        "torch cuDNN *               | 8902                      | -",
        "CPU capability *            | AVX512                    | AVX2",
        "GPUs (visible) *            | 2 x NVIDIA A100-SXM4-80GB | none",
    ]


def test_only_visible_gpus_are_compared() -> None:
    eight = [_gpu(i, f"GPU-{i}") for i in range(8)]
    recorded = {"hardware": {"gpus": eight, "cuda_visible_devices": "3"}}
    here = {"hardware": {"gpus": [_gpu(0, "GPU-x", "NVIDIA H100")], "cuda_visible_devices": "0"}}
    diffs = envcompare.compare(recorded, here)
    assert [(d.what, d.recorded, d.here) for d in diffs] == [
        ("GPUs (visible)", "1 x NVIDIA A100-SXM4-80GB", "1 x NVIDIA H100")
    ]
    same_model = {"hardware": {"gpus": [_gpu(0, "GPU-x")], "cuda_visible_devices": None}}
    assert envcompare.compare(recorded, same_model) == []


def test_thread_counts_and_cpu_model_do_not_affect_results() -> None:
    recorded = {
        "torch": {"intra_op_threads": 4, "inter_op_threads": 4},
        "hardware": {"cpu": {"model": "A"}},
    }
    here = {
        "torch": {"intra_op_threads": 16, "inter_op_threads": 16},
        "hardware": {"cpu": {"model": "B"}},
    }
    diffs = envcompare.compare(recorded, here)
    assert [(d.what, d.affects_results) for d in diffs] == [
        ("intra-op threads (recorded applied)", False),
        ("inter-op threads (recorded applied)", False),
        ("CPU", False),
    ]


def test_many_package_differences_are_summarized() -> None:
    recorded = {"environment": {"packages": {f"p{i:02}": "1" for i in range(30)}}}
    here = {"environment": {"packages": {}}}
    diffs = envcompare.compare(recorded, here)
    assert len(diffs) == 12
    assert diffs[-1].what == "... 19 more packages"


def test_gpu_selection_by_uuid_then_count() -> None:
    rec = {
        "gpus": [_gpu(0, "GPU-a"), _gpu(1, "GPU-b"), _gpu(2, "GPU-c")],
        "cuda_visible_devices": "2,0",
    }
    same_host = {"gpus": [_gpu(0, "GPU-a"), _gpu(1, "GPU-b"), _gpu(2, "GPU-c")]}
    assert envcompare.gpu_selection(rec, same_host) == ("GPU-c,GPU-a", None)
    other = {"gpus": [_gpu(0, "GPU-x"), _gpu(1, "GPU-y"), _gpu(2, "GPU-z")]}
    assert envcompare.gpu_selection(rec, other) == ("0,1", None)
    small = {"gpus": [_gpu(0, "GPU-x")]}
    assert envcompare.gpu_selection(rec, small) == (
        None,
        "the run used 2 GPU(s); this machine has 1",
    )
    # A CPU run hides the GPUs of the replay machine, so `cuda if available` picks the CPU.
    assert envcompare.gpu_selection({"gpus": []}, same_host) == ("", None)
    assert envcompare.gpu_selection({"gpus": []}, {"gpus": []}) == (None, None)
    assert envcompare.gpu_selection(
        {"gpus": rec["gpus"], "cuda_visible_devices": None}, same_host
    ) == (
        "GPU-a,GPU-b,GPU-c",
        None,
    )
