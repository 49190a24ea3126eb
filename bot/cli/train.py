"""`supportbot train`: intent model, generator data and generator fine-tuning.

The ``training`` package is imported inside each command: the server's import graph
(``bot.app`` and below) never includes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import TuneLayersOption, TuningEpochsOption, console, make_embedder
from bot.intents.tuning import tuning_for
from bot.settings import Settings

train_app = typer.Typer(help="Train models.", no_args_is_help=True)


@train_app.command("intents")
def train_intents(
    data: Annotated[
        Path | None, typer.Argument(help="intents.yml, a text,label CSV or JSONL.")
    ] = None,
    text_col: Annotated[str | None, typer.Option(help="CSV/JSONL text column.")] = None,
    label_col: Annotated[str | None, typer.Option(help="CSV/JSONL label column.")] = None,
    force: Annotated[bool, typer.Option(help="Retrain even if the data did not change.")] = False,
    tune_layers: TuneLayersOption = 0,
    epochs: TuningEpochsOption = None,
) -> None:
    """Train the intent classifier and save it in the data home."""
    from training.intents import train_intent_model

    settings = Settings()
    result = train_intent_model(
        data or settings.intents_file,
        settings.intent_model_dir,
        make_embedder(settings),
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
    drop_unsupported: Annotated[
        bool,
        typer.Option(
            help="Leave out answers that fail the grounding check against their passages."
        ),
    ] = True,
) -> None:
    """Build the generator's JSONL training set: each question with the passages retrieved for it."""
    from bot.generation.grounding import GroundingChecker
    from bot.runtime import limit_blas_threads
    from knowledge.modes import make_retriever
    from knowledge.store import KnowledgeStore
    from training.generator_data import load_generator_items, write_training_jsonl
    from training.generator_dataset import (
        build_examples,
        default_items_path,
        split_by_grounding,
    )

    settings = Settings()
    embedder = make_embedder(settings)
    limit_blas_threads()
    store = KnowledgeStore.load(settings.index_dir, expected_embedder=embedder.name)
    retriever = make_retriever(store, embedder, settings.retrieval_mode)
    source = items or default_items_path(settings.tenant_dir)
    target = out or settings.data_home / "generator" / "train.jsonl"
    examples = build_examples(load_generator_items(source), retriever, top_k)
    if drop_unsupported:
        examples, dropped = split_by_grounding(
            examples, GroundingChecker(embedder, language=settings.default_language)
        )
        for example in dropped:
            console.print(f"left out (answer not supported by its passages): {example.question}")
    count = write_training_jsonl(examples, target)
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
    blocks: Annotated[
        bool,
        typer.Option(
            "--blocks/--whole-prompts",
            help="Read passages as blocks, as serving does, or prompts whole (default).",
        ),
    ] = False,
    prompt_gradients: Annotated[
        bool,
        typer.Option(
            "--prompt-gradients/--answer-gradients",
            help="Whole prompts: learn through the answer's tokens only, the prompt read "
            "without gradients (default: a step costs about two thirds), or through the whole "
            "prompt too. --blocks always learns through the prompt.",
        ),
    ] = False,
    seed: Annotated[
        int, typer.Option(help="Chooses the eval split, the example order and the init.")
    ] = 0,
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
        passages_as_blocks=blocks,
        prompt_gradients=prompt_gradients,
        seed=seed,
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
