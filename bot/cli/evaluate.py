"""`supportbot eval`: intent and retrieval evaluation on labelled files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import TuneLayersOption, TuningEpochsOption, make_embedder, print_result
from bot.intents.tuning import tuning_for
from bot.settings import Settings
from knowledge.options import RetrievalMode

eval_app = typer.Typer(help="Evaluate models on labelled files.", no_args_is_help=True)


@eval_app.command("intents")
def eval_intents(
    train: Annotated[Path, typer.Option(help="Training file (CSV text,label / JSONL / YAML).")],
    test: Annotated[Path, typer.Option(help="Test file, same format.")],
    oos_label: Annotated[
        str | None, typer.Option(help="Label that marks out-of-scope messages.")
    ] = None,
    text_col: Annotated[str | None, typer.Option(help="Text column (default: detected).")] = None,
    label_col: Annotated[
        str | None, typer.Option(help="Label column (default: label/intent/category).")
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="Folder for a JSON report, confusion matrix and confidence histogram."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    tune_layers: TuneLayersOption = 0,
    epochs: TuningEpochsOption = None,
) -> None:
    """Train on one file, test on another, and report accuracy and macro-F1."""
    from training.evaluation import evaluate_intents

    settings = Settings()
    result = evaluate_intents(
        train,
        test,
        make_embedder(settings),
        text_col=text_col,
        label_col=label_col,
        oos_label=oos_label,
        report_dir=report,
        tuning=tuning_for(tune_layers, epochs),
    )
    print_result(result, as_json)


@eval_app.command("retrieval")
def eval_retrieval(
    docs: Annotated[Path, typer.Option(help="JSONL of {id, title, text}.")],
    queries: Annotated[Path, typer.Option(help="JSONL of {query, doc_id}.")],
    mode: Annotated[RetrievalMode, typer.Option(help="dense, bm25 or hybrid.")] = (
        RetrievalMode.HYBRID
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Index the documents and report hit@1, hit@5, MRR and a fitted no-answer min_score."""
    from training.retrieval_evaluation import evaluate_retrieval

    print_result(evaluate_retrieval(docs, queries, make_embedder(Settings()), mode=mode), as_json)
