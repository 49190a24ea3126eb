"""KeptPrompts: which kept decoder state a new prompt continues, and what it evicts."""

from __future__ import annotations

import pytest

from bot.errors import ConfigError
from bot.generation.kept_prompts import KeptPrompts

RULES = list(range(100, 140))  # the fixed opening every prompt shares: 40 tokens


def prompt(passages: int, question: int) -> list[int]:
    """RULES, 60 tokens of passage set ``passages``, then 10 tokens of question ``question``."""
    return (
        RULES
        + [1000 * passages + i for i in range(60)]
        + [50_000 + 10 * question + i for i in range(10)]
    )


def test_an_empty_pool_makes_a_fresh_state() -> None:
    assert KeptPrompts[str](2).take(prompt(1, 1), needed=200) == (None, 0)


def test_a_prompt_with_passages_seen_before_continues_that_state_after_them() -> None:
    pool = KeptPrompts[str](3)
    pool.keep("returns", prompt(1, 1), max_length=300)
    pool.keep("shipping", prompt(2, 1), max_length=300)
    kept, shared = pool.take(prompt(1, 2), needed=200)
    assert kept is not None and kept.state == "returns"
    assert shared == len(RULES) + 60  # only the new question is computed
    assert len(pool) == 1  # taken out until it is kept again


def test_a_new_topic_takes_a_free_slot_rather_than_overwrite_a_kept_conversation() -> None:
    pool = KeptPrompts[str](2)
    pool.keep("returns", prompt(1, 1), max_length=300)
    assert pool.take(prompt(2, 1), needed=200) == (None, 0)
    assert len(pool) == 1


def test_with_the_pool_full_a_new_topic_rewinds_the_least_recently_used_state_to_the_rules() -> (
    None
):
    pool = KeptPrompts[str](2)
    pool.keep("returns", prompt(1, 1), max_length=300)
    pool.keep("shipping", prompt(2, 1), max_length=300)
    kept, shared = pool.take(prompt(3, 1), needed=200)
    assert kept is not None and kept.state == "returns"
    assert shared == len(RULES)


def test_two_prompt_tokens_are_always_left_to_compute() -> None:
    pool = KeptPrompts[str](1)
    pool.keep("returns", prompt(1, 1), max_length=300)
    _, shared = pool.take(prompt(1, 1), needed=200)
    assert shared == len(prompt(1, 1)) - 2


def test_a_state_too_short_for_the_prompt_and_draft_is_not_continued() -> None:
    pool = KeptPrompts[str](1)
    pool.keep("short", prompt(1, 1), max_length=150)
    assert pool.take(prompt(1, 2), needed=200) == (None, 0)
    assert len(pool) == 0  # no room left and nothing usable: the old state is dropped


def test_sharing_fewer_tokens_than_the_minimum_is_no_reuse() -> None:
    pool = KeptPrompts[str](1, min_reused=16)
    pool.keep("other", [7] * 10 + prompt(1, 1), max_length=300)
    assert pool.take([7] * 10 + [8] * 50, needed=100) == (None, 0)


def test_keeping_beyond_the_slots_drops_the_least_recently_used() -> None:
    pool = KeptPrompts[str](2)
    for passages in (1, 2, 3):
        pool.keep(f"topic {passages}", prompt(passages, 1), max_length=300)
    assert len(pool) == 2
    kept, _ = pool.take(prompt(1, 2), needed=200)  # topic 1 is gone: the LRU one of 2 and 3
    assert kept is not None and kept.state == "topic 2"


def test_a_pool_without_slots_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least one"):
        KeptPrompts[str](0)
