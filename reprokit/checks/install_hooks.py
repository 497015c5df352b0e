"""``reprokit install-hooks``: install the plain git pre-commit hook into this repository.

For repositories that do not use the pre-commit framework. The hook checks the staged
content (``reprokit check --staged``). Its text is kept here, not read from ``hooks/``,
because an installed reprokit has no ``hooks/`` folder; a test keeps the two identical.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from reprokit.errors import ReprokitError
from reprokit.files import write_atomic
from reprokit.gitcmd import require_toplevel, run_git
from reprokit.settings import Settings

HOOK_MARKER = "# reprokit pre-commit hook"

# Identical to hooks/pre-commit (tests/hooks_test.py checks it). install_hooks fills in
# reprokit_python with this interpreter, so the hook works when the project's environment
# is not activated (an IDE's commit button).
HOOK_SCRIPT = """\
#!/bin/sh
# reprokit pre-commit hook: checks the experiments as staged (the git index), not the
# working tree, and rejects the commit when `reprokit check` reports a problem.
# Use it with `git config core.hooksPath hooks`, or install it with `reprokit install-hooks`.
# Projects using the pre-commit framework use .pre-commit-hooks.yaml instead.
# Bypass once (not recommended): git commit --no-verify
reprokit_python=""
if [ -n "$reprokit_python" ] && [ -x "$reprokit_python" ]; then
    exec "$reprokit_python" -m reprokit check --staged
elif command -v reprokit >/dev/null 2>&1; then
    exec reprokit check --staged
fi
echo "reprokit pre-commit hook: reprokit is not installed in this environment" >&2
echo "  hint: activate the project's environment, or run: reprokit install-hooks --force" >&2
exit 1
"""


def hook_text(python: str | None = None) -> str:
    """The hook script, pointing at ``python`` (default: this interpreter)."""
    python = python or sys.executable
    return HOOK_SCRIPT.replace('reprokit_python=""', f"reprokit_python={shlex.quote(python)}")


def hooks_dir(root: Path) -> Path:
    """Where git looks for hooks (honours ``core.hooksPath``)."""
    out = run_git("rev-parse", "--git-path", "hooks", cwd=root).decode().strip()
    return (root / out).resolve()


def install_hooks(*, settings: Settings, force: bool = False) -> int:
    """Write the pre-commit hook; refuse to replace a different hook unless ``force``."""
    top = require_toplevel(
        settings.root, hint="run `git init` first; the hook runs when you commit"
    )
    target = hooks_dir(top) / "pre-commit"
    text = hook_text()
    if target.exists():
        old = target.read_text(encoding="utf-8", errors="replace")
        if old == text:
            print(f"the reprokit hook is already installed in {target}")
            return 0
        if HOOK_MARKER in old and not target.is_relative_to(top / ".git"):
            # core.hooksPath points at a tracked folder (e.g. `hooks`): leave the file as
            # committed rather than write this machine's interpreter path into it.
            print(f"the reprokit hook is already used through core.hooksPath: {target}")
            return 0
        if HOOK_MARKER not in old and not force:
            hint = "`reprokit install-hooks --force` replaces it (a copy is kept as pre-commit.old)"
            if "pre-commit.com" in old or ("pre-commit" in old and "INSTALL_PYTHON" in old):
                hint = (
                    "this repository uses the pre-commit framework: add the reprokit-check"
                    " hook to .pre-commit-config.yaml instead (see .pre-commit-hooks.yaml)"
                )
            raise ReprokitError(f"{target} already exists and is not reprokit's hook", hint=hint)
        if HOOK_MARKER not in old:
            # Never overwrite an earlier backup: it may be the only copy of someone's hook.
            backup = target.with_name("pre-commit.old")
            n = 1
            while backup.exists():
                n += 1
                backup = target.with_name(f"pre-commit.old.{n}")
            backup.write_text(old, encoding="utf-8")
            print(f"kept the previous hook as {backup}")
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, text.encode("utf-8"), mode=0o755)
    print(f"installed the reprokit pre-commit hook in {target}")
    return 0
