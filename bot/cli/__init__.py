"""The ``supportbot`` command line: one module per command group, assembled here."""

from __future__ import annotations

import sys

import typer

from bot.cli.evaluate import eval_app
from bot.cli.kb import kb_app
from bot.cli.models import models_app
from bot.cli.serve import serve
from bot.cli.train import train_app
from bot.errors import SupportbotError
from knowledge.errors import KnowledgeError


def build_cli() -> typer.Typer:
    """The root command with its groups."""
    app = typer.Typer(help="supportbot: a customer-service chatbot backend.", no_args_is_help=True)
    app.command()(serve)
    app.add_typer(models_app, name="models")
    app.add_typer(kb_app, name="kb")
    app.add_typer(train_app, name="train")
    app.add_typer(eval_app, name="eval")
    return app


def main() -> None:
    try:
        build_cli()()
    except (SupportbotError, KnowledgeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
