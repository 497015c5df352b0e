"""``reprokit runs``: one vocabulary across --exp, --where, --sort, --columns, CSV and JSON
(the table's names, the JSON names, replay and code-state fields), list-valued --status and
a refused --limit below 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _helpers import write_run

import reprokit
from reprokit.cli import main

ADAM = "experiments/toy/reg/adam_04_03.py"
SGD = "experiments/toy/cls/sgd_01_01.py"
SHA = "c7d29d16" + "e" * 32


@pytest.fixture
def project(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    out = repo / "outputs"
    write_run(out, 1, ADAM, seed=0, sha=SHA, summary={"val_loss": 0.3})
    write_run(out, 2, SGD, seed=0, summary={"val_loss": 0.5}, status="interrupted")
    # Two dirty runs with the same changes: one code state, named by the first snapshot.
    for n, snapshot in ((3, "1" * 40), (4, "2" * 40)):
        run_dir = write_run(out, n, ADAM, seed=n, sha=SHA, dirty=True, snapshot=snapshot,
                            summary={"val_loss": 0.2}, status="crashed" if n == 4 else "completed")  # fmt: skip
        (run_dir / "diff.patch").write_bytes(b"same change\n")
    replay = write_run(out, 5, ADAM, seed=0, sha=SHA, replay_of="run_1", summary={"val_loss": 0.3})
    record = json.loads((replay / "run.json").read_text())
    record["replay"] = {"source_path": "outputs/run_1", "verify": {"verdict": "match"}}
    (replay / "run.json").write_text(json.dumps(record))
    monkeypatch.chdir(repo)
    return repo


def _ids(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.split()[1:]


@pytest.mark.parametrize(
    "spelling",
    [
        "toy/reg/adam_04_03",  # the table's experiment column
        "toy/reg/adam_04_03.py",
        ADAM,
        ADAM.removesuffix(".py"),
        "adam_04_03.py",
        "adam_04_03",
        "adam",
        "toy/reg/*",
        "experiments/toy/reg/*",
        "experiments/toy/reg/adam*",
        "reg",
        "toy/reg",
        "toy/reg/",
        "./experiments/toy/reg",
        "*_04_*",
    ],
)
def test_exp_accepts_every_natural_spelling(
    project: Path, capsys: pytest.CaptureFixture[str], spelling: str
) -> None:
    assert main(["runs", "--exp", spelling, "--columns", "id", "--sort", "id"]) == 0
    assert _ids(capsys) == ["run_1", "run_3", "run_4"]


def test_exp_family_glob_spans_families_and_misses_say_so(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "--exp", "toy/*", "--columns", "id", "--sort", "id"]) == 0
    assert _ids(capsys) == ["run_1", "run_2", "run_3", "run_4"]
    assert main(["runs", "--exp", "toy/cls/*", "--columns", "id"]) == 0
    assert _ids(capsys) == ["run_2"]
    assert main(["runs", "--exp", "ada"]) == 0
    captured = capsys.readouterr()
    # The replay of run_1 would not match either: it is not named.
    assert captured.err == "no run matches --exp 'ada' (4 runs in outputs)\n"
    assert main(["runs", "--exp", "adam", "--where", "seed==0", "--where", "val_loss<0.31",
                 "--status", "interrupted"]) == 0  # fmt: skip
    assert capsys.readouterr().err == (
        "no run matches --exp 'adam' --status interrupted --where 'seed==0' "
        "--where 'val_loss<0.31' (4 runs in outputs)\n"
    )


@pytest.mark.parametrize(
    ("where", "ids"),
    [
        ("duration>1", ["run_1", "run_2", "run_3", "run_4"]),  # the table's name
        ("duration_s>1", ["run_1", "run_2", "run_3", "run_4"]),
        ("started>=2026-11-25T10:00:03", ["run_3", "run_4"]),
        ("git==c7d29d16", ["run_1", "run_3", "run_4"]),  # the table's short SHA
        ("git.sha==c7d29d1", ["run_1", "run_3", "run_4"]),  # 7 hex digits: a prefix
        ("git.sha==c7d29d", []),  # 6 are too few to be a SHA prefix
        (f"git_sha=={SHA}", ["run_1", "run_3", "run_4"]),  # the JSON name
        ("git.sha!=c7d29d16", ["run_2"]),
        ("git_dirty==true", ["run_3", "run_4"]),
        ("replayed_by==run_5", ["run_1"]),
        ("replay_verdict==match", ["run_1"]),
        ("replay=='by run_5: match'", ["run_1"]),
        (f"code=={SHA}+{'1' * 40}", ["run_3", "run_4"]),
        ("code==c7d29d16+11111111", ["run_3", "run_4"]),  # the table's short code state
        ("code==c7d29d16", ["run_1"]),  # a clean state; a dirty one has two parts
    ],
)
def test_where_speaks_the_table_and_json_names(
    project: Path, capsys: pytest.CaptureFixture[str], where: str, ids: list[str]
) -> None:
    assert main(["runs", "--where", where, "--columns", "id", "--sort", "id"]) == 0
    assert _ids(capsys) == ids


def test_a_short_sha_of_digits_is_still_a_sha(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_run(repo / "outputs", 1, ADAM, sha="1234567" + "0" * 33)
    monkeypatch.chdir(repo)
    assert main(["runs", "--where", "git.sha==1234567", "--columns", "id"]) == 0
    assert _ids(capsys) == ["run_1"]


def test_sort_and_unknown_field_hint(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--sort", "-started", "--columns", "id", "--limit", "2"]) == 0
    assert _ids(capsys) == ["run_4", "run_3"]
    assert main(["runs", "--sort", "replayed_by", "--columns", "id", "--limit", "1"]) == 0
    assert _ids(capsys) == ["run_1"]
    assert main(["runs", "--where", "durration>2"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: unknown field 'durration': no run has it\n"
        "  hint: did you mean duration, duration_s?\n"
    )
    assert main(["runs", "--where", "zzz==1"]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: unknown field 'zzz': no run has it\n"
        "  hint: `reprokit runs --json` shows every field (config values as "
        "`config.<path>`, summary values as `metric.<name>`)\n"
    )


def test_csv_carries_replay_and_code(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    columns = "id,replay,replay_of,replayed_by,replay_verdict,git.dirty,code"
    assert main(["runs", "--all", "--format", "csv", "--columns", columns, "--sort", "id"]) == 0
    dirty = f"{SHA}+{'1' * 40}"
    assert capsys.readouterr().out == (
        f"{columns}\n"
        f"run_1,by run_5: match,,run_5,match,false,{SHA}\n"
        f"run_2,,,,,false,{'a' * 40}\n"
        f"run_3,,,,,true,{dirty}\n"
        f"run_4,,,,,true,{dirty}\n"
        f"run_5,of run_1: match,run_1,,match,false,{SHA}\n"
    )
    assert main(["runs", "--columns", "id,git,code,replay", "--sort", "id", "--limit", "4"]) == 0
    assert capsys.readouterr().out == (
        "id     git        code               replay\n"
        "run_1  c7d29d16   c7d29d16           by run_5: match\n"
        "run_2  aaaaaaaa   aaaaaaaa           -\n"
        "run_3  c7d29d16*  c7d29d16+11111111  -\n"
        "run_4  c7d29d16*  c7d29d16+11111111  -\n"
    )


def test_json_columns_are_exact_and_default_json_has_config(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["runs", "--json", "--sort", "id", "--limit", "1"]
    assert main([*argv, "--columns", "id,git,git.dirty,duration,started,val_loss,replay"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {
            "id": "run_1",
            "git": SHA,
            "git.dirty": False,
            "duration": 1.5,
            "started": "2026-11-25T10:00:01.000000+00:00",
            "val_loss": 0.3,
            "replay": "by run_5: match",
        }
    ]
    assert main(argv) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["config"] == {"seed": 0}
    assert (row["code"], row["replayed_by"], row["replay_verdict"]) == (SHA, "run_5", "match")


def test_status_accepts_a_list_and_limit_must_be_positive(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "--status", "crashed,interrupted", "--columns", "id"]) == 0
    assert _ids(capsys) == ["run_4", "run_2"]
    assert main(["runs", "--status", "crashed", "--status", "interrupted", "--columns", "id"]) == 0
    assert _ids(capsys) == ["run_4", "run_2"]
    assert main(["runs", "--status", "crashed,done"]) == 2
    assert capsys.readouterr().err == (
        "reprokit: error: --status 'done'\n"
        "  hint: one of completed, failed, interrupted, crashed, running, incomplete\n"
    )
    for limit in ("0", "-1"):
        assert main(["runs", "--limit", limit]) == 2
        assert capsys.readouterr().err == (
            f"reprokit: error: --limit {limit}: must be at least 1\n"
            "  hint: leave --limit out to list every run\n"
        )


def test_python_api_status_list_and_frame_fields(project: Path) -> None:
    frame = reprokit.runs_frame(status=["crashed", "interrupted"], sort="id")
    assert frame["id"].tolist() == ["run_2", "run_4"]
    frame = reprokit.runs_frame(status="completed", sort="id")
    assert frame["id"].tolist() == ["run_1", "run_3"]
    assert frame["replayed_by"].fillna("-").tolist() == ["run_5", "-"]
    assert frame["code"].tolist() == [SHA, f"{SHA}+{'1' * 40}"]
    assert [r["id"] for r in reprokit.runs(exp="toy/reg/*", status="completed,crashed")] == [
        "run_4",
        "run_3",
        "run_1",
    ]
    with pytest.raises(reprokit.ReprokitError, match="limit 0: must be at least 1"):
        reprokit.runs(limit=0)


def test_metric_headers_named_like_run_fields_round_trip_as_columns(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Metrics named like run fields that are no default column of the table or CSV.
    summary = {"code": 0.75, "replay": 2, "started": 1, "val": 0.5}
    write_run(repo / "outputs", 1, ADAM, sha=SHA, summary=summary)
    monkeypatch.chdir(repo)
    assert main(["runs"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split() == [
        "id", "experiment", "status", "git", "started", "duration",
        "metric.code", "metric.replay", "metric.started", "val",
    ]  # fmt: skip
    assert main(["runs", "--format", "csv"]) == 0
    csv_out = capsys.readouterr().out
    header = csv_out.splitlines()[0]
    assert header.endswith(",metric.code,metric.replay,metric.started,val")
    # Every header, given back to --columns, names the same column.
    assert main(["runs", "--format", "csv", "--columns", header]) == 0
    assert capsys.readouterr().out == csv_out
    assert main(["runs", "--where", "metric.code>0.5", "--columns", "id"]) == 0
    assert _ids(capsys) == ["run_1"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--where", "duration>2"],
        ["--sort", "duration"],
        ["--columns", "id,duration"],
        ["--format", "csv", "--columns", "duration"],
    ],
)
def test_an_alias_that_is_also_a_config_field_is_ambiguous(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    # Before the aliases, `duration` meant config.duration: it must not quietly change.
    write_run(repo / "outputs", 1, ADAM, config={"duration": 5.0})
    write_run(repo / "outputs", 2, ADAM)
    monkeypatch.chdir(repo)
    assert main(["runs", *argv]) == 1
    assert capsys.readouterr().err == (
        "reprokit: error: ambiguous field 'duration': the run's duration_s or config.duration\n"
        "  hint: write duration_s or config.duration\n"
    )
    assert main(["runs", "--where", "config.duration>2", "--columns", "id,duration_s"]) == 0
    assert capsys.readouterr().out == "id     duration_s\nrun_1         1.5\n"


def test_a_metric_named_code_is_ambiguous_in_where_and_columns(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_run(repo / "outputs", 1, ADAM, summary={"code": 0.75})
    monkeypatch.chdir(repo)
    for argv in (["--where", "code>0.5"], ["--columns", "code"]):
        assert main(["runs", *argv]) == 1
        assert capsys.readouterr().err == (
            "reprokit: error: ambiguous field 'code': the run's code or metric.code\n"
            "  hint: write metric.code (the run's code has no other name)\n"
        )
