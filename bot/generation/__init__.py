"""The answer generator: a causal LM (local or remote) that drafts answers from retrieved
passages, a grounding check on every draft, and an extractive fallback.

Heavy modules (torch, transformers, httpx) are imported only by the backend that needs them.
"""

from bot.generation.types import (
    ChatMessage,
    GenerationError,
    GenerationTimeout,
    Generator,
    complete_text,
)

__all__ = [
    "ChatMessage",
    "GenerationError",
    "GenerationTimeout",
    "Generator",
    "complete_text",
]
