"""The --where language and filtering/sorting of plain run records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _helpers import write_run

from reprokit.analysis import where
from reprokit.errors import ReprokitError


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1e-3", 1e-3),
        ("3", 3),
        ("-2.5", -2.5),
        ("true", True),
        ("False", False),
        ("null", None),
        ("relu", "relu"),
        ("'1e-3'", "1e-3"),
        ('"a b"', "a b"),
    ],
)
def test_values_are_typed_literals(text: str, value: Any) -> None:
    parsed = where.parse_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_parse_reads_two_character_operators_first() -> None:
    assert where.parse("optim.lr>=1e-3") == where.Condition(
        "optim.lr", ">=", 1e-3, "optim.lr>=1e-3"
    )
    assert where.parse(" model.act == relu ").op == "=="
    assert where.parse("a!=null").value is None


@pytest.mark.parametrize("bad", ["optim.lr", "lr>=", "__import__('os')>1", "a=1", "1>a"])
def test_bad_expressions_are_refused_with_the_syntax(bad: str) -> None:
    with pytest.raises(ReprokitError) as e:
        where.parse(bad)
    assert str(e.value) == (
        f"--where {bad!r}: expected FIELD OP VALUE\n"
        "  hint: operators: == != < <= > >=, e.g. --where 'optim.lr>=1e-3' --where 'model.act==relu'"
    )


ROWS = [
    {
        "id": "run_1",
        "config.optim.lr": 1e-2,
        "config.model.act": "relu",
        "metric.val_acc": 0.95,
        "smoke": False,
    },
    {
        "id": "run_2",
        "config.optim.lr": 1e-4,
        "config.model.act": "gelu",
        "metric.val_acc": 0.80,
        "smoke": False,
    },
    {"id": "run_3", "config.optim.lr": 1e-3, "config.model.act": "relu", "smoke": True},
]


@pytest.mark.parametrize(
    ("exprs", "expected"),
    [
        (["optim.lr>=1e-3"], [0, 2]),
        (["optim.lr>=1e-3", "model.act==relu"], [0, 2]),
        (["model.act!=relu"], [1]),
        (["val_acc>0.9"], [0]),
        (["metric.val_acc<=0.8"], [1]),
        (["smoke==true"], [2]),
        (["smoke!=false"], [2]),
        (["model.act>h"], [0, 2]),  # text orders as text
        (["val_acc==null"], [2]),
        (["val_acc!=none"], [0, 1]),
        (["config.optim.lr<1e-3"], [1]),
    ],
)
def test_filter_rows_ands_typed_comparisons(exprs: list[str], expected: list[int]) -> None:
    assert where.filter_rows(ROWS, exprs) == expected


def test_unknown_field_names_close_matches() -> None:
    with pytest.raises(ReprokitError) as e:
        where.filter_rows(ROWS, ["optim.lrr>1"])
    assert (
        str(e.value) == "unknown field 'optim.lrr': no run has it\n  hint: did you mean optim.lr?"
    )


def test_sort_numbers_descending_with_missing_last() -> None:
    assert where.sort_order(ROWS, "-val_acc") == [0, 1, 2]
    assert where.sort_order(ROWS, "val_acc") == [1, 0, 2]
    assert where.sort_order(ROWS, "optim.lr") == [1, 2, 0]
    assert where.sort_order(ROWS, "-model.act") == [0, 2, 1]


def test_flat_row_from_a_record_on_disk(tmp_path: Path) -> None:
    run = write_run(
        tmp_path,
        4,
        "experiments/toy/wide_02_01.py",
        seed=3,
        config={"optim": {"lr": 0.001, "betas": [0.9, 0.99]}, "model": {"act": "relu"}},
        summary={"val_acc": 0.9},
    )
    row = where.flat_row(where.read_record(run))
    assert row["id"] == "run_4"
    assert row["experiment"] == "experiments/toy/wide_02_01.py"
    assert row["config.optim.lr"] == 0.001
    assert row["config.optim.betas"] == [0.9, 0.99]
    assert row["config.seed"] == 3
    assert row["metric.val_acc"] == 0.9
    assert row["git.sha"] == "a" * 40
    assert where.filter_rows([row], ["optim.betas==[0.9, 0.99]", "seed==3"]) == [0]


@pytest.mark.parametrize(
    ("expr", "message", "hint"),
    [
        (
            "optim.lr>abc",
            "optim.lr holds numbers, not text",
            "compare it with a number, e.g. optim.lr>0.01",
        ),
        (
            "model.act>5",
            "model.act holds text, not a number",
            "quote the value to compare it as text: model.act>'5'",
        ),
        (
            "model.act==true",
            "model.act holds text, not true/false",
            "quote the value to compare it as text: model.act=='true'",
        ),
        (
            "smoke==1",  # True must not read as 1
            "smoke holds true/false, not a number",
            "compare it with true or false, e.g. smoke==false",
        ),
        ("smoke>false", "true/false has no order", "compare it with == or !=, e.g. smoke==false"),
        ("val_acc<null", "null has no order", "compare it with == or !=, e.g. val_acc==null"),
    ],
)
def test_a_comparison_types_cannot_satisfy_is_an_error(expr: str, message: str, hint: str) -> None:
    with pytest.raises(ReprokitError) as e:
        where.filter_rows(ROWS, [expr])
    assert str(e.value) == f"--where {expr!r}: {message}\n  hint: {hint}"


MIXED: list[dict[str, Any]] = [
    # A field that is a number in one experiment's config and text in another's.
    {"id": "run_1", "config.sched": 0.1, "config.sizes": [64, 64], "note": None},
    {"id": "run_2", "config.sched": "cosine", "config.sizes": [32], "note": None},
    {"id": "run_3", "config.sched": None, "note": None},
]


def test_mixed_kinds_compare_within_the_kind_of_the_value() -> None:
    assert where.filter_rows(MIXED, ["sched>0.05"]) == [0]
    assert where.filter_rows(MIXED, ["sched==cosine"]) == [1]
    assert where.filter_rows(MIXED, ["sched==null"]) == [2]
    assert where.filter_rows(MIXED, ["sizes==[32]"]) == [1]
    # Null in every run: no type to clash with, so no error, and no match.
    assert where.filter_rows(MIXED, ["note==x"]) == []
    with pytest.raises(ReprokitError) as e:
        where.filter_rows(MIXED, ["sched==true"])
    assert str(e.value) == (
        "--where 'sched==true': sched holds numbers and text, not true/false\n"
        "  hint: compare it with a number, e.g. sched==0.1"
    )
    with pytest.raises(ReprokitError) as e:
        where.filter_rows(MIXED, ["sizes>[1]"])
    assert str(e.value) == (
        "--where 'sizes>[1]': sizes holds lists, which have no order\n"
        "  hint: compare it with == or !=, e.g. sizes==[64, 64]"
    )


def test_iso_timestamps_order_as_text() -> None:
    rows = [
        {"id": "run_1", "started_at": "2026-11-24T23:59:59.000000+00:00"},
        {"id": "run_2", "started_at": "2026-11-25T00:00:00.000000+00:00"},
    ]
    assert where.filter_rows(rows, ["started_at>=2026-11-25"]) == [1]


def test_flat_row_names_replays_and_ablated_fields() -> None:
    row = where.flat_row(
        {
            "replay_of": "run_3",
            "ablation_of": {"field": "optim.lr", "experiment": "x", "step": "02"},
        }
    )
    assert (row["replay_of"], row["ablation"], row["ablation_of.field"]) == (
        "run_3",
        True,
        "optim.lr",
    )
    plain = where.flat_row({})
    assert (plain["replay_of"], plain["ablation"], plain["ablation_of.field"]) == (
        None,
        False,
        None,
    )


def test_run_fields_are_every_key_of_a_flat_row() -> None:
    # metric_headers prefixes these: a stale list would let a metric header read a run field.
    assert set(where.flat_row({"config": {"lr": 1}, "summary": {"acc": 1}})) == {
        *where.RUN_FIELDS,
        "config.lr",
        "metric.acc",
    }


@pytest.mark.parametrize(
    ("field", "message", "hint"),
    [
        (
            "duration",
            "ambiguous field 'duration': the run's duration_s or config.duration",
            "write duration_s or config.duration",
        ),
        (
            "code",
            "ambiguous field 'code': the run's code or config.code or metric.code",
            "write config.code or metric.code (the run's code has no other name)",
        ),
    ],
)
def test_a_bare_name_of_a_run_field_and_a_config_field_is_ambiguous(
    field: str, message: str, hint: str
) -> None:
    rows = [
        where.flat_row({"duration_s": 1.0, "config": {"duration": 5.0, "code": 1}}),
        where.flat_row({"duration_s": 3.0, "summary": {"code": 0.9}}),
    ]
    for call in (
        lambda: where.filter_rows(rows, [f"{field}>2"]),
        lambda: where.sort_order(rows, f"-{field}"),
    ):
        with pytest.raises(ReprokitError) as e:
            call()
        assert (e.value.message, e.value.hint) == (message, hint)
    # The explicit spellings work, and old run fields keep meaning the run's (`seed`).
    assert where.filter_rows(rows, ["config.duration>2"]) == [0]
    assert where.filter_rows(rows, ["duration_s>2"]) == [1]
    seeded = [where.flat_row({"seed": 1, "config": {"seed": 2}})]
    assert where.filter_rows(seeded, ["seed==1"]) == [0]


@pytest.mark.parametrize(
    ("expr", "matches"),
    [
        ("code==972e1241+316433fd", True),  # the table's short form
        ("code==972e124+316433f", True),  # 7 hex digits a part
        ("code==972e1241", False),  # a dirty state is not its HEAD alone
        ("code==972e124+316433", False),  # 6 are too few to be a SHA prefix
        ("code!=972e1241+316433fd", False),
        (f"code=={'972e1241' * 5}+{'316433fd' * 5}", True),
    ],
)
def test_code_matches_by_sha_prefix_in_each_part(expr: str, matches: bool) -> None:
    row = where.flat_row(
        {"git": {"sha": "972e1241" * 5, "dirty": True, "snapshot": "316433fd" * 5}}
    )
    assert where.parse(expr).matches(row) is matches
    clean = where.flat_row({"git": {"sha": "1234567" + "0" * 33, "dirty": False}})
    assert where.parse("code==1234567").matches(clean)


def test_shown_verdict_is_a_replays_own_else_its_latest_replays() -> None:
    replay = {"replay_of": "run_1", "replay": {"verify": {"verdict": "mismatch"}}}
    assert where.shown_verdict(replay, "match") == "mismatch"
    assert where.shown_verdict({"replay_of": "run_1", "replay": {}}, "match") is None
    assert where.shown_verdict(None, "match") == "match"
    row = where.flat_row({**replay, "replayed_by": {"id": "run_9", "verdict": "match"}})
    assert (row["replay_verdict"], row["replay"]) == ("mismatch", "of run_1: mismatch")
