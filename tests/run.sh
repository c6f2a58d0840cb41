#!/usr/bin/env bash
# The test command: sets up .venv from the pinned requirements (once), then runs pytest.
# Usage: tests/run.sh [pytest args]   (e.g. tests/run.sh -m "not slow" for the fast tier)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure_venv.sh
exec python -m pytest "$@"
