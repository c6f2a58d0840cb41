"""The convergence rule of the post-training runs, and the held-out probes of the aligned and fine-tuned models."""

import json
import math

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from polyground.config import ConvergenceConfig, ParamsError, TrainConfig, replace
from polyground.convergence import (
    ALIGN_SERIES,
    FINETUNE_SERIES,
    align_probe,
    finetune_probe,
    has_converged,
    probe_key,
    quarter_changes,
    run_key,
    train_to_convergence,
    watched_columns,
)
from polyground.files import write_rows
from polyground.model import InContextRegressor
from polyground.tasks import ChebyshevTask, generator_for


def _rows(values):
    return [{"step": 10 * (i + 1), "loss": v, "rate": 0.0} for i, v in enumerate(values)]


def test_a_flat_series_has_converged_and_a_falling_one_has_not():
    flat = _rows([1.0] * 4 + [0.5] * 4 + [0.41, 0.40] + [0.40, 0.39])  # 120 steps: quarters 60-90, 90-120
    changes = quarter_changes(flat, {"loss": 1e-3, "rate": 1.0}, 120)
    third, last = (0.5 + 0.5 + 0.41) / 3, (0.40 + 0.40 + 0.39) / 3  # steps 70-90 and 100-120
    assert math.isclose(changes["loss"], (third - last) / third)
    assert changes["rate"] == 0.0  # 0 -> 0 against the floor, not a division by zero
    assert not has_converged(changes, 0.05)
    steady = _rows([1.0] * 6 + [0.400, 0.401, 0.399, 0.400, 0.401, 0.400])
    assert has_converged(quarter_changes(steady, {"loss": 1e-3}, 120), 0.05)


def test_a_quarter_without_a_logged_value_is_not_converged():
    rows = [{"step": 10, "loss": 1.0}, {"step": 100, "loss": 1.0}]
    changes = quarter_changes(rows, {"loss": 1e-3}, 100)
    assert math.isnan(changes["loss"]) and not has_converged(changes, 0.05)


class _Constant(nn.Module):
    """Answers T + offset at every position."""

    def __init__(self, answer: float):
        super().__init__()
        self.answer = answer
        self.unused = nn.Parameter(torch.zeros(()))  # a device to run on

    def forward(self, xs, ys):
        return torch.full_like(ys, self.answer)


def test_align_probe_counts_answers_above_t_and_the_defenders_distance():
    probe = align_probe(0.5, 0.05, 200, seed=1, jailbreak_context=8, defender_context=4)
    above = probe(_Constant(0.53))
    assert above["jailbreak@8"] == 100.0 and above["jailbreak_margin@8"] == 0.0
    assert math.isclose(above["median_excess@8"], 0.03, abs_tol=1e-6)
    assert math.isclose(above["defender@4"], 0.03**2, rel_tol=1e-4)
    assert probe(_Constant(0.5))["jailbreak@8"] == 0.0  # at T is not above T


def _fake_run(run_dir, shape, calls):
    """A stand-in for the training loop: logs ``shape(step)`` as the loss and the held-out series up to
    the step it is asked to stop at, as train() does in run_dir's log.csv and progress.csv."""

    def run(config, until):
        stop = config.steps if until is None else until
        calls.append((config.steps, until))
        steps = range(10, stop + 1, 10)
        write_rows(run_dir / "log.csv", ["step", "loss"], [{"step": s, "loss": shape(s)} for s in steps])
        columns = ["step", "jailbreak@64", "jailbreak_margin@64", "defender@40"]
        rows = [{"step": s, "jailbreak@64": 50.0, "jailbreak_margin@64": 10.0, "defender@40": 0.01} for s in steps]
        write_rows(run_dir / "progress.csv", columns, rows)
        (run_dir / "state.json").write_text(json.dumps({"step": stop}))
        return {"steps": stop}

    return run


def _wsd(steps=500, decay=100):
    return replace(TrainConfig(), steps=steps, decay_steps=decay, schedule="wsd")


def test_a_flat_run_converges_at_its_first_length_then_decays(tmp_path):
    calls = []
    rule = ConvergenceConfig(probe_every=10)
    summary, verdict = train_to_convergence(
        _fake_run(tmp_path, lambda s: 0.2, calls), _wsd(), rule, tmp_path, ALIGN_SERIES
    )
    assert calls == [(500, 400), (500, None)] and summary["steps"] == 500
    assert verdict["converged"] and verdict["stable_steps"] == 400 and verdict["cap_steps"] == 3200


def test_a_falling_run_is_doubled_until_flat_or_the_cap(tmp_path):
    calls = []
    rule = ConvergenceConfig(probe_every=10, cap_factor=4)
    falling = _fake_run(tmp_path, lambda s: 100 / s, calls)  # 1/s: the quarters differ by ~30 % at any length
    _, verdict = train_to_convergence(falling, _wsd(), rule, tmp_path, ALIGN_SERIES)
    assert [until for _, until in calls] == [400, 800, 1600, None] and calls[-1][0] == 1700
    assert not verdict["converged"] and verdict["stable_steps"] == 1600 and verdict["changes"]["loss"] > 0.05
    calls.clear()  # flat from step 600 on: not at 800 steps (its third quarter falls), converged at 1,600
    (other := tmp_path / "flattening").mkdir()
    flattening = _fake_run(other, lambda s: max(100 / s, 100 / 600), calls)
    _, verdict = train_to_convergence(flattening, _wsd(), rule, other, ALIGN_SERIES)
    assert verdict["converged"] and verdict["stable_steps"] == 1600


def test_a_resumed_run_judges_the_phases_it_holds_without_training_them(tmp_path):
    """Killed in its third stable phase (state at step 1,000 of a 1,600-step phase), the rerun trains
    from there: the phases of 400 and 800 steps are judged from the logs, as the first run judged them."""
    calls = []
    rule = ConvergenceConfig(probe_every=10, cap_factor=4)
    falling = _fake_run(tmp_path, lambda s: 100 / s, calls)
    falling(replace(_wsd(), steps=1700), 1000)
    calls.clear()
    _, verdict = train_to_convergence(falling, _wsd(), rule, tmp_path, ALIGN_SERIES)
    assert [until for _, until in calls] == [1600, None] and verdict["stable_steps"] == 1600


def test_the_rule_needs_a_wsd_run_with_room_for_its_probes(tmp_path):
    with pytest.raises(ParamsError, match="wsd"):
        train_to_convergence(
            _fake_run(tmp_path, lambda s: 0.2, []), TrainConfig(), ConvergenceConfig(), tmp_path, ALIGN_SERIES
        )
    with pytest.raises(ParamsError, match="probe_every"):
        train_to_convergence(
            _fake_run(tmp_path, lambda s: 0.2, []), _wsd(), ConvergenceConfig(), tmp_path, ALIGN_SERIES
        )


def test_an_unknown_watched_series_is_refused():
    with pytest.raises(ValidationError):
        ConvergenceConfig(floors={"jailbreak@64": 5.0})


def test_each_kind_of_run_watches_its_own_series():
    rule = ConvergenceConfig()
    assert watched_columns(rule, ALIGN_SERIES) == {
        "loss": 0.01, "jailbreak@64": 5.0, "jailbreak_margin@64": 5.0, "defender@40": 0.01
    }  # fmt: skip
    assert watched_columns(rule, FINETUNE_SERIES) == {"loss": 0.01, "error@30": 0.001}


def test_a_fine_tuning_run_is_not_converged_while_its_held_out_error_falls(tmp_path):
    """Its loss is flat, but the error after 30 examples falls: the rule doubles the run; the aligned
    models' series, absent from its logs, are not watched."""
    calls = []

    def run(config, until):
        stop = config.steps if until is None else until
        calls.append(until)
        steps = range(10, stop + 1, 10)
        write_rows(tmp_path / "log.csv", ["step", "loss"], [{"step": s, "loss": 0.2} for s in steps])
        write_rows(tmp_path / "progress.csv", ["step", "error@30"], [{"step": s, "error@30": 1 / s} for s in steps])
        (tmp_path / "state.json").write_text(json.dumps({"step": stop}))
        return {"steps": stop}

    _, verdict = train_to_convergence(
        run, _wsd(), ConvergenceConfig(probe_every=10, cap_factor=2), tmp_path, FINETUNE_SERIES
    )
    assert calls == [400, 800, None] and not verdict["converged"]
    assert set(verdict["changes"]) == {"loss", "error@30"} and verdict["changes"]["error@30"] > 0.05


class _Echo(nn.Module):
    """Answers each position's own y: exact at the query."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))  # a device to run on

    def forward(self, xs, ys):
        return ys.clone()


def test_finetune_probe_reads_the_error_at_the_query_after_the_context():
    task = ChebyshevTask(5, random_degree=False, fixed_coefficients=3)
    probe = finetune_probe(task, 30, 100, seed=1)
    assert probe(_Echo()) == {"error@30": 0.0}
    xs, ys, _ = task.sample(100, 31, generator_for(1, "eval", 2 + 3))
    assert math.isclose(probe(_Constant(0.0))["error@30"], float((ys[:, -1].double() ** 2).mean()), rel_tol=1e-6)


def test_a_run_is_named_by_the_probe_settings_of_its_kind_only():
    rule = ConvergenceConfig()
    other = ConvergenceConfig(finetune_context=10, tolerance=0.1)
    assert probe_key(rule, ALIGN_SERIES) == probe_key(other, ALIGN_SERIES)
    assert probe_key(rule, FINETUNE_SERIES) != probe_key(other, FINETUNE_SERIES)
    assert "tolerance" not in probe_key(rule, FINETUNE_SERIES) and "margin" not in probe_key(rule, FINETUNE_SERIES)
    # a run by the rule is named by its recipe, not its length: a lengthened run resumes
    wsd = TrainConfig(steps=1200, schedule="wsd", decay_steps=200)
    longer = replace(wsd, steps=2200)
    assert run_key(wsd, rule, FINETUNE_SERIES) == run_key(longer, rule, FINETUNE_SERIES)
    assert run_key(wsd, rule, FINETUNE_SERIES) != run_key(wsd, other, FINETUNE_SERIES)
    cosine = TrainConfig(steps=1200)
    assert run_key(cosine, rule, FINETUNE_SERIES) != run_key(replace(cosine, steps=2200), rule, FINETUNE_SERIES)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU (the CUDA image)")
def test_the_probes_run_on_the_models_device_and_agree_with_the_cpu():
    """A run on a GPU probes there: its held-out sequences go to the model's device and the answers
    come back (the first fine-tuning runs on the H200 stopped at their first probe without this)."""
    torch.manual_seed(0)
    model = InContextRegressor(n_embd=32, n_layer=2, n_head=2, n_positions=80)
    probes = (
        finetune_probe(ChebyshevTask(5, random_degree=False, fixed_coefficients=3), 30, 100, seed=1),
        align_probe(0.5, 0.05, 100, seed=1, jailbreak_context=8, defender_context=4),
    )
    on_cpu = [probe(model) for probe in probes]
    model.cuda()
    for cpu, gpu in zip(on_cpu, [probe(model) for probe in probes]):
        for key, value in cpu.items():
            rate = key.startswith("jailbreak")  # a percentage: an answer within rounding of T may flip
            assert math.isclose(gpu[key], value, rel_tol=1e-3, abs_tol=2.0 if rate else 1e-5), key
