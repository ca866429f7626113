"""``hwnas dataset``: the datasets a search may name (``--set dataset=NAME``). Adding and
removing one is an admin's (the local CLI acts as the admin); every user lists them."""

from __future__ import annotations

from typing import Annotated, Any

import pydantic
import typer
from sqlalchemy.orm import Session

from latency_db.settings import get_settings
from services import datasets as service
from services.bootstrap import admin_user
from services.cli.dispatch import fail, run_action
from services.cli.output import emit_json, emit_mapping, emit_table
from services.schemas.datasets import DatasetCreate

app = typer.Typer(help="Datasets a search may name: add (admins), list, remove (admins).")

NameArgument = Annotated[str, typer.Argument(help="the dataset's name, e.g. imagenet-100")]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object")]


@app.command("add")
def add(
    name: NameArgument,
    root: Annotated[
        str, typer.Argument(help="absolute ImageFolder root (train/, val/) as workers see it")
    ],
    description: Annotated[str, typer.Option(help="what it holds")] = "",
    as_json: JsonOption = False,
) -> None:
    """Register a dataset by name; searches then name it instead of a path."""
    try:
        body = DatasetCreate(name=name, root=root, description=description)
    except pydantic.ValidationError as err:
        first = err.errors()[0]
        fail(f"dataset {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")

    def local(session: Session) -> dict[str, Any]:
        created = service.register(session=session, body=body, admin=admin_user(session))
        return created.model_dump(mode="json")

    created = run_action(
        get_settings(),
        local=local,
        remote=lambda api: api.datasets.register(body.name, body.root, body.description),
    )
    if as_json:
        emit_json(created)
        return
    emit_mapping(f"dataset {created['name']}", {"root": created["root"]})


@app.command("list")
def list_datasets(as_json: JsonOption = False) -> None:
    """The bundled dataset and the registered ones (roots shown to admins)."""

    def local(session: Session) -> list[dict[str, Any]]:
        rows = service.listing(session=session, viewer=admin_user(session))
        return [row.model_dump(mode="json") for row in rows]

    rows = run_action(get_settings(), local=local, remote=lambda api: api.datasets.list())
    if as_json:
        emit_json({"datasets": rows})
        return
    emit_table("datasets", rows, ("name", "description", "root"))


@app.command("remove")
def remove(name: NameArgument, as_json: JsonOption = False) -> None:
    """Forget a registered dataset; searches that named it keep their folder."""

    def local(session: Session) -> dict[str, Any]:
        removed = service.remove(session=session, name=name, admin=admin_user(session))
        return removed.model_dump(mode="json")

    removed = run_action(get_settings(), local=local, remote=lambda api: api.datasets.remove(name))
    if as_json:
        emit_json(removed)
        return
    typer.echo(f"dataset {removed['name']} removed")
