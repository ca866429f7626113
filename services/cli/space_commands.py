"""``hwnas space``: describe search spaces, sample and check architectures, list LUT keys."""

from __future__ import annotations

import random
from typing import Annotated

import typer

from latency_db.spaces import Architecture, SearchSpace, get_space, space_names
from services.cli.dispatch import fail
from services.cli.output import emit_json, emit_mapping, emit_table

app = typer.Typer(help="Search spaces: describe, sample, validate, list lookup-table keys.")

SpaceOpt = Annotated[str, typer.Option("--space", help=f"one of: {', '.join(space_names())}")]
ResolutionOpt = Annotated[int | None, typer.Option(help="input resolution (default: the space's)")]
WidthOpt = Annotated[float, typer.Option("--width", help="width multiplier")]
ClassesOpt = Annotated[int | None, typer.Option("--classes", help="number of classes")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object")]


def _instance(space: str, resolution: int | None, width: float, classes: int | None) -> SearchSpace:
    try:
        return get_space(space, resolution, width, classes)
    except ValueError as err:
        fail(f"--space {space}: {err}")


def _parse(instance: SearchSpace, arch: str) -> Architecture:
    try:
        return instance.parse(arch)
    except ValueError as err:
        fail(f"invalid architecture {arch!r}: {err} ('hwnas space describe' lists the tokens)")


@app.command("list")
def list_spaces(as_json: JsonOpt = False) -> None:
    """List the registered spaces at their default instance."""
    rows = [get_space(name).describe() for name in space_names()]
    if as_json:
        emit_json({"spaces": rows})
    else:
        emit_table("search spaces", rows, list(rows[0]))


@app.command()
def describe(
    space: SpaceOpt = "proxyless",
    resolution: ResolutionOpt = None,
    width: WidthOpt = 1.0,
    classes: ClassesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Shape of every searchable layer of a space instance."""
    instance = _instance(space, resolution, width, classes)
    layers = [
        {
            "layer": layer.index,
            "stage": layer.stage,
            "input": f"{layer.shape.in_hw}x{layer.shape.in_hw}x{layer.shape.in_ch}",
            "out_ch": layer.shape.out_ch,
            "stride": layer.shape.stride,
            "candidates": " ".join(layer.candidates),
        }
        for layer in instance.layers
    ]
    if as_json:
        emit_json({**instance.describe(), "ref": instance.ref, "layers": layers})
        return
    emit_mapping(instance.ref, instance.describe())
    emit_table("searchable layers", layers, list(layers[0]))


@app.command()
def sample(
    space: SpaceOpt = "proxyless",
    resolution: ResolutionOpt = None,
    width: WidthOpt = 1.0,
    classes: ClassesOpt = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    count: Annotated[int, typer.Option(min=1, help="how many")] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Print architectures drawn uniformly at random, one per line."""
    instance = _instance(space, resolution, width, classes)
    rng = random.Random(seed)
    archs = [instance.format(instance.sample(rng)) for _ in range(count)]
    if as_json:
        emit_json({"space_ref": instance.ref, "seed": seed, "architectures": archs})
        return
    for arch_text in archs:
        print(arch_text)


@app.command()
def keys(
    space: SpaceOpt = "proxyless",
    resolution: ResolutionOpt = None,
    width: WidthOpt = 1.0,
    classes: ClassesOpt = None,
    arch: Annotated[str | None, typer.Option(help="only the keys of this architecture")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Lookup-table op keys of the whole space, or of one architecture in network order."""
    instance = _instance(space, resolution, width, classes)
    op_keys = instance.op_keys(_parse(instance, arch)) if arch else instance.all_op_keys()
    if as_json:
        emit_json({"space_ref": instance.ref, "architecture": arch, "keys": list(op_keys)})
        return
    for key in op_keys:
        print(key)


@app.command()
def check(
    arch: Annotated[str, typer.Argument(help="space-separated op tokens")],
    space: SpaceOpt = "proxyless",
    resolution: ResolutionOpt = None,
    width: WidthOpt = 1.0,
    classes: ClassesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate an architecture string; exit 2 with the reason when it is malformed."""
    instance = _instance(space, resolution, width, classes)
    canonical = instance.format(_parse(instance, arch))
    if as_json:
        emit_json({"space_ref": instance.ref, "architecture": canonical, "valid": True})
    else:
        print(canonical)
