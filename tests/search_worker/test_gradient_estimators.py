"""Sanity checks of the gradient estimators against exact gradients by enumeration."""

from __future__ import annotations

import itertools

import pytest
import torch

from search_worker.search.binary_connect import pair_gradient, rescale_pairs, sample_pairs
from search_worker.search.distribution import masked_log_softmax, one_hot
from search_worker.search.gradient_estimators import (
    importance_weight,
    log_prob,
    relax,
    relax_correction,
    reparameterized,
    score_function,
    tied_relax,
)
from search_worker.search.relaxation import (
    conditional_from,
    conditional_log_uniforms,
    conditional_perturbed,
    gumbel,
    perturbed,
    relaxed,
)

F64 = torch.float64
COUNTS = (3, 2, 3)  # layer 1 has a padded slot
MASK = torch.arange(3)[None, :] < torch.tensor(COUNTS)[:, None]
TABLE = torch.tensor([[1.0, 2.0, 4.0], [0.5, 3.0, 0.0], [2.0, 1.0, 3.0]], dtype=F64)
N = 20_000


def all_archs() -> torch.Tensor:
    return torch.tensor(list(itertools.product(*(range(c) for c in COUNTS))))


def f(archs: torch.Tensor) -> torch.Tensor:
    """A non-additive loss of discrete architectures."""
    additive = TABLE.expand(*archs.shape, -1).gather(-1, archs.unsqueeze(-1)).squeeze(-1).sum(-1)
    return additive + 0.3 * (archs[..., 0] == archs[..., 2]).double()


def g(weights: torch.Tensor) -> torch.Tensor:
    """An additive surrogate that correlates with f."""
    return (weights * TABLE).sum(dim=(-2, -1))


def exact_gradient(alpha: torch.Tensor) -> torch.Tensor:
    alpha = alpha.clone().requires_grad_(True)
    archs = all_archs()
    expectation = (log_prob(alpha, MASK, archs).exp() * f(archs)).sum()
    (grad,) = torch.autograd.grad(expectation, alpha)
    return grad


def draw(logits: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    noise = gumbel((N, *logits.shape), generator)
    return perturbed(logits, MASK, noise).argmax(dim=-1), noise


def per_sample_grads(logits: torch.Tensor, surrogate_of) -> torch.Tensor:  # type: ignore[no-untyped-def]
    copies = logits.expand(N, *logits.shape).clone().requires_grad_(True)
    surrogate_of(copies).sum().backward()
    assert copies.grad is not None
    return copies.grad


def assert_unbiased(grads: torch.Tensor, exact: torch.Tensor) -> None:
    mean, se = grads.mean(0), grads.std(0) / N**0.5
    assert torch.all(((mean - exact).abs() <= 4 * se + 1e-9)[MASK]), (mean, exact, se)


@pytest.fixture
def alpha() -> torch.Tensor:
    return torch.tensor([[0.3, -0.2, 0.5], [0.1, -0.4, 0.0], [-0.6, 0.2, 0.4]], dtype=F64)


def test_reinforce_mean_is_the_exact_gradient(alpha: torch.Tensor) -> None:
    generator = torch.Generator().manual_seed(0)
    archs, _ = draw(alpha, generator)
    grads = per_sample_grads(alpha, lambda a: score_function(a, MASK, archs, f(archs)))
    assert_unbiased(grads, exact_gradient(alpha))


def test_relax_mean_is_exact_and_its_variance_below_reinforce_with_a_baseline(
    alpha: torch.Tensor,
) -> None:
    """RELAX beats REINFORCE even when REINFORCE has the exact mean E[f] as its baseline: the
    control variate only helps when z~ is drawn given b (drawn ignoring b, RELAX's variance here
    is 2.2x this REINFORCE's; REINFORCE without a baseline has 13x)."""
    generator = torch.Generator().manual_seed(1)
    archs, noise = draw(alpha, generator)
    relax_grads = per_sample_grads(
        alpha, lambda a: relax(a, MASK, archs, noise, f(archs), g, 0.5, generator)
    )
    assert_unbiased(relax_grads, exact_gradient(alpha))
    everything = all_archs()
    mean_f = (log_prob(alpha, MASK, everything).exp() * f(everything)).sum()
    baselined = per_sample_grads(alpha, lambda a: score_function(a, MASK, archs, f(archs) - mean_f))
    assert relax_grads.var(0)[MASK].sum() < 0.7 * baselined.var(0)[MASK].sum()


def test_tied_relax_mean_is_exact_with_one_surrogate_pass(alpha: torch.Tensor) -> None:
    """UNAS' tied variant (z~ := z): c runs once per sample, and the mean gradient is still
    the exact one; dropping either derivative path of c (the reparameterized one or the
    conditional one) biases it."""
    generator = torch.Generator().manual_seed(6)
    archs, noise = draw(alpha, generator)
    calls = []

    def counted(weights: torch.Tensor) -> torch.Tensor:
        calls.append(weights.shape)
        return g(weights)

    grads = per_sample_grads(
        alpha, lambda a: tied_relax(a, MASK, archs, noise, f(archs), counted, 0.5)
    )
    assert len(calls) == 1
    exact = exact_gradient(alpha)
    assert_unbiased(grads, exact)
    # without the conditional path it is REINFORCE with a baseline correlated with b: biased
    biased = per_sample_grads(
        alpha,
        lambda a: (
            (f(archs) - g(relaxed_at(a, noise))).detach() * log_prob(a, MASK, archs)
            + g(relaxed_at(a, noise))
        ),
    )
    mean, se = biased.mean(0), biased.std(0) / N**0.5
    assert ((mean - exact).abs() > 6 * se)[MASK].any()


def relaxed_at(logits: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    return relaxed(perturbed(logits, MASK, noise), 0.5, MASK)


def test_conditional_relaxation_gives_back_the_z_its_uniforms_were_recovered_from(
    alpha: torch.Tensor,
) -> None:
    generator = torch.Generator().manual_seed(7)
    archs, noise = draw(alpha, generator)
    z = perturbed(alpha, MASK, noise)
    log_v = conditional_log_uniforms(alpha, MASK, archs, z)
    assert torch.all(log_v < 0)
    again = conditional_from(alpha, MASK, archs, log_v)
    assert torch.allclose(again[:, MASK], z[:, MASK], atol=1e-9)
    # given b, the recovered v are uniform: their mean is 1/2 on every real entry
    assert torch.allclose(log_v.exp()[:, MASK].mean(0), torch.full((8,), 0.5, dtype=F64), atol=0.02)


@pytest.mark.parametrize("estimator", ["reinforce", "relax"])
def test_importance_weighted_delayed_samples_are_unbiased(
    alpha: torch.Tensor, estimator: str
) -> None:
    """Samples drawn under older logits, weighted by p_now / p_then, estimate the gradient at
    the current logits (the delayed-measurement path of reinforce and unas; for RELAX the
    weighted correction of the old sample plus c(z) of a sample drawn now)."""
    generator = torch.Generator().manual_seed(2)
    then = alpha + torch.tensor([[0.4, 0.0, -0.3], [0.0, 0.3, 0.0], [0.2, -0.2, 0.0]], dtype=F64)
    archs, _ = draw(then, generator)
    weight = importance_weight(alpha, then, MASK, archs, cap=1e9)
    if estimator == "reinforce":
        grads = per_sample_grads(alpha, lambda a: score_function(a, MASK, archs, f(archs), weight))
    else:
        _, noise_now = draw(alpha, generator)
        grads = per_sample_grads(
            alpha,
            lambda a: (
                relax_correction(a, MASK, archs, f(archs), g, 0.5, generator, weight)
                + reparameterized(a, MASK, noise_now, g, 0.5)
            ),
        )
    assert_unbiased(grads, exact_gradient(alpha))


def test_tied_conditional_relaxation_reproduces_its_sample(alpha: torch.Tensor) -> None:
    generator = torch.Generator().manual_seed(3)
    archs, noise = draw(alpha, generator)
    z_tilde = conditional_perturbed(alpha, MASK, archs, generator)
    assert torch.equal(z_tilde.argmax(dim=-1), archs)
    assert torch.all(torch.isinf(z_tilde[:, ~MASK]))
    # (b, z~) has the law of (argmax z, z): compare the means of z and z~
    z = perturbed(alpha, MASK, noise)
    assert torch.allclose(z_tilde[:, MASK].mean(0), z[:, MASK].mean(0), atol=0.05)


def test_binary_connect_update_keeps_other_probabilities() -> None:
    generator = torch.Generator().manual_seed(4)
    alpha = torch.randn(4, 6, generator=generator, dtype=F64)
    mask = torch.ones(4, 6, dtype=torch.bool)
    pairs, _ = sample_pairs(alpha, mask, generator)
    gate_grads = torch.randn(4, 2, generator=generator, dtype=F64)
    before = alpha.clone()
    alpha = alpha - 0.5 * pair_gradient(alpha, pairs, gate_grads)
    rescale_pairs(alpha, before, pairs)
    p_before, p_after = before.softmax(-1), alpha.softmax(-1)
    outside = torch.ones_like(mask).scatter(-1, pairs, False)
    assert torch.allclose(p_after[outside], p_before[outside])
    assert torch.allclose(p_after.gather(-1, pairs).sum(-1), p_before.gather(-1, pairs).sum(-1))
    assert not torch.allclose(p_after, p_before)


def test_binary_connect_gradient_is_the_pair_softmax_chain_rule() -> None:
    """dL/dalpha = d/dalpha sum_c dL/dg_c q_c with q the pair's softmax."""
    generator = torch.Generator().manual_seed(5)
    alpha = torch.randn(3, 5, generator=generator, dtype=F64).requires_grad_(True)
    pairs = torch.tensor([[0, 3], [4, 1], [2, 0]])
    gate_grads = torch.randn(3, 2, generator=generator, dtype=F64)
    (auto,) = torch.autograd.grad((gate_grads * alpha.gather(-1, pairs).softmax(-1)).sum(), alpha)
    assert torch.allclose(pair_gradient(alpha, pairs, gate_grads), auto)


def test_masked_distribution_puts_no_mass_on_padding(alpha: torch.Tensor) -> None:
    p = masked_log_softmax(alpha, MASK).exp()
    assert torch.allclose(p.sum(-1), torch.ones(3, dtype=F64)) and p[1, 2] == 0
    assert one_hot(torch.tensor([2, 1, 0]), 3)[1].tolist() == [0.0, 1.0, 0.0]
