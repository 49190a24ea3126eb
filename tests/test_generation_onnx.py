"""OnnxGenerator (ONNX Runtime on a GenAI export) on a tiny random Llama exported here, and on
the real export."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.generation.block_reuse import Rotary
from bot.generation.local import LocalGenerator
from bot.generation.onnx_export import MODEL_FILE, ensure_export, export_location
from bot.generation.onnx_local import OnnxGenerator
from bot.generation.prompt import PromptBuilder, PromptPassage
from bot.generation.types import ChatMessage, Generator, complete_text
from bot.settings import Settings
from tests.tiny_lm import (
    MESSAGES,
    assert_closing_stops_the_decode_thread,
    build_tiny_lm,
    needs_generator_base,
    real_generator_dir,
)

pytest.importorskip("onnxruntime_genai", reason="onnxruntime-genai is not installed")
pytestmark = needs_generator_base


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_lm(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture(scope="module")
def tiny(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> OnnxGenerator:
    generator = OnnxGenerator(
        tiny_dir,
        export_dir=tmp_path_factory.mktemp("onnx") / "tiny",
        precision="fp32",
        max_new_tokens=20,
        repeat_stop_size=0,
    )
    generator.warm_up()
    assert generator.runtime == "onnx", "the tiny model's export failed (see the log)"
    return generator


def greedy_ids(generator: LocalGenerator, max_new_tokens: int = 12) -> list[int]:
    ids = generator.encode_chat(MESSAGES)[0].tolist()
    out: list[int] = []
    generator.generate_ids(ids, max_new_tokens, out.append)
    return out


def test_it_is_a_generator_running_on_onnx(tiny: OnnxGenerator) -> None:
    assert isinstance(tiny, Generator)
    assert tiny.name.endswith("[onnx-fp32]")


def test_stream_yields_deltas_that_join_to_the_full_greedy_answer(tiny: OnnxGenerator) -> None:
    async def both() -> tuple[list[str], str]:
        deltas = [d async for d in tiny.stream(MESSAGES)]
        return deltas, await complete_text(tiny, MESSAGES)

    deltas, full = asyncio.run(both())
    assert len(deltas) >= 2 and "".join(deltas) == full  # the second run reused the prompt
    assert "<|im_end|>" not in full and "<|im_start|>" not in full


def test_max_new_tokens_bounds_the_answer(tiny: OnnxGenerator) -> None:
    assert len(greedy_ids(tiny, 3)) == 3
    text = asyncio.run(complete_text(tiny, MESSAGES, max_new_tokens=3))
    assert tiny.count_tokens(text) <= 3 + 1  # one token of slack for re-tokenising the text


def test_an_end_of_turn_token_ends_the_answer_and_is_not_sent(tiny: OnnxGenerator) -> None:
    ids = greedy_ids(tiny)
    assert len(ids) == 12
    saved = tiny._stop_ids
    tiny._stop_ids = [*saved, ids[0]]  # as if the model's first word had been <|im_end|>
    try:
        assert greedy_ids(tiny) == []
    finally:
        tiny._stop_ids = saved


def test_the_repetition_rule_stops_a_loop(tiny_dir: Path, tmp_path: Path) -> None:
    generator = OnnxGenerator(
        tiny_dir, export_dir=tmp_path / "x", precision="fp32", repeat_stop_size=2
    )
    generator._load_onnx = lambda: None  # type: ignore[method-assign]  # torch path: same rule
    generator.warm_up()
    from bot.generation.stopping import has_repeated_tail

    out = greedy_ids(generator, 200)
    assert len(out) < 200 and has_repeated_tail(out, 2)


def test_closing_the_stream_stops_the_decode_thread(tiny: OnnxGenerator) -> None:
    assert_closing_stops_the_decode_thread(tiny, MESSAGES, max_new_tokens=900)


def test_a_shared_prefix_is_reused_without_changing_the_answer(tiny: OnnxGenerator) -> None:
    other = [MESSAGES[0], ChatMessage("user", "and what about refunds for a rug?")]
    asyncio.run(complete_text(tiny, MESSAGES))  # leaves the state holding MESSAGES' prompt
    reused = asyncio.run(complete_text(tiny, other))
    tiny.forget_prefix()
    assert asyncio.run(complete_text(tiny, other)) == reused


def test_a_prompt_with_passages_seen_before_continues_their_state_and_answers_the_same(
    tiny: OnnxGenerator,
) -> None:
    returns = ChatMessage("system", "Passages: items can be returned within 30 days, unused. " * 4)
    shipping = ChatMessage("system", "Passages: standard shipping takes 3 to 5 business days. " * 4)
    tiny.forget_prefix()
    asyncio.run(complete_text(tiny, [returns, ChatMessage("user", "can I return a lamp?")]))
    asyncio.run(complete_text(tiny, [shipping, ChatMessage("user", "when will it come?")]))
    assert tiny.kept_states == 2  # a new topic took a free slot
    follow_up = [returns, ChatMessage("user", "and a rug I used once?")]
    reused = asyncio.run(complete_text(tiny, follow_up))
    assert tiny.kept_states == 2  # it continued the returns state instead of a fresh one
    tiny.forget_prefix()
    assert asyncio.run(complete_text(tiny, follow_up)) == reused


RETURNS = PromptPassage("Returns", "Items can be returned within 30 days, unused.", "Policy")
SHIPPING = PromptPassage("Shipping", "Standard shipping takes 3 to 5 business days.")


def passages_chat(
    generator: LocalGenerator, question: str, passages: list[PromptPassage]
) -> list[ChatMessage]:
    return list(PromptBuilder(generator.count_tokens).build(question, passages).messages)


def first_logits(
    generator: LocalGenerator, messages: list[ChatMessage], monkeypatch: pytest.MonkeyPatch
) -> np.ndarray:
    """The logits the backend's greedy loop starts from (its prompt read, blocks and all)."""
    seen: list[np.ndarray] = []
    for module in ("local", "onnx_local"):
        monkeypatch.setattr(
            f"bot.generation.{module}.decode_greedily",
            lambda logits, step, **_: seen.append(np.asarray(logits, dtype=np.float32)),
        )
    ids = generator.encode_chat(messages)[0].tolist()
    generator.generate_ids(ids, 1, lambda _token: None, None, generator.layout(messages, ids))
    return seen[0]


def test_a_passage_read_once_serves_a_later_prompt_at_another_rank(tiny: OnnxGenerator) -> None:
    tiny.forget_prefix()
    asyncio.run(
        complete_text(tiny, passages_chat(tiny, "can I return a lamp?", [RETURNS, SHIPPING]))
    )
    assert len(tiny.blocks) == 4  # "[1]", the returns text, "\n\n[2]", the shipping text
    hits, misses = tiny.blocks.hits, tiny.blocks.misses
    swapped = passages_chat(tiny, "when does my parcel come?", [SHIPPING, RETURNS])
    reused = asyncio.run(complete_text(tiny, swapped))
    # Nothing read again: "[1]" is still in the kept state (both prompts open with it),
    # the other three blocks come from the cache, each at its new place.
    assert (tiny.blocks.hits - hits, tiny.blocks.misses - misses) == (3, 0)
    tiny.forget_prefix()  # nothing kept: every block read afresh
    assert asyncio.run(complete_text(tiny, swapped)) == reused
    assert tiny.blocks.misses - misses == 4


def test_torch_reads_passages_as_the_onnx_runtime_does(
    tiny: OnnxGenerator, tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = passages_chat(tiny, "can I return a lamp?", [SHIPPING, RETURNS])
    reference = LocalGenerator(tiny_dir, quantize=False)
    tiny.forget_prefix()
    onnx = first_logits(tiny, messages, monkeypatch)
    in_blocks = first_logits(reference, messages, monkeypatch)
    np.testing.assert_allclose(onnx, in_blocks, atol=1e-4)
    reference.block_attention = False
    whole = first_logits(reference, messages, monkeypatch)
    assert np.abs(whole - in_blocks).max() > 1e-3  # reading in blocks is a different reading


def test_keys_that_do_not_move_by_rotation_turn_block_reuse_off(
    tiny: OnnxGenerator,
    tiny_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: Any,
) -> None:
    monkeypatch.setattr(Rotary, "shift", lambda self, keys, delta: keys)
    generator = OnnxGenerator(tiny_dir, export_dir=tiny.export_dir, precision="fp32")
    with caplog.at_level(logging.WARNING):
        generator.warm_up()
    assert generator.runtime == "onnx" and "do not move by rotation" in caplog.text
    messages = passages_chat(generator, "can I return a lamp?", [RETURNS])
    ids = generator.encode_chat(messages)[0].tolist()
    assert generator.layout(messages, ids) is None  # read with ordinary attention
    assert asyncio.run(complete_text(generator, messages, max_new_tokens=4))
    assert len(generator.blocks) == 0


def test_passages_read_ahead_serve_the_first_question_about_them(tiny: OnnxGenerator) -> None:
    tiny.forget_prefix()
    builder = PromptBuilder(tiny.count_tokens)
    assert tiny.read_ahead([RETURNS, SHIPPING], builder, threading.Event()) == 2
    misses = tiny.blocks.misses
    question = passages_chat(tiny, "can I return a lamp?", [SHIPPING, RETURNS])
    ahead = asyncio.run(complete_text(tiny, question))
    assert tiny.blocks.misses == misses  # every block of the first prompt was read ahead
    tiny.forget_prefix()
    assert asyncio.run(complete_text(tiny, question)) == ahead


def test_reading_ahead_stops_when_the_cache_is_full_or_told_to(
    tiny: OnnxGenerator, tiny_dir: Path
) -> None:
    builder = PromptBuilder(tiny.count_tokens)
    full = OnnxGenerator(tiny_dir, export_dir=tiny.export_dir, precision="fp32", passage_cache_mb=0)
    full.warm_up()
    assert full.read_ahead([RETURNS, SHIPPING], builder, threading.Event()) == 0
    assert len(full.blocks) == 0  # nothing dropped to make room: nothing read
    stop = threading.Event()
    stop.set()
    tiny.forget_prefix()
    assert tiny.read_ahead([RETURNS], builder, stop) == 0 and len(tiny.blocks) == 0


def test_the_export_is_cached_by_fingerprint(
    tiny: OnnxGenerator, tiny_dir: Path, tmp_path: Path
) -> None:
    target = tiny.export_dir  # exported by the fixture
    stamp = (target / MODEL_FILE).stat().st_mtime_ns
    assert ensure_export(tiny_dir, None, target, "fp32") == target
    assert (target / MODEL_FILE).stat().st_mtime_ns == stamp  # not exported again
    assert export_location(tmp_path, tiny_dir, None, "int4") != export_location(
        tmp_path, tiny_dir, None, "fp32"
    )


def test_a_failed_export_falls_back_to_torch_and_says_so(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    def broken(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 1, "", "builder: unsupported model")

    monkeypatch.setattr("bot.generation.onnx_export.subprocess.run", broken)
    generator = OnnxGenerator(tiny_dir, export_dir=tmp_path / "x", max_new_tokens=4)
    with caplog.at_level(logging.WARNING):
        generator.warm_up()
    assert generator.runtime == "torch"
    assert "runs on torch instead" in caplog.text and "unsupported model" in caplog.text
    assert asyncio.run(complete_text(generator, MESSAGES))


def real_export(precision: str) -> Path:
    return export_location(
        Settings(_env_file=None).models_dir, real_generator_dir(), None, precision
    )


@pytest.mark.slow
@pytest.mark.skipif(
    not (real_export("int8") / MODEL_FILE).exists(),
    reason="no ONNX export of the generator base (supportbot models fetch makes it)",
)
def test_real_model_answers_like_torch_on_a_short_prompt() -> None:
    messages = [
        ChatMessage(
            "system",
            "Answer from the passage.\n\nPassage: You can return most items within 30 days "
            "of delivery.",
        ),
        ChatMessage("user", "How many days do I have to return an item?"),
    ]
    torch_text = asyncio.run(
        complete_text(LocalGenerator(real_generator_dir(), max_new_tokens=16), messages)
    )
    # Same fp32 weights: the same greedy answer (an export made once, then cached).
    exact = OnnxGenerator(real_generator_dir(), export_dir=real_export("fp32"), precision="fp32")
    assert asyncio.run(complete_text(exact, messages, max_new_tokens=16)) == torch_text
    assert exact.runtime == "onnx"
    # The served 8-bit export: near-ties may go the other way, the fact may not.
    served = OnnxGenerator(
        real_generator_dir(), export_dir=real_export("int8"), precision="int8", max_new_tokens=16
    )
    assert "30" in asyncio.run(complete_text(served, messages)) and "30" in torch_text


def test_onnx_decoding_can_be_kept_from_an_opening(tiny: OnnxGenerator) -> None:
    first = greedy_ids(tiny, 4)
    ids = tiny.encode_chat(MESSAGES)[0].tolist()
    steered: list[int] = []
    tiny.generate_ids(ids, 4, steered.append, banned_first=[first[0]])
    assert steered and steered[0] != first[0]


def test_a_started_draft_goes_on_from_its_opening_after_passages_read_as_blocks(
    tiny: OnnxGenerator,
) -> None:
    messages = passages_chat(tiny, "can I return a lamp?", [RETURNS, SHIPPING])
    ids = tiny.encode_chat(messages)[0].tolist()
    layout = tiny.layout(messages, ids)
    assert layout is not None
    seed = tiny.tokenizer("Items can be", add_special_tokens=False)["input_ids"]
    tiny.forget_prefix()
    continued: list[int] = []
    tiny.generate_ids(ids + seed, 6, continued.append, None, layout)

    async def started() -> list[str]:
        return [d async for d in tiny.stream_from(messages, "Items can be", max_new_tokens=6)]

    tiny.forget_prefix()
    deltas = asyncio.run(started())
    assert deltas[0] == "Items can be"
    assert "".join(deltas) == tiny.tokenizer.decode(seed + continued, skip_special_tokens=True)
