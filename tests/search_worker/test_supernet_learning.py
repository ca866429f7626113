"""A supernet trained on a uniformly random path per step learns: its loss falls well below
chance (ln 10 for ten classes) within a few hundred steps, as one fixed path's does.

With separate weights per candidate it stayed above chance after 400 steps (2.36-2.38 over
two seeds at the bench's proxy size) while one fixed path reached 1.9: the first layer of each
stage handed the next a different feature space for each of its candidates
(:mod:`search_worker.nn.shared_mbconv`; docs/results.md, issue 17).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from latency_db.predictors import LutPredictor, layer_table
from latency_db.search_spec import SearchSpec
from search_worker.data import load_search_data
from search_worker.latency import latency_model
from search_worker.oracle import PredictorOracle
from search_worker.search.run import SearchRun

STEPS = 400
TAIL = 50  # steps averaged at the end


def test_a_supernet_under_uniform_path_sampling_learns_within_a_few_hundred_steps(
    tiny_imagenet: Path,
) -> None:
    # The bench's proxy (bench/search_quality.py): 64 px, width 0.35, batch 32, lr 0.05.
    spec = SearchSpec.model_validate(
        {"proxy_resolution": 64, "proxy_width": 0.35, "steps": STEPS, "batch_size": 32}
    )
    deploy = spec.deploy_space()
    lut = LutPredictor(layer_table(deploy, {key: 1.0 for key in deploy.all_op_keys()}))
    data = load_search_data(
        tiny_imagenet, spec.proxy_resolution, spec.arch_fraction, spec.batch_size, spec.seed
    )
    run = SearchRun(spec, "random", 100.0, latency_model(lut), PredictorOracle(lut), data)
    losses = [run.step()["weight_loss"] for _ in range(STEPS)]
    tail = float(np.mean(losses[-TAIL:]))
    assert tail < math.log(10) - 0.15, f"mean loss of the last {TAIL} steps {tail:.3f}"
