"""The latency forms and objectives of the architecture loss, values and gradients."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from search_worker.search.losses import LatencyForm, LatencyLoss, Objective, objective_value

F64 = torch.float64
LATENCIES_MS = [1e-3, 0.5, 0.8, 1.0, 1.2, 2.0, 10.0, 250.0, 1e4]
BUDGETS_MS = [0.5, 1.0, 2.0, 100.0]


def value_and_gradient(
    form: LatencyForm, weight: float, budget: float, latency: float, ce: float = 1.7
) -> tuple[float, float, float]:
    """(loss, dloss/dLAT, dloss/dCE)."""
    lat = torch.tensor(latency, dtype=F64, requires_grad=True)
    loss = torch.tensor(ce, dtype=F64, requires_grad=True)
    value = LatencyLoss(form, weight, budget).combine(loss, lat)
    d_lat, d_ce = torch.autograd.grad(value, (lat, loss))
    return float(value.detach()), float(d_lat), float(d_ce)


@pytest.mark.parametrize("beta", [0.3, 0.6, 2.0])
def test_mul_log_is_finite_positive_and_increasing_for_every_positive_latency_and_budget(
    beta: float,
) -> None:
    """CE * (LAT / T)^beta: log loss = log CE + beta log(LAT / T) (MnasNet's form)."""
    ce = 1.7
    for latency, budget in itertools.product(LATENCIES_MS, BUDGETS_MS):
        value, d_lat, d_ce = value_and_gradient(LatencyForm.MUL_LOG, beta, budget, latency, ce)
        ratio = latency / budget
        at = f"LAT {latency} ms, T {budget} ms"
        assert value == pytest.approx(ce * ratio**beta, rel=1e-12), at
        assert d_lat == pytest.approx(beta * value / latency, rel=1e-12), at
        assert d_ce == pytest.approx(ratio**beta, rel=1e-12), at
        assert math.isfinite(d_lat) and d_lat > 0 and d_ce > 0, at


@pytest.mark.parametrize("form", list(LatencyForm))
def test_every_form_is_unit_free_and_neutral_at_the_budget(form: LatencyForm) -> None:
    """ms or s, the same loss; at LAT = T the latency adds nothing (mul) or nothing (add)."""
    for latency, budget in itertools.product(LATENCIES_MS, BUDGETS_MS):
        in_ms = value_and_gradient(form, 0.6, budget, latency)
        in_s = value_and_gradient(form, 0.6, budget / 1000, latency / 1000)
        assert in_s[0] == pytest.approx(in_ms[0], rel=1e-9)
        assert in_s[1] == pytest.approx(1000 * in_ms[1], rel=1e-9)
    for budget in BUDGETS_MS:
        assert value_and_gradient(form, 0.6, budget, budget)[0] == pytest.approx(1.7)


def test_add_linear_and_hinge_values_and_gradients() -> None:
    """add_linear: CE + lambda (LAT - T) / T; hinge: CE + lambda relu(LAT / T - 1)."""
    for latency, budget in itertools.product(LATENCIES_MS, BUDGETS_MS):
        if latency == budget:
            continue  # the hinge's kink
        value, d_lat, d_ce = value_and_gradient(LatencyForm.ADD_LINEAR, 0.4, budget, latency)
        assert (value, d_lat, d_ce) == pytest.approx(
            (1.7 + 0.4 * (latency - budget) / budget, 0.4 / budget, 1.0), rel=1e-12
        )
        value, d_lat, d_ce = value_and_gradient(LatencyForm.HINGE, 0.4, budget, latency)
        over = latency > budget
        assert (value, d_lat, d_ce) == pytest.approx(
            (1.7 + 0.4 * max(0.0, latency / budget - 1), 0.4 / budget if over else 0.0, 1.0),
            rel=1e-12,
        )


@pytest.mark.parametrize("form", [LatencyForm.ADD_LINEAR, LatencyForm.HINGE])
def test_separable_forms_split_into_the_loss_plus_their_term(form: LatencyForm) -> None:
    loss = LatencyLoss(form, 0.4, 20.0)
    for latency in LATENCIES_MS:
        lat = torch.tensor(latency, dtype=F64)
        ce = torch.tensor(1.7, dtype=F64)
        assert float(loss.combine(ce, lat)) == pytest.approx(1.7 + float(loss.term(lat)))
    with pytest.raises(ValueError, match="not separable"):
        LatencyLoss(LatencyForm.MUL_LOG, 0.4, 20.0).term(torch.tensor(1.0))


@pytest.mark.parametrize(
    ("budget", "weight"), [(0.0, 1.0), (-1.0, 1.0), (math.inf, 1.0), (1.0, -0.1)]
)
def test_latency_loss_refuses_a_meaningless_budget_or_weight(budget: float, weight: float) -> None:
    with pytest.raises(ValueError):
        LatencyLoss(LatencyForm.MUL_LOG, weight, budget)


@pytest.mark.parametrize(("train", "val"), [(1.0, 1.6), (1.6, 1.0), (0.7, 0.7)])
@pytest.mark.parametrize("lam", [0.5, 0.2])
def test_objectives_and_the_generalization_loss(train: float, val: float, lam: float) -> None:
    """UNAS' L_gen = L_train + lambda |L_val - L_train|, with its gradient in both losses."""
    t = torch.tensor(train, requires_grad=True)
    v = torch.tensor(val, requires_grad=True)
    gen = objective_value(Objective.GEN, t, v, gen_weight=lam)
    assert float(gen.detach()) == pytest.approx(train + lam * abs(val - train))
    d_train, d_val = torch.autograd.grad(gen, (t, v))
    sign = 0.0 if val == train else math.copysign(1.0, val - train)
    assert (float(d_train), float(d_val)) == pytest.approx((1 - lam * sign, lam * sign))
    assert objective_value(Objective.VAL, t, v, gen_weight=lam) is v
    assert objective_value(Objective.TRAIN, t, v, gen_weight=lam) is t
    with pytest.raises(ValueError, match="gen needs"):
        objective_value(Objective.GEN, t, None, gen_weight=lam)
    with pytest.raises(ValueError, match="val needs"):
        objective_value(Objective.VAL, t, None, gen_weight=lam)
