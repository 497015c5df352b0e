"""Snapshot refs never collide: linked worktrees, outputs folders, refs made by hand.

Real repositories, the real CLI (launch in a subprocess, replay in-process), real gc."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import MINIMAL_EXPERIMENT, git, run_cli, write
from reprokit.capture.refs import encode_name
from reprokit.cli import main
from reprokit.gitcmd import REPROKIT_IDENTITY
from reprokit.record import store

EXP = "experiments/toy/base_01_01.py"


def _launch(cwd: Path, *args: str) -> str:
    proc = run_cli(cwd, "launch", EXP, "--no-check", *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stderr


def _git_record(run_dir: Path) -> dict[str, Any]:
    record = store.read_record(run_dir)
    assert record["git"] is not None
    return record["git"]  # type: ignore[no-any-return]


def _points_at(repo: Path, ref: str) -> str:
    return git(repo, "rev-parse", "--verify", "-q", ref).strip()


def _replay(cwd: Path, run: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Replay ``run`` from ``cwd``; the replay's own record (the newest run there)."""
    monkeypatch.chdir(cwd)
    assert main(["replay", run]) == 0
    outputs = (cwd / run).parent
    newest = max(outputs.glob("run_*"), key=lambda p: int(p.name[4:]))
    return store.read_record(newest)


@pytest.fixture
def toy(repo: Path) -> Path:
    write(repo / EXP, MINIMAL_EXPERIMENT)
    write(repo / "experiments/toy/__init__.py", "")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "toy experiment")
    return repo


def test_linked_worktree_never_takes_the_main_checkouts_ref_even_after_amend_and_gc(
    toy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = toy
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", "-b", "side", str(linked))
    write(linked / "side.txt", "side work\n")
    git(linked, "add", "side.txt")
    git(linked, "commit", "-q", "-m", "side")
    # The main checkout's run sits on a commit that only main has, with uncommitted code.
    write(repo / "main.txt", "main work\n")
    git(repo, "add", "main.txt")
    git(repo, "commit", "-q", "-m", "main work")
    write(repo / EXP, MINIMAL_EXPERIMENT.replace("lr: float = 0.1", "lr: float = 0.2"))
    _launch(repo)
    _launch(linked)  # its own outputs/run_1

    main_git = _git_record(repo / "outputs/run_1")
    linked_git = _git_record(linked / "outputs/run_1")
    assert main_git["snapshot_ref"] == "refs/reprokit/runs/run_1"
    assert linked_git["snapshot_ref"] == "refs/reprokit/runs/_wt/linked/run_1"
    for rec in (main_git, linked_git):
        assert _points_at(repo, rec["snapshot_ref"]) == rec["snapshot"]

    # The base of the main run disappears from every branch; only its snapshot ref keeps
    # it. (When both runs wrote refs/reprokit/runs/run_1, this lost the main run's code.)
    git(repo, "checkout", "-q", "--", EXP)
    git(repo, "commit", "-q", "--amend", "-m", "main work, amended")
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "-q", "--prune=now")

    replayed = _replay(repo, "outputs/run_1", monkeypatch)
    assert replayed["replay"]["rebuild"] == "ref"
    assert replayed["git"]["tree"] == main_git["tree"]
    replayed = _replay(linked, "outputs/run_1", monkeypatch)
    assert replayed["replay"]["rebuild"] == "ref"
    assert replayed["git"]["tree"] == linked_git["tree"]


def test_outputs_folders_that_differ_only_in_odd_characters_get_different_refs(
    toy: Path,
) -> None:
    repo = toy
    write(repo / ".gitignore", "outputs/\n__pycache__/\nmy runs/\nmy_runs/\nmy-runs/\n")
    git(repo, "commit", "-q", "-am", "ignore run folders")
    refs = {}
    for folder in ("my runs", "my_runs", "my-runs"):
        write(repo / "data.txt", f"launched into {folder}\n")  # a different snapshot each
        _launch(repo, "--outputs", folder)
        refs[folder] = _git_record(repo / folder / "run_1")
    assert [r["snapshot_ref"] for r in refs.values()] == [
        "refs/reprokit/runs/my_x20runs/run_1",
        "refs/reprokit/runs/my__runs/run_1",
        "refs/reprokit/runs/my-runs/run_1",
    ]
    for rec in refs.values():
        assert _points_at(repo, rec["snapshot_ref"]) == rec["snapshot"]


def _decode(part: str) -> str:
    """The reader's side of the rule in reprokit.capture.refs: ``__`` is ``_``, ``_xHH`` a byte."""
    out, i = bytearray(), 0
    while i < len(part):
        if part[i] != "_":
            out += part[i].encode()
            i += 1
        elif part[i + 1] == "_":
            out += b"_"
            i += 2
        else:
            assert part[i + 1] == "x"
            out.append(int(part[i + 2 : i + 4], 16))
            i += 4
    return out.decode("utf-8", "surrogateescape")


@pytest.mark.parametrize(
    "name",
    ["outputs", "my runs", "my_runs", "my__runs", "_x20", "run_5", "a.b", "-x", "日本", "ü",
     "tab\there", "100%", "a/b"[:1], "x" * 300, "\udce9"],
)  # fmt: skip
def test_folder_name_encoding_round_trips(name: str) -> None:
    encoded = encode_name(name)
    assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*", encoded)
    assert not re.fullmatch(r"run_[0-9]+|_wt|_ext", encoded)
    assert _decode(encoded) == name


def test_a_ref_made_by_hand_for_another_run_is_kept_not_overwritten(
    toy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = toy
    _launch(repo)
    first = _git_record(repo / "outputs/run_1")
    # A user points run_2's ref at run_1's snapshot (or fetched a teammate's run_2).
    git(repo, "update-ref", "refs/reprokit/runs/run_2", first["snapshot"])
    write(repo / "data.txt", "second\n")
    err = _launch(repo)

    second = _git_record(repo / "outputs/run_2")
    alt = f"refs/reprokit/runs/run_2-{second['snapshot'][:12]}"
    assert second["snapshot_ref"] == alt
    assert _points_at(repo, alt) == second["snapshot"]
    assert _points_at(repo, "refs/reprokit/runs/run_2") == first["snapshot"]
    assert "refs/reprokit/runs/run_2 already holds" in err
    assert "not made for this run; it is kept" in err
    assert alt in err
    # Both runs replay from their own refs.
    for run, rec in (("outputs/run_1", first), ("outputs/run_2", second)):
        replayed = _replay(repo, run, monkeypatch)
        assert (replayed["replay"]["rebuild"], replayed["git"]["tree"]) == ("ref", rec["tree"])


def test_a_ref_of_an_older_reprokit_without_owner_is_kept(toy: Path) -> None:
    repo = toy
    # What reprokit wrote before refs named their folder: no Reprokit-Run trailer (a
    # linked worktree's run_1 wrote this very name).
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    legacy = git_env(repo, "commit-tree", tree, "-p", "HEAD", "-m", "reprokit snapshot run_1")
    git(repo, "update-ref", "refs/reprokit/runs/run_1", legacy)
    err = _launch(repo)
    rec = _git_record(repo / "outputs/run_1")
    assert rec["snapshot_ref"] == f"refs/reprokit/runs/run_1-{rec['snapshot'][:12]}"
    assert _points_at(repo, "refs/reprokit/runs/run_1") == legacy
    assert "warning" in err


def git_env(repo: Path, *args: str) -> str:
    """git with reprokit's identity, as reprokit wrote its snapshot commits."""
    env = {**os.environ, **REPROKIT_IDENTITY}
    out = subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    return out.stdout.decode().strip()


def test_a_stale_ref_of_a_deleted_outputs_folder_is_replaced(toy: Path) -> None:
    repo = toy
    _launch(repo)
    old = _git_record(repo / "outputs/run_1")
    shutil.rmtree(repo / "outputs")  # deleted and restarted: ids start at run_1 again
    write(repo / "data.txt", "new\n")
    err = _launch(repo)
    new = _git_record(repo / "outputs/run_1")
    assert new["snapshot_ref"] == "refs/reprokit/runs/run_1"
    assert _points_at(repo, "refs/reprokit/runs/run_1") == new["snapshot"] != old["snapshot"]
    assert "warning" not in err


def test_a_record_with_an_older_ref_name_still_replays(
    toy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = toy
    write(repo / ".gitignore", "outputs/\n__pycache__/\nmy runs/\n")
    git(repo, "commit", "-q", "-am", "ignore run folders")
    write(repo / EXP, MINIMAL_EXPERIMENT.replace("lr: float = 0.1", "lr: float = 0.3"))
    _launch(repo, "--outputs", "my runs")
    run = repo / "my runs" / "run_1"
    rec = _git_record(run)
    # The name an older reprokit gave this folder ("my runs" -> "my_runs"): the record says
    # which ref holds its snapshot, and replay reads it from there.
    old_ref = "refs/reprokit/runs/my_runs/run_1"
    git(repo, "update-ref", old_ref, rec["snapshot"])
    git(repo, "update-ref", "-d", rec["snapshot_ref"])
    record = json.loads((run / "run.json").read_text())
    record["git"]["snapshot_ref"] = old_ref
    (run / "run.json").write_text(json.dumps(record))
    git(repo, "checkout", "-q", "--", EXP)
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "-q", "--prune=now")

    monkeypatch.chdir(repo)
    assert main(["replay", "--outputs", "my runs", "my runs/run_1"]) == 0
    replayed = store.read_record(repo / "my runs" / "run_2")
    assert replayed["replay"]["rebuild"] == "ref"
    assert replayed["git"]["tree"] == rec["tree"]
