"""`supportbot models`: fetch and prepare the model assets."""

from __future__ import annotations

import typer

from bot.cli.common import console, make_embedder
from bot.settings import Settings

models_app = typer.Typer(help="Model assets.", no_args_is_help=True)


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
        embedder = make_embedder(settings)
        embedder.warm_up()
        runtime = "onnx" if embedder.uses_onnx else "torch (the ONNX export failed, see the log)"
        console.print(f"embedder runtime: {runtime} ({embedder.onnx_dir})")
    if settings.generator_backend == "local" and settings.generator_runtime == "onnx":
        # Export the serving generator for ONNX Runtime now (cached; about 20 s the
        # first time) rather than on the server's first start.
        from bot.generation.factory import make_generator
        from bot.generation.onnx_local import OnnxGenerator

        generator = make_generator(settings)
        if isinstance(generator, OnnxGenerator):
            generator.warm_up()
            where = generator.export_dir if generator.runtime == "onnx" else generator.model_dir
            note = "" if generator.runtime == "onnx" else " (the ONNX export failed, see the log)"
            console.print(f"generator runtime: {generator.runtime}{note} ({where})")
