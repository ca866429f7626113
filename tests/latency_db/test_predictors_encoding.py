"""Architectures as op-index arrays and one-hot rows; a LUT arranged by layer."""

from __future__ import annotations

import numpy as np
import pytest

from latency_db.errors import ValidationError
from latency_db.predictors import Layout, encode_architectures, layer_table
from latency_db.spaces import ZERO, SearchSpace, get_space


@pytest.fixture
def space() -> SearchSpace:
    return get_space("proxyless", resolution=32, width_mult=0.35, num_classes=10)


def random_lut(space: SearchSpace, seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    return {key: float(rng.uniform(0.1, 2.0)) for key in space.all_op_keys()}


def test_layer_table_sums_to_the_lut_latency_of_every_architecture(space: SearchSpace) -> None:
    lut = random_lut(space)
    table = layer_table(space, lut)
    archs = [space.sample(seed) for seed in range(50)]
    by_keys = [sum(lut[key] for key in space.op_keys(arch)) for arch in archs]
    np.testing.assert_allclose(table.total_ms(encode_architectures(space, archs)), by_keys)
    fixed = sum(lut[block.key] for block in space.fixed_head_blocks())
    assert table.fixed_ms == pytest.approx(fixed)


def test_layer_table_is_ragged_with_zero_for_the_zero_op(space: SearchSpace) -> None:
    table = layer_table(space, random_lut(space))
    counts = tuple(len(layer.candidates) for layer in space.layers)
    assert table.layout.counts == counts and len(set(counts)) == 2  # stage starts lack zero
    assert table.table_ms.shape == (len(space.layers), max(counts))
    for layer in space.layers:
        row = table.table_ms[layer.index]
        assert (row[len(layer.candidates) :] == 0).all()  # padding
        for j, token in enumerate(layer.candidates):
            assert (row[j] == 0) == (token == ZERO)


def test_missing_lut_keys_are_named(space: SearchSpace) -> None:
    lut = random_lut(space)
    key = space.searchable_op_keys()[3]
    del lut[key]
    with pytest.raises(ValidationError, match=f"lacks 1 op key.*{key}"):
        layer_table(space, lut)
    lut[key] = float("nan")
    with pytest.raises(ValidationError, match="finite and > 0"):
        layer_table(space, lut)


def test_encoding_matches_the_space_and_rejects_bad_architectures(space: SearchSpace) -> None:
    archs = [space.sample(seed) for seed in range(30)]
    texts = [space.format(a) for a in archs]
    expected = np.array([space.indices(a) for a in archs])
    np.testing.assert_array_equal(encode_architectures(space, texts), expected)
    np.testing.assert_array_equal(encode_architectures(space, archs), expected)
    assert encode_architectures(space, []).shape == (0, len(space.layers))
    bad = list(archs[1])
    bad[4] = "k9_e6"
    with pytest.raises(ValidationError, match="architecture 2: layer 4: unknown op token"):
        encode_architectures(space, [archs[0], archs[1], bad])
    first_of_stage = list(archs[0])
    first_of_stage[0] = ZERO
    with pytest.raises(ValidationError, match="architecture 0: layer 0"):
        encode_architectures(space, [first_of_stage])
    with pytest.raises(ValidationError, match="architecture 1: architecture has 3 layers"):
        encode_architectures(space, [texts[0], "k3_e3 k3_e3 k3_e3"])


def test_one_hot_rows_and_index_checks() -> None:
    layout = Layout((2, 3, 3))
    indices = layout.check([[1, 0, 2], [0, 2, 0]])
    np.testing.assert_array_equal(
        layout.one_hot(indices),
        [[0, 1, 1, 0, 0, 0, 0, 1], [1, 0, 0, 0, 1, 1, 0, 0]],
    )
    np.testing.assert_array_equal(layout.mask, [[1, 1, 0], [1, 1, 1], [1, 1, 1]])
    with pytest.raises(ValidationError, match="architecture 1, layer 0: op index 2"):
        layout.check([[1, 0, 2], [2, 0, 0]])
    with pytest.raises(ValidationError, match=r"shape \[n, 3\]"):
        layout.check([[1, 0]])
    with pytest.raises(ValidationError, match="integers"):
        layout.check([[1.0, 0.0, 2.0]])
