"""Run a causal LM's frozen bottom layers once per example, and the loss on answer tokens only.

Fine-tuning changes only the top ``trainable_layers`` decoder layers, so what the layers below
them compute for an example is the same in every epoch and every evaluation. It is computed
once and kept; each later step feeds it to the first trainable layer (as ``inputs_embeds``,
with the frozen layers swapped for pass-throughs) and runs only the top of the model.
The vocabulary projection (49k x 576 per position in SmolLM2) is applied only where an
answer token is predicted, not to the prompt positions whose labels are masked out anyway.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

IGNORED = -100


class _StopForward(Exception):
    """Raised by a hook once the frozen layers' output is captured: the rest is not needed."""


def decoder_stack(model: Any) -> Any:
    """The module holding ``embed_tokens`` and ``layers`` inside a (peft-wrapped) causal LM."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return inner.model


class FrozenPrefix:
    """Hidden states entering layer ``first_trainable`` for each example, computed once."""

    def __init__(self, model: Any, first_trainable: int) -> None:
        self.model = model
        self.first_trainable = first_trainable
        self.stack = decoder_stack(model)
        if not 0 <= first_trainable < len(self.stack.layers):
            raise ValueError(f"first trainable layer {first_trainable} is out of range")

    def hidden_states(self, input_ids: Sequence[int]) -> Any:
        ids = torch.tensor([list(input_ids)])
        if self.first_trainable == 0:
            with torch.no_grad():
                return self.stack.embed_tokens(ids)
        captured: list[Any] = []

        def capture(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            captured.append(args[0] if args else kwargs["hidden_states"])
            raise _StopForward

        hook = self.stack.layers[self.first_trainable].register_forward_pre_hook(
            capture, with_kwargs=True
        )
        try:
            with torch.no_grad():  # not inference_mode: these tensors feed autograd later
                self.stack(input_ids=ids)
        except _StopForward:
            pass
        finally:
            hook.remove()
        return captured[0].detach()

    @contextmanager
    def skipping_frozen_layers(self) -> Iterator[None]:
        """Within the block the frozen layers pass their input through unchanged."""
        original = self.stack.layers
        passthrough = [_PassThrough() for _ in range(self.first_trainable)]
        self.stack.layers = torch.nn.ModuleList(
            [*passthrough, *list(original)[self.first_trainable :]]
        )
        try:
            yield
        finally:
            self.stack.layers = original

    def answer_loss(self, hidden: Any, labels: Sequence[int]) -> Any:
        """Mean cross-entropy of the answer tokens, the prompt fed as cached ``hidden``."""
        positions = [i for i in range(len(labels) - 1) if labels[i + 1] != IGNORED]
        if not positions:
            raise ValueError("an example without answer tokens")
        keep = torch.tensor(positions)
        targets = torch.tensor([labels[i + 1] for i in positions])
        with self.skipping_frozen_layers():
            logits = self.model(inputs_embeds=hidden, logits_to_keep=keep).logits
        return torch.nn.functional.cross_entropy(logits[0].float(), targets)


class _PassThrough(torch.nn.Module):
    """Stands in for a frozen layer whose output is already in the cached hidden states."""

    def forward(self, hidden_states: Any, *args: Any, **kwargs: Any) -> Any:
        return hidden_states
