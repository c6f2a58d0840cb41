#!/usr/bin/env bash
# The test command: sets up .venv from the pinned requirements (once), then runs pytest.
# Usage: tests/run.sh [pytest args]   (e.g. tests/run.sh -m "not slow" for the fast tier)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! .venv/bin/python -c "import polyground, pytest" 2>/dev/null; then
  echo "setting up .venv from requirements.txt (first run only)"
  python3 -m venv .venv
  .venv/bin/pip install --quiet -r requirements.txt
  .venv/bin/pip install --quiet --no-deps -e .
fi
export PATH="$PWD/.venv/bin:$PATH"
exec python -m pytest "$@"
