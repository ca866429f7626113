"""The layer x op grid of a space instance, its heatmap PNG, and the table, heatmap and
batch-lookup routes of ``/v1/lookup-tables`` (the runtime configuration defaults to the one
measured)."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from fastapi.testclient import TestClient
from matplotlib import image

from latency_db.spaces import ZERO, get_space, space_names
from services.lut_grid import FIXED, IDENTITY, lut_grid
from services.plots.lut_heatmap import lut_heatmap_png

from .conftest import Measured

STAGE_STARTS = {"L0", "L4", "L8", "L12", "L16", "L20"}  # proxyless: 4+4+4+4+4+1 layers
RED = np.array([214, 39, 40]) / 255  # tab:red, the hatch of a key not measured


@pytest.mark.parametrize("name", space_names())
def test_the_grid_holds_every_op_key(name: str) -> None:
    space = get_space(name)
    grid = lut_grid(space)
    assert len(grid.layers) == len(space.layers) + len(space.fixed_head_blocks())
    assert {key for row in grid.keys for key in row if key} == set(space.all_op_keys())
    fixed = {block.key for block in space.fixed_head_blocks()}
    assert {row[grid.ops.index(FIXED)] for row in grid.keys} == {*fixed, None}


def test_proxyless_grid_rows_and_identities() -> None:
    grid = lut_grid(get_space("proxyless", resolution=224))
    assert grid.ops == ("k3_e3", "k3_e6", "k5_e3", "k5_e6", "k7_e3", "k7_e6", ZERO, FIXED)
    assert grid.layers[:3] == ("stem 224x224x3 /2", "fixed 112x112x32", "L0 112x112x16 /2")
    assert grid.layers[-2:] == ("head 7x7x320", "logits 7x7x1280")
    identities = [
        (r, c) for r, row in enumerate(grid.keys) for c, key in enumerate(row) if key == IDENTITY
    ]
    assert len(identities) == 21 - 6 and {c for _, c in identities} == {grid.ops.index(ZERO)}
    starts = [r for r, label in enumerate(grid.layers) if label.split()[0] in STAGE_STARTS]
    assert len(starts) == 6  # a stage's first layer is never removed
    assert all(grid.keys[r][grid.ops.index(ZERO)] is None for r in starts)


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(image.imread(io.BytesIO(png), format="png"))


def _red(pixels: np.ndarray) -> int:
    return int(np.sum(np.all(np.abs(pixels[..., :3] - RED) < 0.02, axis=-1)))


def test_heatmap_size_and_hatched_missing_keys() -> None:
    space = get_space("proxyless", resolution=32, width_mult=0.35)
    grid = lut_grid(space)
    rng = np.random.default_rng(0)
    table = {key: float(rng.uniform(0.1, 3.0)) for key in space.all_op_keys()}
    full = lut_heatmap_png(grid, table, "full")
    partial = {k: v for k, v in table.items() if k not in space.searchable_op_keys()[:4]}
    gaps = lut_heatmap_png(grid, partial, "four keys missing")
    for png in (full, gaps):
        assert len(png) > 20_000
        assert _pixels(png).shape == (1000, 900, 4)
    assert _red(_pixels(full)) == 0
    assert _red(_pixels(gaps)) > 100  # the hatches and the legend's swatch
    empty = lut_heatmap_png(grid, {}, "nothing measured")
    assert _red(_pixels(empty)) > _red(_pixels(gaps))


def test_table_and_heatmap_routes(client: TestClient, measured: Measured) -> None:
    query = {"device_id": measured.device_id, "space_ref": measured.space.ref}
    table = client.get("/v1/lookup-tables", params=query).json()
    assert table["runtime_config_id"] == measured.runtime_config_id
    named = client.get(
        "/v1/lookup-tables", params={**query, "runtime_config_id": measured.runtime_config_id}
    )
    assert named.json() == table and table["progress"]["measured"] == 58
    png = client.get("/v1/lookup-tables/heatmap.png", params=query)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n" and len(png.content) > 20_000
    assert struct.unpack(">II", png.content[16:24]) == (900, 1000)
    documented = client.get("/openapi.json").json()["paths"]["/v1/lookup-tables/heatmap.png"]
    assert "image/png" in documented["get"]["responses"]["200"]["content"]
    assert {p["name"] for p in documented["get"]["parameters"]} == {
        "device_id",
        "space_ref",
        "runtime_config_id",
        "batch_size",
        "normalize_drift",
        "include",
    }


def test_heatmap_route_refuses_bad_queries(client: TestClient, measured: Measured) -> None:
    query = {"device_id": measured.device_id, "space_ref": measured.space.ref}
    unknown = client.get(
        "/v1/lookup-tables/heatmap.png", params={**query, "device_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    bad_space = client.get("/v1/lookup-tables/heatmap.png", params={**query, "space_ref": "resnet"})
    assert bad_space.status_code == 422 and "space_ref" in bad_space.json()["message"]
    other_batch = client.get("/v1/lookup-tables/heatmap.png", params={**query, "batch_size": 8})
    assert other_batch.status_code == 422 and "no measurements" in other_batch.json()["message"]
    anonymous = client.get(
        "/v1/lookup-tables/heatmap.png", params=query, headers={"Authorization": ""}
    )
    assert anonymous.status_code == 401


def test_batch_lookup_of_op_keys(client: TestClient, measured: Measured) -> None:
    keys = sorted(measured.lut_ms)[:3]
    query = {"device_id": measured.device_id, "space_ref": measured.space.ref}
    reply = client.post("/v1/lookup-tables/entries", json=query | {"op_keys": keys})
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["runtime_config_id"] == measured.runtime_config_id
    assert list(answer["entries"]) == keys
    for key in keys:
        assert answer["entries"][key]["median_ms"] == pytest.approx(measured.lut_ms[key])
    unmeasured = client.post(
        "/v1/lookup-tables/entries",
        json=query
        | {"op_keys": keys, "batch_size": 8, "runtime_config_id": measured.runtime_config_id},
    )
    assert unmeasured.status_code == 200 and set(unmeasured.json()["entries"].values()) == {None}
    stranger = client.post("/v1/lookup-tables/entries", json=query | {"op_keys": [keys[0], "k9"]})
    assert stranger.status_code == 422
    assert stranger.json()["details"][0]["field"] == "op_keys.1"
