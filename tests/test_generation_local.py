"""LocalGenerator on a tiny random Llama (fast), and on the real fetched model (slow)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.errors import AssetError, ConfigError
from bot.generation.local import LocalGenerator
from bot.generation.stopping import decode_greedily, has_repeated_tail
from bot.generation.types import ChatMessage, Generator, SteerableGenerator, complete_text
from tests.tiny_lm import (
    MESSAGES,
    assert_closing_stops_the_decode_thread,
    build_tiny_lm,
    needs_generator_base,
    real_generator_dir,
)

pytestmark = needs_generator_base


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> LocalGenerator:
    generator = LocalGenerator(
        build_tiny_lm(tmp_path_factory.mktemp("tiny-lm")), max_new_tokens=20, repeat_stop_size=0
    )
    generator.warm_up()
    return generator


def test_it_is_a_generator(tiny: LocalGenerator) -> None:
    assert isinstance(tiny, Generator)


def test_stream_yields_deltas_that_join_to_the_full_greedy_answer(tiny: LocalGenerator) -> None:
    async def both() -> tuple[list[str], str]:
        deltas = [d async for d in tiny.stream(MESSAGES)]
        return deltas, await complete_text(tiny, MESSAGES)

    deltas, full = asyncio.run(both())
    assert len(deltas) >= 2 and "".join(deltas) == full  # greedy: the same text twice
    assert "<|im_end|>" not in full and "<|im_start|>" not in full


def test_max_new_tokens_bounds_the_answer(tiny: LocalGenerator) -> None:
    text = asyncio.run(complete_text(tiny, MESSAGES, max_new_tokens=3))
    assert tiny.count_tokens(text) <= 3 + 1  # one token of slack for re-tokenising the text


def test_closing_the_stream_stops_the_decode_thread(tiny: LocalGenerator) -> None:
    assert_closing_stops_the_decode_thread(tiny, MESSAGES, max_new_tokens=2000)


def test_two_streams_at_once_both_finish(tiny: LocalGenerator) -> None:
    async def two() -> list[str]:
        return list(await asyncio.gather(*(complete_text(tiny, MESSAGES) for _ in range(2))))

    first, second = asyncio.run(two())
    assert first == second


def test_int8_quantised_model_still_generates(tmp_path: Path) -> None:
    generator = LocalGenerator(build_tiny_lm(tmp_path / "q"), max_new_tokens=8, quantize=True)
    generator.warm_up()
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    assert isinstance(generator.model.model.layers[0].self_attn.q_proj, DynamicLinear)
    assert asyncio.run(complete_text(generator, MESSAGES))


def test_bad_folders_and_limits_are_refused_at_construction(tmp_path: Path) -> None:
    with pytest.raises(AssetError, match="models fetch"):
        LocalGenerator(tmp_path)
    with pytest.raises(AssetError, match="adapter"):
        LocalGenerator(real_generator_dir(), adapter_dir=tmp_path)
    with pytest.raises(ConfigError):
        LocalGenerator(real_generator_dir(), max_new_tokens=0)


@pytest.mark.parametrize(
    ("tokens", "size", "expected"),
    [
        ([1, 2, 3, 1, 2, 3], 3, True),
        ([1, 2, 3, 4, 2, 3], 3, False),
        ([5, 1, 2, 3, 9, 1, 2, 3], 3, True),
        ([1, 2, 3], 3, False),
        ([1, 1], 0, False),
    ],
)
def test_repeated_tail(tokens: list[int], size: int, expected: bool) -> None:
    assert has_repeated_tail(tokens, size) is expected


@pytest.mark.slow
def test_real_model_streams_an_english_answer_from_a_passage() -> None:
    generator = LocalGenerator(real_generator_dir(), max_new_tokens=24, quantize=True)
    messages = [
        ChatMessage(
            "system",
            "Answer from the passage.\n\nPassage: You can return most items within 30 days "
            "of delivery.",
        ),
        ChatMessage("user", "How many days do I have to return an item?"),
    ]
    text = asyncio.run(complete_text(generator, messages))
    assert "30" in text


def test_a_steered_draft_does_not_open_with_the_rejected_drafts_first_token(
    tiny: LocalGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = tiny.encode_chat(MESSAGES)[0].tolist()
    plain: list[int] = []
    steered: list[int] = []
    tiny.generate_ids(ids, 4, plain.append)
    tiny.generate_ids(ids, 4, steered.append, banned_first=[plain[0]])
    assert steered and steered[0] != plain[0]
    # The stream bans the first token of the rejected opening's text.
    banned: list[object] = []
    monkeypatch.setattr(tiny, "generate_ids", lambda *args: banned.append(args[-1]))

    async def steer() -> None:
        async for _ in tiny.stream_avoiding(MESSAGES, ["Yes. We ship to Canada.", " No."]):
            pass

    asyncio.run(steer())
    first = [tiny.tokenizer(w, add_special_tokens=False)["input_ids"][0] for w in ("Yes", "No")]
    assert banned == [sorted(first)]
    assert isinstance(tiny, SteerableGenerator)


def test_a_started_draft_streams_its_opening_and_goes_on_from_it(tiny: LocalGenerator) -> None:
    opening = "Yes, we ship"
    seed = tiny.tokenizer(opening, add_special_tokens=False)["input_ids"]
    ids = tiny.encode_chat(MESSAGES)[0].tolist()
    continued: list[int] = []
    tiny.generate_ids(ids + seed, 6, continued.append)

    async def started() -> list[str]:
        return [d async for d in tiny.stream_from(MESSAGES, opening, max_new_tokens=6)]

    deltas = asyncio.run(started())
    assert deltas[0] == opening  # shown before the model adds a token
    assert "".join(deltas) == tiny.tokenizer.decode(seed + continued, skip_special_tokens=True)


def test_greedy_decoding_skips_banned_first_tokens_and_an_empty_answer() -> None:
    import threading

    import numpy as np

    logits = np.array([0.0, 5.0, 4.0, 3.0, 1.0])  # 1 is the best, 2 (a stop id) the next

    def decode(banned: list[int]) -> list[int]:
        return decode_greedily(
            logits,
            lambda token: np.eye(5)[4] * 9,  # then 4 every time
            max_new_tokens=3,
            stop_ids={2},
            on_token=lambda _token: None,
            cancelled=threading.Event(),
            repeat_size=0,
            banned_first=banned,
        )

    assert decode([]) == [1, 4, 4]
    assert decode([1]) == [3, 4, 4]  # not 1, and not the stop id that would end it empty
    assert logits[1] == 5.0  # the caller's logits are left as they were
