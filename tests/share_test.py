"""``reprokit push`` / ``reprokit pull``: runs shared through a bare git remote, two clones.

Alice launches and pushes; Bob launches, pulls, lists, blames across both people's runs
and replays Alice's run with ``--verify``. A third person pushes hostile shared commits,
made with git's plumbing, that a pull must refuse without writing anything.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import git, run_cli, write
from reprokit.record import pull as pull_mod, share, store, trust
from reprokit.settings import load_settings

FAMILY = "experiments/toy"
BASE_EXP = f"{FAMILY}/base_01_01.py"
CHILD_EXP = f"{FAMILY}/wide_02_01.py"
BASE = """
from __future__ import annotations

import random
from dataclasses import dataclass

import reprokit


@dataclass(frozen=True)
class Config:
    seed: int = 0
    width: float = 1.0


config = Config()


def smoke(config: Config) -> Config:
    return config


def main(config: Config) -> dict[str, float]:
    rng = random.Random(config.seed)
    loss = 0.0
    for step in range(3):
        loss = config.width / (step + 1) + 0.001 * rng.random()
        reprokit.log(step=step, loss=loss)
    return {"score": 2 * config.width + 0.001 * rng.random()}
"""
CHILD = """
from __future__ import annotations

from dataclasses import replace

from experiments.toy.base_01_01 import config as parent_config, main, smoke

config = replace(parent_config, width=3.0)

__all__ = ["config", "main", "smoke"]
"""


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    return proc.stdout


def _clone(bare: Path, dest: Path, email: str) -> Path:
    git(dest.parent, "clone", "-q", "--no-local", str(bare), str(dest))
    git(dest, "config", "user.email", email)
    return dest


@pytest.fixture
def remote(repo: Path, tmp_path: Path) -> Path:
    """A bare remote holding the toy family (a base and one child)."""
    write(repo / FAMILY / "__init__.py", "")
    write(repo / BASE_EXP, BASE)
    write(repo / CHILD_EXP, CHILD)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "toy family")
    bare = tmp_path / "shared.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", "--template=", str(bare))
    git(repo, "push", "-q", str(bare), "main")
    return bare


def _remote_refs(bare: Path) -> dict[str, str]:
    out = git(bare, "for-each-ref", "--format=%(refname) %(objectname)", share.SHARED_REFS)
    return dict(line.split() for line in out.splitlines())


def _runs(clone: Path, *extra: str) -> list[dict[str, object]]:
    listed = json.loads(_ok(run_cli(clone, "runs", "--json", *extra)))
    assert isinstance(listed, list)
    return listed


@pytest.mark.slow
def test_two_clones_share_runs_through_a_bare_remote(remote: Path, tmp_path: Path) -> None:
    alice = _clone(remote, tmp_path / "alice", "alice@example.com")
    _ok(run_cli(alice, "launch", BASE_EXP, "--seed", "0"))
    # A dirty run: its snapshot commit exists only in Alice's clone until she pushes.
    write(alice / FAMILY / "notes.txt", "tried a wider model\n")
    _ok(run_cli(alice, "launch", CHILD_EXP, "--seed", "0"))
    a_record = json.loads((alice / "outputs/run_2/run.json").read_text())
    assert a_record["git"]["dirty"] is True
    pushed = _ok(run_cli(alice, "push"))
    ns = share.own_namespace(alice)
    assert ns.startswith("alice@")
    assert f"pushed 2 runs to origin as {ns}: 2 new, 0 updated, 0 already there" in pushed
    refs = _remote_refs(remote)
    assert sorted(refs) == [share.shared_ref(ns, "run_1"), share.shared_ref(ns, "run_2")]
    # The shared commit's first parent is the snapshot: one fetch brings record and code.
    parents = git(remote, "log", "-1", "--format=%P", refs[share.shared_ref(ns, "run_2")])
    assert parents.split()[0] == a_record["git"]["snapshot"]
    files = git(remote, "ls-tree", "--name-only", refs[share.shared_ref(ns, "run_2")]).split()
    assert files == sorted(
        ["config.yaml", "diff.patch", "metrics.jsonl", "run.json", "summary.json"]
    )

    # Pushing again changes nothing; a changed annotation re-pushes that run only.
    again = _ok(run_cli(alice, "push"))
    assert "2 runs to origin as " in again and "0 new, 0 updated, 2 already there" in again
    assert _remote_refs(remote) == refs
    write(alice / "outputs/run_1/annotations.json", '{"tags": ["baseline"]}\n')
    assert "0 new, 1 updated, 1 already there" in _ok(run_cli(alice, "push"))
    moved = _remote_refs(remote)
    run_1_ref = share.shared_ref(ns, "run_1")
    assert moved[run_1_ref] != refs[run_1_ref]
    # Forward only: the new commit has the old one as its second parent.
    assert git(remote, "log", "-1", "--format=%P", moved[run_1_ref]).split()[1] == refs[run_1_ref]

    bob = _clone(remote, tmp_path / "bob", "bob@example.com")
    _ok(run_cli(bob, "launch", CHILD_EXP, "--seed", "1"))
    _ok(run_cli(bob, "push"))
    pulled = _ok(run_cli(bob, "pull"))
    assert f"pulled 2 runs from origin ({ns}/run_1, {ns}/run_2); 0 already here" in pulled
    for name in ("run.json", "metrics.jsonl", "summary.json", "config.yaml", "diff.patch"):
        mine = alice / "outputs/run_2" / name
        assert (bob / "outputs" / ns / "run_2" / name).read_bytes() == mine.read_bytes()
    assert (bob / "outputs" / ns / "run_1/annotations.json").read_text() == (
        '{"tags": ["baseline"]}\n'
    )
    # Bob's own pushed run is not pulled back into a namespace of his.
    assert not (bob / "outputs" / share.own_namespace(bob)).exists()

    listed = _runs(bob)
    assert sorted(str(r["id"]) for r in listed) == sorted(["run_1", f"{ns}/run_1", f"{ns}/run_2"])
    shown = json.loads(_ok(run_cli(bob, "show", f"{ns}/run_2", "--json")))
    assert shown["summary"] == json.loads((alice / "outputs/run_2/summary.json").read_text())

    steps = json.loads(_ok(run_cli(bob, "blame", "score", CHILD_EXP, "--json")))
    assert [s["runs"] for s in steps] == [1, 2]  # base: Alice's; child: Alice's and Bob's

    replay = run_cli(bob, "replay", f"{ns}/run_2", "--verify")
    assert replay.returncode == 0, replay.stdout + replay.stderr
    replayed = json.loads((bob / "outputs/run_2/run.json").read_text())
    assert replayed["replay_of"] == f"{ns}/run_2"
    assert replayed["replay"]["verify"]["verdict"] == "match"
    assert replayed["replay"]["rebuild"] == "commit"
    assert replayed["git"]["tree"] == a_record["git"]["tree"]
    assert not (bob / "outputs" / ns / "run_3").exists()  # never into Alice's folder
    latest = {str(r["id"]): r for r in _runs(bob, "--columns", "id,replay")}
    assert "match" in str(latest[f"{ns}/run_2"]["replay"])

    # A second pull brings nothing and touches nothing.
    before = (bob / "outputs" / ns / "run_1/run.json").stat().st_mtime_ns
    assert "pulled 0 runs from origin; 2 already here, 0 refused" in _ok(run_cli(bob, "pull"))
    assert (bob / "outputs" / ns / "run_1/run.json").stat().st_mtime_ns == before


def _blob(clone: Path, data: bytes) -> str:
    out = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"], cwd=clone, input=data, capture_output=True
    )
    return out.stdout.decode().strip()


def _tree(clone: Path, entries: list[tuple[str, str, str, str]]) -> str:
    """A tree holding exactly ``entries`` (mode, type, object, name), made by git mktree."""
    listing = "".join(f"{m} {t} {o}\t{n}\0" for m, t, o, n in entries).encode()
    out = subprocess.run(
        ["git", "mktree", "-z"], cwd=clone, input=listing, capture_output=True, check=True
    )
    return out.stdout.decode().strip()


def _commit(clone: Path, entries: list[tuple[str, str, str, str]]) -> str:
    return git(clone, "commit-tree", _tree(clone, entries), "-m", "hostile").strip()


def _record(run_id: str, **values: object) -> bytes:
    return json.dumps({"format_version": 1, "id": run_id, "status": "completed", **values}).encode()


def test_a_pull_refuses_hostile_shared_runs_and_writes_nothing_of_them(
    remote: Path, tmp_path: Path
) -> None:
    mallory = _clone(remote, tmp_path / "mallory", "mallory@example.com")
    good = ("100644", "blob", _blob(mallory, _record("run_9")), "run.json")
    model = _tree(mallory, [("100644", "blob", _blob(mallory, b"0" * 2**21), "model.pt")])
    bad_snapshot = _record("run_6", git={"snapshot": "--upload-pack=x"})
    hostile = {
        "run_1": [good, ("100644", "blob", _blob(mallory, b"x"), "..")],  # a traversal name
        "run_2": [("120000", "blob", _blob(mallory, b"/etc/passwd"), "run.json")],
        "run_3": [("100644", "blob", _blob(mallory, _record("run_3", status=5)), "run.json")],
        "run_4": [
            ("100644", "blob", _blob(mallory, _record("run_4")), "run.json"),
            ("040000", "tree", model, share.ARTIFACTS),  # 2 MiB, over --max-artifact-mb 1
        ],
        "run_5": [("100644", "blob", _blob(mallory, _record("run_1")), "run.json")],
        "run_6": [("100644", "blob", _blob(mallory, bad_snapshot), "run.json")],
        "run_9": [good],
    }
    for run_id, entries in hostile.items():
        commit = _commit(mallory, entries)
        git(mallory, "push", "-q", "origin", f"{commit}:refs/reprokit/shared/mallory@evil/{run_id}")
    git(
        mallory,
        "push",
        "-q",
        "origin",
        f"{_commit(mallory, [good])}:refs/reprokit/shared/evil/run_1",
    )

    bob = _clone(remote, tmp_path / "bob", "bob@example.com")
    proc = run_cli(bob, "pull", "--max-artifact-mb", "1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert (
        "pulled 1 runs from origin (mallory@evil/run_9); 0 already here, 7 refused" in proc.stdout
    )
    err = proc.stderr
    assert "refused mallory@evil/run_1: '..' is not an allowed record file name" in err
    assert "refused mallory@evil/run_2: run.json is a symbolic link, not a plain file" in err
    assert 'refused mallory@evil/run_3: run.json: "status" should be a string or null' in err
    assert "refused mallory@evil/run_4: artifacts/model.pt is 2.0 MiB, over the 1 MiB" in err
    assert "refused mallory@evil/run_5: run.json: id is not run_5" in err
    assert "refused mallory@evil/run_6: run.json: git.snapshot is not a commit id" in err
    assert "refused refs/reprokit/shared/evil/run_1: not <user>@<host>/run_<number>" in err
    folder = bob / "outputs/mallory@evil"
    assert sorted(os.listdir(folder)) == ["run_9"]  # no claim folder left, nothing else
    assert sorted(os.listdir(folder / "run_9")) == ["run.json"]
    assert sorted(os.listdir(bob / "outputs")) == ["mallory@evil"]
    assert "nothing of a refused run was written" in err


def test_an_oversized_record_file_is_refused_before_it_is_read(
    remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mallory = _clone(remote, tmp_path / "mallory", "mallory@example.com")
    huge = _blob(mallory, b"{}" + b" " * 4096)
    entries = [
        ("100644", "blob", _blob(mallory, _record("run_1")), "run.json"),
        ("100644", "blob", huge, "summary.json"),
    ]
    git(
        mallory,
        "push",
        "-q",
        "origin",
        f"{_commit(mallory, entries)}:refs/reprokit/shared/m@h/run_1",
    )
    bob = _clone(remote, tmp_path / "bob", "bob@example.com")
    monkeypatch.chdir(bob)
    settings = load_settings(bob)
    assert pull_mod.pull(None, settings=settings, max_file_bytes=1024) == 1
    assert not (bob / "outputs/m@h/run_1").exists()
    # Within the limit the same run is pulled.
    assert pull_mod.pull(None, settings=settings) == 0
    assert store.read_summary(bob / "outputs/m@h/run_1") == {}


def test_a_pull_never_overwrites_a_run_folder_that_exists(remote: Path, tmp_path: Path) -> None:
    mallory = _clone(remote, tmp_path / "mallory", "mallory@example.com")
    commit = _commit(mallory, [("100644", "blob", _blob(mallory, _record("run_1")), "run.json")])
    git(mallory, "push", "-q", "origin", f"{commit}:refs/reprokit/shared/m@h/run_1")
    bob = _clone(remote, tmp_path / "bob", "bob@example.com")
    mine = write(bob / "outputs/m@h/run_1/run.json", _record("run_1", note="mine").decode())
    out = _ok(run_cli(bob, "pull"))
    assert "pulled 0 runs from origin; 1 already here, 0 refused" in out
    assert json.loads(mine.read_text())["note"] == "mine"


def test_namespaces_and_shared_ids_are_strict() -> None:
    assert trust.shared_run_id("alice@gpu-3/run_7") == ("alice@gpu-3", "run_7")
    for bad in ("alice/run_7", "@h/run_1", "a@h/run_x", "a@h/../run_1", "-a@h/run_1",
                "a@h./run_1", "a@h.lock/run_1", "a@h/run_1/x", "a@b@c/run_1", "a@h_x/run_1"):  # fmt: skip
        assert trust.shared_run_id(bad) is None, bad
    assert trust.run_id("alice@gpu-3/run_7", Path("run.json"), "replay_of") == "alice@gpu-3/run_7"
    assert share.parse_shared_ref("refs/reprokit/shared/a@h/run_2") == ("a@h", "run_2")
    assert share.parse_shared_ref("refs/reprokit/runs/a@h/run_2") is None


def test_the_namespace_comes_from_git_config_and_the_host(repo: Path) -> None:
    git(repo, "config", "user.email", "Jane.Doe+ml@example.com")
    user, host = share.own_namespace(repo).split("@")
    assert user == "Jane.Doe-ml"
    assert trust.is_namespace(f"{user}@{host}")


def test_push_and_pull_talk_only_to_configured_remotes(remote: Path, tmp_path: Path) -> None:
    alice = _clone(remote, tmp_path / "alice", "alice@example.com")
    for command in ("push", "pull"):
        proc = run_cli(alice, command, str(remote))
        assert proc.returncode == 2, proc.stderr
        assert "is not a remote of this repository (its remotes: origin)" in proc.stderr
    git(alice, "remote", "add", "evil", "ext::sh -c touch% /tmp/pwned")
    proc = run_cli(alice, "pull", "evil")
    assert proc.returncode == 1 and "fetching the shared runs from evil failed" in proc.stderr


def test_a_pulled_run_is_found_by_its_id_and_cannot_be_pushed(remote: Path, tmp_path: Path) -> None:
    bob = _clone(remote, tmp_path / "bob", "bob@example.com")
    write(bob / "outputs/a@h/run_3/run.json", _record("run_3").decode())
    settings = load_settings(bob)
    assert store.resolve_run("a@h/run_3", settings) == (bob / "outputs/a@h/run_3").resolve()
    assert [store.run_id_of(p) for p in store.run_dirs(settings.outputs)] == ["a@h/run_3"]
    assert store.run_dirs(settings.outputs, shared=False) == []
    proc = run_cli(bob, "push", "--run", "a@h/run_3")
    assert proc.returncode == 2 and "is a run pulled from a@h" in proc.stderr


def test_artifacts_are_pushed_when_asked_within_the_limit_and_kept(
    remote: Path, tmp_path: Path
) -> None:
    from _helpers import write_run

    alice = _clone(remote, tmp_path / "alice", "alice@example.com")
    run = write_run(alice / "outputs", 1, BASE_EXP, summary={"score": 1.0})
    (run / "output.log").write_text("epoch 1\n")
    (run / "model.pt").write_bytes(b"w" * 2**20)
    (run / "huge.bin").write_bytes(b"h" * 3 * 2**20)
    (run / "ckpt").mkdir()
    out = _ok(run_cli(alice, "push", "--artifacts", "--max-artifact-mb", "2"))
    assert "not pushing huge.bin (3.0 MiB, over --max-artifact-mb 2)" in out
    assert "not pushing 'ckpt' (not a plain file)" in out
    ns = share.own_namespace(alice)
    ref = share.shared_ref(ns, "run_1")
    listed = git(remote, "ls-tree", "-r", "--name-only", ref).split()
    record_files = sorted(n for n in os.listdir(run) if n in share.RECORD_FILES)
    assert "run.json" in record_files
    assert listed == ["artifacts/model.pt", "artifacts/output.log", *record_files]
    # A plain push keeps what --artifacts pushed: nothing changes.
    assert "0 new, 0 updated, 1 already there" in _ok(run_cli(alice, "push"))

    bob = _clone(remote, tmp_path / "bob", "bob@example.com")
    refused = run_cli(bob, "pull", "--max-artifact-mb", "0.5")
    assert refused.returncode == 1 and "artifacts/model.pt is 1.0 MiB" in refused.stderr
    _ok(run_cli(bob, "pull"))
    pulled = bob / "outputs" / ns / "run_1"
    assert sorted(os.listdir(pulled)) == sorted(["model.pt", "output.log", *record_files])
    assert (pulled / "model.pt").read_bytes() == (run / "model.pt").read_bytes()


def test_a_running_or_damaged_run_is_not_pushed_and_the_others_are(
    remote: Path, tmp_path: Path
) -> None:
    from _helpers import write_run

    alice = _clone(remote, tmp_path / "alice", "alice@example.com")
    write_run(alice / "outputs", 1, BASE_EXP)
    (write_run(alice / "outputs", 2, BASE_EXP) / "run.json").write_text("{not json")
    live = json.loads((write_run(alice / "outputs", 3, BASE_EXP) / "run.json").read_text())
    from reprokit.capture.process import hostname, proc_stat

    started = proc_stat(os.getpid())
    assert started is not None
    # This test's own process: alive on this host, so the run reads as still running.
    live.update(status="running", pid=os.getpid(), pid_started=started[1], host=hostname())
    (alice / "outputs/run_3/run.json").write_text(json.dumps(live))
    proc = run_cli(alice, "push")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "not pushing run_2: " in proc.stderr and "not valid JSON" in proc.stderr
    assert "skipping run_3: it is still running" in proc.stdout
    assert sorted(_remote_refs(remote)) == [share.shared_ref(share.own_namespace(alice), "run_1")]


def test_a_pulled_replay_names_its_teammates_original_not_a_local_run(
    remote: Path, tmp_path: Path
) -> None:
    from _helpers import write_run

    bob = _clone(remote, tmp_path / "bob", "bob@example.com")
    write_run(bob / "outputs", 1, BASE_EXP)
    write_run(bob / "outputs/a@h", 1, BASE_EXP)
    write_run(bob / "outputs/a@h", 2, BASE_EXP, replay_of="run_1")
    rows = {str(r["id"]): r for r in _runs(bob, "--all", "--columns", "id,replay_of,replay")}
    assert sorted(rows) == ["a@h/run_1", "a@h/run_2", "run_1"]
    assert rows["a@h/run_2"]["replay_of"] == "a@h/run_1"
    assert "a@h/run_2" in str(rows["a@h/run_1"]["replay"])
    assert rows["run_1"]["replay"] in (None, "-", "")
    diff = _ok(run_cli(bob, "diff", "a@h/run_1", "run_1"))
    assert diff.startswith("diff a@h/run_1 → run_1\n")
    shown = json.loads(_ok(run_cli(bob, "show", "a@h/run_2", "--json")))
    assert shown["replay_of"] == "run_1" and shown["dir"].endswith("outputs/a@h/run_2")


def test_a_fresh_clone_of_the_same_person_pushes_the_same_runs_as_a_no_op(
    remote: Path, tmp_path: Path
) -> None:
    from _helpers import write_run

    alice = _clone(remote, tmp_path / "alice", "alice@example.com")
    write_run(alice / "outputs", 1, BASE_EXP)
    assert "1 new" in _ok(run_cli(alice, "push"))
    refs = _remote_refs(remote)
    # The same person re-clones on the same host and brings her outputs folder along.
    again = _clone(remote, tmp_path / "alice2", "alice@example.com")
    os.rename(alice / "outputs", again / "outputs")
    assert "0 new, 0 updated, 1 already there" in _ok(run_cli(again, "push"))
    assert _remote_refs(remote) == refs
    # Another run that took the id run_1 (an outputs folder started afresh) is not pushed
    # over the shared one.
    write_run(again / "outputs", 1, BASE_EXP, started_at="2026-12-01T00:00:00+00:00")
    proc = run_cli(again, "push")
    assert "is already shared from another outputs folder" in proc.stderr
    assert _remote_refs(remote) == refs
