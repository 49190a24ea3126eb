"""When greedy decoding should stop early: end of turn, the model loops, or the listener went away.

Shared by every in-process backend (torch and ONNX Runtime GenAI), so both stop on the
same rules.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

# Chat-format markers that end a turn in ChatML models such as SmolLM2; whichever of
# them the tokenizer knows also stops decoding.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|im_start|>", "<|eot_id|>")


def stop_token_ids(tokenizer: Any) -> list[int]:
    """Ids of the end-of-turn markers ``tokenizer`` knows, and its end-of-sequence id."""
    vocab = tokenizer.get_vocab()
    ids = {vocab[t] for t in END_OF_TURN_TOKENS if t in vocab}
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return sorted(ids)


def has_repeated_tail(tokens: Sequence[int], size: int) -> bool:
    """True when the last ``size`` tokens already occurred earlier in ``tokens``.

    Greedy decoding of a small model falls into loops ("You can return ... You can return
    ..."); once a long n-gram repeats the rest is the same loop, so generating on only
    wastes time. ``size`` is long (12 by default) so that a short phrase used twice on
    purpose ("within 30 days") does not count.
    """
    if size < 1 or len(tokens) < 2 * size:
        return False
    tail = list(tokens[-size:])
    for start in range(len(tokens) - 2 * size + 1):
        if list(tokens[start : start + size]) == tail:
            return True
    return False


def should_stop(new_tokens: Sequence[int], cancelled: threading.Event, repeat_size: int) -> bool:
    """The early-stop rule on the tokens generated so far (not the prompt)."""
    return cancelled.is_set() or has_repeated_tail(new_tokens, repeat_size)


def make_stopping_criteria(
    prompt_length: int, cancelled: threading.Event, repeat_size: int = 12
) -> Any:
    """A transformers StoppingCriteria applying :func:`should_stop` to the new tokens."""
    import torch
    from transformers import StoppingCriteria

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> Any:
            stop = should_stop(input_ids[0, prompt_length:].tolist(), cancelled, repeat_size)
            return torch.full((input_ids.shape[0],), stop, dtype=torch.bool)

    return _Stop()
