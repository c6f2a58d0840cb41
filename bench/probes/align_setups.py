"""Probe: alignment setups from the committed base, with the held-out alignment metrics along the run.

Full fine-tuning of models/pretrain on the alignment stream (align.task, T = align.threshold, seed
align.seed) with a share FRACTION of clamped contexts (1.0: the authors' data, every context clamped;
0.5: ours), AdamW (0.9, 0.999), 50 warmup steps then a constant LR, batch 32, POINTS points per
sequence, through the train loop (compiled). Every EVERY steps, polyground.convergence.align_probe on
1,000 held-out queries (seed 20240806): the jailbreak rate at n = 64 (degree 4, answer > T and > T + 0.05),
the median answer minus T there, and the defender error after 40 unclamped degree-2 examples. Rows go
to runs/probes/align_NAME/progress.csv (and the training loss to log.csv).
    python bench/probes/align_setups.py NAME FRACTION LR STEPS EVERY POINTS
"""

import sys

import torch

from polyground.alignment import align_batches
from polyground.checkpoint import load_checkpoint
from polyground.config import CurriculumConfig, TrainConfig, as_dict, load_params
from polyground.convergence import align_probe
from polyground.tasks import ChebyshevTask
from polyground.train import train

name, fraction, lr = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
steps, every, points = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
params = load_params()
torch.set_num_threads(params.threads)
model, base = load_checkpoint("models/pretrain", params.model, stage="pretrain")
model.train()
task = ChebyshevTask(**as_dict(params.align.task))
batch = align_batches(task, params.align.threshold, fraction, params.align.seed)
curriculum = CurriculumConfig(
    points_start=points, points_end=points, points_step=0, degree_start=task.max_degree, final_points=points
)
config = TrainConfig(
    steps=steps,
    batch_size=32,
    lr=lr,
    schedule="constant",
    warmup_steps=50,
    beta2=0.999,
    curriculum=curriculum,
    checkpoint_every=every,
    log_every=10,
    compile=len(sys.argv) < 8,
)
probe = align_probe(params.align.threshold, 0.05, 1000, 20240806)
fingerprint = {"probe": "align_setups", "fraction": fraction, "base_sha256": base["sha256"]}
summary = train(
    model,
    batch,
    config,
    f"runs/probes/align_{name}",
    fingerprint,
    params.threads,
    desc=name,
    probe=probe,
    probe_every=every,
    probe_steps=frozenset({1}),
)
print(f"{name}: {summary['steps']} steps, {summary['wall_s']:.0f} s of training, progress in {summary['progress']}")
