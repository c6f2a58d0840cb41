"""Probe: posterior-mean (Rao-Blackwellised) targets against y, at equal training time, from the base.

Continues models/pretrain on the recipe's stream after its last step (31 points, 81 on every 4th
step, every degree), a fresh AdamW (beta2 0.95), batch BATCH, 200 warmup steps to LR, constant, then a
linear decay to 0 over the last 40 % of SECONDS of training time (a schedule in time, so that both
target kinds get the same time, whatever a step costs). TARGETS: `y` (the recipe) or `posterior`:
the target at each position is E[y | context, x] under the known prior (polyground.bayes.bayes, with
the curriculum's degree cap), the same minimiser of the squared error with less noise in the target;
computed on the first max_degree + 2 positions only (a prediction reads only the pairs before it, and
from there on every degree of the prior is determined: the posterior mean is y).
Every EVERY seconds of training: the progress set's error (pretrain.progress: 2,000 sequences, seed
20240731) after 5/10/20/30/80 examples, printed as JSON lines.
    python bench/probes/targets.py TARGETS LR SECONDS EVERY BATCH
"""

import json
import sys
import time

import torch

from polyground.bayes import bayes
from polyground.checkpoint import load_checkpoint
from polyground.config import CurriculumConfig, ProgressConfig
from polyground.curriculum import pretraining_batches
from polyground.evaluate import progress_probe
from polyground.tasks import ChebyshevTask

targets, peak, seconds, every, batch_size = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
torch.manual_seed(0)
torch.set_num_threads(2)
model, meta = load_checkpoint("models/pretrain")
model.train()
task = ChebyshevTask(max_degree=11)
batch = pretraining_batches(task, CurriculumConfig(degree_start=11), seed=0)
probe = progress_probe(task, ProgressConfig(every=1))
optimizer = torch.optim.AdamW(list(model.parameters()), lr=peak, betas=(0.9, 0.95), weight_decay=0.0)
clock, step, next_report = 0.0, 0, 0.0
DETERMINED = task.max_degree + 2


def report() -> None:
    results = probe(model)
    model.train()
    print(json.dumps({"targets": targets, "step": step, "train_s": round(clock), **{k: round(v, 4) for k, v in results.items()
                                                                                   if "_deg" not in k}}), flush=True)


while clock < seconds:
    if clock >= next_report:
        report()
        next_report += every
    began = time.perf_counter()
    lr = peak * min((step + 1) / 200, 1.0, (seconds - clock) / (0.4 * seconds))
    for group in optimizer.param_groups:
        group["lr"] = lr
    xs, ys, target = batch(meta["step"] + step, batch_size, 81 if step % 4 == 0 else 31)
    if targets == "posterior":  # from max_degree + 2 examples on the context determines p: the target is y
        target = ys.clone()
        target[:, : DETERMINED] = bayes(xs[:, : DETERMINED], ys[:, : DETERMINED], task).float()
    loss = ((model(xs, ys) - target) ** 2).mean()
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    clock += time.perf_counter() - began
    step += 1
report()
