"""Time to quality on this machine: the default pretraining recipe vs the paper's, side by side.

    python bench/time_to_quality.py            # full run (budget from --budget, default 3600 s)
    python bench/time_to_quality.py --quick    # the same table in under 5 minutes

Prints four tables:

1. throughput: the machine's fp32 matmul peak (a large ``torch.matmul`` on the same threads), and
   the paper-size model's training step (eager ``GPT2Model`` vs the compiled step of the default
   recipe) at 31 and 81 points: median seconds, analytic FLOP/s, fraction of peak;
2. recipes: each recipe trained for the wall budget in its own process, evaluated on a fixed set
   of 31-point sequences every ``--eval-every`` seconds of training (the clock pauses while it
   evaluates): steps, wall seconds, error at 10/20/30 examples, time to the target quality, peak
   RSS and RSS at the first and last evaluation (memory must not grow with steps);
3. the speed-up: the paper recipe's time to target, or, if it does not get there within the
   budget, the quality it reached and the lower bound budget / default time;
4. a sample-efficiency sweep (degree curriculum on/off, learning rate, batch size, points
   curriculum) on a short budget. Longer single experiments are recorded in bench/exploration.md.

Training FLOPs per step (forward + backward = 3 x forward), for B sequences of T = 2N tokens,
L layers, width d: B * T * (6 * P + 12 * L * d * T), P the matmul parameters (12 L d^2 + read-in/out),
the second term the attention scores and mixing (PaLM appendix B convention).

Stopping at a wall budget needs no change to the training loop: the recipe's batch function is the
loop's clock; it evaluates when due and raises ``BudgetReached`` when the budget is spent.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

from polyground.checkpoint import build_model
from polyground.config import Params, as_dict, merge, params_from_dict, replace
from polyground.curriculum import degree_at
from polyground.evaluate import eval_sequences, model_predictor, squared_errors
from polyground.tasks import ChebyshevTask, generator_for
from polyground.train import train
from timing import matmul_peak, median_seconds  # bench/, the script's folder

ROOT = Path(__file__).resolve().parents[1]
TARGET = {10: 0.30, 20: 0.06, 30: 0.025}  # the paper's pretrained model
EVAL_SEQUENCES, EVAL_POINTS, EVAL_SEED = 2000, 31, 4242


class BudgetReached(Exception):
    """Raised by the batch function when the training wall budget is spent."""


def load(set_name: str | None = None, **train_overrides) -> Params:
    """params.yaml, optionally with a named parameter set and training overrides applied."""
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    if set_name:
        data = merge(data, yaml.safe_load((ROOT / "configs" / f"{set_name}.yaml").read_text()))
    return params_from_dict(merge(data, {"pretrain": {"train": train_overrides}}))


def step_flops(params: Params, batch: int, points: int) -> float:
    """Analytic training FLOPs of one step (see module docstring)."""
    m = params.model
    matmul_params = 12 * m.n_layer * m.n_embd**2 + 2 * m.n_embd
    tokens = 2 * points
    return batch * tokens * (6 * matmul_params + 12 * m.n_layer * m.n_embd * tokens)


def throughput(params: Params, repeats: int) -> list[dict]:
    """Median training-step time of the paper-size model, eager vs compiled, at 31 and 81 points."""
    torch.set_num_threads(params.threads)
    config = params.pretrain.train
    task = ChebyshevTask(**as_dict(params.pretrain.task))
    rows = []
    for label, compiled in (("eager GPT2Model", False), ("default (torch.compile)", True)):
        torch.manual_seed(0)
        model = build_model(params.model)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        forward = torch.compile(model, dynamic=True) if compiled else model
        for points in (31, 81):
            xs, ys, _ = task.sample(config.batch_size, points, generator_for(0, "train"))

            def step():
                loss = torch.nn.functional.mse_loss(forward(xs, ys), ys)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)

            seconds = median_seconds(step, repeats, warmup=3)
            flops = step_flops(params, config.batch_size, points)
            rows.append(
                {
                    "step": label,
                    "batch": config.batch_size,
                    "points": points,
                    "seconds": seconds,
                    "flop_per_s": flops / seconds,
                }
            )
    return rows


def rss_mib() -> float:
    """Current resident set size of this process (Linux /proc), MiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_rss_mib() -> float:
    """Peak RSS of this process image (VmHWM; ru_maxrss would carry the parent's peak across exec)."""
    line = next(row for row in Path("/proc/self/status").read_text().splitlines() if row.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def run_recipe(name: str, set_name: str | None, overrides: dict, budget: float, eval_every: float) -> dict:
    """Train one recipe for ``budget`` wall seconds (in this process); evaluations along the way."""
    params = load(set_name, **overrides)
    torch.set_num_threads(params.threads)
    config = replace(params.pretrain.train, checkpoint_every=10**9, log_every=10**9)
    task = ChebyshevTask(**as_dict(params.pretrain.task))
    xs_eval, ys_eval = eval_sequences(task, EVAL_SEQUENCES, EVAL_POINTS, EVAL_SEED)
    torch.manual_seed(params.seed)
    model = build_model(params.model)
    evaluations: list[dict] = []
    clock = {"train_s": 0.0, "since": time.perf_counter(), "next_eval": eval_every}

    def evaluate(step: int) -> None:
        errors = squared_errors(model_predictor(model, 500), xs_eval, ys_eval, ys_eval).mean(0)
        model.train()
        evaluations.append(
            {
                "step": step,
                "train_s": round(clock["train_s"], 1),
                "rss_mib": round(rss_mib(), 1),
                **{f"mse@{n}": round(errors[n].item(), 4) for n in TARGET},
            }
        )

    def batch(step: int, batch_size: int, n_points: int):
        now = time.perf_counter()
        clock["train_s"] += now - clock["since"]
        if clock["train_s"] >= clock["next_eval"] or clock["train_s"] >= budget:
            evaluate(step)
            clock["next_eval"] += eval_every
            if clock["train_s"] >= budget:
                raise BudgetReached
        clock["since"] = time.perf_counter()
        degree = degree_at(config.curriculum, step, task.max_degree)
        xs, ys, _ = task.sample(batch_size, n_points, generator_for(params.seed, "train", step), degree)
        return xs, ys, ys

    run_dir = Path("/tmp") / f"polyground-bench-{name}-{time.time_ns()}"
    try:
        train(model, batch, config, run_dir, {"bench": name}, params.threads, desc=name)
        evaluate(config.steps)
    except BudgetReached:
        pass
    reached = next((e for e in evaluations if all(e[f"mse@{n}"] <= t for n, t in TARGET.items())), None)
    return {
        "recipe": name,
        "evaluations": evaluations,
        "final": evaluations[-1],
        "time_to_target_s": reached["train_s"] if reached else None,
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }


def run_in_subprocess(name: str, set_name: str | None, overrides: dict, budget: float, eval_every: float) -> dict:
    """One recipe in a fresh process, so its peak RSS is its own."""
    spec = json.dumps(
        {"name": name, "set_name": set_name, "overrides": overrides, "budget": budget, "eval_every": eval_every}
    )
    result = subprocess.run([sys.executable, __file__, "--recipe-json", spec], capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"recipe {name} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def table(rows: list[dict], columns: list[str]) -> str:
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    line = lambda values: "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths)) + " |"  # noqa: E731
    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells])


def recipe_row(result: dict) -> dict:
    final = result["final"]
    rss = [e["rss_mib"] for e in result["evaluations"]]
    return {
        "recipe": result["recipe"],
        "steps": final["step"],
        "train s": final["train_s"],
        **{f"mse@{n}": final[f"mse@{n}"] for n in TARGET},
        "time to target s": result["time_to_target_s"] or f"> {final['train_s']}",
        "peak RSS MiB": result["peak_rss_mib"],
        "RSS first/last MiB": f"{rss[0]}/{rss[-1]}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="45 s per recipe, no sweep: the whole run in under 5 minutes"
    )
    parser.add_argument("--budget", type=float, default=3600.0, help="wall seconds per main recipe (full run)")
    parser.add_argument("--eval-every", type=float, default=None, help="seconds of training between evaluations")
    parser.add_argument("--sweep-budget", type=float, default=600.0, help="wall seconds per sweep variant")
    parser.add_argument("--out", default="bench/results.json", help="where the JSON of the run goes")
    parser.add_argument("--recipe-json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.recipe_json:
        spec = json.loads(args.recipe_json)
        print(
            json.dumps(
                run_recipe(spec["name"], spec["set_name"], spec["overrides"], spec["budget"], spec["eval_every"])
            )
        )
        return
    budget, sweep_budget = (45.0, 0.0) if args.quick else (args.budget, args.sweep_budget)
    eval_every = args.eval_every or budget / (4 if args.quick else 12)
    params = load()
    torch.set_num_threads(params.threads)
    peak = matmul_peak()
    steps = throughput(params, repeats=3 if args.quick else 7)
    for row in steps:
        row["fraction of peak"] = f"{row['flop_per_s'] / peak:.0%}"
        row["GFLOP/s"] = f"{row.pop('flop_per_s') / 1e9:.1f}"
        row["seconds"] = f"{row['seconds']:.3f}"
    print(
        f"\nmachine: {torch.get_num_threads()} threads, fp32 matmul peak {peak / 1e9:.1f} GFLOP/s, "
        f"torch {torch.__version__}"
    )
    print(table(steps, ["step", "batch", "points", "seconds", "GFLOP/s", "fraction of peak"]))

    default = run_in_subprocess("default", None, {}, budget, eval_every)
    used = default["time_to_target_s"] or budget
    paper = run_in_subprocess("paper", "paper_recipe", {}, used, eval_every)
    print(
        f"\nrecipes (target: mse@10 <= {TARGET[10]}, @20 <= {TARGET[20]}, @30 <= {TARGET[30]}; "
        f"{EVAL_SEQUENCES} sequences of {EVAL_POINTS} points)"
    )
    print(table([recipe_row(default), recipe_row(paper)], list(recipe_row(default))))
    if default["time_to_target_s"] and paper["time_to_target_s"]:
        print(f"speed-up to target: {paper['time_to_target_s'] / default['time_to_target_s']:.1f}x")
    elif default["time_to_target_s"]:
        final = paper["final"]
        match = next(
            (e for e in default["evaluations"] if all(e[f"mse@{n}"] <= final[f"mse@{n}"] for n in TARGET)), None
        )
        print(
            f"the paper recipe did not reach the target in {used:.0f} s; the default recipe reached the "
            f"paper recipe's final quality after {match['train_s'] if match else '?'} s of training"
            + (f" ({final['train_s'] / match['train_s']:.0f}x less time)" if match and match["train_s"] else "")
        )
    else:
        print(f"the default recipe did not reach the target within {budget:.0f} s")

    Path(args.out).write_text(
        json.dumps({"peak_flop_per_s": peak, "throughput": steps, "default": default, "paper": paper}, indent=1)
    )
    if not sweep_budget:
        return
    variants = {
        "default": {},
        "no degree curriculum": {"curriculum": {"degree_start": 11}},
        "lr 3e-3": {"lr": 3e-3},
        "batch 64": {"batch_size": 64},
        "points 11 -> 81 (+10 / 900 steps)": {"curriculum": {"points_end": 81, "step_every": 900, "final_steps": 0}},
    }
    sweep = [
        recipe_row(run_in_subprocess(n, None, o, sweep_budget, sweep_budget / 2)) | {"recipe": n}
        for n, o in variants.items()
    ]
    print(f"\nsample-efficiency sweep ({sweep_budget:.0f} s each)")
    print(table(sweep, ["recipe", "steps", "train s", "mse@10", "mse@20", "mse@30"]))
    Path(args.out).write_text(
        json.dumps(
            {"peak_flop_per_s": peak, "throughput": steps, "default": default, "paper": paper, "sweep": sweep}, indent=1
        )
    )


if __name__ == "__main__":
    main()
