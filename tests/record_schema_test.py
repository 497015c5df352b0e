"""The record format is described once (reprokit/record/schema.py): the docs' key table, the
keys a real launch writes, the index columns and the `runs` vocabulary all agree with it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from _helpers import make_run, schema_problems

from conftest import MINIMAL_EXPERIMENT, git, run_cli, write
from reprokit.analysis import cells, where
from reprokit.errors import ReprokitError
from reprokit.record import index, schema, store

DOCS = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"
BEGIN = "<!-- record keys: generated from reprokit/record/schema.py (key_table) -->\n"
END = "<!-- end of record keys -->"


def documented_table() -> str:
    text = DOCS.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, f"{DOCS}: the record key table's markers are gone"
    return text[text.index(BEGIN) + len(BEGIN) : text.index(END)].rstrip("\n")


def test_every_key_is_documented_and_nothing_else() -> None:
    table = documented_table()
    documented = re.findall(r"^\| `([\w.]+)` \|", table, flags=re.MULTILINE)
    in_schema = [name for name, _, _ in schema.all_keys()]
    assert set(in_schema) - set(documented) == set(), "keys in the schema, not in the docs"
    assert set(documented) - set(in_schema) == set(), "keys in the docs, not in the schema"
    # Types and meanings too: the table is the schema's, byte for byte.
    expected = schema.key_table()
    assert table == expected, (
        f"{DOCS} is out of date; paste this between its record-key markers:\n{expected}"
    )


def test_record_keys_are_the_schemas_top_level_keys_in_order() -> None:
    assert tuple(name for name, _, _ in schema.all_keys() if "." not in name) == store.RECORD_KEYS
    assert store.RECORD_KEYS[0] == "format_version" and len(set(store.RECORD_KEYS)) == 32


def test_the_checks_fast_reading_of_the_schema_is_what_python_evaluates() -> None:
    # The check reads the annotations' text by hand (evaluating them cost milliseconds a
    # process); the evaluated TypedDict types must give the very same rules.
    fast = schema._schema()
    assert fast == schema._spec(schema.RunRecord)
    assert fast["git"]["untracked"] is list and fast["error"]["missing"] == [str]  # type: ignore[index]
    assert fast["replay"]["verify"]["compared"] is int  # type: ignore[index]


def test_a_real_launch_writes_only_schema_keys_of_schema_types(repo: Path) -> None:
    write(repo / "experiments" / "toy" / "base_01_01.py", MINIMAL_EXPERIMENT)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "toy")
    write(repo / "scratch.txt", "dirty\n")  # a dirty tree: the git object is filled in
    result = run_cli(repo, "launch", "experiments/toy/base_01_01.py", "--no-check")
    assert result.returncode == 0, result.stderr
    data = json.loads((repo / "outputs" / "run_1" / "run.json").read_text(encoding="utf-8"))
    assert schema_problems(data) == []
    assert schema.first_problem(data) is None
    # What the check looks at is really there: the objects and a nested list.
    assert data["git"]["dirty"] is True and data["git"]["untracked"] == ["scratch.txt"]
    assert isinstance(data["environment"]["python"], dict)


def test_a_wrong_nested_type_names_the_file_and_dotted_key(tmp_path: Path) -> None:
    run = make_run(tmp_path / "outputs", 1, replay_of="run_0")
    path = run / "run.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["replay"] = {"verify": {"verdict": "match", "compared": "3"}}
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ReprokitError) as caught:
        store.read_record(run)
    assert (
        'outputs/run_1/run.json: "replay.verify.compared" should be an integer or null, not a'
        " string" in str(caught.value)
    )


def test_a_list_item_of_the_wrong_type_is_refused_and_null_is_not() -> None:
    record = dict.fromkeys(store.RECORD_KEYS) | {"format_version": 1}
    assert schema.first_problem(record) is None  # null is allowed everywhere
    record["error"] = {"missing": ["git", 3]}
    assert schema.first_problem(record) == '"error.missing[1]" should be a string, not an integer'
    record["error"] = None
    record["duration_s"] = 2  # a JSON number may be written without a fraction
    assert schema.first_problem(record) is None
    record["smoke"] = 1  # ... but a number is no true/false
    assert schema.first_problem(record) == '"smoke" should be true or false or null, not an integer'


# Index columns and `runs` fields that are no run.json key, each with where it comes from.
DERIVED = {
    "num": "N of the run_N folder",
    "record_sig": "run.json's stat signature",
    "summary_sig": "summary.json's stat signature",
    "git_changes": "digest of diff.patch",
    "ablation": "ablation_of is set",
    "summary": "summary.json",
    "config": "config.yaml",
    "record": "run.json itself",
    "replayed_by": "the replays that name this run",
    "replay_verdict": "replay.verify.verdict, or a replay's own",
    "code": "the code state: git.sha plus the snapshot's tree",
}
# The column or field name for a record key where the two differ.
RENAMED = {
    "experiment": "experiment.path",
    "name": "experiment.name",
    "family": "experiment.family",
}


def schema_key(column: str) -> str:
    """The run.json key an index column or a `runs` field names (``git_sha`` -> ``git.sha``)."""
    name = RENAMED.get(column, column)
    return re.sub(r"^git_", "git.", name)


@pytest.mark.parametrize(
    "source, names",
    [
        ("record/index.py COLUMNS", index.COLUMNS),
        ("analysis/where.py RUN_FIELDS", where.RUN_FIELDS),
        ("analysis/where.py ALIASES", tuple(where.ALIASES.values())),
        ("analysis/cells.py CSV_COLUMNS", cells.CSV_COLUMNS),
    ],
)
def test_columns_name_record_keys(source: str, names: tuple[str, ...]) -> None:
    known = {name for name, _, _ in schema.all_keys()}
    unknown = [n for n in names if n not in DERIVED and schema_key(n) not in known]
    assert unknown == [], f"{source} names fields that are not in the record schema"
