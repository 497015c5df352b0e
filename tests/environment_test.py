from __future__ import annotations

import importlib.metadata
import sys
import time

from reprokit import redact
from reprokit.capture import environment


def test_allow_list_keeps_relevant_variables_and_never_secrets() -> None:
    env = {
        "CUDA_VISIBLE_DEVICES": "0,1",
        "OMP_NUM_THREADS": "4",
        "PYTHONHASHSEED": "0",
        "TORCH_HUB_TOKEN": "hub-secret",
        "CUDA_API_KEY": "k",
        "NCCL_AUTH_SOMETHING": "x",
        "HF_TOKEN": "hf-secret",
        "AWS_SECRET_ACCESS_KEY": "aws",
        "HOME": "/home/me",
        "RANK": "0",
        # Terraform shares TensorFlow's TF_ prefix: only TensorFlow's own names are kept.
        "TF_VAR_db_pass": "hunter2",
        "TF_CLI_CONFIG_FILE": "/root/.terraformrc",
        "TF_DETERMINISTIC_OPS": "1",
        "NCCL_IB_PASSPHRASE": "x",
    }
    assert environment.allowed_env(env) == {
        "CUDA_VISIBLE_DEVICES": "0,1",
        "OMP_NUM_THREADS": "4",
        "PYTHONHASHSEED": "0",
        "RANK": "0",
        "TF_DETERMINISTIC_OPS": "1",
    }


def test_scrub_argv() -> None:
    argv = [
        "train.py",
        "--token=abc123",
        "--api-key",
        "sk-live",
        "--lr",
        "0.1",
        "https://user:pa55@example.com/repo.git",
        "--data=s3://AKIA:zz@bucket/x",
    ]
    assert redact.scrub_argv(argv) == [
        "train.py",
        "--token=<redacted>",
        "--api-key",
        "<redacted>",
        "--lr",
        "0.1",
        "https://example.com/repo.git",
        "--data=s3://bucket/x",
    ]


def test_packages_match_installed_metadata_and_are_fast() -> None:
    environment.packages()  # warm the file cache, as a second launch would be
    start = time.perf_counter()
    found = environment.packages()
    elapsed = time.perf_counter() - start
    for name in ("pytest", "PyYAML", "torch", "numpy"):
        assert found[name] == importlib.metadata.version(name), name
    # ~2-4 ms measured on the dev box; the bound is loose for a busy CI machine.
    assert elapsed < 0.25


def test_capture_shape() -> None:
    env = environment.capture({"MKL_NUM_THREADS": "1"})
    assert env["python"] == {
        "version": sys.version.split()[0],
        "executable": sys.executable,
        "implementation": "cpython",
    }
    assert env["env"] == {"MKL_NUM_THREADS": "1"}
    assert env["platform"].startswith(sys.platform.capitalize()[:5])
    assert "reprokit" in env["packages"]


def test_reprokits_own_plumbing_is_not_recorded() -> None:
    env = {"REPROKIT_OUTPUTS": "sweep", "REPROKIT_REPLAY_TORCH": "{}", "REPROKIT_SKIP_INSTALL": "1"}
    assert environment.allowed_env(env) == {"REPROKIT_OUTPUTS": "sweep"}
