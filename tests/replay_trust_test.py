"""Replaying a run folder that someone else edited as an attacker would.

Each test launches a real run, edits its record by hand (run.json, diff.patch, config.yaml)
and runs the real ``reprokit replay``: the record may not choose the environment, paths,
git remotes or command-line options of what runs, and a tampered rebuild never runs
unnoticed. The threat model and the table of what each record value may do are in
docs/security.md.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import git, run_cli, write
from reprokit.cli import main
from reprokit.errors import EXIT_INTERRUPTED, ReprokitError
from reprokit.record import store, trust as recordtrust
from reprokit.replay import child as replayprep, restore as gitrestore

EXP = "experiments/toy/probe_01_01.py"
EXP_SOURCE = '''
    """Records what its process saw: the variables that could load code, and its folder."""

    import dataclasses
    import json
    import os
    import time

    import reprokit

    WATCHED = (
        "PYTHON", "LD_", "DYLD_", "PATH", "GIT_", "CUDA_", "CUBLAS_", "NCCL_", "OMP_", "XLA_",
        "TORCH_", "PYTORCH_", "MKL_", "KMP_", "OPENBLAS_", "VECLIB_", "NUMEXPR_", "NVIDIA_",
        "TF_", "ATEN_",
    )


    @dataclasses.dataclass(frozen=True)
    class Config:
        seed: int = 1
        steps: int = 2
        sleep: float = 0.0


    config = Config()


    def main(config: Config) -> dict[str, float]:
        run = reprokit.current_run()
        seen = {k: v for k, v in os.environ.items() if k.startswith(WATCHED)}
        (run.dir / "seen.json").write_text(json.dumps({"env": seen, "cwd": os.getcwd()}))
        for step in range(config.steps):
            reprokit.log(step=step, value=float(step))
        time.sleep(config.sleep)
        return {"steps": config.steps}


    def smoke(config: Config) -> Config:
        return config
'''


@pytest.fixture
def tmpdir_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Replay's temporary worktrees go here (in-process and in subprocesses alike)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def launched(repo: Path, tmpdir_here: Path) -> Path:
    """The probe experiment committed, then launched once with a dirty change (run_1)."""
    write(repo / "experiments" / "toy" / "__init__.py", "")
    write(repo / EXP, EXP_SOURCE)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "probe experiment")
    write(repo / EXP, EXP_SOURCE.replace("steps: int = 2", "steps: int = 3"))
    proc = run_cli(repo, "launch", EXP, "--no-check")
    assert proc.returncode == 0, proc.stderr
    return repo


def _edit(repo: Path, run_id: str, **changes: Any) -> dict[str, Any]:
    """Edit run.json as a person with a text editor would: set dotted keys."""
    path = repo / "outputs" / run_id / "run.json"
    data = json.loads(path.read_text())
    for dotted, value in changes.items():
        obj = data
        *parents, last = dotted.split("__")
        for key in parents:
            obj = obj.setdefault(key, {})
        obj[last] = value
    path.write_text(json.dumps(data))
    return data


def _replay(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str]:
    monkeypatch.chdir(repo)
    code = main(["replay", *argv])
    return code, capfd.readouterr().err


def _seen(repo: Path, run_id: str) -> dict[str, Any]:
    return json.loads((repo / "outputs" / run_id / "seen.json").read_text())  # type: ignore[no-any-return]


def _no_leftovers(repo: Path, tmpdir: Path) -> None:
    assert git(repo, "worktree", "list").count("\n") == 1
    assert [p.name for p in tmpdir.iterdir() if p.name.startswith("reprokit-replay-")] == []


def _drop_snapshot(repo: Path, run_id: str) -> None:
    """Delete the snapshot ref and let git collect the commit: only the patch is left."""
    git(repo, "update-ref", "-d", f"refs/reprokit/runs/{run_id}")
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "-q", "--prune=now")


# --- environment --------------------------------------------------------------------


def test_recorded_variables_that_load_code_never_reach_the_replay(
    launched: Path,
    tmp_path: Path,
    tmpdir_here: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    repo = launched
    planted = tmp_path / "planted"
    marker = tmp_path / "PWNED"
    write(planted / "sitecustomize.py", f"open({str(marker)!r}, 'w').write('ran')\n")
    hostile = {
        "PYTHONPATH": str(planted),
        "PYTHONSTARTUP": str(planted / "sitecustomize.py"),
        "PATH": str(planted),
        "LD_PRELOAD": str(planted / "evil.so"),
        "GIT_SSH_COMMAND": f"touch {marker}",
        "CUDA_INJECTION64_PATH": str(planted / "evil.so"),
        "NCCL_NET_PLUGIN": "evil",
        "NCCL_TUNER_PLUGIN": "evil",
        "OMP_TOOL_LIBRARIES": "libevil.so",
        "OMP_TOOL": "enabled",
        "XLA_FLAGS": f"--xla_dump_to={planted}",
        "CUDA_LAUNCH_BLOCKING": "1\nLD_PRELOAD=x",
        "PYTHONHASHSEED": "--evil",
    }
    fine = {"OMP_NUM_THREADS": "3", "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
    _edit(repo, "run_1", environment__env={**hostile, **fine})

    code, err = _replay(repo, monkeypatch, capfd, "run_1")

    assert code == 0, err
    assert not marker.exists()
    seen = _seen(repo, "run_2")["env"]
    info = err.split("recorded but not re-applied: ", 1)[-1].split(";")[0].split(", ")
    for name, value in hostile.items():
        assert seen.get(name) != value, name
        assert f"not applying {name} (" in err or name in info, name
    assert "not applying PYTHONPATH (it can change what code loads)" in err
    assert "not applying CUDA_LAUNCH_BLOCKING (its value holds a NUL or a line break" in err
    assert 'PYTHONHASHSEED must be "random" or 0..4294967295' in err
    assert {k: seen[k] for k in fine} == fine
    # The replay's record says what its child got, and what was refused.
    replayed = store.read_record(repo / "outputs" / "run_2")
    assert {k: replayed["environment"]["env"][k] for k in fine} == fine
    assert not set(hostile) & set(replayed["environment"]["env"]) - {"PYTHONHASHSEED"}
    assert sorted(replayed["replay"]["env_refused"]) == sorted(hostile)
    _no_leftovers(repo, tmpdir_here)


@pytest.mark.parametrize(
    ("value", "applied"),
    [("0", True), ("4294967295", True), ("random", True), ("4294967296", False), ("-1", False)],
)
def test_pythonhashseed_is_applied_only_with_a_value_python_accepts(
    value: str, applied: bool
) -> None:
    env, refused = replayprep.child_environment(
        {"environment": {"env": {"PYTHONHASHSEED": value}}}, None, base={}
    )
    assert (env.get("PYTHONHASHSEED") == value) is applied
    assert bool(refused) is not applied


@pytest.mark.parametrize(
    "name",
    [
        "NCCL_PROFILER_PLUGIN",
        "NCCL_ENV_PLUGIN",
        "KMP_TOOL_LIBRARIES",
        "TORCH_CUDA_PRELOAD",
        "MKL_LIB",
        "DYLD_INSERT_LIBRARIES",
        "NCCL_DEBUG_FILE",
        "CUDA_MPS_PIPE_DIRECTORY",
        "TORCH_API_TOKEN",
        "HOME",
        "TORCHINDUCTOR_FX_GRAPH_REMOTE_CACHE",
        "TORCHINDUCTOR_REDIS_HOST",
        "NCCL_COMM_ID",
    ],
)
def test_other_code_loading_locations_and_unlisted_names_are_not_applied(name: str) -> None:
    env, _ = replayprep.child_environment({"environment": {"env": {name: "value"}}}, None, base={})
    assert name not in env


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KMP_DUPLICATE_LIB_OK", "TRUE"),
        ("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True"),
        ("MKL_CBWR", "COMPATIBLE"),
    ],
)
def test_ordinary_settings_are_applied(name: str, value: str) -> None:
    env, refused = replayprep.child_environment(
        {"environment": {"env": {name: value}}}, None, base={}
    )
    assert (env.get(name), refused) == (value, [])


def test_a_value_scrubbed_at_launch_keeps_this_machines_value() -> None:
    # Launch records `NCCL_IB_HCA=<redacted>`-style values when they held a credential; the
    # replay must neither apply the placeholder nor drop the user's own value.
    recorded = {"OMP_SCHEDULE": "static?token=<redacted>", "OMP_NUM_THREADS": "2"}
    here = {"OMP_SCHEDULE": "static?token=mine", "OMP_PROC_BIND": "true"}
    env, refused = replayprep.child_environment({"environment": {"env": recorded}}, None, base=here)
    assert (env, refused) == ({"OMP_SCHEDULE": "static?token=mine", "OMP_NUM_THREADS": "2"}, [])


def test_a_name_that_is_no_variable_name_is_refused_and_shown_quoted() -> None:
    env, refused = replayprep.child_environment(
        {"environment": {"env": {"OMP_X\x1b[2J": "1", "A=B": "1"}}}, None, base={}
    )
    assert env == {}
    assert refused == [
        ("'OMP_X\\x1b[2J'", "not a variable name"),
        ("'A=B'", "not a variable name"),
    ]


def test_a_torchrun_record_replays_as_one_process_without_warnings() -> None:
    recorded = {"MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500", "RANK": "0"}
    here = {"MASTER_ADDR": "127.0.0.1", "REPROKIT_OUTPUTS": "elsewhere"}
    env, refused = replayprep.child_environment(
        {"environment": {"env": {**recorded, "REPROKIT_OUTPUTS": "x"}}}, None, base=here
    )
    assert (env, refused) == ({}, [])


def test_recorded_torch_settings_are_bounded() -> None:
    facts = {
        "intra_op_threads": "1; rm -rf /",
        "inter_op_threads": 10**9,
        "float32_matmul_precision": "lowest",
        "cudnn_benchmark": "yes",
        "allow_tf32_cudnn": True,
    }
    env, refused = replayprep.child_environment({"torch": facts}, None, base={})
    assert json.loads(env[replayprep.TORCH_VAR]) == {"allow_tf32_cudnn": True}
    assert sorted(name for name, _ in refused) == [
        "torch.cudnn_benchmark",
        "torch.float32_matmul_precision",
        "torch.inter_op_threads",
        "torch.intra_op_threads",
    ]


# --- paths --------------------------------------------------------------------------


def _launch_with_link_out(repo: Path, target: Path) -> None:
    """Commit ``link_out``, a link to the folder ``target`` outside the repository, and
    launch again (run_2): its snapshot holds the link."""
    (repo / "link_out").symlink_to(target, target_is_directory=True)
    git(repo, "add", "link_out")
    git(repo, "commit", "-q", "-m", "a link")
    assert run_cli(repo, "launch", EXP, "--no-check").returncode == 0


@pytest.mark.parametrize("cwd", ["../planted", "/tmp", "link_out"])
def test_a_recorded_cwd_outside_the_worktree_is_refused(
    launched: Path,
    tmpdir_here: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    cwd: str,
) -> None:
    repo = launched
    # `../planted` from the worktree: a module there would shadow the standard library.
    marker = tmp_path / "PWNED"
    write(tmpdir_here / "planted" / "json.py", f"open({str(marker)!r}, 'w').write('ran')\n")
    # `link_out`: a folder of the snapshot that is a link to the planted folder.
    _launch_with_link_out(repo, tmpdir_here / "planted")
    _edit(repo, "run_2", replay={"cwd": cwd, "rebuild": "ref", "source_path": "outputs/run_1"})

    code, err = _replay(repo, monkeypatch, capfd, "run_2")

    assert code == 1
    assert "run_2/run.json: replay.cwd " in err
    assert (
        "must be a relative path inside the rebuilt worktree; it " in err
        or "leads out of the rebuilt worktree through a link" in err
    )
    assert not marker.exists()
    assert [p.name for p in store.run_dirs(repo / "outputs")] == ["run_1", "run_2"]
    _no_leftovers(repo, tmpdir_here)


@pytest.mark.parametrize("path", ["../evil", "/abs/evil", "sub/../../evil", "link_out/evil"])
def test_a_skipped_untracked_path_never_links_outside_the_worktree(
    launched: Path,
    tmpdir_here: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    path: str,
) -> None:
    repo = launched
    outside = tmpdir_here / "outside"
    outside.mkdir()
    _launch_with_link_out(repo, outside)
    write(tmp_path / "evil", "the user's file\n")  # what `../evil` names from the repository
    entry = {"path": path, "size": 16, "reason": "size", "sha256": None}
    _edit(repo, "run_2", git__skipped_untracked=[entry])

    code, err = _replay(repo, monkeypatch, capfd, "run_2")

    assert code == 0, err
    assert f"warning: git.skipped_untracked path {path!r} " in err
    assert "; ignored" in err
    assert sorted(p.name for p in tmpdir_here.iterdir()) == ["outside"]
    assert list(outside.iterdir()) == []
    _no_leftovers(repo, tmpdir_here)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("experiment__path", "../elsewhere/x_01_01.py", "experiment.path must be a relative path"),
        ("experiment__path", "/tmp/x_01_01.py", "experiment.path must be a relative path"),
        ("replay_of", "--help", "replay_of is not a run id"),
        ("id", "--config-file=/etc/passwd", "id is not a run id"),
        ("git__snapshot_ref", "refs/reprokit/../heads/main", "git.snapshot_ref is not a plain"),
        ("git__sha", "--upload-pack=touch x", "git.sha is not a commit id"),
        ("git__tree", "HEAD", "git.tree is not a commit id"),
        ("seed", "5 --deterministic", '"seed" should be an integer'),
        ("seed", True, '"seed" should be an integer'),
    ],
)
def test_ids_refs_and_paths_from_a_record_are_checked_before_use(
    launched: Path,
    tmpdir_here: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    key: str,
    value: Any,
    message: str,
) -> None:
    repo = launched
    _edit(repo, "run_1", **{key: value})
    code, err = _replay(repo, monkeypatch, capfd, "run_1")
    assert code == 1
    assert f"run_1/run.json: {message}" in err
    assert [p.name for p in store.run_dirs(repo / "outputs")] == ["run_1"]
    _no_leftovers(repo, tmpdir_here)


@pytest.mark.parametrize("patch_file", ["../../outside.patch", "/etc/passwd", "link"])
def test_the_patch_must_be_a_file_of_the_run_folder(
    launched: Path,
    tmpdir_here: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    patch_file: str,
) -> None:
    repo = launched
    run = repo / "outputs" / "run_1"
    (tmp_path / "outside.patch").write_bytes((run / "diff.patch").read_bytes())
    (run / "link").symlink_to(tmp_path / "outside.patch")
    _drop_snapshot(repo, "run_1")
    _edit(repo, "run_1", git__patch_file=patch_file)

    code, err = _replay(repo, monkeypatch, capfd, "run_1")

    assert code == 1
    assert "run_1/run.json: git.patch_file " in err
    _no_leftovers(repo, tmpdir_here)


# --- git ----------------------------------------------------------------------------


def test_a_remote_named_only_by_the_record_is_never_fetched(
    launched: Path,
    tmpdir_here: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    repo = launched
    # Someone else's repository serves another commit under the run's snapshot ref.
    evil = tmp_path / "evil.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(evil))
    work = tmp_path / "evil_work"
    git(tmp_path, "clone", "-q", str(evil), str(work))
    write(work / EXP, EXP_SOURCE.replace("return {", "open('PWNED', 'w').close()\n    return {"))
    git(work, "commit", "-q", "-am", "evil")
    evil_sha = git(work, "rev-parse", "HEAD").strip()
    git(work, "push", "-q", "origin", "HEAD:refs/reprokit/runs/run_1")
    _drop_snapshot(repo, "run_1")
    (repo / "outputs" / "run_1" / "diff.patch").unlink()
    _edit(repo, "run_1", git__snapshot=evil_sha, git__remotes={"origin": str(evil)})

    code, err = _replay(repo, monkeypatch, capfd, "run_1")

    assert code == 1
    assert "the snapshot is not in this repository, there is no remote" in err
    assert subprocess.run(["git", "cat-file", "-e", evil_sha], cwd=repo).returncode != 0
    assert git(repo, "for-each-ref", "refs/reprokit") == ""
    assert not list(repo.rglob("PWNED"))
    _no_leftovers(repo, tmpdir_here)


def test_configured_fd_and_ext_remotes_neither_hang_nor_run(
    launched: Path, tmpdir_here: Path, tmp_path: Path
) -> None:
    repo = launched
    marker = tmp_path / "PWNED"
    git(repo, "remote", "add", "fdremote", "fd::5")
    git(repo, "remote", "add", "extremote", f"ext::sh -c touch% {marker}")
    git(repo, "config", "protocol.ext.allow", "always")  # even where the user allowed it
    _drop_snapshot(repo, "run_1")

    started = time.monotonic()
    proc = run_cli(repo, "replay", "run_1", "--from-patch", timeout=90)

    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 60
    assert "(from its base commit + diff.patch)" in proc.stderr
    assert not marker.exists()
    _no_leftovers(repo, tmpdir_here)


def _slow_remote(repo: Path, tmp_path: Path, delay: str) -> None:
    """A configured remote ``slow`` (a bare clone) whose server waits ``delay`` seconds
    before it answers, and run_1's snapshot gone from this repository: fetched from there."""
    bare = tmp_path / "slow.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    git(repo, "remote", "add", "slow", str(bare))
    git(repo, "config", "remote.slow.uploadpack", f"sleep {delay}; git-upload-pack")
    _drop_snapshot(repo, "run_1")


def test_a_fetch_that_does_not_answer_is_stopped(
    launched: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = launched
    _slow_remote(repo, tmp_path, "60")
    run = repo / "outputs" / "run_1"
    (run / "diff.patch").unlink()
    monkeypatch.setattr(gitrestore, "FETCH_TIMEOUT_S", 1.0)
    record = store.read_record(run)

    started = time.monotonic()
    with pytest.raises(ReprokitError) as info:
        gitrestore.materialize(repo, record["git"], run, tmp_path / "rebuilt")

    assert time.monotonic() - started < 20
    assert "could not be fetched from slow (no answer within 1 s)" in str(info.value)
    assert git(repo, "worktree", "list").count("\n") == 1


def _tamper_patch(repo: Path, run_id: str) -> None:
    patch = repo / "outputs" / run_id / "diff.patch"
    text = patch.read_text()
    assert "+    steps: int = 3" in text
    patch.write_text(text.replace("+    steps: int = 3", "+    steps: int = 5"))


def test_a_tampered_patch_is_refused_unless_allowed_and_then_recorded(
    launched: Path,
    tmpdir_here: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    repo = launched
    # --smoke: the snapshot's own config (3 steps, 5 once tampered), not the recorded one.
    _drop_snapshot(repo, "run_1")
    _tamper_patch(repo, "run_1")
    tree = store.read_record(repo / "outputs" / "run_1")["git"]["tree"]

    code, err = _replay(repo, monkeypatch, capfd, "run_1", "--smoke", "--from-patch")
    assert code == 1
    assert "refusing to run: the code rebuilt from its base commit + diff.patch has tree " in err
    assert f"records git.tree {tree[:12]}: this is not the code the run ran" in err
    assert "--allow-tree-mismatch" in err
    assert [p.name for p in store.run_dirs(repo / "outputs")] == ["run_1"]
    _no_leftovers(repo, tmpdir_here)

    code, err = _replay(
        repo, monkeypatch, capfd, "run_1", "--smoke", "--allow-tree-mismatch", "--from-patch"
    )
    assert code == 0, err
    assert "running it anyway (--allow-tree-mismatch" in err
    replayed = store.read_record(repo / "outputs" / "run_2")
    mismatch = replayed["replay"]["tree_mismatch"]
    assert mismatch["recorded"] == tree and mismatch["ran"] != tree
    assert len(store.read_metrics(repo / "outputs" / "run_2")) == 5
    _no_leftovers(repo, tmpdir_here)


def test_an_untampered_patch_rebuild_passes_the_tree_check_and_old_records_get_a_note(
    launched: Path,
    tmpdir_here: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    repo = launched
    _drop_snapshot(repo, "run_1")
    code, err = _replay(repo, monkeypatch, capfd, "run_1", "--verify", "--from-patch")
    assert code == 0, err
    assert "refusing" not in err and "git.tree" not in err
    replay_info = store.read_record(repo / "outputs" / "run_2")["replay"]
    assert "tree_mismatch" not in replay_info
    assert (replay_info["rebuild"], replay_info["from_patch"]) == ("patch", True)

    record = store.read_json(repo / "outputs" / "run_1" / "run.json")
    del record["git"]["tree"]
    store.write_json(repo / "outputs" / "run_1" / "run.json", record)
    code, err = _replay(repo, monkeypatch, capfd, "run_1", "--verify", "--from-patch")
    assert code == 0, err
    assert "record has no git.tree (an older record)" in err


def test_a_record_whose_tree_does_not_match_its_snapshot_commit_is_refused(
    launched: Path,
    tmpdir_here: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    repo = launched
    _edit(repo, "run_1", git__tree=git(repo, "rev-parse", "HEAD^{tree}").strip())
    code, err = _replay(repo, monkeypatch, capfd, "run_1")
    assert code == 1
    assert "the code rebuilt from its snapshot ref has tree" in err
    _no_leftovers(repo, tmpdir_here)


# --- signals ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signalled_replay_removes_its_worktree(
    launched: Path, tmpdir_here: Path, signum: int
) -> None:
    repo = launched
    config = repo / "outputs" / "run_1" / "config.yaml"
    config.write_text(config.read_text().replace("sleep: 0.0", "sleep: 60.0"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "reprokit", "replay", "run_1"],
        cwd=repo,
        env={**os.environ, "TMPDIR": str(tmpdir_here)},
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the signal reaches the replay alone, as `kill` would
    )
    try:
        deadline = time.monotonic() + 60
        seen = repo / "outputs" / "run_2" / "seen.json"
        while not seen.exists():  # main is running (and sleeping) in the worktree
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr
            time.sleep(0.1)
        assert any(p.name.startswith("reprokit-replay-") for p in tmpdir_here.iterdir())
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert store.read_record(repo / "outputs" / "run_2")["status"] == "interrupted"
    _no_leftovers(repo, tmpdir_here)


# --- the rule itself ----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["..", "../x", "a/../../x", "/abs", "~/x", "a\\b", "a\x00b", "a\nb", "./a", "a//b", "", 3],
)
def test_unsafe_relative_paths(value: Any) -> None:
    assert recordtrust.relative_path_problem(value) is not None


@pytest.mark.parametrize("value", [".", "a", "a/b.py", "data/", "a.b/c"])
def test_safe_relative_paths(value: str) -> None:
    assert recordtrust.relative_path_problem(value) is None


@pytest.mark.parametrize("value", ["0,1", "", "GPU-1a2b-3c", "MIG-4f-5"])
def test_gpu_selections_that_may_reach_cuda(value: str) -> None:
    assert recordtrust.gpu_devices(value) == value


def test_a_gpu_selection_with_anything_else_is_refused() -> None:
    with pytest.raises(ReprokitError):
        recordtrust.gpu_devices("0;touch x")


# --- beyond replay: other commands that read a record, and what git already refuses --


_EVIL_HUNKS = {
    "into .git": (
        "diff --git a/.git/hooks/post-checkout b/.git/hooks/post-checkout\n"
        "new file mode 100755\nindex 0000000..1111111\n--- /dev/null\n"
        "+++ b/.git/hooks/post-checkout\n@@ -0,0 +1 @@\n+touch {marker}\n"
    ),
    "through a link": (
        "diff --git a/lnk b/lnk\nnew file mode 120000\nindex 0000000..1111111\n"
        "--- /dev/null\n+++ b/lnk\n@@ -0,0 +1 @@\n+{outside}\n\\ No newline at end of file\n"
        "diff --git a/lnk/evil b/lnk/evil\nnew file mode 100644\nindex 0000000..2222222\n"
        "--- /dev/null\n+++ b/lnk/evil\n@@ -0,0 +1 @@\n+evil\n"
    ),
    "out of the worktree": (
        "diff --git a/../evil b/../evil\nnew file mode 100644\nindex 0000000..2222222\n"
        "--- /dev/null\n+++ b/../evil\n@@ -0,0 +1 @@\n+evil\n"
    ),
}


@pytest.mark.parametrize("where", sorted(_EVIL_HUNKS))
def test_a_patch_that_writes_outside_its_files_is_refused_by_git(
    launched: Path,
    tmpdir_here: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    where: str,
) -> None:
    repo = launched
    outside, marker = tmp_path / "outside", tmp_path / "PWNED"
    outside.mkdir()
    _drop_snapshot(repo, "run_1")
    patch = repo / "outputs" / "run_1" / "diff.patch"
    hunk = _EVIL_HUNKS[where].format(marker=marker, outside=outside)
    patch.write_text(patch.read_text() + hunk)

    code, err = _replay(repo, monkeypatch, capfd, "run_1", "--from-patch")

    assert code == 1
    assert "does not apply to" in err
    assert "invalid path" in err or "beyond a symbolic link" in err
    assert list(outside.iterdir()) == [] and not marker.exists()
    assert sorted(p.name for p in tmpdir_here.iterdir()) == []
    assert not (tmp_path / "evil").exists() and not (repo / ".git" / "hooks").exists()
    _no_leftovers(repo, tmpdir_here)


def test_blame_of_a_run_never_follows_an_experiment_path_outside_the_experiments(
    launched: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # A file shipped inside the run folder: `blame --ablate` would launch it.
    repo = launched
    write(repo / "outputs" / "run_1" / "evil_01_01.py", EXP_SOURCE)
    _edit(repo, "run_1", experiment__path="outputs/run_1/evil_01_01.py")
    monkeypatch.chdir(repo)
    assert main(["blame", "value", "run_1"]) == 1
    err = capfd.readouterr().err
    assert "run_1/run.json: experiment.path is not inside " in err


def test_diff_code_fetches_only_from_configured_remotes(
    launched: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    repo = launched
    assert run_cli(repo, "launch", EXP, "--no-check").returncode == 0
    shared = tmp_path / "shared.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(shared))
    git(repo, "push", "-q", str(shared), "refs/reprokit/*:refs/reprokit/*")
    _drop_snapshot(repo, "run_2")
    _edit(repo, "run_2", git__remotes={"origin": str(shared)})
    monkeypatch.chdir(repo)

    assert main(["diff", "run_1", "run_2", "--code"]) == 1
    assert "is not in this repository and there is no remote to fetch it from" in (
        capfd.readouterr().err
    )

    git(repo, "remote", "add", "team", str(shared))  # the user's own remote: fetched
    assert main(["diff", "run_1", "run_2", "--code"]) == 0


def _link_instead(run: Path, target: Path, *names: str) -> None:
    """Replace the files ``names`` of the run folder ``run`` by links to ``target``."""
    for name in names:
        (run / name).unlink()
        (run / name).symlink_to(target)


def test_links_out_of_the_run_folder_are_neither_read_nor_copied(
    launched: Path,
    tmpdir_here: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    repo = launched
    secret = tmp_path / "id_ed25519"
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n")
    run = repo / "outputs" / "run_1"
    _link_instead(run, secret, "diff.patch")

    # The snapshot ref is here, so the patch is not needed: the replay runs, and the
    # linked file is not copied into its run folder.
    code, err = _replay(repo, monkeypatch, capfd, "run_1")
    assert code == 0, err
    assert not (repo / "outputs" / "run_2" / "diff.patch").exists()
    assert b"PRIVATE KEY" not in b"".join(
        p.read_bytes() for p in (repo / "outputs" / "run_2").iterdir() if p.is_file()
    )

    _link_instead(run, secret, "config.yaml")
    code, err = _replay(repo, monkeypatch, capfd, "run_1")
    assert code == 1
    assert "config.yaml is a link to a file outside the run folder" in err
    assert "PRIVATE KEY" not in err
    _no_leftovers(repo, tmpdir_here)


def test_recorded_inputs_outside_the_worktree_are_not_compared(
    launched: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    repo = launched
    inputs = [
        {"field": "data", "path": "../../..", "kind": "dir", "size": 1, "files": 1},
        {"field": "blob", "path": 7, "kind": "file", "size": 1},
    ]
    _edit(repo, "run_1", inputs=inputs)
    code, err = _replay(repo, monkeypatch, capfd, "run_1")
    assert code == 0, err
    assert "not comparing input '../../..' (leaves the worktree)" in err
    assert "not comparing input 7 (not a path)" in err
    assert "changed since the original run" not in err


def test_the_index_never_copies_a_file_a_run_folder_links_to(
    launched: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    repo = launched
    secret = tmp_path / "secrets.yaml"
    secret.write_text("api_token: s3cr3t-value\n")
    _link_instead(repo / "outputs" / "run_1", secret, "config.yaml", "diff.patch")
    monkeypatch.chdir(repo)
    assert main(["runs", "--all", "--format", "json"]) == 0
    assert "s3cr3t" not in capfd.readouterr().out
    assert b"s3cr3t" not in (repo / "outputs" / ".index.sqlite").read_bytes()


def _processes_running(token: str) -> list[int]:
    found = []
    for proc_dir in Path("/proc").iterdir():
        try:
            cmdline = (proc_dir / "cmdline").read_bytes()
        except OSError:
            continue
        if token.encode() in cmdline:
            found.append(int(proc_dir.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_a_replay_stopped_while_fetching_leaves_nothing_behind(
    launched: Path, tmpdir_here: Path, tmp_path: Path
) -> None:
    repo = launched
    _slow_remote(repo, tmp_path, "61.25")
    proc = subprocess.Popen(
        [sys.executable, "-m", "reprokit", "replay", "run_1"],
        cwd=repo,
        env={**os.environ, "TMPDIR": str(tmpdir_here)},
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not _processes_running("sleep 61.25"):  # the fetch is waiting
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert _processes_running("61.25") == []  # sh and sleep, stopped with git
    assert [p.name for p in store.run_dirs(repo / "outputs")] == ["run_1"]
    _no_leftovers(repo, tmpdir_here)


# --- what a replay re-applies, where it writes, what it runs -------------------------

# Every name a replay re-applies, with a value a real run could have had.
_REPLAYED_ENV = {
    "PYTHONHASHSEED": "7",
    "OMP_NUM_THREADS": "2",
    "OMP_SCHEDULE": "static",
    "OMP_PROC_BIND": "false",
    "OMP_DYNAMIC": "false",
    "MKL_NUM_THREADS": "2",
    "MKL_DYNAMIC": "FALSE",
    "MKL_CBWR": "COMPATIBLE",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "OPENBLAS_NUM_THREADS": "2",
    "OPENBLAS_CORETYPE": "Haswell",
    "VECLIB_MAXIMUM_THREADS": "2",
    "NUMEXPR_NUM_THREADS": "2",
    "KMP_AFFINITY": "disabled",
    "KMP_BLOCKTIME": "0",
    "KMP_DETERMINISTIC_REDUCTION": "true",
    "KMP_DUPLICATE_LIB_OK": "TRUE",
    "ATEN_CPU_CAPABILITY": "default",
    "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
    "NVIDIA_TF32_OVERRIDE": "0",
    "CUDA_LAUNCH_BLOCKING": "1",
    "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
    "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True",
    "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE": "1",
    "TORCH_CUDNN_V8_API_DISABLED": "1",
    "TORCH_BLAS_PREFER_CUBLASLT": "1",
    "TF_DETERMINISTIC_OPS": "1",
    "TF_CUDNN_DETERMINISTIC": "1",
    "TF_ENABLE_ONEDNN_OPTS": "0",
}
# On launch's allow-list (so recorded), but a record must not choose them: the first turns
# torch.load back into unpickling the record's own file; the others write files or
# reach other machines where the record says.
_INFO_ONLY = {
    "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1",
    "TORCH_FORCE_WEIGHTS_ONLY_LOAD": "1",
    "TORCH_LOGS_OUT": "run.json",
    "XLA_FLAGS": "--xla_dump_to=dump",
    "NCCL_NET": "evil",
}


def test_a_replay_reapplies_only_the_listed_numerics_switches(
    launched: Path,
    tmpdir_here: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    assert set(_REPLAYED_ENV) == recordtrust.REPLAY_ENV  # every listed name is tried
    repo = launched
    for name in _INFO_ONLY:
        monkeypatch.delenv(name, raising=False)
    _edit(repo, "run_1", environment__env={**_REPLAYED_ENV, **_INFO_ONLY})

    code, err = _replay(repo, monkeypatch, capfd, "run_1")

    assert code == 0, err
    seen = _seen(repo, "run_2")["env"]
    assert {k: seen.get(k) for k in _REPLAYED_ENV} == _REPLAYED_ENV
    assert not set(_INFO_ONLY) & set(seen)
    # Named once, in one warning, and in the replay's record.
    lines = [line for line in err.splitlines() if "recorded but not re-applied: " in line]
    assert len(lines) == 1, err
    assert lines[0].endswith("; set them yourself if the replay needs them")
    named = lines[0].split("re-applied: ", 1)[1].split(";")[0].split(", ")
    assert sorted(named) == sorted(_INFO_ONLY)
    assert "not applying" not in err
    replayed = store.read_record(repo / "outputs" / "run_2")
    assert sorted(replayed["replay"]["env_refused"]) == sorted(_INFO_ONLY)
    _no_leftovers(repo, tmpdir_here)


@pytest.mark.parametrize("name", sorted(_INFO_ONLY))
def test_a_recorded_switch_that_is_not_listed_never_reaches_the_child(name: str) -> None:
    env, refused = replayprep.child_environment(
        {"environment": {"env": {name: _INFO_ONLY[name]}}}, None, base={}
    )
    assert name not in env
    assert refused == [(name, recordtrust.NOT_REAPPLIED)]


def test_this_machines_value_of_an_unlisted_variable_stays() -> None:
    here = {"NCCL_DEBUG": "WARN", "OMP_NUM_THREADS": "8"}
    recorded = {"NCCL_DEBUG": "INFO"}
    env, _ = replayprep.child_environment({"environment": {"env": recorded}}, None, base=here)
    # OMP_NUM_THREADS was not set at the original run: it is not set in its replay.
    assert env == {"NCCL_DEBUG": "WARN"}


@pytest.mark.parametrize("spec", ["outputs/run_80", "run_80"])
def test_a_symlinked_run_folder_is_replayed_into_the_outputs_folder_the_user_named(
    launched: Path,
    tmpdir_here: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    spec: str,
) -> None:
    repo = launched
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copytree(repo / "outputs" / "run_1", elsewhere / "run_80")
    (repo / "outputs" / "run_80").symlink_to(elsewhere / "run_80", target_is_directory=True)
    _edit(repo, "run_80", id="run_80")

    code, err = _replay(repo, monkeypatch, capfd, spec)

    assert code == 0, err
    assert [p.name for p in elsewhere.iterdir()] == ["run_80"]
    replay_dir = repo / "outputs" / "run_81"
    assert not replay_dir.is_symlink()
    replayed = store.read_record(replay_dir)
    assert (replayed["id"], replayed["replay_of"]) == ("run_81", "run_80")
    _no_leftovers(repo, tmpdir_here)


def test_a_patch_rebuild_needs_from_patch_and_shows_what_the_patch_changes(
    launched: Path,
    tmpdir_here: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # The review's case: an unknown snapshot, no git.tree, and a hunk that runs a command.
    repo = launched
    marker = tmp_path / "PWNED"
    run = repo / "outputs" / "run_1"
    record = _edit(repo, "run_1", git__snapshot="1" * 40)
    del record["git"]["tree"]
    store.write_json(run / "run.json", record)
    patch = run / "diff.patch"
    text = patch.read_text().replace(
        "+    steps: int = 3", f"+    steps: int = 3\n+    _x = open({str(marker)!r}, 'w').close()"
    )
    patch.write_text(re.sub(r"@@ -(\d+),7 \+(\d+),7 @@", r"@@ -\1,7 +\2,8 @@", text))

    code, err = _replay(repo, monkeypatch, capfd, "run_1")

    assert code == 1
    assert not marker.exists()
    assert "the code would come from the run folder's diff.patch, not from your repository" in err
    assert "experiments/toy/probe_01_01.py |" in err and "1 file changed" in err
    assert "pass --from-patch" in err
    assert [p.name for p in store.run_dirs(repo / "outputs")] == ["run_1"]
    _no_leftovers(repo, tmpdir_here)

    # With the flag the user consents: it runs, says the tree could not be checked, and
    # the replay's record says its code came from the patch.
    code, err = _replay(repo, monkeypatch, capfd, "run_1", "--from-patch")
    assert code == 0, err
    assert marker.exists()
    assert "record has no git.tree (an older record)" in err
    replay_info = store.read_record(repo / "outputs" / "run_2")["replay"]
    assert (replay_info["rebuild"], replay_info["from_patch"]) == ("patch", True)
    _no_leftovers(repo, tmpdir_here)


def test_control_characters_of_a_hostile_config_never_reach_the_terminal(
    launched: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    repo = launched
    config = repo / "outputs" / "run_1" / "config.yaml"
    config.write_text(config.read_text() + '"lr\\e[31mX\\e]0;T\\a": 1\n')

    code, err = _replay(repo, monkeypatch, capfd, "run_1")

    assert code == 1
    assert "\x1b" not in err and "\x07" not in err
    assert "lr\\x1b[31mX\\x1b]0;T\\x07" in err


def test_skipped_untracked_entries_are_no_probe_of_the_users_files(
    launched: Path,
    tmpdir_here: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    repo = launched
    write(repo / ".env", "WANDB_API_KEY=0123456789abcdef0123456789abcdef01234567\n")
    write(repo / "notes.txt", "nothing secret here\n")
    entries = [
        {"path": ".env", "reason": "secret", "size": 1},
        {"path": ".env", "reason": "size", "size": 1, "sha256": "0" * 64},
        {"path": "pyproject.toml", "reason": "size", "size": 1, "sha256": "0" * 64},
        {"path": "pyproject.toml", "reason": "secret", "size": 1},
        {"path": "notes.txt", "reason": "secret", "size": 1},
    ]
    _edit(repo, "run_1", git__skipped_untracked=entries)

    code, err = _replay(repo, monkeypatch, capfd, "run_1")

    assert code == 0, err
    assert "changed size" not in err and "sha256 differs" not in err, err
    assert err.count("'pyproject.toml' is tracked here; ignored") == 2
    assert "notes.txt (left out of the snapshot as a likely secret): the file here does not" in err
    _no_leftovers(repo, tmpdir_here)


def test_a_fifo_config_is_reported_as_not_a_regular_file(
    launched: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    repo = launched
    config = repo / "outputs" / "run_1" / "config.yaml"
    config.unlink()
    os.mkfifo(config)
    code, err = _replay(repo, monkeypatch, capfd, "run_1")
    assert code == 1
    assert "config.yaml: a FIFO (named pipe), not a regular file" in err
    assert "missing" not in err


def test_a_replay_copies_its_originals_patch_only_up_to_the_size_cap(
    launched: Path,
    tmpdir_here: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # A sparse 65 MiB diff.patch (the snapshot ref is here, so it is not needed).
    repo = launched
    os.truncate(repo / "outputs" / "run_1" / "diff.patch", store.MAX_FILE_BYTES + 2**20)
    code, err = _replay(repo, monkeypatch, capfd, "run_1")
    assert code == 0, err
    assert not (repo / "outputs" / "run_2" / "diff.patch").exists()
    _no_leftovers(repo, tmpdir_here)


def test_the_gpu_selection_is_chosen_from_the_recorded_gpus_not_warned_about() -> None:
    recorded = {"CUDA_VISIBLE_DEVICES": "3", "OMP_NUM_THREADS": "2"}
    env, refused = replayprep.child_environment(
        {"environment": {"env": recorded}}, "0", base={"CUDA_VISIBLE_DEVICES": "1"}
    )
    assert (env, refused) == ({"CUDA_VISIBLE_DEVICES": "0", "OMP_NUM_THREADS": "2"}, [])
