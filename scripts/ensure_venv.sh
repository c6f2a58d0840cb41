#!/usr/bin/env bash
# Source me: inside the Docker image (POLYGROUND_IMAGE set) use its pinned environment; otherwise
# make .venv from the pinned requirements.txt (first run only) and put it first on PATH.
if [[ -n "${POLYGROUND_IMAGE:-}" ]]; then
  echo "using the image's pinned environment ($(command -v python))"
else
  # (also when .venv was copied from another checkout: its polyground must be this one's)
  if ! .venv/bin/python -c "import polyground, pytest, dvc, sys; sys.exit(not polyground.__file__.startswith('$PWD/'))" \
      2>/dev/null || [[ ! -x .venv/bin/ruff ]]; then
    echo "setting up .venv from requirements.txt (first run only, about 2 minutes)"
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet -r requirements.txt
    .venv/bin/python -m pip install --quiet --no-deps -e .
  fi
  export PATH="$PWD/.venv/bin:$PATH"
fi
