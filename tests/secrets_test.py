"""Secrets never reach outputs/, the index or a snapshot: planted credentials, real launches,
then every byte searched.

Planted: a token in ``--note`` (URL user-info and a GitHub token), in allow-listed
environment values (``NCCL_...=tcp://user:pw@host``, ``?access_token=``), in remote URLs
(user-info, ``?private_token=``, scp-like ``user:pw@host:path``, next to odd URLs git accepts
and Python's URL parser rejects), in an exception message, and in untracked files found by
name (``.pgpass``, ``token.txt``, ...) and by content (a GitHub token in a shell script, a
private key in a ``.txt``, a Hugging Face token in a Python module, a Weights & Biases
key, a URL password and ``MLFLOW_TRACKING_PASSWORD=`` in a shell script, a key in a module,
``password =`` in an ini file, a token at byte ~9,000 of a notebook). Searched: every file
under outputs/ including the SQLite index (built by ``reprokit runs``) and output.log (the
experiment prints nothing secret; what a run prints of its own secrets is its business),
and ``git log -p --all`` with the snapshot refs.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import git, minimal_experiment, run_cli, write

EXP = "experiments/toy/base_01_01.py"
EXPERIMENT = minimal_experiment(
    '    print("training")\n'
    '    if os.environ.get("FAIL_WITH"):\n'
    '        raise RuntimeError("cannot reach " + os.environ["FAIL_WITH"])\n'
    '    return {"score": config.lr}\n',
    imports="import os\n",
)

# Fake credentials with a unique marker each, in real shapes where a shape is the point.
GH_NOTE = "ghp_" + "NOTEmark1" * 4
GH_FILE = "ghp_" + "FILEmark2" * 4
HF_MODULE = "hf_" + "MODULEmark" * 4
KEY_BODY = "b3BlbnNzaC1rZXktdjEAAAAAKEYBODYmarkKEYBODYmarkKEYBODYmark"
# The most common secrets of training jobs, each once missed: assignments in a shell
# script, a module, an ini file, a URL password, and a token past a notebook's first 8 KiB.
WANDB_ENV = "a1b2c3d4e5" * 4
WANDB_MODULE = "f9e8d7c6b5" * 4
HF_NOTEBOOK = "hf_" + "NOTEBOOKmark" * 3


def notebook(token: str) -> str:
    """A notebook whose second cell logs in with ``token``, at byte ~9,000."""
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Exploring\n", "x" * 8_800]},
        {
            "cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": ["from huggingface_hub import login\n", f'login(token="{token}")\n'],
        },
    ]  # fmt: skip
    text = json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    assert 8_192 < text.index(token) < 10_000
    return text


SECRET_FILES = {
    # by name
    ".pgpass": "db.example.com:5432:*:me:pgpass-Aa01\n",
    "token.txt": "filetok-Bb02\n",
    "service-account.json": '{"client_email": "x", "note": "sa-Cc03"}\n',
    "kubeconfig": "apiVersion: v1\nusers:\n- user:\n    token: kube-Dd04\n",
    ".dockercfg": '{"r.io": {"auth": "dcfg-Ee05"}}\n',
    ".docker/config.json": '{"auths": {"r.io": {"auth": "dcj-Ff06"}}}\n',
    ".ssh/id_ecdsa_sk": "sshk-Gg07\n",
    ".netrc": "machine h login me password netrc-Hh08\n",
    ".env.local": "DB_PASSWORD=envfile-Ii09\n",
    ".aws/credentials": "[default]\naws_secret_access_key = awscred-Jj10\n",
    # by content
    "scripts/setup.sh": f"#!/bin/sh\nexport GITHUB_TOKEN={GH_FILE}\n",
    "keys/deploy_material.txt": (
        f"-----BEGIN OPENSSH PRIVATE KEY-----\n{KEY_BODY}\n-----END OPENSSH PRIVATE KEY-----\n"
    ),
    "tools/upload.py": f'HF = "{HF_MODULE}"\n',
    "env.sh": (
        f"export WANDB_API_KEY={WANDB_ENV}\n"
        "DATABASE_URL=postgres://alice:Sup3rS3cret@db/prod\n"
        "MLFLOW_TRACKING_PASSWORD=mlflowpw-Mm12\n"
    ),
    "experiments/toy/keys.py": f'WANDB_API_KEY = "{WANDB_MODULE}"\n',
    "db.ini": "[db]\nhost = db\npassword = Hunter2Hunter2\n",
    "explore.ipynb": notebook(HF_NOTEBOOK),
}
# Untracked code that reads its secrets from elsewhere, and a documentation URL: kept.
ORDINARY_FILES = {
    "tools/ordinary.py": (
        '"""Connect with https://user:pass@host/db (an example)."""\n'
        "import getpass, os\n"
        'api_key = os.environ["API_KEY"]\n'
        "password = getpass.getpass()\n"
        "token = tokenizer(text)\n"
    ),
    "conf/train.yaml": "lr: 0.1\napi_key: ${WANDB_API_KEY}\npassword: null\n",
}
PLANTED = [
    "notepw-Zq81",
    GH_NOTE,
    "envpw-Lk22",
    "envtok-Pp33",
    "remotepw-Rr44",
    "privtok-Tt55",
    "scppw-Ss66",
    "excpw-Ex77",
    "pgpass-Aa01",
    "filetok-Bb02",
    "sa-Cc03",
    "kube-Dd04",
    "dcfg-Ee05",
    "dcj-Ff06",
    "sshk-Gg07",
    "netrc-Hh08",
    "envfile-Ii09",
    "awscred-Jj10",
    GH_FILE,
    KEY_BODY[:30],
    HF_MODULE,
    WANDB_ENV,
    "Sup3rS3cret",
    "mlflowpw-Mm12",
    WANDB_MODULE,
    "Hunter2Hunter2",
    HF_NOTEBOOK,
]


def plant(repo: Path) -> dict[str, str]:
    """The experiment (committed), secret-bearing remotes and untracked files; the env."""
    write(repo / "experiments" / "toy" / "__init__.py", "")
    write(repo / EXP, EXPERIMENT)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "toy")
    remotes = {
        "origin": "https://carol:remotepw-Rr44@gitlab.example.com/team/x.git",
        "tokened": "https://gitlab.example.com/team/x.git?private_token=privtok-Tt55",
        "scp": "me:scppw-Ss66@host.example.com:team/x.git",
        "odd": "https://[bad/x",
        "ssh": "ssh://git@host.example.com/x",
        "local": "../elsewhere.git",
    }
    for name, url in remotes.items():
        git(repo, "remote", "add", name, url)
    for rel, text in {**SECRET_FILES, **ORDINARY_FILES}.items():
        write(repo / rel, text)
    write(repo / "secret_sauce.py", "SAUCE = 1\n")  # a module: never matched by its name
    return {
        "NCCL_COMM_ID": "tcp://bob:envpw-Lk22@10.0.0.1:29500",
        "TORCH_STORE_URL": "https://store.example.com/x?access_token=envtok-Pp33",
        "OMP_NUM_THREADS": "1",
    }


def all_bytes(repo: Path) -> dict[str, bytes]:
    """Every file under outputs/ (the index too), and the whole history with the snapshots."""
    found = {str(p): p.read_bytes() for p in (repo / "outputs").rglob("*") if p.is_file()}
    log = subprocess.run(
        ["git", "log", "-p", "--binary", "--all", "--format=%H %s%n%b"],
        cwd=repo, check=True, capture_output=True,
    ).stdout  # fmt: skip
    found["git log -p --all"] = log
    return found


def test_planted_secrets_reach_no_byte_of_outputs_index_or_snapshot(repo: Path) -> None:
    env = plant(repo)
    note = f"pushed to https://alice:notepw-Zq81@git.example.com/x, token {GH_NOTE}"
    first = run_cli(repo, "launch", EXP, f"--note={note}", env=env)
    assert first.returncode == 0, first.stderr
    failing = {**env, "FAIL_WITH": "https://dave:excpw-Ex77@db.example.com/app"}
    second = run_cli(repo, "launch", EXP, "--note", note, env=failing)
    assert second.returncode == 1, second.stderr
    listed = run_cli(repo, "runs", "--all")
    assert listed.returncode == 0, listed.stderr
    assert (repo / "outputs" / ".index.sqlite").is_file()
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/reprokit/").split()
    assert len(refs) == 2

    searched = all_bytes(repo)
    assert any(name.endswith("output.log") for name in searched)
    leaks = [(where, s) for where, data in searched.items() for s in PLANTED if s.encode() in data]
    assert leaks == []

    # What the record says instead.
    record = json.loads((repo / "outputs" / "run_1" / "run.json").read_text())
    assert record["note"] == "pushed to https://git.example.com/x, token <redacted>"
    assert record["command"][-1] == f"--note={record['note']}"
    assert record["environment"]["env"] == {
        "NCCL_COMM_ID": "tcp://10.0.0.1:29500",
        "OMP_NUM_THREADS": "1",
        "TORCH_STORE_URL": "https://store.example.com/x?access_token=<redacted>",
    }
    assert record["git"]["remotes"] == {
        "origin": "https://gitlab.example.com/team/x.git",
        "tokened": "https://gitlab.example.com/team/x.git?private_token=<redacted>",
        "scp": "me@host.example.com:team/x.git",
        "odd": "https://[bad/x",
        "ssh": "ssh://git@host.example.com/x",
        "local": "../elsewhere.git",
    }
    skipped = record["git"]["skipped_untracked"]
    assert skipped == sorted(
        (
            {"path": rel, "size": len(text.encode()), "reason": "secret"}
            for rel, text in SECRET_FILES.items()
        ),
        key=lambda item: item["path"],
    )
    snapshot = git(repo, "ls-tree", "-r", "--name-only", record["git"]["snapshot"]).split()
    assert "secret_sauce.py" in snapshot and not set(SECRET_FILES) & set(snapshot)
    assert set(ORDINARY_FILES) <= set(snapshot)
    assert "untracked file tools/upload.py looks like it holds secrets" in first.stderr
    assert "It holds a Hugging Face token." in first.stderr
    assert "reprokit: warning: removed credentials from --note" in first.stderr

    failed = json.loads((repo / "outputs" / "run_2" / "run.json").read_text())
    assert failed["error"]["message"] == "cannot reach https://db.example.com/app"


def test_input_files_holding_credentials_are_fingerprinted_without_a_hash(tmp_path: Path) -> None:
    import dataclasses

    from reprokit.capture import inputs

    @dataclasses.dataclass(frozen=True)
    class Config:
        data: Path = Path("data.csv")
        token_file: Path = Path("secrets/hf_token")
        material: Path = Path("material.txt")

    write(tmp_path / "data.csv", "a,b\n1,2\n")
    write(tmp_path / "secrets" / "hf_token", "hunter2\n")  # by its name
    write(tmp_path / "material.txt", f"export T={GH_FILE}\n")  # by its content
    entries = {e["field"]: e for e in inputs.fingerprint_inputs(Config(), tmp_path)}
    assert entries["data"]["sha256"] is not None
    assert entries["token_file"]["sha256"] is None and entries["token_file"]["size"] == 8
    assert entries["material"]["sha256"] is None
    # Compared by size (and mtime) instead.
    write(tmp_path / "secrets" / "hf_token", "hunter22\n")
    changes = inputs.compare_inputs(list(entries.values()), tmp_path)
    assert [(c.field, c.what) for c in changes] == [("token_file", "size")]


def test_staged_but_never_committed_secrets_stay_out_of_the_snapshot(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from reprokit.capture.snapshot import capture

    write(repo / ".env", f"GITHUB_TOKEN={GH_FILE}\n")  # by its name
    write(repo / "notes.txt", f"deploy with {GH_FILE}\n")  # by its content
    write(repo / "train.py", "LR = 0.1\n")  # an ordinary staged file
    git(repo, "add", ".env", "notes.txt", "train.py")
    rec = capture(repo, "run_1", untracked_size_cap=10**6, patch_path=tmp_path / "diff.patch")
    assert rec is not None
    snapshot = git(repo, "ls-tree", "-r", "--name-only", rec["snapshot"]).split()
    assert "train.py" in snapshot and ".env" not in snapshot and "notes.txt" not in snapshot
    assert GH_FILE.encode() not in (tmp_path / "diff.patch").read_bytes()
    assert rec["staged"] == [".env", "notes.txt", "train.py"]
    assert rec["skipped_untracked"] == [
        {"path": ".env", "size": 54, "reason": "secret"},
        {"path": "notes.txt", "size": 53, "reason": "secret"},
    ]
    err = capsys.readouterr().err
    assert "staged file .env looks like it holds secrets and is NOT in the run's snapshot" in err
    assert "It holds a GitHub token. Unstage it (git rm --cached) and add it" in err
    # The user's own index is untouched: both stay staged.
    assert git(repo, "diff", "--cached", "--name-only").split() == [".env", "notes.txt", "train.py"]


def test_a_secret_over_the_size_cap_is_named_never_hashed(repo: Path, tmp_path: Path) -> None:
    from reprokit.capture.snapshot import capture

    write(repo / "id_rsa", "x" * 200)
    write(repo / "big.bin", "y" * 200)
    rec = capture(repo, "run_1", untracked_size_cap=100, patch_path=tmp_path / "diff.patch")
    assert rec is not None
    assert rec["skipped_untracked"] == [
        {"path": "big.bin", "size": 200, "sha256": rec["skipped_untracked"][0]["sha256"],
         "reason": "size"},
        {"path": "id_rsa", "size": 200, "reason": "secret"},
    ]  # fmt: skip
