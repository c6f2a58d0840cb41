"""Probe: ways to spend the base's training time better, side by side at equal time, from the base.

Continues models/pretrain on the recipe's stream after its last step (31 points, 81 on every 4th
step, every degree), batch BATCH, 200 warmup steps to LR, then (a schedule in training time, so that
every variant gets the same time whatever a step costs) constant and a linear decay to 0 over the last
40 % of SECONDS. VARIANT:
- `y`: the recipe (AdamW, beta2 0.95, targets y);
- `posterior`: the target at each position is E[y | context, x] under the known prior
  (polyground.bayes.bayes, with the curriculum's degree cap), the same minimiser of the squared error
  with less noise in the target; computed on the first max_degree + 2 positions only (a prediction
  reads only the pairs before it, and from there on every degree is determined: the posterior mean is y);
- `sqrt_ema`: the decay over the last 80 % of the time, shaped 1 - sqrt (WSD's "1-sqrt" cooldown),
  and an exponential moving average of the weights (decay 0.998, torch.optim.swa_utils) evaluated
  beside the raw weights (`ema_` keys);
- `muon`: torch.optim.Muon (momentum 0.95, Nesterov, its update scaled to AdamW's RMS so that LR
  means the same) for the transformer blocks' weight matrices, AdamW for the rest.
A larger batch is `y` with BATCH (and LR) raised.
Every EVERY seconds of training: the progress set's error (pretrain.progress: 2,000 sequences, seed
20240731) after 5/10/20/30/80 examples, printed as JSON lines.
    python bench/probes/base_recipe.py VARIANT LR SECONDS EVERY BATCH
"""

import json
import math
import sys
import time

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from polyground.bayes import bayes
from polyground.checkpoint import load_checkpoint
from polyground.config import CurriculumConfig, ProgressConfig
from polyground.curriculum import pretraining_batches
from polyground.evaluate import progress_probe
from polyground.tasks import ChebyshevTask

variant, peak, seconds, every, batch_size = (
    sys.argv[1],
    float(sys.argv[2]),
    float(sys.argv[3]),
    float(sys.argv[4]),
    int(sys.argv[5]),
)
assert variant in ("y", "posterior", "sqrt_ema", "muon"), f"unknown variant {variant!r}"
torch.manual_seed(0)
torch.set_num_threads(2)
model, meta = load_checkpoint("models/pretrain")
model.train()
task = ChebyshevTask(max_degree=11)
batch = pretraining_batches(task, CurriculumConfig(degree_start=11), seed=0)
probe = progress_probe(task, ProgressConfig(every=1))
if variant == "muon":
    hidden = [p for n, p in model.named_parameters() if n.startswith("backbone.h.") and p.ndim == 2]
    rest = [p for n, p in model.named_parameters() if not (n.startswith("backbone.h.") and p.ndim == 2)]
    optimizers = [
        torch.optim.Muon(hidden, lr=peak, weight_decay=0.0, adjust_lr_fn="match_rms_adamw"),
        torch.optim.AdamW(rest, lr=peak, betas=(0.9, 0.95), weight_decay=0.0),
    ]
else:
    optimizers = [torch.optim.AdamW(list(model.parameters()), lr=peak, betas=(0.9, 0.95), weight_decay=0.0)]
ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.998)) if variant == "sqrt_ema" else None
clock, step, next_report = 0.0, 0, 0.0
DETERMINED = task.max_degree + 2


def lr_at(clock: float) -> float:
    warm = (step + 1) / 200
    if variant == "sqrt_ema":
        return peak * min(warm, 1 - math.sqrt(min(max((clock - 0.2 * seconds) / (0.8 * seconds), 0.0), 1.0)))
    return peak * min(warm, 1.0, (seconds - clock) / (0.4 * seconds))


def report() -> None:
    results = {k: v for k, v in probe(model).items() if "_deg" not in k}
    if ema is not None:
        results |= {f"ema_{k}": v for k, v in probe(ema.module).items() if "_deg" not in k}
    model.train()
    rounded = {k: round(v, 4) for k, v in results.items()}
    print(json.dumps({"variant": variant, "step": step, "train_s": round(clock), **rounded}), flush=True)


while clock < seconds:
    if clock >= next_report:
        report()
        next_report += every
    began = time.perf_counter()
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(clock)
    xs, ys, target = batch(meta["step"] + step, batch_size, 81 if step % 4 == 0 else 31)
    if variant == "posterior":  # from max_degree + 2 examples on the context determines p: the target is y
        target = ys.clone()
        target[:, :DETERMINED] = bayes(xs[:, :DETERMINED], ys[:, :DETERMINED], task).float()
    loss = ((model(xs, ys) - target) ** 2).mean()
    for optimizer in optimizers:
        optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    for optimizer in optimizers:
        optimizer.step()
    if ema is not None:
        ema.update_parameters(model)
    clock += time.perf_counter() - began
    step += 1
report()
