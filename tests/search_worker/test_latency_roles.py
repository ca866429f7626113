"""A stored predictor in the search: the RELAX surrogate g(zeta) and the expected latency."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.nn import functional

from latency_db.predictors import (
    ArchitectureFeatures,
    LatencyPredictor,
    LinearPredictor,
    LutPredictor,
    MlpPredictor,
    encode_architectures,
    layer_table,
)
from latency_db.predictors.ensemble import TrainingConfig
from latency_db.spaces import SearchSpace
from search_worker.latency import (
    AdditiveLatency,
    DifferentiableLatency,
    MlpLatency,
    latency_model_from_params,
    masked_softmax,
)

from .conftest import small_space


@pytest.fixture(scope="module")
def space() -> SearchSpace:
    return small_space("proxyless")


@pytest.fixture(scope="module")
def fits(space: SearchSpace) -> dict[str, LatencyPredictor]:
    """Each kind fit to 80 networks whose latency is not additive in the LUT; ``mlp_whole``
    without the LUT, on the networks alone."""
    rng = np.random.default_rng(0)
    table = layer_table(space, {k: float(rng.uniform(0.1, 2.0)) for k in space.all_op_keys()})
    indices = encode_architectures(space, [space.sample(seed) for seed in range(80)])
    latencies = table.total_ms(indices) ** 1.2 * rng.uniform(0.95, 1.05, size=80)
    features = ArchitectureFeatures.of_lut(table)
    quick = TrainingConfig(steps=200)
    whole = ArchitectureFeatures(space.ref, table.layout, None)
    return {
        "lut": LutPredictor.fit(features, indices, latencies, seed=1),
        "linear": LinearPredictor.fit(features, indices, latencies, seed=1),
        "mlp": MlpPredictor.fit(features, indices, latencies, seed=1, config=quick),
        "mlp_whole": MlpPredictor.fit(whole, indices, latencies, seed=1, config=quick),
    }


def model_of(predictor: LatencyPredictor) -> DifferentiableLatency:
    """Built, as a worker does, from the params a database row stores (JSON)."""
    return latency_model_from_params(json.loads(json.dumps(predictor.to_params())), torch.float64)


def one_hot(indices: np.ndarray, space: SearchSpace) -> torch.Tensor:
    k = max(len(layer.candidates) for layer in space.layers)
    return functional.one_hot(torch.as_tensor(indices), k).to(torch.float64)


@pytest.mark.parametrize("kind", ["lut", "linear", "mlp", "mlp_whole"])
def test_surrogate_at_one_hots_equals_the_numpy_prediction(
    kind: str, space: SearchSpace, fits: dict[str, LatencyPredictor]
) -> None:
    indices = encode_architectures(space, [space.sample(500 + i) for i in range(64)])
    expected, _ = fits[kind].predict(indices)
    model = model_of(fits[kind])
    assert isinstance(model, MlpLatency if kind.startswith("mlp") else AdditiveLatency)
    got = model(one_hot(indices, space))  # a batch [64, L, K] -> [64]
    assert got.shape == (64,) and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("kind", ["lut", "linear", "mlp", "mlp_whole"])
def test_surrogate_is_differentiable_at_relaxed_samples(
    kind: str, space: SearchSpace, fits: dict[str, LatencyPredictor]
) -> None:
    """A Gumbel-softmax sample zeta (padding zero) gets finite gradients; padding none."""
    model = model_of(fits[kind])
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn((3, *model.mask.shape), generator=generator, dtype=torch.float64)
    uniform = torch.rand(logits.shape, generator=generator, dtype=torch.float64)
    zeta = masked_softmax((logits - torch.log(-torch.log(uniform))) / 0.5, model.mask)
    zeta.requires_grad_()
    model(zeta).sum().backward()
    assert zeta.grad is not None and torch.isfinite(zeta.grad).all()
    if not kind.startswith("mlp"):  # g is linear: dg/dzeta is the table itself
        table = torch.as_tensor(fits[kind].table.table_ms)
        torch.testing.assert_close(zeta.grad, table.expand_as(zeta.grad))


def test_masked_softmax_gives_padding_no_probability() -> None:
    mask = torch.tensor([[True, True, False], [True, True, True]])
    logits = torch.zeros(2, 3, requires_grad=True)
    p = masked_softmax(logits, mask)
    torch.testing.assert_close(p, torch.tensor([[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]]))
    (p * torch.arange(3.0)).sum().backward()
    assert logits.grad is not None and logits.grad[0, 2] == 0


@pytest.mark.parametrize("kind", ["lut", "linear"])
def test_expected_latency_gradient_is_analytic_and_matches_finite_differences(
    kind: str, space: SearchSpace, fits: dict[str, LatencyPredictor]
) -> None:
    """d E[LAT] / d alpha_lk = q_lk (F_lk - sum_j q_lj F_lj) (ProxylessNAS)."""
    model = model_of(fits[kind])
    table = torch.as_tensor(fits[kind].table.table_ms)
    mask = model.mask
    alpha = torch.randn(mask.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    alpha.requires_grad_()
    value = model.expected(alpha)
    value.backward()
    assert alpha.grad is not None

    q = masked_softmax(alpha.detach(), mask)
    mean_per_layer = (q * table).sum(dim=-1, keepdim=True)
    bias = fits[kind].table.fixed_ms
    torch.testing.assert_close(value.detach(), bias + mean_per_layer.sum())
    analytic = q * (table - mean_per_layer)
    torch.testing.assert_close(alpha.grad, analytic, rtol=1e-12, atol=1e-12)
    assert (alpha.grad[~mask] == 0).all()

    step = 1e-6
    numeric = torch.zeros_like(alpha)
    with torch.no_grad():
        for index in mask.nonzero().tolist():
            shift = torch.zeros_like(alpha)
            shift[tuple(index)] = step
            numeric[tuple(index)] = (
                model.expected(alpha + shift) - model.expected(alpha - shift)
            ) / (2 * step)
    torch.testing.assert_close(alpha.grad, numeric, rtol=1e-6, atol=1e-8)


def test_expected_mlp_latency_gradient_matches_finite_differences(
    fits: dict[str, LatencyPredictor],
) -> None:
    model = model_of(fits["mlp"])
    alpha = torch.randn(model.mask.shape, generator=torch.Generator().manual_seed(2))
    alpha = alpha.to(torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(model.expected, (alpha,))


def test_models_follow_the_requested_dtype(fits: dict[str, LatencyPredictor]) -> None:
    model = latency_model_from_params(fits["mlp"].to_params())
    assert all(b.dtype in (torch.float32, torch.bool) for b in model.buffers())
    assert model.expected(torch.zeros(model.mask.shape)).dtype == torch.float32
