"""The snapshot is the tree on disk whatever the index flags say (assume-unchanged,
skip-worktree, sparse checkouts, index versions 2-4, split index, SHA-256)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import MINIMAL_EXPERIMENT, git, run_cli, write
from reprokit.capture import gitindex
from reprokit.capture.snapshot import capture
from reprokit.cli import main
from reprokit.record import store


def _capture(repo: Path, tmp_path: Path) -> dict[str, Any]:
    rec = capture(repo, "run_1", untracked_size_cap=10**6, patch_path=tmp_path / "diff.patch")
    assert rec is not None
    return rec


def _blob(repo: Path, commit: str, path: str) -> str | None:
    proc = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=repo, capture_output=True)
    return proc.stdout.decode() if proc.returncode == 0 else None


def _flags(repo: Path) -> str:
    return git(repo, "ls-files", "-v")


@pytest.fixture
def three(repo: Path) -> Path:
    for name in ("a.txt", "b.txt", "c.txt", "d.txt"):
        write(repo / name, f"{name} committed\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "files")
    return repo


@pytest.mark.parametrize("index_version", [None, "4", "split", "split-after"])
def test_flagged_files_edited_on_disk_are_snapshotted_and_listed(
    three: Path, tmp_path: Path, index_version: str | None
) -> None:
    repo = three
    if index_version == "split":
        git(repo, "update-index", "--split-index")
    elif index_version == "4":
        git(repo, "update-index", "--index-version", index_version)
    git(repo, "update-index", "--assume-unchanged", "a.txt", "d.txt")
    git(repo, "update-index", "--skip-worktree", "b.txt")
    git(repo, "update-index", "--assume-unchanged", "--skip-worktree", "c.txt")
    if index_version == "split-after":  # the flags then live in the shared index file too
        git(repo, "-c", "splitIndex.maxPercentChange=0", "update-index", "--split-index")
    for name in ("a.txt", "b.txt", "c.txt"):
        write(repo / name, f"{name} edited on disk\n")
    (repo / "d.txt").unlink()
    status = git(repo, "status", "--porcelain")
    assert status == ""  # what fooled reprokit: git itself sees nothing
    flags_before, index_before = _flags(repo), (repo / ".git/index").read_bytes()

    rec = _capture(repo, tmp_path)

    assert rec["dirty"] is True
    assert rec["modified"] == ["a.txt", "b.txt", "c.txt"]
    assert rec["deleted"] == ["d.txt"]
    for name in ("a.txt", "b.txt", "c.txt"):
        assert _blob(repo, rec["snapshot"], name) == f"{name} edited on disk\n"
    assert _blob(repo, rec["snapshot"], "d.txt") is None
    # The patch carries the same change; the user's index and its flags are untouched.
    other = tmp_path / "other"
    git(repo, "worktree", "add", "-q", "--detach", str(other), "HEAD")
    git(other, "apply", "--binary", str(tmp_path / "diff.patch"))
    assert (other / "a.txt").read_text() == "a.txt edited on disk\n"
    assert not (other / "d.txt").exists()
    assert (_flags(repo), (repo / ".git/index").read_bytes()) == (flags_before, index_before)


def test_flagged_but_unchanged_files_keep_the_record_clean(three: Path, tmp_path: Path) -> None:
    repo = three
    git(repo, "update-index", "--assume-unchanged", "a.txt")
    git(repo, "update-index", "--skip-worktree", "b.txt")
    rec = _capture(repo, tmp_path)
    assert (rec["dirty"], rec["modified"], rec["deleted"]) == (False, [], [])
    assert (tmp_path / "diff.patch").read_bytes() == b""


def test_sparse_checkout_files_left_out_are_not_deletions(repo: Path, tmp_path: Path) -> None:
    write(repo / "src/in.txt", "in\n")
    write(repo / "docs/out.txt", "out\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "two folders")
    git(repo, "sparse-checkout", "set", "--no-cone", "/*", "!/docs/")
    assert not (repo / "docs/out.txt").exists()
    write(repo / "src/in.txt", "in, edited\n")
    rec = _capture(repo, tmp_path)
    assert (rec["modified"], rec["deleted"]) == (["src/in.txt"], [])
    assert _blob(repo, rec["snapshot"], "docs/out.txt") == "out\n"
    # A skip-worktree file put back on disk by hand and edited is the code that runs.
    write(repo / "docs/out.txt", "out, edited\n")
    rec = _capture(repo, tmp_path)
    assert rec["modified"] == ["docs/out.txt", "src/in.txt"]
    assert _blob(repo, rec["snapshot"], "docs/out.txt") == "out, edited\n"


def test_sha256_repository_with_flags(tmp_path: Path) -> None:
    repo = tmp_path / "sha256"
    git(tmp_path, "init", "-q", "--object-format=sha256", "--template=", str(repo))
    write(repo / "a.txt", "one\n")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-m", "one")
    git(repo, "update-index", "--assume-unchanged", "a.txt")
    write(repo / "a.txt", "two\n")
    rec = _capture(repo, tmp_path)
    assert rec["modified"] == ["a.txt"]
    assert len(rec["snapshot"]) == 64
    assert _blob(repo, rec["snapshot"], "a.txt") == "two\n"


def test_index_reader_agrees_with_git_on_long_and_odd_names(repo: Path) -> None:
    # Names of 0xFFF bytes and more store a clipped length in the entry: read to the NUL.
    # (Too long for a path on disk: an index entry only.)
    deep = "/".join(["d" * 200] * 25) + "/x.txt"
    names = ["tab\there.txt", "ü.txt", deep, "plain.txt"]
    blob = (
        subprocess.run(
            ["git", "hash-object", "-w", "--stdin"], cwd=repo, input=b"x\n", capture_output=True
        )
        .stdout.decode()
        .strip()
    )
    for name in names:
        git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{name}")
    for name in names:
        git(repo, "update-index", "--assume-unchanged", name)
    git(repo, "update-index", "--skip-worktree", "plain.txt")
    found = gitindex.flagged_entries(repo / ".git/index", repo)
    assert sorted(found) == sorted([gitindex.Flagged(n, True, n == "plain.txt") for n in names])


def test_a_whole_tree_marked_assume_unchanged(repo: Path, tmp_path: Path) -> None:
    # Some mark every file for speed: more flagged paths than a command line should carry.
    names = [f"src/f{i:04d}.txt" for i in range(1200)]
    for name in names:
        write(repo / name, "v1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "many")
    subprocess.run(
        ["git", "update-index", "--assume-unchanged", "-z", "--stdin"],
        cwd=repo, input="\0".join(names).encode(), check=True,
    )  # fmt: skip
    write(repo / names[700], "v2\n")
    rec = _capture(repo, tmp_path)
    assert rec["modified"] == [names[700]]
    assert _blob(repo, rec["snapshot"], names[700]) == "v2\n"


def test_launch_and_replay_of_an_edited_assume_unchanged_experiment(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = "experiments/toy/base_01_01.py"
    write(repo / exp, MINIMAL_EXPERIMENT)
    write(repo / "experiments/toy/__init__.py", "")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "toy")
    git(repo, "update-index", "--assume-unchanged", exp)
    write(repo / exp, MINIMAL_EXPERIMENT.replace("lr: float = 0.1", "lr: float = 0.7"))
    proc = run_cli(repo, "launch", exp, "--no-check")
    assert proc.returncode == 0, proc.stderr
    record = store.read_record(repo / "outputs/run_1")
    assert (record["git"]["dirty"], record["git"]["modified"]) == (True, [exp])
    assert store.read_summary(repo / "outputs/run_1") == {"score": 0.7}

    git(repo, "update-index", "--no-assume-unchanged", exp)
    git(repo, "checkout", "-q", "--", exp)  # the code on disk is the committed one again
    monkeypatch.chdir(repo)
    assert main(["replay", "outputs/run_1"]) == 0
    assert store.read_summary(repo / "outputs/run_2") == {"score": 0.7}
    assert store.read_record(repo / "outputs/run_2")["git"]["tree"] == record["git"]["tree"]


def test_sparse_index_with_a_folder_entry_put_back_on_disk(repo: Path, tmp_path: Path) -> None:
    write(repo / "src/a.txt", "a\n")
    write(repo / "docs/b.txt", "b\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "two folders")
    git(repo, "sparse-checkout", "set", "--cone", "--sparse-index", "src")
    # The index holds "docs/" as one skip-worktree entry; the user restores a file there.
    found = gitindex.flagged_entries(repo / ".git/index", repo)
    assert gitindex.Flagged("docs/", False, True) in found
    write(repo / "docs/b.txt", "b, edited\n")
    rec = _capture(repo, tmp_path)
    assert rec["modified"] == ["docs/b.txt"]
    assert _blob(repo, rec["snapshot"], "docs/b.txt") == "b, edited\n"
