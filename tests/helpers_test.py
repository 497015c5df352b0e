"""The one-of-each helpers: atomic write, file digest, table rendering, code state and
the "not in a git repository" check, which every stage calls instead of its own copy."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

import pytest

from reprokit.errors import ReprokitError
from reprokit.files import digest, file_digest, write_atomic
from reprokit.gitcmd import not_a_repository, require_toplevel
from reprokit.record.codestate import changes, code_label, code_state
from reprokit.tables import render_table


def test_write_atomic_replaces_the_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    folder = tmp_path / "hooks"
    folder.mkdir()
    target = folder / "hook"
    target.write_text("old", encoding="utf-8")
    write_atomic(target, b"#!/bin/sh\n", mode=0o755)
    assert target.read_bytes() == b"#!/bin/sh\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert [p.name for p in folder.iterdir()] == ["hook"]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    folder = tmp_path / "run_1"
    folder.mkdir()
    target = folder / "run.json"
    target.write_text("{}", encoding="utf-8")
    with pytest.raises(TypeError):
        write_atomic(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_text(encoding="utf-8") == "{}"
    assert [p.name for p in folder.iterdir()] == ["run.json"]


def test_file_digest_is_the_sha256_of_the_content(tmp_path: Path) -> None:
    data = os.urandom(3 << 16)  # more than one read of the file
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    assert file_digest(path) == hashlib.sha256(data).hexdigest()
    with path.open("rb") as f:
        assert digest(f) == hashlib.sha256(data).hexdigest()


def test_render_table_options_keep_each_command_s_layout() -> None:
    body = [["lr", "0.1", "0.25"], ["batch\x1b", "10", "2"]]
    assert render_table(["what", "a", "b"], body, {1, 2}) == (
        "what         a     b\nlr         0.1  0.25\nbatch\\x1b   10     2\n"
    )
    assert render_table(["what", "a"], [["x", "y"]], sep=" | ", rule="-+-", indent="  ") == (
        "  what | a\n  -----+--\n  x    | y\n"
    )


def test_code_state_names_a_dirty_run_by_its_snapshot_tree() -> None:
    clean = {"sha": "a1", "dirty": False, "snapshot": "s1", "tree": "t1"}
    assert code_state(clean) == ("a1", None)
    assert code_label(clean) == "a1"
    dirty = {"sha": "a1", "dirty": True, "snapshot": "s2", "tree": "t2"}
    same_files = {**dirty, "snapshot": "s3"}
    assert code_state(dirty) == code_state(same_files) == ("a1", "tree:t2")
    assert code_label(dirty) == "a1+s2"
    older = {"sha": "a1", "dirty": True, "snapshot": "s4"}
    assert changes(older, tree="t2") == "tree:t2"  # asked of git
    assert changes(older, patch="p9") == "patch:p9"  # the index's diff.patch digest
    assert changes(older) == "snapshot:s4"


def test_require_toplevel_says_where_and_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ReprokitError) as caught:
        require_toplevel(tmp_path, hint="run `git init` first", because=", and it must be")
    assert caught.value.message == f"{tmp_path} is not in a git repository, and it must be"
    assert caught.value.hint == "run `git init` first"
    assert not_a_repository(tmp_path) == f"{tmp_path} is not in a git repository"
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert require_toplevel(tmp_path, hint="-").resolve() == tmp_path.resolve()
