"""gitcmd + gitstate.capture on real repositories: every dirty state, byte-for-byte."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import add_submodule, diverge, git, write
from reprokit.capture.gitstatus import redact_url
from reprokit.capture.snapshot import capture
from reprokit.errors import ReprokitError
from reprokit.gitcmd import GitError, git_toplevel, run_git

# Paths the dirty fixture creates that .gitignore excludes: they must never be snapshotted.
IGNORED = ("outputs/run_1/x.txt", "secret.log", "new/debug.log", "__pycache__/m.pyc")


def tree_state(root: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple[Any, ...]]:
    """Every file and symlink under root (not .git): content, executable bit, link target."""
    out: dict[str, tuple[Any, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not (dirpath == str(root) and d == ".git")]
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            rel = p.relative_to(root).as_posix()
            if rel == ".git" or any(rel == s or rel.startswith(s.rstrip("/") + "/") for s in skip):
                continue
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_file():
                out[rel] = ("file", bool(p.stat().st_mode & stat.S_IXUSR), p.read_bytes())
    return out


STATUS = ("--no-optional-locks", "status", "--porcelain=v2", "-z", "--branch", "-uall")


def user_state(root: Path) -> dict[str, Any]:
    """What capture/materialize must leave alone (index bytes read before anything else)."""
    index = (root / ".git" / "index").read_bytes() if (root / ".git" / "index").exists() else b""
    return {
        "index": index,
        "status": run_git(*STATUS, cwd=root),
        "head": run_git("--no-optional-locks", "symbolic-ref", "-q", "HEAD", cwd=root, check=False)
        + run_git("rev-parse", "-q", "--verify", "HEAD", cwd=root, check=False),
        "heads": run_git("for-each-ref", "refs/heads", "refs/remotes", "refs/tags", cwd=root),
        "stash": run_git("rev-parse", "-q", "--verify", "refs/stash", cwd=root, check=False),
        "worktrees": run_git("worktree", "list", "--porcelain", cwd=root),
        "files": tree_state(root),
    }


def checkout_snapshot(repo: Path, commit: str, dest: Path) -> Path:
    git(repo, "worktree", "add", "--detach", "-q", str(dest), commit)
    return dest


def make_dirty(repo: Path) -> None:
    """Commit a base, then leave every kind of change the snapshot must carry."""
    write(repo / ".gitignore", "outputs/\n__pycache__/\n")
    write(repo / "staged.txt", "one\n")
    write(repo / "both.txt", "v1\n")
    write(repo / "gone.txt", "bye\n")
    write(repo / "staged_gone.txt", "bye too\n")
    write(repo / "old_name.txt", "a file that will be renamed, long enough to be similar\n")
    write(repo / "script.sh", "#!/bin/sh\necho hi\n")
    write(repo / "touched.txt", "same content\n")
    (repo / "bin.dat").write_bytes(bytes(range(256)) * 4)
    os.symlink("staged.txt", repo / "link")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    write(repo / "staged.txt", "stashed away\n")
    git(repo, "stash", "-q")  # the user's stash must survive capture untouched

    write(repo / "staged.txt", "two\n")
    git(repo, "add", "staged.txt")
    write(repo / "both.txt", "v2 staged\n")
    git(repo, "add", "both.txt")
    write(repo / "both.txt", "v3 on disk\n")
    (repo / "gone.txt").unlink()
    git(repo, "rm", "-q", "staged_gone.txt")
    git(repo, "mv", "old_name.txt", "new name.txt")
    (repo / "script.sh").chmod(0o755)
    (repo / "bin.dat").write_bytes(b"\0\xff\x00binary\r\n" * 100)
    (repo / "link").unlink()
    os.symlink("bin.dat", repo / "link")
    os.symlink("new/deep", repo / "new_link")
    write(repo / "new/deep/ü ñ.txt", "unicode name\n")
    write(repo / "with space.txt", "spaces\n")
    write(repo / ".gitignore", "outputs/\n__pycache__/\n*.log\n")
    for name in IGNORED:
        write(repo / name, "ignored\n")
    # New mtime, same content: a plain `git status` would refresh (rewrite) the real index.
    os.utime(repo / "touched.txt", (1_900_000_000, 1_900_000_000))


def test_dirty_states_snapshot_matches_working_tree(repo: Path, tmp_path: Path) -> None:
    make_dirty(repo)
    before = user_state(repo)
    patch = tmp_path / "diff.patch"

    rec = capture(repo, "run_7", untracked_size_cap=10**6, patch_path=patch, label="exp/a.py")

    assert rec is not None
    assert user_state(repo) == before
    head = git(repo, "rev-parse", "HEAD").strip()
    assert rec["tree"] == git(repo, "rev-parse", f"{rec['snapshot']}^{{tree}}").strip()
    assert {k: v for k, v in rec.items() if k not in ("snapshot", "tree")} == {
        "sha": head,
        "branch": "main",
        "detached": False,
        "remotes": {},
        "dirty": True,
        "modified": [".gitignore", "bin.dat", "both.txt", "link", "script.sh"],
        "staged": ["both.txt", "new name.txt", "staged.txt", "staged_gone.txt"],
        "deleted": ["gone.txt", "staged_gone.txt"],
        "untracked": ["new/deep/ü ñ.txt", "new_link", "with space.txt"],
        "renamed": [{"from": "old_name.txt", "to": "new name.txt"}],
        "pushed": None,
        "snapshot_ref": "refs/reprokit/runs/run_7",
        "patch_file": "diff.patch",
        "skipped_untracked": [],
        "submodules": [],
    }
    assert git(repo, "rev-parse", "refs/reprokit/runs/run_7").strip() == rec["snapshot"]
    assert git(repo, "rev-parse", f"{rec['snapshot']}^").strip() == head
    commit = git(repo, "cat-file", "-p", rec["snapshot"])
    assert "author reprokit <reprokit@localhost>" in commit
    assert "\n\nreprokit snapshot run_7 of exp/a.py\n\nReprokit-Run: " in commit

    wt = checkout_snapshot(repo, rec["snapshot"], tmp_path / "wt")
    assert tree_state(wt) == tree_state(repo, skip=IGNORED)
    assert tree_state(wt)["link"] == ("link", "bin.dat")
    assert tree_state(wt)["script.sh"][1] is True

    # The patch rebuilds the same tree on top of HEAD.
    wt2 = checkout_snapshot(repo, head, tmp_path / "wt2")
    git(wt2, "apply", "--binary", str(patch))
    assert tree_state(wt2) == tree_state(repo, skip=IGNORED)


def test_clean_repo_has_empty_patch_and_snapshot_of_head(repo: Path, tmp_path: Path) -> None:
    patch = tmp_path / "diff.patch"
    rec = capture(repo, "run_1", untracked_size_cap=100, patch_path=patch)
    assert rec is not None
    assert rec["dirty"] is False
    assert patch.read_bytes() == b""
    assert git(repo, "rev-parse", f"{rec['snapshot']}^{{tree}}") == git(
        repo, "rev-parse", "HEAD^{tree}"
    )
    assert "\n\nreprokit snapshot run_1\n\nReprokit-Run: " in git(
        repo, "cat-file", "-p", rec["snapshot"]
    )


def test_unborn_head(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    git(tmp_path, "init", "-q", "-b", "trunk", "--template=", str(root))
    write(root / "staged.py", "x = 1\n")
    git(root, "add", "staged.py")
    write(root / "sub dir/untracked.txt", "u\n")
    before = user_state(root)

    rec = capture(root, "run_1", untracked_size_cap=100, patch_path=tmp_path / "p.patch")

    assert rec is not None
    assert user_state(root) == before
    assert (rec["sha"], rec["branch"], rec["detached"]) == (None, "trunk", False)
    assert (rec["staged"], rec["untracked"]) == (["staged.py"], ["sub dir/untracked.txt"])
    assert "parent" not in git(root, "cat-file", "-p", rec["snapshot"])
    # The patch (from the empty tree) recreates everything in an empty repository.
    other = tmp_path / "other"
    git(tmp_path, "init", "-q", "--template=", str(other))
    git(other, "apply", "--binary", str(tmp_path / "p.patch"))
    assert tree_state(other) == tree_state(root)


def test_detached_head_and_subfolder_cwd(repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    write(repo / "experiments/new.py", "y = 2\n")
    rec = capture(repo / "experiments", "run_2", untracked_size_cap=100, patch_path=tmp_path / "p")
    assert rec is not None
    assert (rec["branch"], rec["detached"]) == (None, True)
    assert rec["sha"] == git(repo, "rev-parse", "HEAD").strip()
    assert rec["untracked"] == ["experiments/new.py"]


def test_submodule_recorded_by_path_and_commit(repo: Path, tmp_path: Path) -> None:
    sub = add_submodule(repo, tmp_path)
    pinned = git(sub, "rev-parse", "HEAD").strip()
    write(sub / "lib.py", "v = 2  # dirty inside the submodule: not snapshotted\n")
    write(repo / "top.txt", "t\n")

    rec = capture(repo, "run_3", untracked_size_cap=100, patch_path=tmp_path / "p")

    assert rec is not None
    assert rec["submodules"] == [{"path": "vendor/lib", "sha": pinned}]
    assert rec["modified"] == ["vendor/lib"]
    tree = git(repo, "ls-tree", rec["snapshot"], "vendor/lib")
    assert tree == f"160000 commit {pinned}\tvendor/lib\n"


def test_outside_git_returns_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    plain = tmp_path / "plain"
    plain.mkdir()
    assert capture(plain, "run_1", untracked_size_cap=1, patch_path=tmp_path / "p") is None
    assert git_toplevel(plain) is None
    assert not (tmp_path / "p").exists()


def test_size_cap_skips_big_untracked_file_loudly(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = os.urandom(3000)
    (repo / "data").mkdir()
    (repo / "data/big.bin").write_bytes(big)
    write(repo / "small.txt", "s\n")

    rec = capture(repo, "run_4", untracked_size_cap=2048, patch_path=tmp_path / "p")

    assert rec is not None
    assert rec["skipped_untracked"] == [
        {
            "path": "data/big.bin",
            "size": 3000,
            "sha256": hashlib.sha256(big).hexdigest(),
            "reason": "size",
        }
    ]
    assert rec["untracked"] == ["data/big.bin", "small.txt"]
    files = git(repo, "ls-tree", "-r", "--name-only", rec["snapshot"]).split()
    assert "small.txt" in files
    assert "data/big.bin" not in files
    assert capsys.readouterr().err == (
        "reprokit: warning: untracked file data/big.bin (3,000 bytes) is larger than the "
        "untracked size cap (2,048 bytes) and is NOT in the run's snapshot; its size and "
        "sha256 are recorded. Commit it, ignore it, or raise the cap.\n"
    )


def test_remote_credentials_never_recorded(repo: Path, tmp_path: Path) -> None:
    git(repo, "remote", "add", "origin", "https://alice:s3cretT0ken@example.com/team/x.git")
    git(repo, "remote", "add", "mirror", "https://ghp_onlyTok3n@github.com/team/x.git")
    git(repo, "remote", "add", "ssh", "ssh://git:pw@host.example/x.git")
    write(repo / "x.txt", "x\n")

    rec = capture(repo, "run_5", untracked_size_cap=100, patch_path=tmp_path / "p")

    assert rec is not None
    assert rec["remotes"] == {
        "origin": "https://example.com/team/x.git",
        "mirror": "https://github.com/team/x.git",
        "ssh": "ssh://git@host.example/x.git",
    }
    assert rec["pushed"] is False  # remotes, but HEAD is in no remote-tracking branch
    dumped = repr(rec) + git(repo, "cat-file", "-p", rec["snapshot"])
    for secret in ("s3cretT0ken", "alice", "ghp_onlyTok3n", ":pw@"):
        assert secret not in dumped


def test_pushed_when_head_is_in_a_remote_branch(repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", "--template=", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "main")
    rec = capture(repo, "run_6", untracked_size_cap=100, patch_path=tmp_path / "p")
    assert rec is not None
    assert rec["pushed"] is True
    write(repo / "more.txt", "m\n")
    git(repo, "add", "more.txt")
    git(repo, "commit", "-q", "-m", "local only")
    rec = capture(repo, "run_7", untracked_size_cap=100, patch_path=tmp_path / "p")
    assert rec is not None
    assert rec["pushed"] is False


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:token@host/x", "https://host/x"),
        ("https://token@host", "https://host"),
        ("https://host:8443/x.git", "https://host:8443/x.git"),
        ("http://u:p@host:8080/x", "http://host:8080/x"),
        ("git@github.com:team/x.git", "git@github.com:team/x.git"),
        ("ssh://git@host/x", "ssh://git@host/x"),
        ("/srv/git/x.git", "/srv/git/x.git"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_run_git_error_shows_command_exit_code_and_stderr(repo: Path) -> None:
    with pytest.raises(GitError) as info:
        run_git("rev-parse", "--verify", "no-such-rev", cwd=repo)
    assert str(info.value) == (
        f"`git rev-parse --verify no-such-rev` failed with exit code 128 in {repo}:\n"
        "  fatal: Needed a single revision"
    )
    assert isinstance(info.value, ReprokitError)
    assert run_git("rev-parse", "--verify", "no-such-rev", cwd=repo, check=False) == b""


def test_run_git_input_env_and_toplevel(repo: Path) -> None:
    sha = run_git("hash-object", "--stdin", cwd=repo, input=b"hello\n").strip()
    assert sha == b"ce013625030ba8dba906f756967f9e9ca394464a"
    out = run_git("var", "GIT_AUTHOR_IDENT", cwd=repo, env={"GIT_AUTHOR_NAME": "Zed"})
    assert out.startswith(b"Zed <author@example.com>")
    assert git_toplevel(repo / "experiments") == repo


def test_embedded_repo_and_rerun_of_a_stale_run_id(repo: Path, tmp_path: Path) -> None:
    nested = repo / "third_party/tool"
    git(repo, "init", "-q", "--template=", str(nested))
    write(nested / "t.py", "t = 1\n")
    git(nested, "add", "-A")
    git(nested, "commit", "-q", "-m", "tool")
    tool_sha = git(nested, "rev-parse", "HEAD").strip()
    first = capture(repo, "run_1", untracked_size_cap=100, patch_path=tmp_path / "p")
    assert first is not None
    assert first["untracked"] == ["third_party/tool/"]
    assert first["submodules"] == [{"path": "third_party/tool", "sha": tool_sha}]

    # outputs/ deleted, ids restart at run_1: the ref follows the newest snapshot.
    write(repo / "later.txt", "l\n")
    second = capture(repo, "run_1", untracked_size_cap=100, patch_path=tmp_path / "p")
    assert second is not None
    assert git(repo, "rev-parse", "refs/reprokit/runs/run_1").strip() == second["snapshot"]
    assert second["snapshot"] != first["snapshot"]


def test_merge_conflict_and_linked_worktree(repo: Path, tmp_path: Path) -> None:
    diverge(repo, "other")
    subprocess.run(["git", "merge", "-q", "other"], cwd=repo, capture_output=True)
    before = user_state(repo)

    rec = capture(repo, "run_1", untracked_size_cap=100, patch_path=tmp_path / "p")

    assert rec is not None
    assert (rec["modified"], rec["staged"]) == (["f.txt"], ["f.txt"])
    blob = git(repo, "show", f"{rec['snapshot']}:f.txt")
    assert blob == (repo / "f.txt").read_text()
    assert "<<<<<<<" in blob
    assert user_state(repo) == before

    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", "-b", "side", str(linked), "other")
    write(linked / "side.txt", "s\n")
    rec = capture(linked, "run_2", untracked_size_cap=100, patch_path=tmp_path / "p")
    assert rec is not None
    assert (rec["branch"], rec["untracked"]) == ("side", ["side.txt"])
    assert (
        git(repo, "rev-parse", f"{rec['snapshot']}^").strip()
        == git(repo, "rev-parse", "other").strip()
    )


def test_awkward_file_names_round_trip(repo: Path, tmp_path: Path) -> None:
    names = ["new\nline.txt", "tab\there.txt", 'quote"s.txt', "-dash.txt", "star*.txt",
             ":(glob)magic.txt", "back\\slash.txt", "日本語/ファイル.txt"]  # fmt: skip
    for name in names:
        write(repo / name, f"{name}\n")
    (repo / os.fsdecode(b"latin1-\xe9.txt")).write_bytes(b"not utf-8 name\n")

    rec = capture(repo, "run_1", untracked_size_cap=100, patch_path=tmp_path / "p")

    assert rec is not None
    assert sorted([*names, os.fsdecode(b"latin1-\xe9.txt")]) == rec["untracked"]
    wt = checkout_snapshot(repo, rec["snapshot"], tmp_path / "wt")
    assert tree_state(wt) == tree_state(repo)
    other = checkout_snapshot(repo, "HEAD", tmp_path / "other")
    git(other, "apply", "--binary", str(tmp_path / "p"))
    assert tree_state(other) == tree_state(repo)


def test_bare_repository_is_not_a_working_tree(tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", "--template=", str(bare))
    assert git_toplevel(bare) is None
    assert capture(bare, "run_1", untracked_size_cap=1, patch_path=tmp_path / "p") is None


def test_refused_repository_is_an_error_not_a_silent_none(repo: Path, tmp_path: Path) -> None:
    # A repository git refuses to use must not look like "no repository": runs would be
    # recorded without their code state. An unknown format version is one such refusal.
    git(repo, "config", "core.repositoryformatversion", "99")
    with pytest.raises(GitError, match=r"(?i)expected git repo version <= 1, found 99"):
        capture(repo, "run_1", untracked_size_cap=1, patch_path=tmp_path / "p")


def test_excluded_folders_are_neither_listed_nor_snapshotted(repo: Path, tmp_path: Path) -> None:
    # Not in .gitignore: only `exclude` keeps them out. "o[1]" would be a glob pattern.
    write(repo / "runs/run_1/metrics.jsonl", "{}\n")
    write(repo / "o[1]/x.txt", "x\n")
    write(repo / "o1/kept.txt", "kept: matched by the glob o[1], not by the literal name\n")
    write(repo / "experiments/new.py", "y = 2\n")
    rec = capture(
        repo / "experiments",  # exclude paths are relative to cwd, like everything else
        "run_2",
        untracked_size_cap=100,
        patch_path=tmp_path / "p",
        exclude=(Path("../runs"), repo / "o[1]", tmp_path / "elsewhere", repo),
    )
    assert rec is not None
    assert rec["untracked"] == ["experiments/new.py", "o1/kept.txt"]
    files = git(repo, "ls-tree", "-r", "--name-only", rec["snapshot"]).split()
    kept = ["experiments/__init__.py", "experiments/new.py", "o1/kept.txt", "pyproject.toml"]
    assert files == [".gitignore", *kept]


def test_outputs_folders_never_share_a_snapshot_ref(repo: Path, tmp_path: Path) -> None:
    # run_1 of outputs/ and run_1 of sweep/ are different runs: the second capture must
    # not move the first one's ref (git gc would then drop its snapshot).
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write(repo / "a.py", "a = 'first'\n")
    first = capture(
        repo, "run_1", untracked_size_cap=10**6, patch_path=tmp_path / "a" / "diff.patch",
        outputs=repo / "outputs",
    )  # fmt: skip
    write(repo / "a.py", "a = 'second'\n")
    second = capture(
        repo, "run_1", untracked_size_cap=10**6, patch_path=tmp_path / "b" / "diff.patch",
        outputs=repo / "sweep",
    )  # fmt: skip
    assert first is not None and second is not None
    assert first["snapshot_ref"] == "refs/reprokit/runs/run_1"
    assert second["snapshot_ref"] == "refs/reprokit/runs/sweep/run_1"
    git(repo, "gc", "-q", "--prune=now")
    for rec in (first, second):
        assert git(repo, "rev-parse", rec["snapshot_ref"]).strip() == rec["snapshot"]


@pytest.mark.parametrize(
    ("outputs", "space"),
    [
        ("outputs", ""),
        ("sweep", "sweep"),
        ("proj/outputs", "proj/outputs"),
        ("my runs/.hidden", "my_x20runs/_x2ehidden"),
        ("my_runs", "my__runs"),
        ("run_5", "run__5"),
        ("run 5", "run_x205"),
        ("x.lock", "x_x2elock"),
        ("-a-b", "_x2da-b"),
        (".", "_x2e"),
        ("ü", "_xc3_xbc"),
    ],
)
def test_ref_space_is_a_valid_ref_part(repo: Path, outputs: str, space: str) -> None:
    from reprokit.capture.refs import ref_space, snapshot_ref

    assert ref_space(repo, repo / outputs) == space
    ref = snapshot_ref("run_1", space)
    assert subprocess.run(["git", "check-ref-format", ref]).returncode == 0
    # What replay accepts from a record: every part a plain name.
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", p) for p in ref.split("/"))


def test_ref_space_of_an_outputs_folder_outside_the_repository(repo: Path, tmp_path: Path) -> None:
    from reprokit.capture.refs import ref_space

    a, b = ref_space(repo, tmp_path / "scratch" / "a"), ref_space(repo, tmp_path / "b")
    assert a.startswith("_ext/") and b.startswith("_ext/") and a != b
    # Whichever working tree launches into it: run ids are unique in that one folder.
    assert ref_space(tmp_path / "linked", tmp_path / "b", "linked") == b


def test_untracked_secret_files_stay_out_of_snapshot_and_patch(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / ".env", "HF_TOKEN=hf_secret123\n")
    write(repo / "conf" / "client_secret.json", '{"key": "hf_secret123"}\n')
    write(repo / "deploy.pem", "-----BEGIN PRIVATE KEY----- hf_secret123\n")
    write(repo / "secret_sauce.py", "SAUCE = 1\n")  # a module an experiment may import
    write(repo / "tokenizer.json", "{}\n")
    rec = capture(repo, "run_1", untracked_size_cap=10**6, patch_path=tmp_path / "diff.patch")
    assert rec is not None
    in_snapshot = git(repo, "ls-tree", "-r", "--name-only", rec["snapshot"]).splitlines()
    assert "secret_sauce.py" in in_snapshot and "tokenizer.json" in in_snapshot
    assert not {".env", "conf/client_secret.json", "deploy.pem"} & set(in_snapshot)
    assert b"hf_secret123" not in (tmp_path / "diff.patch").read_bytes()
    assert rec["skipped_untracked"] == [
        {"path": ".env", "size": 22, "reason": "secret"},
        {"path": "conf/client_secret.json", "size": 24, "reason": "secret"},
        {"path": "deploy.pem", "size": 41, "reason": "secret"},
    ]
    err = capsys.readouterr().err
    assert "untracked file .env looks like it holds secrets and is NOT in the run's snapshot" in err


def test_untracked_repository_without_a_commit_is_left_out(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git(repo, "init", "-q", "scratch")
    write(repo / "scratch" / "notes.txt", "x\n")
    rec = capture(repo, "run_1", untracked_size_cap=10**6, patch_path=tmp_path / "diff.patch")
    assert rec is not None
    assert rec["skipped_untracked"] == [
        {"path": "scratch", "size": None, "reason": "empty-repository"}
    ]
    assert "scratch" not in git(repo, "ls-tree", "--name-only", rec["snapshot"]).split()
    assert "git repository with no commit yet" in capsys.readouterr().err
