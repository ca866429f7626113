"""The estimators' settings from a search spec: the relaxation temperature anneals over the
architecture steps, not the warm-up; UNAS' knobs reach the estimator."""

from __future__ import annotations

import itertools

import pytest

from latency_db.search_spec import SearchSpec
from search_worker.search.run import estimator_config


@pytest.mark.parametrize(("steps", "warmup"), [(100, 10), (1000, 400), (3, 1), (50, 0)])
def test_tau_runs_from_start_at_the_first_architecture_step_to_end_at_the_last(
    steps: int, warmup: int
) -> None:
    spec = SearchSpec(steps=steps, warmup_steps=warmup, tau_start=5.0, tau_end=0.5)
    config = estimator_config(spec)
    assert config.tau(warmup) == pytest.approx(5.0)
    assert config.tau(steps - 1) == pytest.approx(0.5)
    taus = [config.tau(step) for step in range(warmup, steps)]
    assert all(a > b for a, b in itertools.pairwise(taus)), "tau must fall at every step"


def test_unas_knobs_reach_the_estimator() -> None:
    spec = SearchSpec(rebar_scale=0.25, rebar_tied=True, baseline_decay=0.5, max_pending=7)
    config = estimator_config(spec)
    assert (config.rebar_scale, config.baseline_decay, config.max_pending) == (0.25, 0.5, 7)
    assert config.rebar_tied and not estimator_config(SearchSpec()).rebar_tied
