"""``reprokit new --set PATH=V1,V2,...``: a sweep written as one derived file per value.

A ``--set`` whose value is a comma list gives one file per item; several lists form a
grid (every combination, the first ``--set`` varying slowest). Each file is an ordinary
derived experiment, so "a changed config is a new file" still holds for a sweep.

Splitting rules (docs/reference.md, ``new``):

- commas inside brackets ``[]``, ``()``, ``{}`` or quotes never split;
- a field typed as a tuple, list or set keeps its bare comma form as ONE value
  (``--set sizes=3,4,5`` is the tuple ``(3, 4, 5)``, as before); a sweep over it gives
  each value in brackets: ``--set 'sizes=[64,64],[128,128]'``;
- an item in matching quotes is taken without them (``--set 'tag="a,b",c'``).

File names: ``<NAME>_<field><value>`` for each field that varies (the field's last
name part; the whole path when two varying fields share it), the value lowercased with
``.`` as ``p``, ``-`` as ``m`` and anything else not a letter or digit as ``_``:
``--set optim.lr=0.1,0.03`` with NAME ``lr`` writes ``lr_lr0p1_03_01.py`` and
``lr_lr0p03_04_01.py``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any

from reprokit.errors import ReprokitError

# Files one `new` writes without --yes: a typo in a grid (an extra list) must not
# silently fill a family with hundreds of files.
GRID_LIMIT = 20
_OPEN = "([{"
_CLOSE = ")]}"
_QUOTES = "'\""


def split_items(text: str) -> list[str]:
    """``text`` split at commas outside brackets and quotes (a quote opens only where an
    item starts, so an apostrophe inside a word is plain text)."""
    items: list[str] = []
    depth, quote, start = 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in _QUOTES and not text[start:i].strip():
            quote = ch
        elif ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(depth - 1, 0)
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return items


def _unquoted(item: str) -> str:
    stripped = item.strip()
    if len(stripped) >= 2 and stripped[0] in _QUOTES and stripped[-1] == stripped[0]:
        return stripped[1:-1]
    return item


def value_texts(path: str, text: str, *, sequence: bool) -> list[str]:
    """The value texts one ``--set PATH=TEXT`` asks for: one, or a list to sweep.

    ``sequence``: the field holds a tuple/list/set, whose bare comma form is one value.
    """
    items = split_items(text)
    if len(items) == 1:
        return [_unquoted(text)]
    bracketed = all(i.strip()[:1] in _OPEN and i.strip()[-1:] in _CLOSE for i in items)
    if sequence and not bracketed:
        return [text]
    if any(not i.strip() for i in items):
        raise ReprokitError(
            f"--set {path}={text}: an empty item in the list of values",
            hint=f"give the values separated by single commas, e.g. --set {path}=1,2,3",
        )
    # Spaces after the commas separate, they are not part of a value: "relu, gelu".
    return [_unquoted(i.strip()) for i in items]


def check_distinct(path: str, texts: Sequence[str], values: Sequence[Any]) -> None:
    """Refuse a list naming one value twice (two files with the same config)."""
    for i, value in enumerate(values):
        for j in range(i):
            if values[j] == value and type(values[j]) is type(value):
                raise ReprokitError(
                    f"--set {path}: {texts[j].strip()!r} and {texts[i].strip()!r} are the same"
                    " value; each file of a sweep must differ",
                    hint="list each value once",
                )


def check_size(lists: Sequence[tuple[str, Sequence[Any]]], *, yes: bool) -> int:
    """The number of files the grid writes; refuses more than GRID_LIMIT without ``yes``."""
    count = 1
    for _, values in lists:
        count *= len(values)
    if count > GRID_LIMIT and not yes:
        sizes = " × ".join(f"{len(v)} ({p})" for p, v in lists if len(v) > 1)
        raise ReprokitError(
            f"--set lists make a grid of {sizes} = {count} files, more than {GRID_LIMIT}",
            hint="add --yes to write them all, or give shorter lists",
        )
    return count


def combinations(lists: Sequence[tuple[str, Sequence[Any]]]) -> list[tuple[Any, ...]]:
    """Every combination, the first list varying slowest (ids follow this order)."""
    return list(itertools.product(*(values for _, values in lists)))


def _slug(text: str) -> str:
    spelled = text.strip().lower().replace(".", "p").replace("-", "m")
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]", "_", spelled)).strip("_")


def _field_labels(paths: Sequence[str]) -> dict[str, str]:
    last = [p.rsplit(".", 1)[-1] for p in paths]
    return {
        p: _slug(p.replace(".", "_") if last.count(short) > 1 else short) or "v"
        for p, short in zip(paths, last, strict=True)
    }


def grid_names(
    name: str, varying: Sequence[str], combos: Sequence[Sequence[tuple[str, str]]]
) -> list[str]:
    """The experiment NAME of each combination: NAME plus each varying field and value.

    ``combos``: per file, the (path, value text) of each field that varies. Two files
    whose values spell the same (``/data/x`` and ``data/x``) get their position added.
    """
    labels = _field_labels(varying)
    names = []
    for combo in combos:
        parts = []
        for path, text in combo:
            value = _slug(text) or "empty"
            # lr0p1 and lrm1 read as one word; a word value keeps its own: act_gelu.
            joint = "" if text.strip()[:1] in "0123456789-." else "_"
            parts.append(f"{labels[path]}{joint}{value}")
        names.append("_".join([name, *parts]))
    if len(set(names)) < len(names):
        names = [f"{n}_v{i}" for i, n in enumerate(names, 1)]
    return names
