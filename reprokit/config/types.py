"""What ``reprokit.config.codec`` needs to know about declared types: resolved field hints,
a small classification of each annotation, readable type names, and ``module:qualname``
references. Resolution happens once per dataclass type (``functools.lru_cache``).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import functools
import inspect
import sys
import types
import typing
from pathlib import PurePath
from typing import Any, NamedTuple

from reprokit.errors import ReprokitError


class ConfigError(ReprokitError):
    """A config value or file that cannot be (de)serialized; ``field_path`` says where."""

    def __init__(self, field_path: str, problem: str, *, hint: str | None = None):
        message = f"{field_path}: {problem}" if field_path else problem
        super().__init__(message, hint=hint)
        self.field_path = field_path


class Kind(enum.Enum):
    """How a declared type is encoded; one entry per supported family of types."""

    ANY = "any"
    NONE = "none"
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    STR = "str"
    PATH = "path"
    ENUM = "enum"
    LITERAL = "literal"
    DATACLASS = "dataclass"
    DTYPE = "dtype"
    UNION = "union"
    TUPLE = "tuple"  # args: (item,) with variadic=True, or the fixed item types
    LIST = "list"
    DICT = "dict"  # args: (key, value)
    SET = "set"
    CLASSREF = "classref"  # args: (bound,) -- object when unbounded
    CALLABLE = "callable"
    OTHER = "other"


class TypeInfo(NamedTuple):
    kind: Kind
    tp: Any  # the declared type with Annotated/NewType removed
    args: tuple[Any, ...] = ()
    variadic: bool = False


class FieldSpec(NamedTuple):
    name: str
    tp: Any
    required: bool


class _TorchDtypeMarker:
    """Stands for ``torch.dtype`` in annotations of modules that did not import torch
    (e.g. imported under TYPE_CHECKING), so resolving hints never imports torch."""


class _TorchStub:
    dtype = _TorchDtypeMarker


def is_torch_dtype_type(tp: Any) -> bool:
    if tp is _TorchDtypeMarker:
        return True
    return (
        isinstance(tp, type) and tp.__name__ == "dtype" and tp.__module__.split(".")[0] == "torch"
    )


def is_torch_dtype_value(value: Any) -> bool:
    # Checked by name so that a config without torch values never imports torch.
    return is_torch_dtype_type(type(value))


@functools.cache
def field_specs(cls: type) -> tuple[FieldSpec, ...]:
    """The ``init`` fields of a dataclass with their resolved types, in declared order."""
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except (NameError, AttributeError, TypeError):
        hints = _hints_field_by_field(cls)
    specs = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue  # computed in __post_init__; the constructor would refuse it
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        specs.append(FieldSpec(f.name, hints.get(f.name, f.type), required))
    return tuple(specs)


def _hints_field_by_field(cls: type) -> dict[str, Any]:
    """Fallback when ``get_type_hints`` fails: resolve each annotation on its own, with a
    stand-in for ``torch`` when the module did not import it, so the error names a field."""
    hints: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        module = sys.modules.get(base.__module__)
        globalns = dict(vars(module)) if module is not None else {}
        localns: dict[str, Any] = {"torch": _TorchStub} if "torch" not in globalns else {}
        localns.update(vars(base))
        for name, ann in inspect.get_annotations(base).items():
            if not isinstance(ann, str):
                hints[name] = ann
                continue
            try:
                hints[name] = eval(ann, globalns, localns)  # the module's own annotation text
            except Exception as e:
                raise ConfigError(
                    f"{cls.__name__}.{name}",
                    f"cannot resolve the annotation {ann!r} ({type(e).__name__}: {e})",
                    hint="import the type at module level (not under TYPE_CHECKING) "
                    "and define classes at module level",
                ) from None
    return hints


def info(tp: Any) -> TypeInfo:
    """Classify a declared type (cached; falls back to uncached for unhashable types)."""
    try:
        return _info_cached(tp)
    except TypeError:
        return _info(tp)


@functools.cache
def _info_cached(tp: Any) -> TypeInfo:
    return _info(tp)


def _info(tp: Any) -> TypeInfo:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return info(args[0])
    if hasattr(tp, "__supertype__"):  # typing.NewType
        return info(tp.__supertype__)
    if tp is Any or tp is object:
        return TypeInfo(Kind.ANY, tp)
    if tp is None or tp is type(None):
        return TypeInfo(Kind.NONE, type(None))
    if origin is typing.Literal:
        return TypeInfo(Kind.LITERAL, tp, args)
    if origin is typing.Union or origin is types.UnionType:
        return TypeInfo(Kind.UNION, tp, args)
    if origin is tuple or tp is tuple:
        if not args:
            return TypeInfo(Kind.TUPLE, tp, (Any,), variadic=True)
        if len(args) == 2 and args[1] is Ellipsis:
            return TypeInfo(Kind.TUPLE, tp, (args[0],), variadic=True)
        if args == ((),):  # tuple[()]
            return TypeInfo(Kind.TUPLE, tp, ())
        return TypeInfo(Kind.TUPLE, tp, args)
    if origin is list or tp is list:
        return TypeInfo(Kind.LIST, tp, args or (Any,))
    if origin in (dict, collections.abc.Mapping) or tp in (dict, collections.abc.Mapping):
        return TypeInfo(Kind.DICT, tp, args or (str, Any))
    if origin in (frozenset, set, collections.abc.Set) or tp in (frozenset, set):
        container = frozenset if origin in (frozenset, collections.abc.Set) else set
        if tp in (frozenset, set):
            container = tp
        return TypeInfo(Kind.SET, container, args or (Any,))
    if origin is type or tp is type:
        return TypeInfo(Kind.CLASSREF, tp, (args[0] if args else object,))
    if origin is collections.abc.Callable or tp in (collections.abc.Callable, typing.Callable):
        return TypeInfo(Kind.CALLABLE, tp)
    if is_torch_dtype_type(tp):
        return TypeInfo(Kind.DTYPE, tp)
    if isinstance(tp, type):
        if issubclass(tp, enum.Enum):
            return TypeInfo(Kind.ENUM, tp)
        if dataclasses.is_dataclass(tp):
            return TypeInfo(Kind.DATACLASS, tp)
        if issubclass(tp, PurePath):
            return TypeInfo(Kind.PATH, tp)
        for kind, scalar in ((Kind.BOOL, bool), (Kind.INT, int), (Kind.FLOAT, float)):
            if tp is scalar:
                return TypeInfo(kind, tp)
        if tp is str:
            return TypeInfo(Kind.STR, tp)
    return TypeInfo(Kind.OTHER, tp)


def type_name(tp: Any) -> str:
    """A short readable spelling: ``float``, ``tuple[int, ...]``, ``ModelConfig | None``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is type(None) or tp is None:
        return "None"
    if tp is Ellipsis:
        return "..."
    if is_torch_dtype_type(tp):
        return "torch.dtype"
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(type_name(a) for a in args)
    if origin is typing.Literal:
        return "Literal[" + ", ".join(repr(a) for a in args) + "]"
    if origin is not None and args:
        base = getattr(origin, "__name__", None) or str(origin).replace("typing.", "")
        if origin is collections.abc.Callable:
            base = "Callable"
        return base + "[" + ", ".join(type_name(a) for a in args) + "]"
    if isinstance(tp, list):  # Callable's argument list
        return "[" + ", ".join(type_name(a) for a in tp) + "]"
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def describe_value(value: Any) -> str:
    """``str 'abc'``: the type and a bounded repr, for 'expected X, got ...' messages."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


# -- module:qualname references -------------------------------------------------------


def reference_of(value: Any, path: str) -> str:
    """``module:qualname`` for a top-level class or function that resolves back to it."""
    name = getattr(value, "__name__", None)
    qualname = getattr(value, "__qualname__", None)
    module = getattr(value, "__module__", None)
    if name == "<lambda>":
        raise ConfigError(
            path, "a lambda cannot be referenced by name; define it as a top-level function"
        )
    if not isinstance(qualname, str) or not isinstance(module, str):
        raise ConfigError(
            path,
            f"a {type(value).__name__} object cannot be referenced by name; "
            "store a top-level function or class",
        )
    what = "class" if isinstance(value, type) else "function"
    if "<locals>" in qualname:
        raise ConfigError(
            path,
            f"a {what} defined inside a function ({qualname}) cannot be referenced by name; "
            f"define it at the top level of a module",
        )
    if module == "__main__":
        raise ConfigError(
            path,
            f"{qualname} is defined in __main__ and cannot be imported by name; "
            "move it into an importable module",
        )
    ref = f"{module}:{qualname}"
    try:
        resolved = resolve_reference(ref, path)
    except ConfigError:
        resolved = None
    if resolved is not value and resolved != value:
        raise ConfigError(
            path,
            f"{ref} does not resolve back to this {what}; "
            "reference a class or function defined at the top level of a module",
        )
    return ref


def is_reference_text(data: Any) -> bool:
    if not isinstance(data, str) or data.count(":") != 1:
        return False
    module, qualname = data.split(":")
    return all(p.isidentifier() for p in module.split(".")) and all(
        p.isidentifier() for p in qualname.split(".")
    )


def resolve_reference(ref: str, path: str) -> Any:
    """Import ``module`` and walk ``qualname``; only called where a class/callable is declared."""
    import importlib

    if not is_reference_text(ref):
        raise ConfigError(
            path,
            f"expected a reference 'module:qualname', got {ref!r}",
            hint="e.g. 'torch.optim:AdamW' or 'experiments.common:cosine_schedule'",
        )
    module_name, qualname = ref.split(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise ConfigError(
            path,
            f"cannot resolve reference {ref!r} ({type(e).__name__}: {e})",
            hint="the module must be importable and define the name at its top level",
        ) from None
    return obj
