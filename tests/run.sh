#!/usr/bin/env bash
# The test command: sets up .venv from the pinned requirements (once), checks the code's format and lint
# (ruff, configured in pyproject.toml), then runs pytest.
# Usage: tests/run.sh [pytest args]   (e.g. tests/run.sh -m "not slow" for the fast tier)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure_venv.sh
ruff format --check --quiet src tests bench
ruff check --quiet src tests bench
exec python -m pytest "$@"
