"""The package layout follows the data flow (docs/architecture.md, "Packages").

Every module under ``reprokit/`` is parsed with ``ast``; every import of a reprokit module
counts, at module level, inside functions and under ``TYPE_CHECKING`` alike, because a
function-level import is still a dependency (it only runs later). From those edges:

- the packages import each other without a cycle;
- a package imports only packages before it in the data-flow order, plus the top-level
  helpers; the few exceptions are listed below, each with its reason;
- package ``__init__`` files import nothing (``cli`` re-exports ``main``, the entry point),
  so importing one module never imports its siblings;
- modules never import each other in a cycle, at module level or inside functions (a
  function-level import is for laziness: the launch path and ``--help`` stay light; it is
  never a way to hold a cycle apart). ``TYPE_CHECKING`` imports name types only and are
  left out of this one rule.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import reprokit

PACKAGE = Path(reprokit.__file__).resolve().parent

# The data-flow order: a package may import the packages before it (and TOP_LEVEL).
ORDER = (
    "config",  # config types <-> plain data <-> YAML/JSON
    "experiments",  # experiment files: naming, discovery, new, smoke
    "checks",  # reprokit check: the files and their configs
    "capture",  # what a run is made of: git, environment, hardware, inputs, host/process
    "record",  # the record: schema, store, index, what a foreign record may do
    "launch",  # reprokit launch: the order, the live run, metrics
    "replay",  # reprokit replay: restore, child, notes, verify
    "analysis",  # reading runs: runs, show, diff, lineage, plot, blame
    "cli",  # the parser and dispatch: may import everything
)
# Small modules every stage uses (docs/architecture.md says why each stays at the top).
TOP_LEVEL = frozenset(
    {
        "errors",
        "settings",
        "paths",
        "gitcmd",
        "tables",
        "background",
        "redact",
        "stats",
        "interrupts",
        "files",
    }
)
# Analysis reads records; it does not run code. Where it needs a piece of a later stage,
# the edge is listed here with its reason (each is a function-level import).
EXCEPTIONS = {
    # `diff --code` finds each run's snapshot commit (fetched when missing) and diffs the
    # two exactly as replay rebuilds a snapshot: one implementation of "where is run_N's code".
    ("analysis.diff", "replay.restore"),
    # `show` prints a replay's verify verdict with verify's own words for it.
    ("analysis.show", "replay.verify"),
    # `blame --ablate` writes its variants' launch requests (data only: the launch itself
    # runs in a child process, reprokit.launch.entry).
    ("analysis.blame_ablate", "launch.request"),
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The reprokit modules (names relative to the package, "" for reprokit itself)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            prefix = ".".join(["reprokit", *base])
            src = f"{prefix}.{node.module}" if node.module else prefix
        else:
            src = node.module or ""
        # `from reprokit.pkg import mod` imports the module mod.
        names = [
            f"{src}.{a.name}" if f"{src}.{a.name}"[len("reprokit.") :] in MODULES else src
            for a in node.names
        ]
    for name in names:
        if name == "reprokit":
            yield ""
        elif name.startswith("reprokit."):
            yield name[len("reprokit.") :]


def _imports(module: str, path: Path) -> tuple[set[str], set[str], set[str]]:
    """(module-level runtime imports, runtime imports anywhere, all imports with the
    ``TYPE_CHECKING`` ones) of one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    top: set[str] = set()
    runtime: set[str] = set()
    every: set[str] = set()

    def walk(node: ast.AST, at_top: bool, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                found = set(_targets(module, path, child))
                every.update(found)
                if not typing_only:
                    runtime.update(found)
                    if at_top:
                        top.update(found)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                walk(child, False, typing_only)
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for stmt in child.body:
                    walk(ast.Module(body=[stmt], type_ignores=[]), at_top, True)
                for stmt in child.orelse:
                    walk(ast.Module(body=[stmt], type_ignores=[]), at_top, typing_only)
            else:
                walk(child, at_top, typing_only)

    walk(tree, True, False)
    return top, runtime, every


IMPORTS = {module: _imports(module, path) for module, path in MODULES.items()}


def _package(module: str) -> str:
    return module.split(".")[0] if "." in module or module in ORDER else module


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _front(module: str) -> bool:
    """reprokit/__init__.py (the lazy public API) and __main__.py: the front doors."""
    return module in ("", "__main__")


def test_every_module_has_a_home() -> None:
    for module in MODULES:
        if _front(module):
            continue
        package = _package(module)
        assert package in ORDER or package in TOP_LEVEL, (
            f"reprokit/{module.replace('.', '/')}.py is neither in a package of the data flow "
            f"{ORDER} nor one of the top-level helpers {sorted(TOP_LEVEL)}"
        )


def test_packages_are_acyclic() -> None:
    graph: dict[str, set[str]] = {}
    for module, (_, _, every) in IMPORTS.items():
        if _front(module):
            continue
        for target in every:
            if target and _package(target) != _package(module):
                graph.setdefault(_package(module), set()).add(_package(target))
    assert _find_cycle(graph) is None, (
        f"packages import each other in a cycle: {_find_cycle(graph)}"
    )


def test_packages_follow_the_data_flow() -> None:
    wrong = []
    for module, (_, _, every) in IMPORTS.items():
        if _front(module):
            continue
        source = _package(module)
        for target in sorted(every):
            dest = _package(target) if target else ""
            if dest in ("", source) or dest in TOP_LEVEL:
                continue
            if source in TOP_LEVEL:
                wrong.append(f"{module} (top-level helper) imports {target}")
            elif ORDER.index(dest) > ORDER.index(source):
                wrong.append(f"{module} ({source}) imports {target} ({dest}: later in the flow)")
            elif (
                source == "analysis"
                and dest in ("launch", "replay")
                and (module, target) not in EXCEPTIONS
            ):
                wrong.append(f"{module} imports {target}: analysis reads, it does not run")
    assert not wrong, "\n".join(wrong)


def test_exceptions_are_still_needed() -> None:
    for module, target in EXCEPTIONS:
        assert target in IMPORTS[module][2], f"{module} no longer imports {target}: drop it"


def test_package_inits_import_nothing() -> None:
    for module, path in MODULES.items():
        if path.name != "__init__.py" or _front(module):
            continue
        found = IMPORTS[module][2]
        allowed = {"cli.dispatch"} if module == "cli" else set()
        assert found <= allowed, f"{path}: a package __init__ imports {sorted(found - allowed)}"


def _module_graph(which: int) -> dict[str, set[str]]:
    return {
        module: {t for t in found[which] if t and t != module and not _front(t)}
        for module, found in IMPORTS.items()
    }


def test_no_module_level_import_cycles() -> None:
    cycle = _find_cycle(_module_graph(0))
    assert cycle is None, f"modules import each other at load: {cycle}"


def test_no_import_cycles_through_function_level_imports() -> None:
    cycle = _find_cycle(_module_graph(1))
    assert cycle is None, f"modules import each other (function-level included): {cycle}"


def test_the_graph_sees_function_level_and_typing_imports() -> None:
    # The launch command imports the snapshot capture inside a function (launch path).
    top, runtime, _ = IMPORTS["launch.command"]
    assert "capture.snapshot" in runtime and "capture.snapshot" not in top
    # The blame renderer names the Step type for mypy only.
    _, runtime, every = IMPORTS["analysis.blame_render"]
    assert "analysis.blame_steps" in every and "analysis.blame_steps" not in runtime
