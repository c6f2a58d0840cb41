"""The costs the front page and docs/pipeline.md state are read off committed files: the training
stages' times off their logs, the audit's off its committed run, the evaluations' bound off its
committed output, the GPU run's off its log. A log or output that changes without the text fails here."""

from __future__ import annotations

import csv
import json
import re

from conftest import ROOT

README = (ROOT / "README.md").read_text()
PIPELINE = (ROOT / "docs/pipeline.md").read_text()

# stage (as docs/pipeline.md names its row) -> its logs: a progress log (train_s, eval_s) or run logs (elapsed_s)
PROGRESS = {
    "`pretrain`": "logs/pretrain_progress.csv",
    "`pretrain_snapshot`": "logs/pretrain_snapshot_progress.csv",
    "tiny": "logs/pretrain_tiny_progress.csv",
    "small": "logs/pretrain_small_progress.csv",
    "`align`": "logs/align_progress.csv",
    "authors": "logs/align_setups/authors_progress.csv",
}
RUNS = {
    "`finetune@<method>-<k>`": "logs/finetune/*.csv",
    "`soft_prompt_sweep@<lr>`": "logs/soft_prompt_sweep/*.csv",
    "`soft_prompt_best`": "logs/soft_prompt_best.csv",
    "`align_peft@<method>`": "logs/align_peft/*.csv",
}


def last_row(path) -> dict[str, str]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))[-1]


def logged_seconds() -> dict[str, tuple[float, float]]:
    """Per stage: (training seconds, progress-evaluation or probe seconds) from its logs."""
    seconds = {}
    for stage, path in PROGRESS.items():
        row = last_row(ROOT / path)
        seconds[stage] = (float(row["train_s"]), float(row["eval_s"]))
    for stage, pattern in RUNS.items():
        paths = sorted(ROOT.glob(pattern))
        assert paths, pattern
        seconds[stage] = (sum(float(last_row(p)["elapsed_s"]) for p in paths), 0.0)
    return seconds


def numbers(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text)]


def pipeline_row(stage: str) -> str:
    return next(line for line in PIPELINE.splitlines() if line.startswith(f"| {stage}"))


def time_cell(stage: str) -> str:
    return pipeline_row(stage).split("|")[-2]


def test_each_training_stage_time_is_its_logs():
    cells = {stage: time_cell(stage) for stage in ("`pretrain`", "`pretrain_snapshot`", "`align`", *RUNS)}
    tiny, small = time_cell("`pretrain_size@tiny`").split("; small ", 1)
    cells |= {"tiny": tiny, "small": small, "authors": time_cell("`align_setup@<name>`")}
    for stage, (train, evaluation) in logged_seconds().items():
        stated = numbers(cells[stage])
        assert any(abs(n - train) <= 1 for n in stated), f"{stage}: {train:.0f} s of training, not in {stated}"
        if evaluation:
            assert any(abs(n - evaluation) <= 1 for n in stated), f"{stage}: {evaluation:.0f} s of evaluation"


def test_the_retraining_total_is_the_sum_of_the_logged_stages():
    seconds = logged_seconds()
    train = sum(t for t, _ in seconds.values())
    evaluation = sum(e for _, e in seconds.values())
    total = pipeline_row("**the training stages")
    for value in (train + evaluation, train, evaluation):
        assert any(abs(n - value) <= 1 for n in numbers(total)), f"{value:.0f} s not in the total row"
    hours = f"{(train + evaluation) / 3600:.1f} h"
    assert f"**{hours}**" in total and hours in README
    base = sum(seconds["`pretrain`"]) / 3600
    assert f"the base {base:.1f} h" in README


def test_the_audit_time_is_its_committed_run():
    audit = (ROOT / "bench/reproduce_audit.txt").read_text()
    wall = re.search(r"^run 1 of \./reproduce\.sh --audit: (\d+) s, exit 0", audit, re.M)
    assert wall and "AVX-512" in audit.splitlines()[0]
    assert f"| {wall.group(1)} s after set-up" in README


def test_the_reviewers_path_time_is_its_committed_run():
    """The cost table's ./reproduce.sh row: the committed benchmark's median, and byte-identity only
    where the run rewrote no committed file."""
    timed = (ROOT / "bench/reproduce_time.txt").read_text()
    assert "AVX-512" in timed.splitlines()[0]
    run = re.search(
        r"^run 1 of \./reproduce\.sh : \d+ s, exit (\d+); committed files rewritten with other bytes: (\d+)",
        timed,
        re.M,
    )
    median = re.search(r"^median of \d+ runs: \d+ s \(([\d.]+) min\)", timed, re.M)
    assert run and median and run.group(1) == "0"
    row = next(line for line in README.splitlines() if line.startswith("| `./reproduce.sh` (pull"))
    assert f"| {median.group(1)} min after set-up, exit 0" in row
    assert ("byte-identical" in row) == (run.group(2) == "0")


def test_the_test_commands_time_is_its_committed_run():
    """The set-up and tests/run.sh rows cite bench/tests_time.txt's medians, or say they are not measured."""
    rows = [line for line in README.splitlines() if line.startswith(("| set-up (", "| `tests/run.sh`"))]
    assert len(rows) == 2
    if all("not yet measured" in row for row in rows):
        return
    timed = (ROOT / "bench/tests_time.txt").read_text()
    assert "AVX-512" in timed.splitlines()[0] and re.search(r", exit 0$", timed, re.M)
    median = re.search(
        r"^median of \d+ runs: set-up \d+ s \(([\d.]+) min\), tests/run\.sh \d+ s \(([\d.]+) min\)", timed, re.M
    )
    assert median
    assert f"| {median.group(1)} min ([bench/tests_time.txt]" in rows[0]
    assert f"| {median.group(2)} min after set-up ([bench/tests_time.txt]" in rows[1]


def test_the_evaluation_bound_is_its_committed_output():
    bound = (ROOT / "bench/reviewer_bound.txt").read_text()
    total = re.search(r"^\| total \| \| ([\d.]+) \| [\d.]+ \| \d+ \|$", bound, re.M)
    minutes = re.search(r"([\d.]+) min at 100 %", bound)
    assert total and minutes
    assert f"{total.group(1)}M tokens" in README and f"{minutes.group(1)} min at 100 %" in README
    peak = json.loads((ROOT / "bench/forward.json").read_text())["peak_flop_per_s"] / 1e9
    assert f"--peak {peak:.0f} " in bound


def test_the_gpu_run_is_its_log():
    log = (ROOT / "bench/h200/gpu_run.log").read_text()
    result = json.loads(next(line for line in log.splitlines() if line.startswith('{"step"')))
    done = re.search(r"^\[gpu_run (\d+)s\] done", log, re.M)
    base = json.loads((ROOT / "metrics/pretrain.json").read_text())["model"]["mse@10"]
    assert done and f"{done.group(1)} s in all on an H200" in README
    assert f"{result['train_s']:.0f} s of it training {result['step']:,} steps" in README
    assert f"{result['model']['mse@10']:.3f} against the committed base's {base:.3f}" in README
