"""The ``supportbot`` command line.

Training and evaluation commands import the ``training`` package inside their functions:
the server's import graph (``bot.app`` and below) never includes it.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bot.errors import SupportbotError
from bot.intents.tuning import tuning_for
from bot.settings import Settings
from knowledge.errors import KnowledgeError
from knowledge.options import IndexKind, RetrievalMode

app = typer.Typer(help="supportbot: a customer-service chatbot backend.", no_args_is_help=True)
models_app = typer.Typer(help="Model assets.", no_args_is_help=True)
kb_app = typer.Typer(help="The knowledge base.", no_args_is_help=True)
train_app = typer.Typer(help="Train models.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate models on labelled files.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(kb_app, name="kb")
app.add_typer(train_app, name="train")
app.add_typer(eval_app, name="eval")

# Status goes to stderr so that `--json` output on stdout stays machine-readable.
console = Console(stderr=True, soft_wrap=True)


def _embedder(settings: Settings):  # type: ignore[no-untyped-def]
    from bot.embedding import make_embedder

    return make_embedder(settings)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
) -> None:
    """Serve the WebSocket chat, health, readiness, metrics and the demo widget."""
    import uvicorn

    from bot.app import create_app

    settings = Settings()
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = settings.model_copy(update=overrides)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    console.print(f"serving on http://{settings.host}:{settings.port} (chat at /ws/chat)")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


@models_app.command("fetch")
def models_fetch() -> None:
    """Check the embedder and fetch + convert the generator base (a no-op when present)."""
    from bot.assets import embedder_location, fetch_generator

    settings = Settings()
    for result in (embedder_location(settings), fetch_generator(settings)):
        state = "already present" if result.already_present else "fetched"
        console.print(f"{result.name}: {state} at {result.path}")
    if settings.embedder_runtime == "onnx":
        # Export the embedder now rather than on the server's first start.
        embedder = _embedder(settings)
        embedder.warm_up()
        runtime = "onnx" if embedder.uses_onnx else "torch (the ONNX export failed, see the log)"
        console.print(f"embedder runtime: {runtime} ({embedder.onnx_dir})")


@kb_app.command("build")
def kb_build(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders (default: the tenant's kb/).")
    ] = None,
    index_kind: Annotated[
        IndexKind | None,
        typer.Option(help="FAISS index: auto (by size), flat (exact) or ivf (default: settings)."),
    ] = None,
) -> None:
    """Build the knowledge index; re-running on unchanged sources does nothing."""
    from knowledge.builder import build_index

    settings = Settings()
    sources = paths or [settings.kb_dir]
    kind = index_kind or settings.retrieval_index_kind
    report = build_index(sources, _embedder(settings), settings.index_dir, index_kind=kind)
    _print_skipped(report.skipped)
    if report.unchanged:
        console.print(
            f"index unchanged ({report.documents} documents, {report.chunks} chunks): nothing to do"
        )
    else:
        console.print(
            f"index built: {report.documents} documents, {report.chunks} chunks "
            f"({report.index_type}) in {settings.index_dir}"
        )


@kb_app.command("add")
def kb_add(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to add or replace.")],
) -> None:
    """Add documents to the index without a rebuild; an id already there is replaced."""
    from knowledge.builder import update_index

    settings = Settings()
    report = update_index(paths, _embedder(settings), settings.index_dir)
    _print_skipped(report.skipped)
    console.print(
        f"added {len(report.added)}, replaced {len(report.replaced)}, "
        f"unchanged {len(report.unchanged)}; the index now holds {report.documents} documents, "
        f"{report.chunks} chunks"
    )


@kb_app.command("remove")
def kb_remove(
    document_ids: Annotated[list[str], typer.Argument(help="Ids of the documents to remove.")],
) -> None:
    """Remove documents from the index by id, without a rebuild."""
    from knowledge.builder import remove_from_index

    settings = Settings()
    report = remove_from_index(document_ids, _embedder(settings), settings.index_dir)
    console.print(
        f"removed {', '.join(report.removed)}; the index now holds {report.documents} documents, "
        f"{report.chunks} chunks"
    )


def _print_skipped(skipped: list[tuple[str, str]]) -> None:
    for path, reason in skipped:
        console.print(f"[yellow]skipped[/yellow] {path}: {reason}", markup=True, highlight=False)


@kb_app.command("search")
def kb_search(
    question: Annotated[str, typer.Argument(help="The question to search for.")],
    k: Annotated[int, typer.Option("--k", min=1, max=50, help="How many passages.")] = 5,
    mode: Annotated[
        RetrievalMode | None, typer.Option(help="dense, bm25 or hybrid (default: settings).")
    ] = None,
) -> None:
    """Show the passages the retriever finds for a question."""
    from bot.runtime import limit_blas_threads
    from knowledge.modes import make_retriever
    from knowledge.store import KnowledgeStore

    settings = Settings()
    embedder = _embedder(settings)
    limit_blas_threads()
    store = KnowledgeStore.load(settings.index_dir, expected_embedder=embedder.name)
    retriever = make_retriever(store, embedder, mode or settings.retrieval_mode)
    table = Table("rank", "score", "dense", "bm25", "document", "section", "text")
    for passage in retriever.run(question, k):
        chunk = passage.chunk
        snippet = chunk.text if len(chunk.text) < 90 else chunk.text[:87] + "..."
        table.add_row(
            str(passage.rank + 1),
            f"{passage.score:.3f}",
            "" if passage.dense is None else f"{passage.dense:.3f}",
            "" if passage.lexical is None else f"{passage.lexical:.3f}",
            chunk.document_id,
            chunk.section,
            " ".join(snippet.split()),
        )
    Console().print(table)


@train_app.command("intents")
def train_intents(
    data: Annotated[
        Path | None, typer.Argument(help="intents.yml, a text,label CSV or JSONL.")
    ] = None,
    text_col: Annotated[str | None, typer.Option(help="CSV/JSONL text column.")] = None,
    label_col: Annotated[str | None, typer.Option(help="CSV/JSONL label column.")] = None,
    force: Annotated[bool, typer.Option(help="Retrain even if the data did not change.")] = False,
    tune_layers: Annotated[
        int,
        typer.Option(
            help="Fine-tune this many top embedder layers, e.g. 3 for large labelled sets "
            "(0: a logistic-regression head on frozen embeddings, best for small sets)."
        ),
    ] = 0,
    epochs: Annotated[
        int | None, typer.Option(help="Fine-tuning epochs (default from the tuning config).")
    ] = None,
) -> None:
    """Train the intent classifier and save it in the data home."""
    from training.intents import train_intent_model

    settings = Settings()
    result = train_intent_model(
        data or settings.intents_file,
        settings.intent_model_dir,
        _embedder(settings),
        text_col=text_col,
        label_col=label_col,
        force=force,
        tuning=tuning_for(tune_layers, epochs),
    )
    if result.unchanged:
        console.print(f"intent model unchanged ({result.intents} intents): nothing to do")
    else:
        console.print(
            f"intent model trained: {result.intents} intents, {result.examples} examples, "
            f"{result.seconds:.1f}s -> {result.output_dir}"
        )


@train_app.command("generator-data")
def train_generator_data(
    items: Annotated[
        Path | None,
        typer.Argument(
            help="Questions with written answers (default: the tenant's generator/train.yml)."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="JSONL to write (default: DATA_HOME/generator/train.jsonl).")
    ] = None,
    top_k: Annotated[int, typer.Option(min=1, max=10, help="Passages per question.")] = 3,
) -> None:
    """Build the generator's JSONL training set: each question with the passages retrieved for it."""
    from bot.runtime import limit_blas_threads
    from knowledge.modes import make_retriever
    from knowledge.store import KnowledgeStore
    from training.generator_data import load_generator_items, write_training_jsonl
    from training.generator_dataset import build_examples, default_items_path

    settings = Settings()
    embedder = _embedder(settings)
    limit_blas_threads()
    store = KnowledgeStore.load(settings.index_dir, expected_embedder=embedder.name)
    retriever = make_retriever(store, embedder, settings.retrieval_mode)
    source = items or default_items_path(settings.tenant_dir)
    target = out or settings.data_home / "generator" / "train.jsonl"
    count = write_training_jsonl(
        build_examples(load_generator_items(source), retriever, top_k), target
    )
    console.print(f"{count} training examples from {source} -> {target}")


@train_app.command("generator")
def train_generator(
    data: Annotated[Path, typer.Option(help="JSONL of {messages, passages, answer}.")],
    lora: Annotated[
        bool, typer.Option("--lora/--full", help="LoRA adapter (default) or full weights.")
    ] = True,
    merge: Annotated[bool, typer.Option(help="Also fold the adapter into a plain model.")] = False,
    epochs: Annotated[int, typer.Option(min=1, help="At most this many epochs.")] = 3,
    trainable_layers: Annotated[
        int, typer.Option(min=1, help="How many of the top layers learn.")
    ] = 10,
    output: Annotated[
        Path | None, typer.Option(help="Output folder (default: the one serving loads).")
    ] = None,
) -> None:
    """Fine-tune the generator base; early stopping on a held-out split; saved with a manifest."""
    from training.generator_training import GeneratorTrainingConfig
    from training.generator_training import train_generator as run

    settings = Settings()
    config = GeneratorTrainingConfig(
        method="lora" if lora else "full",
        epochs=epochs,
        trainable_layers=trainable_layers,
        max_prompt_tokens=settings.generator_max_prompt_tokens,
        company=settings.tenant_name,
    )
    result = run(
        data,
        settings.generator_base_dir,
        output or settings.generator_tuned_dir,
        config,
        merge=merge,
    )
    console.print(
        f"generator trained ({config.method}): {result.train_examples} examples, "
        f"{result.epochs_run} epochs, eval loss {result.eval_loss_before:.3f} -> "
        f"{result.eval_loss:.3f}, {result.seconds / 60:.1f} min -> {result.output_dir}"
        + (f" (merged: {result.merged_dir})" if result.merged_dir else "")
    )


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
    tune_layers: Annotated[
        int,
        typer.Option(
            help="Fine-tune this many top embedder layers, e.g. 3 for large labelled sets "
            "(0: a logistic-regression head on frozen embeddings, best for small sets)."
        ),
    ] = 0,
    epochs: Annotated[
        int | None, typer.Option(help="Fine-tuning epochs (default from the tuning config).")
    ] = None,
) -> None:
    """Train on one file, test on another, and report accuracy and macro-F1."""
    from training.evaluation import evaluate_intents

    settings = Settings()
    result = evaluate_intents(
        train,
        test,
        _embedder(settings),
        text_col=text_col,
        label_col=label_col,
        oos_label=oos_label,
        report_dir=report,
        tuning=tuning_for(tune_layers, epochs),
    )
    _report(result, as_json)


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

    _report(evaluate_retrieval(docs, queries, _embedder(Settings()), mode=mode), as_json)


def _report(result: dict[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
        return
    table = Table("metric", "value")
    for key, value in result.items():
        table.add_row(key, str(value))
    Console().print(table)


def main() -> None:
    try:
        app()
    except (SupportbotError, KnowledgeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
