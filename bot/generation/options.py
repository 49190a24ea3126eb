"""Generator choices that settings refer to (kept light: no torch, no httpx)."""

from __future__ import annotations

from enum import StrEnum


class GeneratorBackend(StrEnum):
    LOCAL = "local"  # a Hugging Face causal LM folder, run with transformers in this process
    REMOTE = "remote"  # an OpenAI-compatible /v1/chat/completions server (vLLM, TGI, ...)
    NONE = "none"  # no generation: answers are the best passage, as before
