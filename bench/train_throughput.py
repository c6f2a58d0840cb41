"""Training throughput of the GPU path's step (polyground.fast_train.training_step), on this machine.

For the paper-size model (params.yaml's `model`) at 31 and 81 points, at batch 32 and at the GPU
recipe's batch (configs/gpu.yaml): sequences/s (the median of timed blocks of steps, after warmup
steps that compile), and the share of two ceilings measured in the same run:
- matmul: training FLOPs (3x the analytic forward count, bench/forward.py) per second against a large
  matmul's (bf16 on CUDA, fp32 on CPU);
- memory: an estimate of the bytes a step moves (each layer reads and writes its activations about
  ACTIVATION_PASSES times over forward and backward, at 2 bytes in bf16, 4 in fp32) per second
  against a large copy's bandwidth. An estimate, not a measurement of traffic.
The same code runs on the CPU (batch 32 only by default: the recipe's batch takes minutes there).

On the CPU, --cpu-loop also times the CPU loop (polyground.train.train) at each shape, in the same run:
the ratio says whether the GPU path's step is slower than the loop the stages use.

    python bench/train_throughput.py [--batches 32 1024] [--points 31 81] [--steps 20] [--compile-mode none]
                                     [--cpu-loop]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402

from forward import forward_flops  # noqa: E402  (bench/, the script's folder)
from polyground.checkpoint import build_model  # noqa: E402
from polyground.config import load_params  # noqa: E402
from polyground.curriculum import pretraining_batches  # noqa: E402
from polyground.fast_train import COMPILE_MODES, compiled, training_step  # noqa: E402
from polyground.run_state import read_log  # noqa: E402
from polyground.tasks import ChebyshevTask  # noqa: E402
from polyground.train import make_optimizer, train  # noqa: E402

ACTIVATION_PASSES = 30  # per layer and token: reads and writes of n_embd-wide activations, forward and backward


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def ceilings(device: torch.device) -> tuple[float, float]:
    """Measured matmul FLOP/s (bf16 on CUDA, fp32 on CPU) and copy bytes/s, medians of 5."""
    size, dtype = (8192, torch.bfloat16) if device.type == "cuda" else (2048, torch.float32)
    a, b = torch.randn(size, size, device=device, dtype=dtype), torch.randn(size, size, device=device, dtype=dtype)
    source = torch.empty(256 * 2**20 // 4, device=device)
    target = torch.empty_like(source)

    def median(fn) -> float:
        times = []
        for _ in range(6):
            synchronize(device)
            began = time.perf_counter()
            fn()
            synchronize(device)
            times.append(time.perf_counter() - began)
        return statistics.median(times[1:])

    return 2 * size**3 / median(lambda: a @ b), 2 * source.numel() * 4 / median(lambda: target.copy_(source))


def throughput(params, device: torch.device, batch_size: int, points: int, steps: int, compile_mode: str) -> float:
    """Sequences/s of the step at a fixed length: the median over 3 blocks of ``steps`` steps, after warmup."""
    config = params.pretrain.train.model_copy(update={"batch_size": batch_size})
    torch.manual_seed(0)
    model = build_model(params.model).to(device).train()
    optimizer = make_optimizer(model, config, fused=device.type == "cuda")
    forward = compiled(model, config, device, compile_mode)
    trainable = [p for p in model.parameters() if p.requires_grad]
    task = ChebyshevTask(params.pretrain.task.max_degree)
    batch = pretraining_batches(task, config.curriculum.model_copy(update={"degree_start": task.max_degree}), 0, device)
    grad_norm, step = torch.zeros((), device=device), 0
    for _ in range(3):  # warmup: compilation, CUDA graph capture
        training_step(forward, optimizer, trainable, config.grad_clip, batch(step, batch_size, points), grad_norm)
        step += 1
    rates = []
    for _ in range(3):
        synchronize(device)
        began = time.perf_counter()
        for _ in range(steps):
            training_step(forward, optimizer, trainable, config.grad_clip, batch(step, batch_size, points), grad_norm)
            step += 1
        synchronize(device)
        rates.append(steps * batch_size / (time.perf_counter() - began))
    return statistics.median(rates)


def cpu_loop_throughput(params, batch_size: int, points: int, steps: int) -> float:
    """Sequences/s of the CPU loop (polyground.train.train, as the stages run it: dynamic-shape compile,
    a host read every step), from the elapsed seconds of its own log: the median over 3 blocks of
    ``steps`` steps, after 3 warmup steps."""
    fixed = {"points_start": points, "points_end": points, "final_points": points, "final_every": 0}
    curriculum = params.pretrain.train.curriculum.model_copy(update=fixed | {"degree_start": 11})
    total = 3 + 3 * steps
    config = params.pretrain.train.model_copy(
        update={"batch_size": batch_size, "steps": total, "log_every": 1, "checkpoint_every": total}
        | {"curriculum": curriculum, "schedule": "constant", "warmup_steps": 0, "compile": True}
    )
    torch.manual_seed(0)
    task = ChebyshevTask(params.pretrain.task.max_degree)
    with tempfile.TemporaryDirectory() as run_dir:
        summary = train(build_model(params.model), pretraining_batches(task, curriculum, 0), config, run_dir, {}, 2)
        elapsed = {int(r["step"]): float(r["elapsed_s"]) for r in read_log(Path(summary["log"]), total)}
    blocks = [elapsed[3 + (i + 1) * steps] - elapsed[3 + i * steps] for i in range(3)]
    return steps * batch_size / statistics.median(blocks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--batches", type=int, nargs="+", help="batch sizes (default: 32 and the GPU recipe's on CUDA, 32 on CPU)"
    )
    parser.add_argument("--points", type=int, nargs="+", default=[31, 81])
    parser.add_argument("--steps", type=int, default=20, help="steps per timed block")
    parser.add_argument("--compile-mode", choices=COMPILE_MODES, default="reduce-overhead")
    parser.add_argument(
        "--cpu-loop", action="store_true", help="also time the CPU loop (polyground.train) beside it, on the CPU"
    )
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    params = load_params(ROOT / "params.yaml", "gpu")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.set_num_threads(params.threads)
    batches = args.batches or ([32, params.pretrain.train.batch_size] if device.type == "cuda" else [32])
    peak, bandwidth = ceilings(device)
    n_embd, n_layer = params.model.n_embd, params.model.n_layer
    width = 2 if device.type == "cuda" else 4
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"cpu, {params.threads} threads"
    print(f"{name}: matmul {peak / 1e12:.2f} TFLOP/s, copy {bandwidth / 1e9:.0f} GB/s (measured)")
    print(
        "| points | batch | sequences/s | TFLOP/s | of matmul peak | est. GB/s | of copy bandwidth |\n"
        "|---|---|---|---|---|---|---|"
    )
    rows = []
    for points in args.points:
        for batch_size in batches:
            rate = throughput(params, device, batch_size, points, args.steps, args.compile_mode)
            if args.cpu_loop and device.type == "cpu":  # side by side in one run: the ratio, not the absolute
                old = cpu_loop_throughput(params, batch_size, points, args.steps)
                print(f"| {points} | {batch_size} | CPU loop {old:,.0f}: the GPU path's step is {rate / old:.2f}x |")
            tokens = 2 * points
            flops = 3 * forward_flops(n_embd, n_layer, tokens) * rate
            traffic = ACTIVATION_PASSES * n_layer * tokens * n_embd * width * rate
            rows.append(
                {
                    "device": name,
                    "points": points,
                    "batch": batch_size,
                    "sequences_per_s": round(rate),
                    "flop_share": flops / peak,
                    "memory_share": traffic / bandwidth,
                }
            )
            print(
                f"| {points} | {batch_size} | {rate:,.0f} | {flops / 1e12:.3f} | {flops / peak:.1%} | "
                f"{traffic / 1e9:.1f} | {traffic / bandwidth:.1%} |"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
