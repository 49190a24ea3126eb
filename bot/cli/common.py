"""What the command groups share: the status console, the embedder and result printing."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from bot.settings import Settings

if TYPE_CHECKING:
    from knowledge.embedder import Embedder

# Status goes to stderr so that `--json` output on stdout stays machine-readable.
console = Console(stderr=True, soft_wrap=True)

TuneLayersOption = Annotated[
    int,
    typer.Option(
        help="Fine-tune this many top embedder layers, e.g. 3 for large labelled sets "
        "(0: a logistic-regression head on frozen embeddings, best for small sets)."
    ),
]
TuningEpochsOption = Annotated[
    int | None, typer.Option(help="Fine-tuning epochs (default from the tuning config).")
]


def make_embedder(settings: Settings) -> Embedder:
    """The embedder, imported late so that `--help` stays fast."""
    from bot.embedding import make_embedder as build

    return build(settings)


def print_result(result: dict[str, object], as_json: bool) -> None:
    """One JSON object on stdout, or a metric table."""
    if as_json:
        print(json.dumps(result))
        return
    table = Table("metric", "value")
    for key, value in result.items():
        table.add_row(key, str(value))
    Console().print(table)
