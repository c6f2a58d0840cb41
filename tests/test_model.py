import pytest
import torch

from polyground.checkpoint import build_model
from polyground.config import ModelConfig
from polyground.evaluate import for_evaluation, model_predictor, nested_context_predictions
from polyground.model import InContextRegressor, count_parameters


def test_paper_size_has_about_1_2m_parameters():
    model = build_model(ModelConfig(n_embd=128, n_layer=6, n_head=4, max_points=81))
    assert 1.15e6 < count_parameters(model) < 1.25e6
    assert model.max_points == 81


def test_output_shape_and_interleaving():
    model = InContextRegressor(16, 2, 2, 20)
    xs, ys = torch.randn(3, 7), torch.randn(3, 7)
    assert model(xs, ys).shape == (3, 7)
    tokens = InContextRegressor.interleave(xs, ys)
    assert tokens.shape == (3, 14, 1)
    assert torch.equal(tokens[:, 0::2, 0], xs) and torch.equal(tokens[:, 1::2, 0], ys)


def test_prediction_i_sees_earlier_pairs_and_x_i_but_never_y_i():
    torch.manual_seed(0)
    model = InContextRegressor(16, 2, 2, 20).eval()
    xs, ys = torch.randn(2, 8), torch.randn(2, 8)
    base = model(xs, ys)
    for i in range(8):
        later = ys.clone()
        later[:, i:] += 5.0  # y_i and everything after
        torch.testing.assert_close(model(xs, later)[:, : i + 1], base[:, : i + 1])
        if i > 0:
            earlier = ys.clone()
            earlier[:, i - 1] += 5.0
            assert not torch.allclose(model(xs, earlier)[:, i], base[:, i])
        moved = xs.clone()
        moved[:, i] += 1.0
        assert not torch.allclose(model(moved, ys)[:, i], base[:, i])


def test_position_limit():
    model = InContextRegressor(16, 2, 2, 20)
    assert model(torch.randn(2, 10), torch.randn(2, 10)).shape == (2, 10)
    with pytest.raises(ValueError, match="do not fit"):
        model(torch.randn(1, 11), torch.randn(1, 11))


def test_nested_context_predictions_equal_one_pass_per_context():
    """The cached longest context, cropped to n pairs, predicts the query as a pass over n pairs + query."""
    torch.manual_seed(0)
    model = InContextRegressor(n_embd=32, n_layer=2, n_head=2, n_positions=40).eval()
    xs, ys = torch.rand(5, 9) * 2 - 1, torch.randn(5, 9)
    contexts = [2, 8, 1, 4]
    nested = nested_context_predictions(model, xs, ys, contexts, batch_size=2)
    with torch.inference_mode():
        for j, n in enumerate(contexts):
            xs_n = torch.cat([xs[:, :n], xs[:, -1:]], 1)
            ys_n = torch.cat([ys[:, :n], torch.zeros(5, 1)], 1)
            torch.testing.assert_close(nested[j], model(xs_n, ys_n)[:, -1], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(nested[0], nested[1])  # the context matters


def test_the_evaluation_model_predicts_as_the_trained_one():
    """for_evaluation swaps gelu_new for the fused tanh GELU: the same function, to float rounding."""
    torch.manual_seed(0)
    model = InContextRegressor(n_embd=32, n_layer=2, n_head=2, n_positions=40).eval()
    xs, ys = torch.rand(7, 9) * 2 - 1, torch.randn(7, 9) * 3
    before = model_predictor(model, 3)(xs, ys)
    assert type(model.backbone.h[0].mlp.act).__name__ == "NewGELUActivation"
    fused = model_predictor(for_evaluation(model), 3)(xs, ys)
    assert isinstance(model.backbone.h[0].mlp.act, torch.nn.GELU)
    torch.testing.assert_close(fused, before, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU (the CUDA image)")
def test_evaluation_on_the_gpu_matches_the_cpu():
    """for_evaluation puts the evaluation stages on the GPU: predictions come back to the CPU and
    equal the CPU's within the claims' re-evaluation tolerance (claims.REEVALUATE)."""
    torch.manual_seed(0)
    model = for_evaluation(InContextRegressor(n_embd=32, n_layer=2, n_head=2, n_positions=40).eval()).cpu()
    xs, ys = torch.rand(7, 9) * 2 - 1, torch.randn(7, 9)
    on_cpu = model_predictor(model, 3)(xs, ys), nested_context_predictions(model, xs, ys, [2, 8], 3)
    model = for_evaluation(model)
    assert next(model.parameters()).device.type == "cuda"
    on_gpu = model_predictor(model, 3)(xs, ys), nested_context_predictions(model, xs, ys, [2, 8], 3)
    for cpu, gpu in zip(on_cpu, on_gpu):
        assert gpu.device.type == "cpu"
        torch.testing.assert_close(gpu, cpu, rtol=1e-3, atol=1e-5)


def test_evaluation_runs_at_a_gpus_batch_size_only_on_a_gpu():
    from polyground.evaluate import GPU_BATCH_SIZE, on_device

    assert on_device(64, torch.device("cpu")) == 64
    assert on_device(64, torch.device("cuda")) == GPU_BATCH_SIZE and on_device(10**5, torch.device("cuda")) == 10**5
