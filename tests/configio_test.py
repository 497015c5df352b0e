from __future__ import annotations

import dataclasses
import enum
import itertools
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal, Optional, Union

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from reprokit.config import codec as configio
from reprokit.config.codec import Change, ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent


# -- top-level things a config may reference -------------------------------------------


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mode(enum.StrEnum):
    TRAIN = "train"
    EVAL = "eval"


class Base:
    pass


class Derived(Base):
    pass


def cosine(step: int) -> float:
    return math.cos(step)


def linear(step: int) -> float:
    return float(step)


class Foo:
    pass


# -- hand-written configs --------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    hidden: int = 16
    activation: Literal["relu", "tanh"] = "tanh"


@dataclass(frozen=True)
class Conv:
    channels: int = 8


@dataclass(frozen=True)
class Optim:
    lr: float = 3e-4
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass(frozen=True)
class Everything:
    flag: bool = True
    count: int = 3
    lr: float = 0.1
    name: str = "yes"
    nothing: None = None
    path: Path = Path("data/train.csv")
    pure: PurePosixPath = PurePosixPath("/abs/x")  # noqa: RUF009 -- paths are immutable
    color: Color = Color.GREEN
    level: Level = Level.HIGH
    mode: Mode = Mode.EVAL
    act: Literal["relu", "tanh", 3, True, None] = True
    sizes: tuple[int, ...] = (64, 32)
    pair: tuple[int, str] = (1, "a")
    layers: list[str] = field(default_factory=lambda: ["a", "b"])
    weights: dict[str, float] = field(default_factory=lambda: {"z": 1.0, "a": 2.0})
    by_id: dict[int, str] = field(default_factory=lambda: {10: "ten", 2: "two"})
    tags: frozenset[str] = frozenset({"b", "c", "a"})
    maybe: int | None = None
    either: Union[int, str] = "x"  # noqa: UP007 -- the old spelling must work too
    opt_model: Optional[Model] = None  # noqa: UP045
    arch: Model | Conv = Conv()
    optim: Optim = Optim()
    cls: type[Base] = Derived
    schedule: Callable[[int], float] = cosine
    extra: Any = None
    computed: int = field(default=0, init=False)


@dataclass(frozen=True)
class Training:
    schedule: Callable[[int], float] = cosine
    epochs: int = 2


@dataclass(frozen=True)
class Holder:
    layer: Any = None
    thing: Foo | None = None


@dataclass(frozen=True)
class Outer:
    model: Model = Model()
    optim: Optim = Optim()
    training: Training = Training()


@dataclass(frozen=True)
class Floats:
    values: tuple[float, ...] = ()


@dataclass(frozen=True)
class Texts:
    values: tuple[str, ...] = ()


# -- a nan-aware structural comparison (independent of configio) -----------------------


def same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def roundtrip(config: Any, fmt: configio.Format) -> str:
    text = configio.dumps(config, fmt)
    back = configio.loads(text, type(config), fmt)
    assert same(back, config), (config, back)
    assert configio.dumps(back, fmt) == text
    return text


# -- round trips -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_every_supported_type_round_trips(fmt: configio.Format) -> None:
    config = Everything()
    roundtrip(config, fmt)
    roundtrip(
        dataclasses.replace(
            config, maybe=5, either=7, opt_model=Model(), arch=Model(3), extra={"k": [1, None]}
        ),
        fmt,
    )


def test_yaml_text_is_readable_and_in_declared_order() -> None:
    text = configio.dumps(Everything())
    assert text.startswith("flag: true\ncount: 3\nlr: 0.1\nname: 'yes'\nnothing: null\n")
    assert "color: GREEN\nlevel: HIGH\nmode: EVAL\n" in text
    assert "tags:\n- a\n- b\n- c\n" in text
    assert "by_id:\n  '10': ten\n  '2': two\n" in text
    assert "arch:\n  _type: Conv\n  channels: 8\n" in text
    assert "cls: configio_test:Derived\nschedule: configio_test:cosine\n" in text
    assert "computed" not in text
    assert configio.dumps(Everything()) == text  # deterministic


def test_multiline_text_is_a_literal_block() -> None:
    assert configio.dumps(Texts(("line one\nline two\n", "a\nb"))) == (
        "values:\n- |\n  line one\n  line two\n- |-\n  a\n  b\n"
    )


def test_json_text() -> None:
    text = configio.dumps(Optim(lr=math.inf), "json")
    assert text == '{\n  "lr": "inf",\n  "betas": [\n    0.9,\n    0.999\n  ]\n}\n'


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize(
    "value",
    ["yes", "no", "on", "null", "None", "~", "1e3", "0x10", "1:20", "2026-01-01", "", "  lead",
     "trail ", "a: b", "- x", "#c", "multi\nline", "\ttab", "ünïcødé ✓", "'q'", '"dq"', "\x07", "a\x85b", "\u2028"],
)  # fmt: skip
def test_tricky_strings(value: str, fmt: configio.Format) -> None:
    roundtrip(Texts((value,)), fmt)


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize("value", [0.1, 1e-300, 1e300, -0.0, 5e-324, math.inf, -math.inf, math.nan])
def test_floats_are_exact(value: float, fmt: configio.Format) -> None:
    roundtrip(Floats((value,)), fmt)


def test_nonfinite_spelling() -> None:
    config = Floats((math.inf, -math.inf, math.nan))
    assert configio.dumps(config) == "values:\n- .inf\n- -.inf\n- .nan\n"
    assert '"inf",\n    "-inf",\n    "nan"' in configio.dumps(config, "json")
    # The strings mean floats only where a float is declared.
    assert configio.loads('{"values": ["nan"]}', Texts, "json") == Texts(("nan",))
    assert config != configio.loads(configio.dumps(config), Floats)  # nan != nan ...
    assert configio.diff(config, configio.loads(configio.dumps(config), Floats)) == []


def test_int_in_float_field_is_written_as_float() -> None:
    assert configio.dumps(Optim(lr=1)) == "lr: 1.0\nbetas:\n- 0.9\n- 0.999\n"
    loaded = configio.loads("lr: 2\n", Optim)
    assert loaded.lr == 2.0 and type(loaded.lr) is float


def test_frozenset_order_does_not_depend_on_insertion() -> None:
    texts = {configio.dumps(Everything(tags=frozenset(p))) for p in itertools.permutations("abc")}
    assert len(texts) == 1


def test_dict_keeps_insertion_order() -> None:
    text = configio.dumps(Everything(weights={"z": 1.0, "a": 2.0}))
    assert "weights:\n  z: 1.0\n  a: 2.0\n" in text


def test_union_of_dataclasses_uses_discriminator() -> None:
    loaded = configio.loads("arch:\n  _type: Model\n  hidden: 5\n", Everything)
    assert loaded.arch == Model(hidden=5)
    with pytest.raises(ConfigError) as e:
        configio.loads("arch:\n  hidden: 5\n", Everything)
    assert (
        e.value.message
        == "arch: a Model | Conv needs a `_type` key naming the class: Model or Conv"
    )
    with pytest.raises(ConfigError) as e:
        configio.loads("arch:\n  _type: Linear\n", Everything)
    assert e.value.message == "arch._type: unknown class 'Linear'; expected one of Model, Conv"


def test_optional_nested_dataclass_none() -> None:
    assert "opt_model: null\n" in configio.dumps(Everything())
    assert configio.loads("opt_model: null\n", Everything).opt_model is None
    assert configio.loads("opt_model: {hidden: 4}\n", Everything).opt_model == Model(4)


def test_missing_field_with_default_loads_default_and_without_is_named() -> None:
    assert configio.loads("count: 9\n", Everything) == Everything(count=9)

    @dataclass(frozen=True)
    class Required:
        x: int

    with pytest.raises(ConfigError) as e:
        configio.from_data({}, Required)
    assert (
        str(e.value)
        == "x: missing required field\n  hint: add `x: <int>`; Required has no default for it"
    )


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_dump_and_load_files(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "run" / f"config.{fmt}"
    path.parent.mkdir()
    configio.dump(Everything(), path)
    assert configio.load(path, Everything) == Everything()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown config file suffix '\.toml'"):
        configio.dump(Everything(), tmp_path / "c.toml")


def test_load_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("lr: abc\n")
    with pytest.raises(ConfigError) as e:
        configio.load(path, Optim)
    assert e.value.message == f"{path}: lr: expected float, got str 'abc'"
    assert e.value.field_path == "lr"


# -- errors: exact text ------------------------------------------------------------------


def test_error_wrong_type() -> None:
    with pytest.raises(ConfigError) as e:
        configio.loads("optim:\n  lr: abc\n", Outer)
    assert str(e.value) == "optim.lr: expected float, got str 'abc'"
    assert e.value.field_path == "optim.lr"


def test_error_bool_is_not_int() -> None:
    with pytest.raises(ConfigError, match=r"^model.hidden: expected int, got bool True$"):
        configio.loads("model:\n  hidden: true\n", Outer)
    with pytest.raises(ConfigError, match=r"^model.hidden: expected int, got bool True$"):
        configio.to_data(Outer(model=Model(hidden=True)))


def test_error_unknown_field_with_suggestion() -> None:
    with pytest.raises(ConfigError) as e:
        configio.loads("model:\n  hiden: 3\n", Outer)
    assert str(e.value) == (
        "model.hiden: unknown field; did you mean hidden?\n  hint: fields of Model: hidden, activation"
    )


def test_error_lambda() -> None:
    with pytest.raises(ConfigError) as e:
        configio.dumps(Outer(training=Training(schedule=lambda s: 0.0)))
    assert str(e.value) == (
        "training.schedule: a lambda cannot be referenced by name; define it as a top-level function"
    )


def test_error_nested_function() -> None:
    def local(step: int) -> float:
        return 0.0

    with pytest.raises(ConfigError) as e:
        configio.dumps(Outer(training=Training(schedule=local)))
    assert str(e.value) == (
        "training.schedule: a function defined inside a function "
        "(test_error_nested_function.<locals>.local) cannot be referenced by name; "
        "define it at the top level of a module"
    )


def test_error_arbitrary_object() -> None:
    for config in (Holder(layer=Foo()), Holder(thing=Foo())):
        with pytest.raises(ConfigError) as e:
            configio.to_data(config)
        assert e.value.message.endswith(
            ": cannot serialize a value of type Foo; "
            "make Foo a frozen dataclass, or store the plain values it is built from"
        )
    with pytest.raises(ConfigError, match=r"^layer: cannot serialize a value of type Foo;"):
        configio.to_data(Holder(layer=Foo()))


@dataclass(frozen=True)
class ObjectField:
    value: object = None


def test_error_in_an_object_field_says_what_would_serialize() -> None:
    import datetime

    cases = {
        lambda s: s: "cannot serialize a value of type function; a function is stored by"
        " reference: declare the field as Callable[..., Any] and give it a top-level function"
        " (a lambda has no name to store)",
        datetime.date(2026, 1, 2): "cannot serialize a value of type date; store its text"
        " (value.isoformat()) in a str field and build the date from it",
        Foo: "cannot serialize a value of type type; a class is stored by reference: declare"
        " the field as type[Foo]",
    }
    for value, expected in cases.items():
        with pytest.raises(ConfigError) as e:
            configio.to_data(ObjectField(value=value))
        assert str(e.value) == f"value: {expected}"
        assert "reference to the class" not in str(e.value)


def test_error_unresolvable_reference() -> None:
    with pytest.raises(ConfigError) as e:
        configio.loads("training:\n  schedule: no_such_module:fn\n", Outer)
    assert str(e.value) == (
        "training.schedule: cannot resolve reference 'no_such_module:fn' "
        "(ModuleNotFoundError: No module named 'no_such_module')\n"
        "  hint: the module must be importable and define the name at its top level"
    )
    with pytest.raises(ConfigError, match="cannot resolve reference 'configio_test:nope'"):
        configio.loads("training:\n  schedule: configio_test:nope\n", Outer)


def test_references_only_resolve_where_declared() -> None:
    # A str field holding reference-looking text stays text: nothing is imported.
    loaded = configio.loads("values: ['no_such_module:fn']\n", Texts)
    assert loaded.values == ("no_such_module:fn",)
    assert "no_such_module" not in sys.modules


def test_classref_checks_the_bound() -> None:
    with pytest.raises(ConfigError, match=r"^cls: 'configio_test:Foo' is not a subclass of Base$"):
        configio.loads("cls: configio_test:Foo\n", Everything)


def test_unsafe_yaml_tags_are_refused() -> None:
    with pytest.raises(ConfigError, match="invalid YAML"):
        configio.loads("name: !!python/object/apply:os.system ['echo hi']\n", Everything)


def test_ambiguous_union_value_is_refused() -> None:
    @dataclass(frozen=True)
    class PathOrText:
        where: str | Path = "x"

    assert configio.to_data(PathOrText("x")) == {"where": "x"}
    with pytest.raises(ConfigError) as e:
        configio.to_data(PathOrText(Path("x")))
    assert (
        e.value.message == "where: a PosixPath value in a str | Path field would load back as str"
    )


def test_list_is_not_a_tuple() -> None:
    with pytest.raises(
        ConfigError, match=r"^sizes: expected tuple\[int, \.\.\.\], got list \[1\]$"
    ):
        configio.to_data(Everything(sizes=[1]))  # type: ignore[arg-type]


# -- flatten / diff ----------------------------------------------------------------------


def test_flatten() -> None:
    flat = configio.flatten(Outer())
    assert list(flat)[:4] == ["model.hidden", "model.activation", "optim.lr", "optim.betas"]
    assert flat["optim.betas"] == [0.9, 0.999]
    assert flat["training.schedule"] == "configio_test:cosine"
    assert configio.flatten({"a": {"b": (1, 2)}, "c": {}}) == {"a.b": [1, 2], "c": {}}


def test_diff() -> None:
    old = Outer()
    new = Outer(model=Model(hidden=32), optim=Optim(lr=1e-3))
    assert configio.diff(old, new) == [
        Change("model.hidden", 16, 32),
        Change("optim.lr", 3e-4, 1e-3),
    ]
    assert configio.diff(old, old) == []
    a = configio.to_data(Everything(arch=Conv()))
    b = configio.to_data(Everything(arch=Model()))
    assert configio.diff(a, b) == [
        Change("arch._type", "Conv", "Model"),
        Change("arch.channels", 8, None),
        Change("arch.hidden", None, 16),
        Change("arch.activation", None, "tanh"),
    ]
    assert configio.diff({"x": 1}, {"x": True}) == [Change("x", 1, True)]


# -- --set parsing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        ("lr", "3e-4", 3e-4),
        ("lr", "inf", math.inf),
        ("count", "12", 12),
        ("flag", "false", False),
        ("flag", "yes", True),
        ("name", "  spaced ", "  spaced "),
        ("path", "data/x.csv", Path("data/x.csv")),
        ("color", "RED", Color.RED),
        ("color", "green", Color.GREEN),  # by value
        ("level", "2", Level.HIGH),
        ("mode", "train", Mode.TRAIN),
        ("act", "relu", "relu"),
        ("act", "3", 3),
        ("act", "True", True),
        ("act", "None", None),
        ("sizes", "128,64,32", (128, 64, 32)),
        ("sizes", "(1,)", (1,)),
        ("sizes", "", ()),
        ("pair", "4, b", (4, "b")),
        ("layers", "[x, y]", ["x", "y"]),
        ("tags", "b,a", frozenset({"a", "b"})),
        ("maybe", "None", None),
        ("maybe", "7", 7),
        ("either", "7", 7),
        ("either", "seven", "seven"),
        ("optim.lr", "1e-3", 1e-3),
        ("optim.betas", "0.8,0.99", (0.8, 0.99)),
        ("weights", "{a: 1.5}", {"a": 1.5}),
        ("opt_model.hidden", "4", 4),
        ("cls", "configio_test:Base", Base),
        ("schedule", "configio_test:linear", linear),
    ],
)
def test_parse_value(path: str, text: str, expected: Any) -> None:
    value = configio.parse_value(text, configio.field_type_at(Everything, path))
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("path", "text", "message"),
    [
        ("count", "abc", "expected int, got 'abc'"),
        ("flag", "maybe", "expected true or false, got 'maybe'"),
        ("color", "BLUE", "expected one of RED, GREEN (names of Color), got 'BLUE'"),
        ("act", "gelu", "expected one of 'relu', 'tanh', 3, True, None, got 'gelu'"),
        ("pair", "1,2,3", "expected 2 comma-separated items, got 3"),
        ("sizes", "1,x", "sizes[1]: expected int, got 'x'"),
    ],
)
def test_parse_value_errors(path: str, text: str, message: str) -> None:
    declared = configio.field_type_at(Everything, path)
    with pytest.raises(ConfigError) as e:
        configio.parse_value(text, declared, path=path)
    assert e.value.message in (message, f"{path}: {message}")


def test_field_type_at() -> None:
    assert configio.field_type_at(Outer, "optim.lr") is float
    assert configio.field_type_at(Outer(), "model") is Model
    assert configio.field_type_at(Everything, "arch.channels") is int
    with pytest.raises(ConfigError) as e:
        configio.field_type_at(Outer, "model.hiden")
    assert str(e.value) == (
        "model.hiden: unknown field; did you mean hidden?\n  hint: fields of Model: hidden, activation"
    )
    with pytest.raises(
        ConfigError, match=r"^optim.lr.x: optim.lr is a value \(float\), not a config group$"
    ):
        configio.field_type_at(Outer, "optim.lr.x")


# -- torch -------------------------------------------------------------------------------


def _python(code: str, cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": f"{cwd}{os.pathsep}{REPO_ROOT}"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_no_torch_import_without_torch_values(tmp_path: Path) -> None:
    (tmp_path / "cfg_notorch.py").write_text(
        "from __future__ import annotations\n"
        "from dataclasses import dataclass\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import torch\n"
        "@dataclass(frozen=True)\n"
        "class C:\n    lr: float = 0.1\n    dtype: torch.dtype | None = None\n"
    )
    code = (
        "import sys, reprokit.config.codec as c, cfg_notorch as m\n"
        "t = c.dumps(m.C()); assert c.loads(t, m.C) == m.C()\n"
        "print(t, 'torch' in sys.modules)"
    )
    assert _python(code, tmp_path) == "lr: 0.1\ndtype: null\n False\n"


@pytest.mark.slow
def test_torch_dtype_round_trips(tmp_path: Path) -> None:
    (tmp_path / "cfg_torch.py").write_text(
        "from __future__ import annotations\n"
        "from dataclasses import dataclass\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import torch\n"
        "@dataclass(frozen=True)\n"
        "class C:\n    dtype: torch.dtype\n"
    )
    code = (
        "import sys, reprokit.config.codec as c, cfg_torch as m\n"
        "t = c.loads('dtype: torch.float16\\n', m.C)\n"
        "import torch\n"
        "assert t.dtype is torch.float16\n"
        "for fmt in ('yaml', 'json'):\n"
        "    text = c.dumps(t, fmt)\n"
        "    assert c.loads(text, m.C, fmt) == t\n"
        "    print(text, end='')\n"
        "print(c.parse_value('bfloat16', c.field_type_at(m.C, 'dtype')))"
    )
    out = _python(code, tmp_path)
    assert out == 'dtype: torch.float16\n{\n  "dtype": "torch.float16"\n}\ntorch.bfloat16\n'


def test_import_is_cheap() -> None:
    code = "import sys, reprokit.config.codec; print(sorted(m for m in ('yaml', 'torch', 'numpy', 'difflib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- property-based: random dataclass trees ---------------------------------------------

_names = itertools.count()
TypeAndValues = tuple[Any, st.SearchStrategy[Any]]

_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
_tricky = st.sampled_from(["yes", "null", "1e3", "", "  x", "a: b", "m\nl", "~", "0o7", "-"])
_strings = st.one_of(_text, _tricky)


def _leaf() -> st.SearchStrategy[TypeAndValues]:
    return st.sampled_from(
        [
            (bool, st.booleans()),
            (int, st.integers()),
            (float, st.floats()),
            (str, _strings),
            (type(None), st.none()),
            (Path, _text.map(Path)),
            (PurePosixPath, _text.map(PurePosixPath)),
            (Color, st.sampled_from(Color)),
            (Level, st.sampled_from(Level)),
            (Mode, st.sampled_from(Mode)),
            (Literal["a", 1, False, None], st.sampled_from(["a", 1, False, None])),
            (type[Base], st.sampled_from([Base, Derived])),
            (Callable[[int], float], st.sampled_from([cosine, linear])),
            (
                Any,
                st.recursive(
                    st.none() | st.booleans() | st.integers() | _strings,
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(_text, c, max_size=3),
                    max_leaves=5,
                ),
            ),
            (int | str, st.integers() | _strings),
            (float | int, st.floats() | st.integers()),
        ]
    )


def _hashable_leaf() -> st.SearchStrategy[TypeAndValues]:
    return st.sampled_from([(int, st.integers()), (str, _strings), (Color, st.sampled_from(Color))])


@st.composite
def _dataclass_type(draw: st.DrawFn, depth: int) -> TypeAndValues:
    fields = draw(st.lists(_field_type(depth), max_size=4))
    name = f"Gen{next(_names)}"
    cls = dataclasses.make_dataclass(
        name,
        [(f"f{i}", tp) for i, (tp, _) in enumerate(fields)],
        frozen=True,
        namespace={"__module__": __name__},
    )
    values = st.tuples(*(v for _, v in fields)).map(lambda args: cls(*args))
    return cls, values


@st.composite
def _field_type(draw: st.DrawFn, depth: int) -> TypeAndValues:
    choices = ["leaf"] * 4 + (
        ["tuple", "fixed", "list", "dict", "set", "opt", "dc", "union"] if depth < 3 else []
    )
    choice = draw(st.sampled_from(choices))
    if choice == "leaf":
        return draw(_leaf())
    if choice == "set":
        tp, values = draw(_hashable_leaf())
        return frozenset[tp], st.frozensets(values, max_size=4)  # type: ignore[valid-type]
    if choice == "dc":
        return draw(_dataclass_type(depth + 1))
    if choice == "union":
        (a, va), (b, vb) = draw(_dataclass_type(depth + 1)), draw(_dataclass_type(depth + 1))
        return a | b, va | vb
    tp, values = draw(_field_type(depth + 1))
    if choice == "tuple":
        return tuple[tp, ...], st.lists(values, max_size=3).map(tuple)  # type: ignore[valid-type]
    if choice == "fixed":
        tp2, values2 = draw(_field_type(depth + 1))
        return tuple[tp, tp2], st.tuples(values, values2)  # type: ignore[valid-type]
    if choice == "list":
        return list[tp], st.lists(values, max_size=3)  # type: ignore[valid-type]
    if choice == "dict":
        return dict[str, tp], st.dictionaries(_strings, values, max_size=3)  # type: ignore[valid-type]
    return Optional[tp], st.none() | values  # noqa: UP045


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_generated_trees_round_trip(data: st.DataObject) -> None:
    _, values = data.draw(_dataclass_type(1))
    config = data.draw(values)
    for fmt in ("yaml", "json"):
        text = roundtrip(config, fmt)  # type: ignore[arg-type]
        if fmt == "json":
            json.loads(text, parse_constant=_refuse)  # strict JSON: no NaN/Infinity tokens
        else:
            # libyaml and the pure-Python loader read the same data from our text.
            assert same(yaml.load(text, yaml.CSafeLoader), yaml.load(text, yaml.SafeLoader))


def _refuse(token: str) -> None:
    raise AssertionError(f"non-standard JSON token {token}")


def test_text_does_not_depend_on_libyaml() -> None:
    # libyaml's emitter escapes astral-plane characters; the text must not depend on it.
    assert configio.dumps(Texts(("😀",))) == "values:\n- 😀\n"


# -- more edges ------------------------------------------------------------------------


@dataclass(frozen=True)
class Positive:
    n: int = 1

    def __post_init__(self) -> None:
        if self.n <= 0:
            raise ValueError("n must be positive")


@dataclass(frozen=True)
class BigModel(Model):
    extra: int = 0


class Namespace:
    @dataclass(frozen=True)
    class Model:
        depth: int = 2


@dataclass(frozen=True)
class Clash:
    model: Model | Namespace.Model = Namespace.Model()


def test_post_init_errors_name_the_group() -> None:
    with pytest.raises(ConfigError) as e:
        configio.from_data({"n": 0}, Positive)
    assert e.value.message == "Positive(...) refused the values: ValueError: n must be positive"


def test_subclass_value_is_refused() -> None:
    with pytest.raises(ConfigError) as e:
        configio.to_data(Outer(model=BigModel()))
    assert str(e.value) == (
        "model: a BigModel is not the declared Model\n  hint: declare the field as Model | BigModel"
    )


def test_discriminator_with_clashing_names_uses_qualname() -> None:
    text = roundtrip(Clash(), "yaml")
    assert text == "model:\n  _type: configio_test:Namespace.Model\n  depth: 2\n"
    assert roundtrip(Clash(Model()), "yaml").startswith("model:\n  _type: configio_test:Model\n")


def test_any_field_refuses_what_would_not_load_back() -> None:
    with pytest.raises(ConfigError) as e:
        configio.to_data(Holder(layer=(1, 2)))
    assert str(e.value) == (
        "layer: a tuple in a field declared Any would not load back as one\n"
        "  hint: declare the field's type, e.g. tuple[int, ...]"
    )


def test_enum_members_in_plain_fields_are_written_as_their_values() -> None:
    # IntEnum in an int field, StrEnum in a str field: equal after loading.
    config = Everything(count=Level.HIGH, name=Mode.TRAIN)
    assert configio.to_data(config)["count"] == 2
    assert configio.loads(configio.dumps(config), Everything) == config


def test_enum_error_lists_names() -> None:
    with pytest.raises(ConfigError) as e:
        configio.loads("color: BLUE\n", Everything)
    assert e.value.message == "color: expected one of RED, GREEN (names of Color), got str 'BLUE'"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("maybe: [1]\n", "maybe: expected int | None, got list [1]"),
        ("either: [1]\n", "either: expected int | str, got list [1]"),
        ("sizes: 3\n", "sizes: expected tuple[int, ...], got int 3"),
        ("pair: [1]\n", "pair: expected 2 items for tuple[int, str], got 1"),
        ("weights: {a: x}\n", "weights.a: expected float, got str 'x'"),
        ("by_id: {x: a}\n", "by_id.x: expected an int key, got str 'x'"),
        ("act: gelu\n", "act: expected Literal['relu', 'tanh', 3, True, None], got str 'gelu'"),
        ("- 1\n", "<config>: expected a mapping of Everything's fields, got list"),
    ],
)
def test_hand_written_mistakes(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        configio.loads(text, Everything)
    assert e.value.message == message


def test_invalid_yaml_names_the_line() -> None:
    with pytest.raises(ConfigError) as e:
        configio.loads("count: 1\nname: [\n", Everything)
    assert e.value.message.startswith("invalid YAML at line 3, column 1: ")


# -- the yaml-free writer for plain configs (reprokit.config.yamlwriter) ----------------------

_PLAIN_TEXT = st.from_regex(r"\A[A-Za-z_/][A-Za-z0-9_./-]{0,12}\Z")
_AWKWARD_TEXT = st.sampled_from(
    ["yes", "No", "OFF", "null", "NULL", "y", "n", "~", "", "a b", "-a", "a:b", "x#y", "1",
     "0x1", ".inf", "é", "a\nb", "x" * 100, "x" * 101, "x" * 130]
)  # fmt: skip


def _yaml_tree(text: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), text)
    tree = st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)
        ),
        max_leaves=25,
    )
    return st.dictionaries(text, tree, max_size=6)


def _pyyaml_text(data: Any) -> str:
    text: str = yaml.dump(
        data,
        Dumper=configio._yaml_dumper(),
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
    )
    return text


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    _yaml_tree(_PLAIN_TEXT) | _yaml_tree(st.one_of(_PLAIN_TEXT, _AWKWARD_TEXT, st.text(max_size=8)))
)
def test_plain_writer_gives_pyyaml_bytes_or_steps_aside(data: dict[str, Any]) -> None:
    from reprokit.config import yamlwriter as _configyaml

    text = _configyaml.dump(data)
    if text is not None:
        assert text == _pyyaml_text(data)


def test_plain_configs_are_written_without_yaml() -> None:
    code = """
import sys
from dataclasses import dataclass
from reprokit.config import codec as configio

@dataclass(frozen=True)
class Optim:
    name: str = "adam"
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)

assert configio.dumps(Optim()) == "name: adam\\nlr: 0.001\\nbetas:\\n- 0.9\\n- 0.999\\n"
assert "yaml" not in sys.modules
assert configio.dumps(Optim(name="a b")) == "name: a b\\nlr: 0.001\\nbetas:\\n- 0.9\\n- 0.999\\n"
assert "yaml" in sys.modules
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
