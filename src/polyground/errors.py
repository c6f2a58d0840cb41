"""The errors of a checkpoint or a run state, reported by a stage as one line (``polyground.stages``).
Torch-free, so that the stages that only read metrics do not import torch to name them."""


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt or does not match what is asked of it."""


class ResumeError(CheckpointError):
    """A run directory whose saved state belongs to a different run, or cannot continue this one."""
