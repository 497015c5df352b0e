#!/usr/bin/env bash
# Install the development set-up into .venv and run every check CI runs:
# ruff, mypy, reprokit's own checks on experiments/, and the whole test suite.
# This is the README's test command, and .ci/run runs exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${REPROKIT_VENV:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# torch is pinned to the CPU build for tests only; users choose their own build. pip's
# output is shown only when it fails (a failed install must stop here, not later).
if ! log=$("$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "torch==2.13.0" -e ".[dev]" 2>&1); then
    printf '%s\n' "$log" >&2
    echo "scripts/test.sh: installing the dev set-up failed (see above)" >&2
    exit 1
fi

export PATH="$PWD/$venv/bin:$PATH"
echo "== ruff";   ruff check . && ruff format --check .
echo "== mypy";   mypy
echo "== reprokit check experiments/"; reprokit check
# The JUnit report lets .ci/run confirm that the suite really ran (and how much of it).
echo "== pytest"; pytest -q --junitxml="${REPROKIT_TEST_REPORT:-.pytest-report.xml}" "$@"
