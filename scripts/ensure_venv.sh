#!/usr/bin/env bash
# Source me: make .venv from the pinned requirements.txt unless .venv already imports polyground,
# pytest and dvc, then put .venv first on PATH.
if ! .venv/bin/python -c "import polyground, pytest, dvc" 2>/dev/null; then
  echo "setting up .venv from requirements.txt (first run only)"
  python3 -m venv .venv
  .venv/bin/pip install --quiet -r requirements.txt
  .venv/bin/pip install --quiet --no-deps -e .
fi
export PATH="$PWD/.venv/bin:$PATH"
