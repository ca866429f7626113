"""Search spaces as data: parsing, validation, counts, sampling and LUT keys."""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

import pytest
import yaml

from latency_db.spaces import (
    MBConvBlock,
    SearchSpace,
    get_space,
    space_from_ref,
    space_names,
)

ALL_SPACES = [get_space(name) for name in space_names()]


def test_registry_lists_the_design_spaces() -> None:
    assert space_names() == ["fbnet", "fbnet-cifar100", "proxyless"]


@pytest.mark.parametrize("space", ALL_SPACES, ids=lambda s: s.ref)
def test_round_trip_string_tokens_and_indices(space: SearchSpace) -> None:
    rng = random.Random(7)
    for _ in range(50):
        arch = space.sample(rng)
        text = space.format(arch)
        assert space.parse(text) == arch
        assert space.parse(list(arch)) == arch
        assert space.parse(space.indices(arch)) == arch


@pytest.mark.parametrize("space", ALL_SPACES, ids=lambda s: s.ref)
def test_ref_round_trip(space: SearchSpace) -> None:
    assert space_from_ref(space.ref) == space
    small = get_space(space.name, 64, 0.5, 10)
    assert space_from_ref(small.ref) == small


def test_proxyless_layout_matches_the_design() -> None:
    space = get_space("proxyless")
    assert len(space.layers) == 21
    stage_sizes = Counter(layer.stage for layer in space.layers)
    assert [stage_sizes[i] for i in range(6)] == [4, 4, 4, 4, 4, 1]
    starts = {0, 4, 8, 12, 16, 20}
    for layer in space.layers:
        assert len(layer.candidates) == (6 if layer.index in starts else 7)
    assert space.size() == 6**6 * 7**15
    assert space.stem.key == "Conv-input:224x224x3-output:112x112x32"
    assert space.head[0].key == "Conv_1-input:7x7x320-output:7x7x1280"
    assert space.head[1].key == "Logits-input:7x7x1280-output:1000"


def test_fbnet_layout_matches_the_design() -> None:
    imagenet, cifar = get_space("fbnet"), get_space("fbnet-cifar100")
    for space in (imagenet, cifar):
        assert len(space.layers) == 22
        assert all(len(layer.candidates) == 9 for layer in space.layers)
        assert space.size() == 9**22
    assert imagenet.stem.out_hw == 112 and imagenet.head[0].out_ch == 1984
    assert cifar.stem.out_hw == 32 and cifar.head[0].out_ch == 1504
    assert cifar.head[1].key == "Logits-input:4x4x1504-output:100"
    grouped = imagenet.layers[5].block("k5_e1_g2")
    assert isinstance(grouped, MBConvBlock) and grouped.key.endswith("-group:2")
    # skip is an identity where the shape is kept and a projection where it changes
    assert imagenet.layers[0].block("skip") is None
    assert imagenet.layers[1].block("skip") is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("k3_e6", "has 1 layers"),
        (" ".join(["k3_e6"] * 22), "has 22 layers"),
        ("zero " + " ".join(["k3_e6"] * 20), "layer 0: 'zero' is not allowed where stage 0 starts"),
        (" ".join(["k3_e6"] * 4 + ["zero"] + ["k3_e6"] * 16), "layer 4: 'zero'"),
        (" ".join(["k3_e6"] * 20 + ["k9_e6"]), "layer 20: unknown op token 'k9_e6'"),
        (" ".join(["k3_e6"] * 20 + ["skip"]), "layer 20: unknown op token 'skip'"),
    ],
)
def test_validation_names_the_layer_and_the_problem(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        get_space("proxyless").parse(text)


def test_index_out_of_range_is_rejected() -> None:
    space = get_space("proxyless")
    with pytest.raises(ValueError, match=r"layer 0: op index 6 out of range 0\.\.5"):
        space.parse([6] + [0] * 20)


def test_bad_instance_parameters_are_rejected() -> None:
    with pytest.raises(ValueError, match="resolution"):
        get_space("proxyless", resolution=2)
    with pytest.raises(ValueError, match="unknown space 'nope'"):
        get_space("nope")


def test_sampling_is_seeded_and_uniform_per_layer() -> None:
    space = get_space("proxyless")
    assert space.sample(3) == space.sample(3)
    n = 14_000
    rng = random.Random(0)
    archs = [space.sample(rng) for _ in range(n)]
    for layer in (0, 1, 20):
        counts = Counter(a[layer] for a in archs)
        k = len(space.layers[layer].candidates)
        expected = n / k
        # chi-square with k-1 dof; 30 is far beyond the 0.9999 quantile for k <= 7
        chi2 = sum((counts[t] - expected) ** 2 / expected for t in space.layers[layer].candidates)
        assert chi2 < 30, (layer, counts)


def test_proxyless_lut_keys_match_the_published_table(test_data: Path) -> None:
    published = set(yaml.safe_load((test_data / "proxylessnas_mobile_trim.yaml").read_text()))
    space = get_space("proxyless", 224, 1.0, 1000)
    searchable = space.searchable_op_keys()
    assert len(searchable) == 66
    assert len(space.all_op_keys()) == 70
    missing = [k for k in space.all_op_keys() if k not in published]
    assert missing == []
    # The published table also measured the first fixed block at kernels 5 and 7.
    extra = sorted(published - set(space.all_op_keys()))
    assert len(extra) == 2 and all("expand:1-kernel:" in k for k in extra)


def test_architecture_maps_to_its_blocks_in_order() -> None:
    space = get_space("proxyless")
    arch = space.parse(
        "k3_e6 zero zero zero k5_e3 zero zero zero k7_e6 zero zero zero "
        "k3_e3 zero zero zero k3_e3 zero zero zero k7_e6"
    )
    keys = space.op_keys(arch)
    assert keys[0].startswith("Conv-input:224x224x3")
    assert keys[1].startswith("expanded_conv-input:112x112x32-output:112x112x16-expand:1")
    assert len(keys) == 1 + 1 + 6 + 2  # stem, fixed block, 6 stage starts, head
    assert keys[2] == (
        "expanded_conv-input:112x112x16-output:56x56x24-expand:6-kernel:3-stride:2-idskip:0"
    )
    assert keys[-1] == "Logits-input:7x7x1280-output:1000"


@pytest.mark.parametrize("space", ALL_SPACES, ids=lambda s: s.ref)
def test_every_architecture_key_is_a_candidate_key(space: SearchSpace) -> None:
    candidates = set(space.all_op_keys())
    for seed in range(30):
        assert set(space.op_keys(space.sample(seed))) <= candidates


def test_width_multiplier_and_resolution_scale_shapes() -> None:
    space = get_space("proxyless", resolution=64, width_mult=0.5, num_classes=10)
    assert space.stem.out_hw == 32 and space.stem.out_ch == 16
    assert space.head[0].in_hw == math.ceil(64 / 32)
    assert space.head[1].num_classes == 10
    assert space.layers[-1].shape.out_ch == 160
