#!/usr/bin/env bash
# The main job on the example family, on CPU, in a few minutes:
# launch every experiment of experiments/digits/mlp with several seeds, replay one run
# with --verify (bit-identical on CPU), blame val_acc along the deepest lineage, list runs.
#
# Usage: bash scripts/demo.sh [--quick]
#   --quick  only the deepest lineage chain, two seeds (the test suite runs this)
# REPROKIT_SKIP_INSTALL=1 uses the reprokit already on PATH instead of installing into .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${REPROKIT_SKIP_INSTALL:-}" ]; then
  venv="${REPROKIT_VENV:-.venv}"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  # The example needs torch; the CPU build is pinned so a fresh machine does not pull CUDA.
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      "torch==2.13.0" -e ".[examples,plot]" 2>&1 | grep -v "is ignored: it is neither" || true
  export PATH="$PWD/$venv/bin:$PATH"
fi

family=experiments/digits/mlp
seeds=(0 1 2)
# Every experiment of the family in id order, and the chain from the base to the deepest.
mapfile -t listing < <(python - "$family" <<'PY'
import sys
from pathlib import Path
from reprokit.experiments.discovery import family_members, lineage
members = family_members(Path(sys.argv[1]))
deepest = max(members, key=lambda m: (len(lineage(m.path)), m.parsed.id))
for m in members:
    print("all", m.path.relative_to(Path.cwd()))
for link in lineage(deepest.path):
    print("chain", link.path.relative_to(Path.cwd()))
PY
)
experiments=() chain=()
for line in "${listing[@]}"; do
  case "$line" in all\ *) experiments+=("${line#all }");; chain\ *) chain+=("${line#chain }");; esac
done
deepest="${chain[-1]}"
if [ "${1:-}" = "--quick" ]; then experiments=("${chain[@]}"); seeds=(0 1); fi

echo "== reprokit check $family"
reprokit check "$family"
for exp in "${experiments[@]}"; do
  for seed in "${seeds[@]}"; do
    echo "== reprokit launch $exp --seed $seed"
    reprokit launch "$exp" --seed "$seed" --note demo > /dev/null
  done
done

last=$(reprokit runs --limit 1 --format json | python -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
echo "== reprokit replay $last --verify"
reprokit replay "$last" --verify

echo "== reprokit blame val_acc $deepest"
reprokit blame val_acc "$deepest"
echo "== reprokit lineage $family --metric val_acc"
reprokit lineage "$family" --metric val_acc
echo "== reprokit runs"
reprokit runs
if python -c "import matplotlib" 2>/dev/null; then
  echo "== reprokit plot val_acc ${chain[*]} -o outputs/val_acc.png"
  reprokit plot val_acc "${chain[@]}" -o outputs/val_acc.png
fi
