"""Decoder states kept from earlier turns, so that a new prompt continues the closest one.

Support traffic repeats itself: the same few articles are retrieved for many customers, and a
follow-up turn keeps its passages and adds to the conversation. A kept state holds the keys
and values of its last prompt; a new prompt that starts with most of it is rewound to the
shared tokens and only the rest is computed. Every prompt shares at least the fixed rules,
so any kept state can serve a new prompt; the pool picks the one whose loss costs least.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from bot.errors import ConfigError

State = TypeVar("State")

# A prompt that shares at least this share of its tokens with a kept state continues it,
# even when that overwrites the state's own conversation: most of the work is saved.
MOSTLY_SHARED = 0.5


@dataclass(frozen=True)
class KeptPrompt(Generic[State]):
    state: State
    prompt: tuple[int, ...]  # the tokens whose keys and values the state holds
    max_length: int  # the most tokens the state can hold


class KeptPrompts(Generic[State]):
    """At most ``slots`` kept states, least recently used first."""

    def __init__(self, slots: int, *, min_reused: int = 16) -> None:
        if slots < 1:
            raise ConfigError(f"at least one kept decoder state is needed, got {slots}")
        self.slots = slots
        self.min_reused = min_reused
        self._kept: OrderedDict[int, KeptPrompt[State]] = OrderedDict()
        self._next_key = 0

    def __len__(self) -> int:
        return len(self._kept)

    def take(self, input_ids: list[int], needed: int) -> tuple[KeptPrompt[State] | None, int]:
        """A kept state to continue and how many of its tokens to keep, or ``(None, 0)``
        when a fresh state should be made (room for it is made here).

        The taken state leaves the pool until ``keep`` puts it back. At least two prompt
        tokens are always left to compute: a one-token append runs the decode kernel, whose
        rounding differs from the prompt kernel's, and the answer to a question must not
        change only because it was asked twice.
        """
        limit = len(input_ids) - 2
        shared = {
            key: min(common_prefix(kept.prompt, input_ids), limit)
            for key, kept in self._kept.items()
            if kept.max_length >= needed
        }
        usable = {key: count for key, count in shared.items() if count >= self.min_reused}
        best = max(usable.values(), default=0)
        if usable and best >= MOSTLY_SHARED * len(input_ids):
            # The most recently used of the deepest matches: a follow-up's own conversation.
            key = [k for k, count in usable.items() if count == best][-1]
        elif len(self._kept) < self.slots:
            return None, 0  # a free slot: keep the other conversations' prompts intact
        elif usable:
            # Only the common opening is shared: overwrite the least recently used state.
            key = next(iter(usable))
        else:
            self._kept.popitem(last=False)
            return None, 0
        return self._kept.pop(key), usable[key]

    def keep(self, state: State, prompt: list[int], max_length: int) -> None:
        """Put ``state`` (holding ``prompt``) back as the most recently used one."""
        while len(self._kept) >= self.slots:
            self._kept.popitem(last=False)
        self._kept[self._next_key] = KeptPrompt(state, tuple(prompt), max_length)
        self._next_key += 1

    def clear(self) -> None:
        self._kept.clear()


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n
