"""Git situations an unlucky user launches in: each ends in a correct snapshot or a clear
error, never a silent wrong record."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import add_submodule, diverge, git, write
from reprokit.capture.snapshot import capture
from reprokit.errors import ReprokitError


def _capture(cwd: Path, tmp_path: Path, **kwargs: Any) -> dict[str, Any]:
    rec = capture(cwd, "run_1", untracked_size_cap=10**6, patch_path=tmp_path / "p", **kwargs)
    assert rec is not None
    return rec


def _blob(repo: Path, commit: str, path: str) -> str:
    return git(repo, "show", f"{commit}:{path}")


def test_worktree_whose_main_repository_moved_is_an_error_with_the_fix(
    repo: Path, tmp_path: Path
) -> None:
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", "-b", "side", str(linked))
    moved = tmp_path / "moved"
    shutil.move(repo, moved)
    # Once "not in a git repository": the run was recorded with git: null.
    with pytest.raises(ReprokitError, match="git cannot open") as err:
        capture(linked, "run_1", untracked_size_cap=1, patch_path=tmp_path / "p")
    assert "git worktree repair" in (err.value.hint or "")
    git(moved, "worktree", "repair", str(linked))
    rec = _capture(linked, tmp_path)
    assert rec["snapshot_ref"] == "refs/reprokit/runs/_wt/linked/run_1"


def test_index_lock_held_by_another_git_process(repo: Path, tmp_path: Path) -> None:
    lock = repo / ".git/index.lock"
    lock.write_bytes(b"held by a long git command\n")
    write(repo / "a.txt", "a\n")
    rec = _capture(repo, tmp_path)  # the real index is only read, never locked
    assert rec["untracked"] == ["a.txt"]
    assert lock.read_bytes() == b"held by a long git command\n"


def test_rebase_stopped_on_a_conflict(repo: Path, tmp_path: Path) -> None:
    diverge(repo, "topic")
    git(repo, "checkout", "-q", "topic")
    proc = subprocess.run(["git", "rebase", "main"], cwd=repo, capture_output=True)
    assert proc.returncode != 0  # stopped on the conflict, HEAD detached
    rec = _capture(repo, tmp_path)
    assert (rec["branch"], rec["detached"]) == (None, True)
    assert rec["modified"] == ["f.txt"]
    assert _blob(repo, rec["snapshot"], "f.txt") == (repo / "f.txt").read_text()


def test_submodule_with_uncommitted_changes_is_named_in_a_warning(
    repo: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    add_submodule(repo, tmp_path)
    _capture(repo, tmp_path)
    assert "submodule" not in capfd.readouterr().err  # clean: nothing to say
    write(repo / "vendor/lib/lib.py", "v = 2\n")
    rec = _capture(repo, tmp_path)
    err = capfd.readouterr().err
    assert "submodule vendor/lib has uncommitted changes" in err
    assert "NOT in the run's snapshot" in err
    assert rec["modified"] == ["vendor/lib"]


def test_a_ref_made_by_hand_where_the_name_needs_a_folder(
    repo: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # refs/reprokit/runs/sweep is a ref, so refs/reprokit/runs/sweep/run_1 cannot exist.
    git(repo, "update-ref", "refs/reprokit/runs/sweep", "HEAD")
    rec = _capture(repo, tmp_path, outputs=repo / "sweep")
    assert rec["snapshot_ref"] == f"refs/reprokit/snapshots/{rec['snapshot']}"
    assert git(repo, "rev-parse", rec["snapshot_ref"]).strip() == rec["snapshot"]
    err = capfd.readouterr().err
    assert "refs/reprokit/runs/sweep/run_1 cannot be written (git: " in err
    assert "is under refs/reprokit/snapshots/" in err


def test_a_ref_made_by_hand_naming_a_blob(
    repo: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    blob = git(repo, "rev-parse", "HEAD:pyproject.toml").strip()
    git(repo, "update-ref", "refs/reprokit/runs/run_1", blob)
    rec = _capture(repo, tmp_path)
    assert rec["snapshot_ref"] == f"refs/reprokit/runs/run_1-{rec['snapshot'][:12]}"
    assert git(repo, "rev-parse", "refs/reprokit/runs/run_1").strip() == blob
    assert "[project]" not in capfd.readouterr().err  # the blob's content is never shown


@pytest.mark.parametrize("branch", ["feat/ü-x", "a'b\"c", "x@y", "-dash"])
def test_branch_names_with_odd_characters(repo: Path, tmp_path: Path, branch: str) -> None:
    # update-ref + symbolic-ref: `git checkout -b -dash` would read the name as an option.
    git(repo, "update-ref", f"refs/heads/{branch}", "HEAD")
    git(repo, "symbolic-ref", "HEAD", f"refs/heads/{branch}")
    rec = _capture(repo, tmp_path)
    assert rec["branch"] == branch


def test_failing_fsmonitor_hook_and_crlf_filters(repo: Path, tmp_path: Path) -> None:
    hook = repo / "fsmonitor.sh"
    write(hook, "#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    git(repo, "config", "core.fsmonitor", str(hook))
    git(repo, "config", "core.autocrlf", "input")
    write(repo / ".gitattributes", "*.txt text eol=lf\n")
    write(repo / "w.txt", "one\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "text")
    (repo / "w.txt").write_bytes(b"one\r\ntwo\r\n")
    rec = _capture(repo, tmp_path)
    assert "w.txt" in rec["modified"]
    # Stored as `git add` would store it (clean filter / eol applied).
    assert _blob(repo, rec["snapshot"], "w.txt") == "one\ntwo\n"
    assert os.path.exists(hook)


def test_a_repository_in_a_folder_with_a_line_break(tmp_path: Path) -> None:
    # git's answer comes line by line: once read as "no repository" (git: null).
    odd = tmp_path / "line\nbreak"
    git(tmp_path, "init", "-q", "--template=", str(odd))
    with pytest.raises(ReprokitError, match="cannot read where git keeps this working tree"):
        capture(odd, "run_1", untracked_size_cap=1, patch_path=tmp_path / "p")


def test_the_users_index_hooks_never_run_for_the_temporary_index(
    repo: Path, tmp_path: Path
) -> None:
    ran = tmp_path / "hook-ran.log"
    hook = repo / ".git/hooks/post-index-change"
    write(hook, f"#!/bin/sh\necho \"$@\" >> '{ran}'\n")
    hook.chmod(0o755)
    write(repo / "pyproject.toml", "[project]\nname = 'edited'\n")
    git(repo, "update-index", "--assume-unchanged", "pyproject.toml")  # the flag path too
    ran.unlink(missing_ok=True)  # update-index above ran it: that was the user's own change
    rec = _capture(repo, tmp_path)
    assert rec["modified"] == ["pyproject.toml"]
    assert not ran.exists()
