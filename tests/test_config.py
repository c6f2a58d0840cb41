import subprocess

import pytest
import yaml

from conftest import ROOT, smoke_dict
from polyground.config import ParamsError, load_params, params_from_dict
from polyground.run_state import fingerprint_dir


def test_committed_params_and_smoke_set_are_valid(smoke_params):
    params = load_params(ROOT / "params.yaml")
    assert (params.model.n_embd, params.model.n_layer, params.model.n_head) == (128, 6, 4)
    assert 2 * params.model.max_points >= 100 + 62  # a 50-pair soft prompt before 31 points
    assert smoke_params.model.n_embd < params.model.n_embd


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("model", "n_embd"), 0, r"model.n_embd = 0 is out of range: allowed > 0"),
        (("model", "n_layer"), -2, r"model.n_layer = -2 is out of range"),
        (("pretrain", "train", "lr"), -1.0, r"pretrain.train.lr = -1.0 is out of range: allowed > 0"),
        (("pretrain", "train", "lr"), 0, r"pretrain.train.lr = 0 is out of range: allowed > 0 and <= 10"),
        (("pretrain", "train", "curriculum", "points_end"), 500, r"points_end = 500 exceeds model.max_points"),
        (("evaluate", "points"), 500, r"evaluate.points = 500 exceeds model.max_points"),
        (("model", "n_head"), 3, r"n_head = 3 does not divide model.n_embd"),
        (("pretrain", "train", "schedule"), "linear", r"allowed one of cosine, constant"),
        (("pretrain", "train", "steps"), "many", r"steps = 'many' has the wrong type"),
        (("pretrain", "train", "learning_rate"), 1e-3, r"unknown key pretrain.train.learning_rate"),
        (
            ("jailbreak", "contexts"),
            [2, 4, 41],
            r"jailbreak.contexts has 41: .* allowed 0..40 \(model.max_points - 1\)",
        ),
        (
            ("model_sizes", "small", "n_head"),
            3,
            r"model_sizes.small.n_head = 3 does not divide model_sizes.small.n_embd",
        ),
        (
            ("align", "clamped_context_fraction"),
            1.5,
            r"align.clamped_context_fraction = 1.5 is out of range: allowed >= 0 and <= 1",
        ),
        (("align", "train", "curriculum", "final_points"), 500, r"align.train.curriculum.final_points = 500 exceeds"),
        (("seed_spread", "seeds"), ["a", "b", "c"], r"seed_spread.seeds.0 = 'a' has the wrong type: expected int"),
        (("jailbreak", "contexts"), [4, 4, 4], r"jailbreak.contexts = \[4, 4, 4\]: give distinct context lengths"),
        (
            ("evaluate", "headline_examples"),
            [],
            r"evaluate.headline_examples = \[\] has 0 values: give at least 1 item",
        ),
        (
            ("evaluate", "headline_examples"),
            [-1, 5],
            r"evaluate.headline_examples.0 = -1 is out of range: allowed >= 0",
        ),
        (
            ("pretrain", "train", "decay_steps"),
            0,
            r"pretrain.train.decay_steps = 0: the wsd schedule needs 1..\d+ decay",
        ),
        (
            ("pretrain", "progress", "examples"),
            [5, 90],
            r"pretrain.progress.examples = \[5, 90\]: give integers in 0..40",
        ),
        (
            ("finetune", "methods"),
            ["lora", "prefix"],
            r"finetune.methods.1 = 'prefix': unknown fine-tuning method 'prefix': allowed lora, soft_prompt_<P>",
        ),
        (
            ("align_peft", "methods"),
            ["full_finetune"],
            r"align_peft.methods.0 = 'full_finetune': .* not a peft adapter",
        ),
        (
            ("model_sizes", "small", "width"),
            8,
            r"unknown key model_sizes.small.width: allowed keys here are n_embd, n_head, n_layer",
        ),
        (("many_shot", "shots"), [], r"many_shot.shots = \[\] has 0 values: give at least 8 items"),
        (("many_shot", "shots"), [1, 2, 3, 4, 5, 6, 30, 40], r"many_shot: its longest prompt has 48 context points"),
        (("many_shot", "fit_up_to"), 100, r"many_shot.fit_up_to = 100 leaves 9 shots to fit and 0 to predict"),
        (("measurements", "context"), 41, r"measurements.context has 41 context points: .* allowed 0..40"),
        (("measurements", "margin"), -0.1, r"measurements.margin = -0.1 is out of range: allowed >= 0"),
        (
            ("steering", "scales"),
            [float(r) for r in range(15)],
            r"steering.scales = .*: give a range symmetric about 0",
        ),
        (("steering", "layer"), 3, r"steering.layer = 3 exceeds model.n_layer = 2"),
        (
            ("elasticity", "align_sequences"),
            [32, 64, 128, 256],
            r"elasticity.align_sequences = .* spans less than 1.5 decades",
        ),
        (("elasticity", "undo_sequences"), [16, 32, 48, 64, 96, 100], r"give multiples of elasticity.batch_size = 16"),
        (("elasticity", "compare_at"), 40, r"elasticity.compare_at = 40 is not in elasticity.undo_sequences"),
        (
            ("elasticity", "bases"),
            ["pretrain", "pretrain_huge"],
            r"elasticity.bases has 'pretrain_huge': allowed pretrain, pretrain_snapshot",
        ),
        (("pretrain", "snapshot_step"), 60, r"pretrain.snapshot_step = 60: allowed 1..59"),
        (
            ("post_training_scaling", "seeds"),
            [1, 1, 2],
            r"post_training_scaling.seeds = \[1, 1, 2\]: give distinct seeds",
        ),
        (("post_training_scaling", "fit_up_to"), 8, r"post_training_scaling.fit_up_to = 8 leaves 2 sizes to fit"),
        (("safety_basin", "alphas"), 20, r"safety_basin.alphas = 20: give an odd number"),
        (
            ("align_peft", "methods"),
            ["soft_prompt_40"],
            r"align_peft.methods has soft_prompt_40: its 40 pairs and 21 points",
        ),
        (("clamping", "sizes_degree"), 5, r"clamping.sizes_degree = 5 is not in clamping.degrees = \[4, 8\]"),
    ],
)
def test_bad_values_are_named_with_their_range(path, value, message):
    data = smoke_dict()
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ParamsError, match=message):
        params_from_dict(data)


def test_stage_with_bad_params_fails_cleanly_and_keeps_outputs(tmp_path, prestarted):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text().replace("n_head: 4", "n_head: 5"))
    kept = tmp_path / "metrics" / "pretrain.json"
    kept.parent.mkdir()
    kept.write_text("{}")
    for stage in ("pretrain", "evaluate_pretrain", "figures"):
        result = subprocess.run(
            [prestarted, "-m", f"polyground.stages.{stage}"], cwd=tmp_path, capture_output=True, text=True
        )
        assert result.returncode == 2
        assert "error: params.yaml: model.n_head = 5 does not divide model.n_embd = 128" in result.stderr
        assert "Traceback" not in result.stderr
    assert kept.read_text() == "{}"


def test_pretrain_of_an_unknown_size_names_the_sizes(tmp_path, prestarted):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    result = subprocess.run(
        [prestarted, "-m", "polyground.stages.pretrain", "--size", "huge"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "error: --size 'huge' is not in model_sizes: choose one of tiny, small" in result.stderr


def test_evaluate_without_checkpoint_says_how_to_get_it(tmp_path, prestarted):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    result = subprocess.run(
        [prestarted, "-m", "polyground.stages.evaluate_pretrain"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "models/pretrain/model.safetensors is missing" in result.stderr
    assert "dvc pull models/pretrain" in result.stderr and "Traceback" not in result.stderr


def test_named_set_with_a_yaml_error_is_one_line(tmp_path, prestarted):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "broken.yaml").write_text("pretrain:\n  train: {steps: 10\n")
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    for command in (["polyground.config", "broken"], ["polyground.stages.pretrain", "--set", "broken"]):
        result = subprocess.run([prestarted, "-m", *command], cwd=tmp_path, capture_output=True, text=True)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert "configs/broken.yaml is not valid YAML at line 3" in result.stderr


def test_applying_a_set_keeps_the_comments_and_changes_only_its_keys(tmp_path, prestarted):
    params = tmp_path / "params.yaml"
    params.write_text((ROOT / "params.yaml").read_text())
    result = subprocess.run(
        [prestarted, "-m", "polyground.config", "smoke", "--params", str(params)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    before, after = (ROOT / "params.yaml").read_text(), params.read_text()
    comments = [line.split("#", 1)[1] for line in before.splitlines() if line.lstrip().startswith("#")]
    assert all(comment in after for comment in comments)
    assert (
        load_params(params).model.n_embd == 32
        and load_params(params).figures.seed == load_params(ROOT / "params.yaml").figures.seed
    )


def test_unknown_parameter_set_is_named(tmp_path, prestarted):
    result = subprocess.run([prestarted, "-m", "polyground.config", "nope"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "no parameter set 'nope'" in result.stderr


def test_run_directory_depends_on_everything_that_shapes_the_run():
    assert fingerprint_dir("r", {"a": 1}) == fingerprint_dir("r", {"a": 1})
    assert fingerprint_dir("r", {"a": 1}) != fingerprint_dir("r", {"a": 2})


@pytest.mark.parametrize("name", sorted(path.stem for path in (ROOT / "configs").glob("*.yaml")))
def test_every_named_set_is_valid_on_the_defaults(name, monkeypatch):
    """Every set in configs/ merges into params.yaml and validates (a renamed key fails here)."""
    from polyground.config import _read_yaml, merge, read_set

    monkeypatch.chdir(ROOT)
    params_from_dict(merge(_read_yaml(ROOT / "params.yaml", ""), read_set(name)))


def test_an_align_setup_replaces_only_its_keys():
    data = smoke_dict()
    data["align_setups"] = {"authors": {"clamped_context_fraction": 1.0}, "slow": {"lr": 5e-5}}
    params = params_from_dict(data)
    authors, slow = params.align_setup("authors"), params.align_setup("slow")
    assert (authors.clamped_context_fraction, authors.train.lr) == (1.0, params.align.train.lr)
    assert (slow.clamped_context_fraction, slow.train.lr) == (params.align.clamped_context_fraction, 5e-5)
    assert slow.train.model_copy(update={"lr": params.align.train.lr}) == params.align.train


@pytest.mark.parametrize(
    ("setups", "message"),
    [
        ({"authors": {"clamped_context_fraction": 1.0}}, "align.train: the convergence rule lengthens a wsd run"),
        ({}, "--setup 'authors' is not in align_setups: choose one of none"),
    ],
)
def test_an_align_setup_needs_its_name_and_the_convergence_rule(tmp_path, setups, message, prestarted):
    """A cosine align recipe cannot run a setup: the rule lengthens wsd runs only."""
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data["align"]["train"]["schedule"], data["align_setups"] = "cosine", setups
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(data))
    result = subprocess.run(
        [prestarted, "-m", "polyground.stages.align", "--setup", "authors"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert message in result.stderr
