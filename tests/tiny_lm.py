"""A tiny randomly initialised Llama with the real SmolLM2 tokenizer, saved as a model folder.

Generator tests run against it in well under a second; a few tests marked ``slow`` use the
real fetched model.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from pathlib import Path

import pytest

from bot.generation.types import ChatMessage, Generator
from bot.settings import Settings

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


def real_generator_dir() -> Path:
    return Settings(_env_file=None).generator_base_dir.resolve()


# Tests that need the fetched tokenizer (the tiny model borrows it) skip without it.
needs_generator_base = pytest.mark.skipif(
    not (real_generator_dir() / "tokenizer.json").exists(),
    reason="the generator base is not fetched (supportbot models fetch)",
)
# A short two-message chat for generator backends.
MESSAGES = [ChatMessage("system", "Answer briefly."), ChatMessage("user", "how do returns work?")]


def build_tiny_lm(target: Path, *, seed: int = 0) -> Path:
    """Save a 2-layer, 64-wide Llama with the fetched tokenizer in ``target``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    source = real_generator_dir()
    target.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        if (source / name).exists():
            shutil.copy(source / name, target / name)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=49152,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(target)
    return target


def assert_closing_stops_the_decode_thread(
    generator: Generator, messages: list[ChatMessage], max_new_tokens: int
) -> None:
    """Close a stream after its first delta; the background decode thread must end soon."""

    async def first_delta_then_close() -> None:
        stream = generator.stream(messages, max_new_tokens=max_new_tokens)
        await anext(stream)
        await stream.aclose()

    asyncio.run(first_delta_then_close())
    deadline = time.monotonic() + 5
    while any(t.name == "supportbot-generate" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the decode thread kept running after close"
        time.sleep(0.01)
