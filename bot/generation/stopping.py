"""When greedy decoding should stop early: the model loops, or the listener went away."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any


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


def make_stopping_criteria(
    prompt_length: int, cancelled: threading.Event, repeat_size: int = 12
) -> Any:
    """A transformers StoppingCriteria: stop on a repeated tail or when ``cancelled`` is set."""
    import torch
    from transformers import StoppingCriteria

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> Any:
            stop = cancelled.is_set() or has_repeated_tail(
                input_ids[0, prompt_length:].tolist(), repeat_size
            )
            return torch.full((input_ids.shape[0],), stop, dtype=torch.bool)

    return _Stop()
