"""Passage blocks read with torch the way ``OnnxGenerator`` assembles them (``block_reuse``):
each block after the rules alone, then moved to its place, so both runtimes answer alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.errors import ConfigError
from bot.generation.block_reuse import PromptLayout, Rotary


def model_rotary(model: Any, model_dir: Path) -> Rotary | None:
    """The key rotation of ``model`` (loaded from ``model_dir``), None if keys cannot move."""
    config = model.config
    head_size = getattr(config, "head_dim", None) or (
        config.hidden_size // config.num_attention_heads
    )
    try:
        return Rotary.from_model_config(model_dir, head_size)
    except ConfigError:
        return None


def read_passages(model: Any, input_ids: list[int], layout: PromptLayout, rotary: Rotary) -> Any:
    """A cache holding the rules and each passage block of ``input_ids``, read after the
    rules alone and moved to its place (call under ``torch.inference_mode``)."""
    import torch
    from transformers import DynamicCache

    rules_end = layout.rules_end
    rules = DynamicCache()
    model(
        input_ids=torch.tensor([input_ids[:rules_end]]),
        cache=rules,
        use_cache=True,
        logits_to_keep=1,
    )
    parts = [[(layer.keys, layer.values)] for layer in rules.layers]
    for start, end in layout.blocks:
        block = DynamicCache(ddp_cache_data=[layer[0] for layer in parts])
        model(
            input_ids=torch.tensor([input_ids[start:end]]),
            position_ids=torch.arange(rules_end, rules_end + end - start)[None],
            cache=block,
            use_cache=True,
            logits_to_keep=1,
        )
        for layer, read in zip(parts, block.layers, strict=True):
            keys = rotary.shift(read.keys[:, :, rules_end:].numpy(), start - rules_end)
            layer.append((torch.from_numpy(keys), read.values[:, :, rules_end:]))
    return DynamicCache(
        ddp_cache_data=[
            (torch.cat([k for k, _ in layer], dim=2), torch.cat([v for _, v in layer], dim=2))
            for layer in parts
        ]
    )
