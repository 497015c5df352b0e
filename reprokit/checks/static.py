"""Checks 1-4: naming, ids, parents, and "the code imports the parent its name declares".

Pure ``ast`` and file names: nothing here imports user code, so these checks run in
pre-commit's isolated environment, where the project's own packages are missing.
"""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from reprokit.checks.findings import Finding
from reprokit.experiments import naming

# A stem that almost follows the pattern (`wide_2_1`): keep its name part for the hint.
_LOOSE_IDS_RE = re.compile(r"_\d+_\d+$")


def _width(parsed: Sequence[naming.ExperimentName]) -> int:
    return max((p.width for p in parsed), default=2)


def _parsed_members(names: Sequence[str]) -> list[tuple[str, naming.ExperimentName]]:
    out = []
    for name in names:
        parsed = naming.parse(name)
        if parsed is not None:
            out.append((name, parsed))
    return out


def _next_free(members: Sequence[tuple[str, naming.ExperimentName]]) -> int:
    return naming.next_free_id({p.id for _, p in members})


def _is_identifier(part: str) -> bool:
    return naming.IDENTIFIER_RE.match(part) is not None and not keyword.iskeyword(part)


def folder_findings(path: Path, root: Path) -> list[Finding]:
    """RK102: every folder from the project root down to ``path`` must be importable."""
    try:
        parts = path.parent.relative_to(root).parts
    except ValueError:
        return []
    bad = [p for p in parts if not _is_identifier(p)]
    if not bad:
        return []
    folder = "/".join(parts)
    fixed = "/".join(p if _is_identifier(p) else naming.suggest_identifier(p) for p in parts)
    if any(keyword.iskeyword(p) for p in bad):
        fixed = "/".join(p + "_" if keyword.iskeyword(p) else p for p in fixed.split("/"))
    names = ", ".join(f'"{p}"' for p in bad)
    return [
        Finding(
            path,
            1,
            1,
            "RK102",
            f"folder {folder}/ cannot be imported: {names} is not a Python identifier",
            f"rename the folder to {fixed}/ (module names come from folder names)",
        )
    ]


def naming_findings(path: Path, family_names: Sequence[str]) -> list[Finding]:
    """RK101: the file name follows ``<name>_<id>_<parent>.py``; suggest one that does."""
    if naming.parse(path.name) is not None:
        return []
    members = _parsed_members(family_names)
    stem = _LOOSE_IDS_RE.sub("", path.stem)
    name = naming.suggest_experiment_name(stem)
    width = _width([p for _, p in members])
    has_base = any(p.id == p.parent == naming.BASE_ID for _, p in members)
    if has_base:
        suggestion = naming.format_name(name, _next_free(members), naming.BASE_ID, width)
        why = "the next free id, derived from the base"
    else:
        suggestion = naming.format_name(name, naming.BASE_ID, naming.BASE_ID, width)
        why = "the family's base"
    return [
        Finding(
            path,
            1,
            1,
            "RK101",
            f"file name {path.name} does not follow <name>_<id>_<parent>.py",
            f"rename it, e.g. to {suggestion} ({why}); helper modules start with _",
        )
    ]


def _later_name(same: Sequence[str]) -> tuple[str, str]:
    return max(same), "the later name"


def family_findings(
    family: Path,
    names: Sequence[str],
    pick: Callable[[Sequence[str]], tuple[str, str]] = _later_name,
) -> list[Finding]:
    """RK2xx and RK3xx for every well-named member of one family folder.

    RK201 duplicate id, RK202 no base, RK203 a base other than 01_01,
    RK301 missing parent, RK302 parent not older than the child. ``pick`` chooses which
    of the files sharing an id the RK201 hint renames (see checks.duplicates), and why.
    """
    members = _parsed_members(names)
    if not members:
        return []
    width = _width([p for _, p in members])
    free = _next_free(members)
    by_id: dict[int, list[str]] = {}
    for name, parsed in members:
        by_id.setdefault(parsed.id, []).append(name)
    has_base = any(p.id == p.parent == naming.BASE_ID for _, p in members)
    findings: list[Finding] = []
    picked: dict[int, tuple[str, str]] = {}
    for name, parsed in members:
        path = family / name
        fmt = naming.format_id
        same = by_id[parsed.id]
        if len(same) > 1:
            listed = " and ".join(same) if len(same) == 2 else ", ".join(same)
            if parsed.id not in picked:
                picked[parsed.id] = pick(same)
            chosen, why = picked[parsed.id]
            other = naming.parse(chosen) or parsed
            parent = naming.BASE_ID if other.is_base else other.parent
            rename = naming.format_name(other.name, free, parent, width)
            findings.append(
                Finding(
                    path,
                    1,
                    1,
                    "RK201",
                    f"id {parsed.id_str} is used by {len(same)} files in this family: {listed}",
                    f"ids are unique per family folder; rename {chosen} ({why}), e.g. to"
                    f" {rename} ({fmt(free, width)} is the next free id)",
                )
            )
        if parsed.is_base and parsed.id != naming.BASE_ID:
            target = (
                naming.format_name(parsed.name, parsed.id, naming.BASE_ID, width)
                if has_base
                else naming.format_name(parsed.name, naming.BASE_ID, naming.BASE_ID, width)
            )
            findings.append(
                Finding(
                    path,
                    1,
                    1,
                    "RK203",
                    f"{name} names itself as its parent, but only {fmt(1, width)}_{fmt(1, width)}"
                    " can be the family's base",
                    f"rename it to {target}",
                )
            )
        if not has_base:
            findings.append(
                Finding(
                    path,
                    1,
                    1,
                    "RK202",
                    f"this family has no base: no <name>_{fmt(1, width)}_{fmt(1, width)}.py"
                    f" in {family.name}/",
                    "every family starts from exactly one base experiment whose id and parent"
                    " are 01; add or rename one",
                )
            )
        if parsed.is_base:
            continue
        if parsed.parent not in by_id:
            older = [i for i in sorted(by_id) if i < parsed.id] or sorted(by_id)
            existing = ", ".join(fmt(i, width) for i in older)
            findings.append(
                Finding(
                    path,
                    1,
                    1,
                    "RK301",
                    f"parent {parsed.parent_str} does not exist in this family ({family.name}/)",
                    f"existing older ids: {existing}; name one of them as the parent, e.g. rename to"
                    f" {naming.format_name(parsed.name, parsed.id, naming.BASE_ID, width)}",
                )
            )
        elif parsed.parent >= parsed.id:
            findings.append(
                Finding(
                    path,
                    1,
                    1,
                    "RK302",
                    f"parent {parsed.parent_str} is not older than this experiment"
                    f" (id {parsed.id_str}): a parent must have a smaller id",
                    "derive from an older experiment, e.g. rename to"
                    f" {naming.format_name(parsed.name, parsed.id, naming.BASE_ID, width)}"
                    " to derive from the base",
                )
            )
    return findings


def syntax_finding(path: Path, error: SyntaxError) -> Finding:
    """RK001: the file does not parse, so no other check can read it."""
    return Finding(
        path,
        error.lineno or 1,
        error.offset or 1,
        "RK001",
        f"syntax error: {error.msg}",
        "fix the syntax; python -m py_compile shows the same error",
    )


def _import_nodes(body: Sequence[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements at any depth, visiting statements only: ``ast.walk`` also visits
    every expression, which tripled the cold time over 1,000 files."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            sub = getattr(node, name, None)
            if isinstance(sub, list):
                yield from _import_nodes(sub)


def imported_modules(tree: ast.Module, module: str) -> list[tuple[str, int, int]]:
    """Absolute names of the modules an import statement may load, with line and column.

    ``from pkg import name`` gives ``pkg`` and ``pkg.name`` (``name`` may be a submodule);
    relative imports resolve against ``module``, the importing module's dotted name.
    """
    package = module.split(".")[:-1]
    found: list[tuple[str, int, int]] = []
    for node in _import_nodes(tree.body):
        where = (node.lineno, node.col_offset + 1)
        if isinstance(node, ast.Import):
            found += [(alias.name, *where) for alias in node.names]
            continue
        if node.level:
            if node.level - 1 > len(package):
                continue
            base = package[: len(package) - (node.level - 1)]
            prefix = ".".join([*base, *([node.module] if node.module else [])])
        else:
            prefix = node.module or ""
        if prefix:
            found.append((prefix, *where))
        for alias in node.names:
            if alias.name != "*":
                found.append((f"{prefix}.{alias.name}" if prefix else alias.name, *where))
    return found


def parse_members(names: Sequence[str]) -> dict[str, naming.ExperimentName]:
    """The well-named files of a family, by file name."""
    return dict(_parsed_members(names))


def import_findings(
    path: Path,
    imports: Sequence[tuple[str, int, int]],
    module: str,
    members: Mapping[str, naming.ExperimentName],
) -> list[Finding]:
    """RK401 a derived file does not import its parent; RK402 it imports another sibling.

    RK403: a base imports another experiment of its own family.
    """
    parsed = naming.parse(path.name)
    if parsed is None:
        return []
    package = module.rpartition(".")[0]
    parents = [n for n, p in members.items() if p.id == parsed.parent]
    parent_name = parents[0] if len(parents) == 1 and not parsed.is_base else None
    parent_module = f"{package}.{parent_name[:-3]}" if parent_name else None
    findings: list[Finding] = []
    imports_parent = False
    seen: set[tuple[int, str]] = set()
    for imported, line, col in imports:
        if imported == parent_module:
            imports_parent = True
            continue
        head, _, last = imported.rpartition(".")
        sibling = f"{last}.py"
        if head != package or sibling == path.name or sibling not in members:
            continue
        if (line, sibling) in seen:
            continue
        seen.add((line, sibling))
        if parsed.is_base:
            findings.append(
                Finding(
                    path,
                    line,
                    col,
                    "RK403",
                    f"the base imports {last}, another experiment of its family",
                    "a base has no parent; move shared code into a helper module whose name"
                    " starts with _ (e.g. _common.py)",
                )
            )
        elif parent_module is not None:
            sib = members[sibling]
            findings.append(
                Finding(
                    path,
                    line,
                    col,
                    "RK402",
                    f"imports {last}, but the file name declares parent"
                    f" {parsed.parent_str} ({parent_name[:-3] if parent_name else ''})",
                    f"import from {parent_module} instead, or rename this file to"
                    f" {naming.format_name(parsed.name, parsed.id, sib.id, parsed.width)}"
                    " if that is its real parent",
                )
            )
    # RK402 already says what to import instead; RK401 on top would repeat it.
    wrong_import = any(f.code == "RK402" for f in findings)
    if parent_module is not None and not imports_parent and not wrong_import:
        findings.append(
            Finding(
                path,
                1,
                1,
                "RK401",
                f"does not import its parent {parent_name[:-3] if parent_name else ''}",
                f"derive the config from the parent: from {parent_module} import"
                " config as parent_config, main",
            )
        )
    return findings
