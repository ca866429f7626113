"""The ``--include`` / ``--include-unclean`` options shared by the commands that read
measurements: which verdicts besides ``clean`` may be used (issue 16)."""

from __future__ import annotations

from typing import Annotated

import typer

from latency_db.errors import ValidationError
from latency_db.verdicts import parse_verdicts, sorted_verdicts
from services.cli.dispatch import fail

IncludeOption = Annotated[
    str | None,
    typer.Option(
        "--include", help="also use measurements of these verdicts, e.g. unstable,disturbed"
    ),
]
IncludeUncleanOption = Annotated[
    bool,
    typer.Option("--include-unclean", help="also use unstable and disturbed measurements"),
]


def included_verdicts(include: str | None, include_unclean: bool) -> list[str]:
    """The verdict names to use: always ``clean``, plus what the options name."""
    names = ["unstable", "disturbed"] if include_unclean else []
    names += [n.strip() for n in (include or "").split(",") if n.strip()]
    try:
        return sorted_verdicts(parse_verdicts(names, "--include"))
    except ValidationError as err:
        fail(str(err))
