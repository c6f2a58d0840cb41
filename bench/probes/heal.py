"""Probe: does the long run's error hole at the 31-point phase's last position (30 examples) heal?

Continues the finished long run (its run directory's state) with 81-point batches of the same data
stream (steps after the run's last), a fresh AdamW (beta2 0.95), `warm` steps of linear warmup to
`lr`, then a linear decay to 0 at `steps`; prints the error per number of examples every `every`.
    python bench/probes/heal.py RUN_DIR STEPS LR WARM EVERY
"""
import json
import sys

import torch
from safetensors.torch import load_file

from polyground.curriculum import pretraining_batches
from polyground.config import CurriculumConfig
from polyground.model import InContextRegressor
from polyground.tasks import ChebyshevTask, generator_for

run_dir, steps, peak, warm, every = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.manual_seed(0)
torch.set_num_threads(2)
info = json.load(open(f"{run_dir}/state.json"))
weights = {k[6:]: v for k, v in load_file(f"{run_dir}/state.safetensors").items() if k.startswith("model.")}
model = InContextRegressor(128, 6, 4, 162)
model.load_state_dict(weights, strict=False)
task = ChebyshevTask(max_degree=11)
batch = pretraining_batches(task, CurriculumConfig(degree_start=11), seed=0)
optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=peak, betas=(0.9, 0.95), weight_decay=0.0)
xs_eval, ys_eval, _ = task.sample(1000, 81, generator_for(7, "eval"))
shown = [5, 10, 20, 28, 29, 30, 31, 32, 40, 60, 80]


def report(step: int) -> None:
    model.eval()
    with torch.inference_mode():
        errors = ((model(xs_eval, ys_eval) - ys_eval) ** 2).mean(0)
    model.train()
    print(json.dumps({"step": step, **{f"mse@{n}": round(errors[n].item(), 4) for n in shown}}), flush=True)


report(0)
for step in range(steps):
    lr = peak * (step + 1) / warm if step < warm else peak * (steps - step) / (steps - warm)
    for group in optimizer.param_groups:
        group["lr"] = lr
    xs, ys, target = batch(info["step"] + step, 32, 81)
    loss = ((model(xs, ys) - target) ** 2).mean()
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    if (step + 1) % every == 0:
        report(step + 1)
