"""One script per DVC stage: ``python -m polyground.stages.<stage>``.

Each stage reads ``params.yaml`` (validated before any work), and on a known failure (bad
parameter, missing or corrupt checkpoint, foreign resume state) prints one ``error:`` line that
names the problem and its fix, and exits with status 2 instead of a traceback.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from collections.abc import Callable
from pathlib import Path

from ..config import ParamsError, record_reads
from ..errors import CheckpointError


class StageError(RuntimeError):
    """Any other known failure of a stage; the message names the problem and the fix."""


KNOWN_ERRORS = (ParamsError, CheckpointError, StageError)  # CheckpointError includes ResumeError


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's ``main``; known errors become one clear message and exit status 2. Prints the
    stage's peak resident memory at the end. With ``POLYGROUND_PARAMS_LOG`` set, appends to that
    file one JSON line: the stage's arguments and the params keys it read (the dependency test)."""
    reads = record_reads() if os.environ.get("POLYGROUND_PARAMS_LOG") else None
    try:
        main()
    except KNOWN_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    if reads is not None:
        with open(os.environ["POLYGROUND_PARAMS_LOG"], "a") as log:
            log.write(
                json.dumps({"argv": sys.argv[1:], "module": Path(sys.argv[0]).stem, "read": sorted(reads)}) + "\n"
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"peak resident memory: {peak:.0f} MiB", file=sys.stderr)
