"""When greedy decoding should stop early: end of turn, the model loops, or the listener went away.

Shared by every in-process backend (torch and ONNX Runtime), so both stop on the
same rules.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
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


def decode_greedily(
    logits: Any,
    step: Callable[[int], Any],
    *,
    max_new_tokens: int,
    stop_ids: Collection[int],
    on_token: Callable[[int], None],
    cancelled: threading.Event,
    repeat_size: int,
    banned_first: Collection[int] = (),
) -> list[int]:
    """Greedy decoding from the prompt's ``logits``; ``step(token)`` runs one token and
    returns the next logits. End-of-turn ids end the answer and are not passed on; the
    answer does not start with a ``banned_first`` id (nor end before it starts)."""
    new: list[int] = []
    while len(new) < max_new_tokens:
        if not new and banned_first:
            logits = logits.clone() if hasattr(logits, "clone") else logits.copy()
            logits[[*banned_first, *stop_ids]] = float("-inf")
        token = int(logits.argmax())
        if token in stop_ids:
            break
        new.append(token)
        on_token(token)
        if len(new) >= max_new_tokens or should_stop(new, cancelled, repeat_size):
            break
        logits = step(token)
    return new
