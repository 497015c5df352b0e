"""Where a dynamic finding points: the line in a file (``Locator``), the file that defines
a class, and how a message names a file."""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path


def display_name(target: Path, here: Path, root: Path) -> str:
    """A file as a finding's message names it: its name next door, else root-relative."""
    if target.parent == here.parent:
        return target.name
    return target.relative_to(root).as_posix() if target.is_relative_to(root) else str(target)


class Locator:
    """Line numbers for findings: the ``config =`` statement, or a dataclass field."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tree: ast.Module | None = None

    def tree(self) -> ast.Module | None:
        if self._tree is None:
            try:
                self._tree = ast.parse(self.path.read_bytes())
            except (OSError, SyntaxError, ValueError):
                return None
        return self._tree

    def name_line(self, name: str) -> tuple[int, int]:
        """The last top-level statement binding ``name`` (assignment, def or import)."""
        tree = self.tree()
        found = (1, 1)
        for node in tree.body if tree else []:
            bound: list[str] = []
            if isinstance(node, ast.Assign):
                bound = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                bound = [node.target.id]
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound = [node.name]
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                bound = [(a.asname or a.name).split(".")[0] for a in node.names]
            if name in bound:
                found = (node.lineno, node.col_offset + 1)
        return found

    def _class_node(self, qualname: str) -> ast.ClassDef | None:
        tree = self.tree()
        body: list[ast.stmt] = tree.body if tree else []
        node: ast.ClassDef | None = None
        for part in qualname.split("."):
            node = next((n for n in body if isinstance(n, ast.ClassDef) and n.name == part), None)
            if node is None:
                return None
            body = node.body
        return node

    def class_line(self, qualname: str) -> tuple[int, int] | None:
        """Where the class ``qualname`` is defined in this file."""
        node = self._class_node(qualname)
        return (node.lineno, node.col_offset + 1) if node is not None else None

    def field_line(self, cls: type, field: str | None) -> tuple[int, int] | None:
        """Where ``cls`` (or its ``field``) is defined, when that is in this file."""
        if class_file(cls) != self.path:
            return None
        node = self._class_node(cls.__qualname__)
        if node is None:
            return None
        for stmt in node.body:
            if (
                field is not None
                and isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and stmt.target.id == field
            ):
                return stmt.lineno, stmt.col_offset + 1
        return node.lineno, node.col_offset + 1


def class_file(cls: type) -> Path | None:
    """The file that defines ``cls``, when its module has one."""
    mod_file = getattr(sys.modules.get(cls.__module__), "__file__", None)
    return Path(os.path.abspath(mod_file)) if mod_file else None
