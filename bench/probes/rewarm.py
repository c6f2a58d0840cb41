"""Probe: does a second warmup-stable-decay cycle from the finished base (models/pretrain) improve it?

Continues models/pretrain with the recipe's data stream after its last step (points 31, 81 on every
4th step, all degrees), a fresh AdamW (beta2 0.95), `warm` steps of linear warmup to `lr`, constant
until `steps - decay`, then a linear decay to 0 at `steps`; batch `batch`. Every `every` steps prints
the progress set's error (pretrain.progress: 2,000 sequences, seed 20240731) after 10/20/30/80 examples
and the training seconds.
    python bench/probes/rewarm.py STEPS LR WARM DECAY BATCH EVERY
"""
import json
import sys
import time

import torch

from polyground.checkpoint import load_checkpoint
from polyground.config import CurriculumConfig, ProgressConfig
from polyground.curriculum import pretraining_batches
from polyground.evaluate import progress_probe
from polyground.tasks import ChebyshevTask

steps, peak, warm, decay, batch_size, every = (int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]),
                                               int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
torch.manual_seed(0)
torch.set_num_threads(2)
model, meta = load_checkpoint("models/pretrain")
model.train()
task = ChebyshevTask(max_degree=11)
batch = pretraining_batches(task, CurriculumConfig(degree_start=11), seed=0)
probe = progress_probe(task, ProgressConfig(every=1))
optimizer = torch.optim.AdamW([p for p in model.parameters()], lr=peak, betas=(0.9, 0.95), weight_decay=0.0)
clock = 0.0


def report(step: int) -> None:
    results = probe(model)
    model.train()
    print(json.dumps({"step": step, "train_s": round(clock), **{k: round(v, 4) for k, v in results.items()
                                                               if "_deg" not in k}}), flush=True)


report(0)
for step in range(steps):
    began = time.perf_counter()
    lr = peak * (step + 1) / warm if step < warm else peak * min(1.0, (steps - step) / decay)
    for group in optimizer.param_groups:
        group["lr"] = lr
    xs, ys, target = batch(meta["step"] + step, batch_size, 81 if step % 4 == 0 else 31)
    loss = ((model(xs, ys) - target) ** 2).mean()
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    clock += time.perf_counter() - began
    if (step + 1) % every == 0:
        report(step + 1)
