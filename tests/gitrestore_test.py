"""gitrestore.materialize on real repositories: via the ref, a fetch, or the patch."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from gitstate_test import IGNORED, make_dirty, tree_state, user_state

from conftest import add_submodule, git, write
from reprokit.capture.snapshot import capture
from reprokit.errors import ReprokitError
from reprokit.gitcmd import run_git
from reprokit.replay.restore import materialize, remove_worktree, snapshot_diff


def _capture(repo: Path, run_dir: Path, run_id: str = "run_1") -> dict[str, Any]:
    run_dir.mkdir(parents=True, exist_ok=True)
    rec = capture(repo, run_id, untracked_size_cap=10**6, patch_path=run_dir / "diff.patch")
    assert rec is not None
    return rec


def test_via_ref_leaves_the_users_repo_alone(repo: Path, tmp_path: Path) -> None:
    make_dirty(repo)
    rec = _capture(repo, tmp_path / "run_1")
    before = user_state(repo)
    dest = tmp_path / "rebuilt"

    assert materialize(repo, rec, tmp_path / "run_1", dest).how == "ref"

    assert tree_state(dest) == tree_state(repo, skip=IGNORED)
    assert git(dest, "rev-parse", "HEAD").strip() == rec["snapshot"]
    assert run_git("symbolic-ref", "-q", "HEAD", cwd=dest, check=False) == b""  # detached
    assert git(dest, "status", "--porcelain") == ""
    remove_worktree(repo, dest)
    assert not dest.exists()
    assert user_state(repo) == before


def _drop_snapshot(repo: Path, rec: dict[str, Any]) -> None:
    """Delete the snapshot ref and let git collect the commit, as a later gc would."""
    git(repo, "update-ref", "-d", rec["snapshot_ref"])
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "-q", "--prune=now")
    assert subprocess.run(["git", "cat-file", "-e", rec["snapshot"]], cwd=repo).returncode


def test_ref_deleted_but_commit_still_here_is_exact(repo: Path, tmp_path: Path) -> None:
    make_dirty(repo)
    rec = _capture(repo, tmp_path / "run_1")
    git(repo, "update-ref", "-d", rec["snapshot_ref"])
    dest = tmp_path / "rebuilt"

    assert materialize(repo, rec, tmp_path / "run_1", dest).how == "commit"

    assert git(dest, "rev-parse", "HEAD").strip() == rec["snapshot"]
    remove_worktree(repo, dest)


def test_ref_deleted_rebuilds_from_patch(repo: Path, tmp_path: Path) -> None:
    make_dirty(repo)
    rec = _capture(repo, tmp_path / "run_1")
    _drop_snapshot(repo, rec)
    before = user_state(repo)
    dest = tmp_path / "rebuilt"

    assert materialize(repo, rec, tmp_path / "run_1", dest, from_patch=True).how == "patch"

    assert tree_state(dest) == tree_state(repo, skip=IGNORED)
    assert git(dest, "rev-parse", "HEAD").strip() == rec["sha"]
    remove_worktree(repo, dest)
    assert user_state(repo) == before


def test_unborn_head_rebuilds_from_patch(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    git(tmp_path, "init", "-q", "-b", "main", "--template=", str(root))
    write(root / "a.py", "a = 1\n")
    (root / "b.bin").write_bytes(b"\0\1\2")
    os.symlink("a.py", root / "alias")
    git(root, "add", "a.py")
    rec = _capture(root, tmp_path / "run_1")
    _drop_snapshot(root, rec)
    before = user_state(root)

    rebuilt = materialize(root, rec, tmp_path / "run_1", tmp_path / "rebuilt", from_patch=True)
    assert rebuilt.how == "patch"

    assert tree_state(tmp_path / "rebuilt") == tree_state(root)
    remove_worktree(root, tmp_path / "rebuilt")
    assert user_state(root) == before


@pytest.mark.parametrize("clone_remote", ["origin", "upstream"])
def test_fetched_from_a_remote_in_a_fresh_clone(
    repo: Path, tmp_path: Path, clone_remote: str
) -> None:
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", "--template=", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    make_dirty(repo)
    rec = _capture(repo, tmp_path / "run_1")
    git(repo, "push", "-q", "origin", "main", "refs/reprokit/*:refs/reprokit/*")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-local", "-o", clone_remote, str(bare), str(clone))
    assert run_git("cat-file", "-t", rec["snapshot"], cwd=clone, check=False) == b""
    # Simulate a lost run folder patch too: only the fetch can succeed exactly.
    (tmp_path / "run_1" / "diff.patch").unlink()

    # The recorded name "origin" may be unknown here: the user's own remote is used.
    rebuilt = materialize(clone, rec, tmp_path / "run_1", tmp_path / "rebuilt")
    assert (rebuilt.how, rebuilt.remote, rebuilt.tree_matches) == ("fetched", clone_remote, True)

    assert tree_state(tmp_path / "rebuilt") == tree_state(repo, skip=IGNORED)
    assert git(clone, "rev-parse", rec["snapshot_ref"]).strip() == rec["snapshot"]
    assert git(clone, "for-each-ref", "refs/heads").count("\n") == 1
    remove_worktree(clone, tmp_path / "rebuilt")


def test_base_commit_missing_is_a_clear_error(repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", "--template=", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "main")
    write(repo / "local.py", "never pushed\n")
    git(repo, "add", "local.py")
    git(repo, "commit", "-q", "-m", "local")
    write(repo / "dirty.py", "d\n")
    rec = _capture(repo, tmp_path / "run_1")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-local", str(bare), str(clone))

    with pytest.raises(ReprokitError) as info:
        materialize(clone, rec, tmp_path / "run_1", tmp_path / "rebuilt")

    snap, base = rec["snapshot"], rec["sha"]
    assert str(info.value) == (
        f"cannot rebuild the code: snapshot commit {snap[:12]} (refs/reprokit/runs/run_1) is "
        f"not in this repository and could not be fetched from origin; its base commit "
        f"{base[:12]} is missing too\n"
        f"  hint: fetch the base commit (`git fetch origin {base}`; it was on branch 'main' "
        "when the run started), or push the snapshots from the machine that ran it "
        "(`git push origin 'refs/reprokit/*:refs/reprokit/*'`), then try again"
    )
    assert not (tmp_path / "rebuilt").exists()
    assert git(clone, "worktree", "list").count("\n") == 1


def test_refuses_a_non_empty_destination(repo: Path, tmp_path: Path) -> None:
    rec = _capture(repo, tmp_path / "run_1")
    write(tmp_path / "busy/file.txt", "x\n")
    with pytest.raises(ReprokitError, match="busy: the folder is not empty"):
        materialize(repo, rec, tmp_path / "run_1", tmp_path / "busy")


def test_snapshot_diff(repo: Path, tmp_path: Path) -> None:
    a = _capture(repo, tmp_path / "run_1", "run_1")
    write(repo / "experiments/lr.py", "lr = 0.1\n")
    b = _capture(repo, tmp_path / "run_2", "run_2")

    full = snapshot_diff(repo, a["snapshot"], b["snapshot"], stat_only=False)
    assert b"+lr = 0.1\n" in full
    stat = snapshot_diff(repo, a["snapshot"], b["snapshot"], stat_only=True)
    assert stat == (b" experiments/lr.py | 1 +\n 1 file changed, 1 insertion(+)\n")
    with pytest.raises(ReprokitError, match="snapshot commit 000000000000 is not in this"):
        snapshot_diff(repo, "0" * 40, b["snapshot"], stat_only=True)


def test_patch_that_no_longer_applies_is_a_clear_error(repo: Path, tmp_path: Path) -> None:
    write(repo / "experiments/a.py", "a = 1\n")
    rec = _capture(repo, tmp_path / "run_1")
    _drop_snapshot(repo, rec)
    write(repo / "experiments/a.py", "a = 2\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a")  # the run's file now exists at a new HEAD...
    rec = {**rec, "sha": git(repo, "rev-parse", "HEAD").strip()}  # ...and the record says so

    with pytest.raises(ReprokitError) as info:
        materialize(repo, rec, tmp_path / "run_1", tmp_path / "rebuilt", from_patch=True)

    assert str(info.value).startswith(
        f"cannot rebuild the code: {tmp_path / 'run_1' / 'diff.patch'} does not apply to "
        f"{rec['sha'][:12]}:\n  error: experiments/a.py: already exists in index"
    )
    assert not (tmp_path / "rebuilt").exists()
    assert git(repo, "worktree", "list").count("\n") == 1


def test_remove_worktree_never_deletes_a_plain_folder(repo: Path, tmp_path: Path) -> None:
    write(tmp_path / "precious/data.txt", "keep me\n")
    with pytest.raises(ReprokitError, match="precious is not a git worktree; not removing it"):
        remove_worktree(repo, tmp_path / "precious")
    assert (tmp_path / "precious/data.txt").read_text() == "keep me\n"
    # Already gone (e.g. deleted by hand): only git's bookkeeping is pruned.
    rec = _capture(repo, tmp_path / "run_1")
    materialize(repo, rec, tmp_path / "run_1", tmp_path / "wt")
    shutil.rmtree(tmp_path / "wt")
    remove_worktree(repo, tmp_path / "wt")
    assert git(repo, "worktree", "list").count("\n") == 1


def test_a_recorded_remote_is_never_read_as_an_option(repo: Path, tmp_path: Path) -> None:
    # A record may come from someone else: a "URL" that is a git option must not run.
    rec = _capture(repo, tmp_path / "run_1")
    _drop_snapshot(repo, rec)
    (tmp_path / "run_1" / "diff.patch").unlink()
    marker = tmp_path / "PWNED"
    rec = {**rec, "remotes": {"evil": f"--upload-pack=touch {marker};"}}
    with pytest.raises(ReprokitError):
        materialize(repo, rec, tmp_path / "run_1", tmp_path / "rebuilt")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("snapshot_ref", "refs/heads/main", "git.snapshot_ref must be a ref under refs/reprokit/"),
        ("snapshot", "--output=/tmp/x", "git.snapshot is not a commit id"),
        ("sha", "HEAD~1", "git.sha is not a commit id"),
    ],
)
def test_a_malformed_record_is_refused_before_git_sees_it(
    repo: Path, tmp_path: Path, key: str, value: str, message: str
) -> None:
    rec = {**_capture(repo, tmp_path / "run_1"), key: value}
    with pytest.raises(ReprokitError, match=message):
        materialize(repo, rec, tmp_path / "run_1", tmp_path / "rebuilt")
    assert git(repo, "rev-parse", "refs/heads/main") == git(repo, "rev-parse", "HEAD")


def test_a_patch_moving_a_submodule_rebuilds_the_recorded_tree(repo: Path, tmp_path: Path) -> None:
    # The tree check compares the rebuilt index with git.tree: a gitlink the patch moves
    # must land in it, although the submodule itself is not checked out.
    sub = add_submodule(repo, tmp_path)
    write(sub / "lib.py", "v = 2\n")
    git(sub, "commit", "-q", "-am", "v2")  # the submodule moved: the pointer is dirty
    write(repo / "top.txt", "t\n")
    rec = _capture(repo, tmp_path / "run_1")
    _drop_snapshot(repo, rec)

    rebuilt = materialize(repo, rec, tmp_path / "run_1", tmp_path / "rebuilt", from_patch=True)

    assert (rebuilt.how, rebuilt.tree_matches) == ("patch", True)
    assert (tmp_path / "rebuilt" / "top.txt").read_text() == "t\n"
    remove_worktree(repo, tmp_path / "rebuilt")


def test_a_patch_rebuild_is_refused_without_from_patch(repo: Path, tmp_path: Path) -> None:
    # The patch is code that came with the run folder, not from this repository or its
    # remotes: the error says so, shows what it changes, and names the flag.
    make_dirty(repo)
    rec = _capture(repo, tmp_path / "run_1")
    _drop_snapshot(repo, rec)
    before = user_state(repo)

    with pytest.raises(ReprokitError) as info:
        materialize(repo, rec, tmp_path / "run_1", tmp_path / "rebuilt")

    message = str(info.value)
    assert "not from your repository or remotes" in message
    assert "file changed" in message or "files changed" in message
    assert "--from-patch" in message
    assert not (tmp_path / "rebuilt").exists()
    assert git(repo, "worktree", "list").count("\n") == 1
    assert user_state(repo) == before
