"""Build the generator and the grounded answerer the settings ask for."""

from __future__ import annotations

from pathlib import Path

from bot.errors import ConfigError
from bot.generation.answerer import GroundedAnswerer
from bot.generation.grounding import GroundingChecker
from bot.generation.options import GeneratorBackend
from bot.generation.prompt import PromptBuilder
from bot.generation.types import Generator
from bot.settings import Settings
from knowledge.embedder import Embedder

ADAPTER_CONFIG = "adapter_config.json"


def local_model_location(settings: Settings) -> tuple[Path, Path | None]:
    """(model folder, adapter folder or None) for the local backend.

    Explicit settings win. Otherwise a model fine-tuned by `supportbot train generator`
    is served when there is one: merged (``generator-tuned/merged``) or as an adapter on
    the base (``generator-tuned``); else the fetched base.
    """
    if settings.generator_model_dir is not None:
        return settings.generator_model_dir, settings.generator_adapter_dir
    tuned = settings.generator_tuned_dir
    if settings.generator_adapter_dir is None:
        if (tuned / "merged" / "config.json").is_file():
            return tuned / "merged", None
        if (tuned / ADAPTER_CONFIG).is_file():
            return settings.generator_base_dir, tuned
    return settings.generator_base_dir, settings.generator_adapter_dir


def make_generator(settings: Settings) -> Generator | None:
    """The configured backend (not yet loaded), or None when generation is switched off."""
    # GeneratorBackend(...) also accepts a plain string set by model_copy(update=...).
    backend = GeneratorBackend(settings.generator_backend)
    if backend is GeneratorBackend.NONE:
        return None
    if backend is GeneratorBackend.REMOTE:
        from bot.generation.remote import RemoteGenerator

        if not settings.generator_url:
            raise ConfigError("generator_backend=remote needs SUPPORTBOT_GENERATOR_URL")
        return RemoteGenerator(
            settings.generator_url,
            settings.generator_model or "",
            timeout_s=settings.generator_timeout_s,
            max_new_tokens=settings.generator_max_new_tokens,
            api_key_env=settings.generator_api_key_env,
        )
    from bot.generation.local import LocalGenerator

    model_dir, adapter_dir = local_model_location(settings)
    if settings.generator_runtime == "onnx":
        from bot.generation.onnx_export import export_location
        from bot.generation.onnx_local import OnnxGenerator

        precision = settings.generator_onnx_precision
        return OnnxGenerator(
            model_dir,
            export_dir=export_location(settings.models_dir, model_dir, adapter_dir, precision),
            precision=precision,
            # Room for the whole prompt and draft, so a kept decoder state can serve any turn.
            context_tokens=settings.generator_max_prompt_tokens
            + settings.generator_max_new_tokens
            + 64,
            kept_prompts=settings.generator_kept_prompts,
            passage_cache_mb=settings.generator_passage_cache_mb,
            block_attention=settings.generator_block_attention,
            adapter_dir=adapter_dir,
            max_new_tokens=settings.generator_max_new_tokens,
            quantize=settings.generator_quantize,  # for the torch fallback
        )
    return LocalGenerator(
        model_dir,
        adapter_dir=adapter_dir,
        max_new_tokens=settings.generator_max_new_tokens,
        quantize=settings.generator_quantize,
        block_attention=settings.generator_block_attention,
    )


def make_answerer(
    settings: Settings, embedder: Embedder, generator: Generator | None = None
) -> GroundedAnswerer | None:
    """Generator + prompt builder + grounding check; None with ``generator_backend=none``."""
    generator = generator or make_generator(settings)
    if generator is None:
        return None
    return GroundedAnswerer(
        generator,
        PromptBuilder(
            generator.count_tokens,
            company=settings.tenant_name,
            max_prompt_tokens=settings.generator_max_prompt_tokens,
        ),
        GroundingChecker(embedder, language=settings.default_language),
        timeout_s=settings.generator_timeout_s,
        total_timeout_s=settings.generator_total_timeout_s,
        drafts=settings.generator_drafts,
        opening_words=settings.generator_opening_words,
    )
