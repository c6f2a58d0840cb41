"""Probe: the GPU recipe's peak rate at its batch, with the small model.

The GPU recipe (configs/gpu.yaml: batch 1,024, Adam beta2 0.95, the compressed curriculum) through the
GPU path's loop (polyground.fast_train.train_fast; eager fp32 on the CPU, on CUDA where there is one,
with its compile mode), with the model-size study's small model (params.yaml model_sizes.small, 0.21M
parameters) instead of the paper size, shortened to STEPS steps (WARM warmup steps, then constant, then
a linear decay to 0 over the last DECAY), for each peak rate LR. At the end: the progress set's error
(pretrain.progress: 2,000 sequences, seed 20240731) after 5 / 10 / 20 / 30 / 80 examples, and the
training loss over the last 10 % of the steps, one JSON line per rate. Same model initialisation and
data stream for every rate.
    python bench/probes/large_batch_lr.py STEPS WARM DECAY LR [LR ...]
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from polyground.checkpoint import build_model
from polyground.config import as_dict, load_params
from polyground.curriculum import pretraining_batches
from polyground.evaluate import progress_probe
from polyground.fast_train import train_fast
from polyground.run_state import read_log
from polyground.tasks import ChebyshevTask

steps, warm, decay, rates = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), [float(a) for a in sys.argv[4:]]
params = load_params(set_name="gpu")
torch.set_num_threads(params.threads)
task = ChebyshevTask(**as_dict(params.pretrain.task))
probe = progress_probe(task, params.pretrain.progress)
size = params.size_model("small")
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
for lr in rates:
    config = params.pretrain.train.model_copy(
        update={"steps": steps, "warmup_steps": warm, "decay_steps": decay, "lr": lr, "log_every": 10}
    )
    config = config.model_copy(update={"checkpoint_every": steps})
    torch.manual_seed(params.seed)
    model = build_model(size)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as run_dir:
        summary = train_fast(
            model,
            pretraining_batches(task, config.curriculum, params.seed, device),
            config,
            run_dir,
            {"probe": "large_batch_lr", "model": as_dict(size)},
            device,
            compile_mode="none" if device.type == "cpu" else "reduce-overhead",
        )
        losses = [float(r["loss"]) for r in read_log(Path(summary["log"]), steps) if int(r["step"]) > 0.9 * steps]
    results = {k: round(v, 4) for k, v in probe(model).items() if "_deg" not in k}
    line = {"lr": lr, "batch": config.batch_size, "steps": steps, "train_s": round(summary["train_s"])}
    print(json.dumps(line | {"loss_last_10pct": round(sum(losses) / len(losses), 4)} | results), flush=True)
    print(f"  ({time.perf_counter() - began:.0f} s in all)", file=sys.stderr, flush=True)
