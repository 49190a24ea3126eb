"""A Hugging Face causal LM on this machine, decoded greedily in a background thread."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from bot.errors import AssetError, ConfigError
from bot.generation.block_reuse import PromptLayout, Rotary, prompt_layout
from bot.generation.stopping import decode_greedily, stop_token_ids
from bot.generation.threaded import Push, stream_from_thread
from bot.generation.torch_passages import model_rotary, read_passages
from bot.generation.types import ChatMessage, GenerationError


class LocalGenerator:
    """Greedy decoding with transformers; text deltas are pushed to the caller's event loop.

    ``generate`` runs in its own thread (one at a time: a second turn waits for the lock,
    two decodes side by side on a 2-core CPU would only slow both). Closing the stream
    sets an event that the decode loop checks after every token.
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        adapter_dir: Path | None = None,
        max_new_tokens: int = 160,
        repeat_stop_size: int = 12,
        quantize: bool = False,
        threads: int | None = None,
        block_attention: bool = True,
    ) -> None:
        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise AssetError(
                f"generator model folder {model_dir} has no config.json; "
                "run `supportbot models fetch` or set SUPPORTBOT_GENERATOR_MODEL_DIR"
            )
        if adapter_dir is not None and not (Path(adapter_dir) / "adapter_config.json").is_file():
            raise AssetError(f"generator adapter folder {adapter_dir} has no adapter_config.json")
        if max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        if threads is not None and threads < 1:
            raise ConfigError(f"threads must be at least 1, got {threads}")
        self.model_dir = model_dir
        self.adapter_dir = Path(adapter_dir) if adapter_dir else None
        self.max_new_tokens = max_new_tokens
        self.repeat_stop_size = repeat_stop_size
        self.quantize = quantize
        self.threads = threads
        self.block_attention = block_attention
        self.name = f"local:{model_dir.name}" + (f"+{self.adapter_dir.name}" if adapter_dir else "")
        self._tokenizer: Any = None
        self._model: Any = None
        self._stop_ids: list[int] = []
        self._load_lock = threading.Lock()
        self._decode_lock = threading.Lock()

    # -- loading ---------------------------------------------------------------------------

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            with self._load_lock:
                if self._tokenizer is None:
                    self._tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        return self._tokenizer

    @property
    def model(self) -> Any:
        self.warm_up()
        return self._model

    def warm_up(self) -> None:
        if self._model is not None:
            return
        tokenizer = self.tokenizer
        with self._load_lock:
            if self._model is not None:
                return
            import torch

            from bot.generation.loading import load_causal_lm

            if self.threads:
                torch.set_num_threads(self.threads)
            model = load_causal_lm(self.model_dir, self.adapter_dir, quantize=self.quantize)
            self._stop_ids = stop_token_ids(tokenizer)
            self._model = model

    # -- prompts ---------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def encode_chat(self, messages: Sequence[ChatMessage]) -> Any:
        """Token ids (a 1 x n tensor) of ``messages`` in the model's chat format, ready to answer."""
        encoded = self.tokenizer.apply_chat_template(
            [m.as_dict() for m in messages],
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            return_tensors="pt",
        )
        return encoded["input_ids"]

    def layout(self, messages: Sequence[ChatMessage], input_ids: list[int]) -> PromptLayout | None:
        """Where the passages lie in the prompt when they are read as blocks, else None."""
        if not self.block_attention:
            return None
        return prompt_layout(self.tokenizer, messages, input_ids)

    # -- decoding --------------------------------------------------------------------------

    def stream(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int | None = None
    ) -> AsyncIterator[str]:
        return self._stream(messages, max_new_tokens, ())

    def stream_avoiding(
        self,
        messages: Sequence[ChatMessage],
        openings: Sequence[str],
        *,
        max_new_tokens: int | None = None,
    ) -> AsyncIterator[str]:
        return self._stream(messages, max_new_tokens, openings)

    def stream_from(
        self, messages: Sequence[ChatMessage], opening: str, *, max_new_tokens: int | None = None
    ) -> AsyncIterator[str]:
        return self._stream(messages, max_new_tokens, (), opening)

    async def _stream(
        self,
        messages: Sequence[ChatMessage],
        max_new_tokens: int | None,
        avoid: Sequence[str],
        opening: str = "",
    ) -> AsyncIterator[str]:
        if not messages:
            raise GenerationError("no messages to answer")
        if not self.loaded:
            await asyncio.to_thread(self.warm_up)
        chat = list(messages)
        limit = max_new_tokens or self.max_new_tokens
        banned = self._first_tokens(avoid)
        opening_ids = self._encode_opening(opening)

        def decode(push: Push, cancelled: threading.Event) -> None:
            with self._decode_lock:  # one decode at a time; the next turn waits its turn
                if cancelled.is_set():
                    return
                ids = self.encode_chat(chat)[0].tolist()
                layout = self.layout(chat, ids)  # the opening lies after the passages
                text = IncrementalText(self.tokenizer)
                if opening_ids:
                    push(text.extend(opening_ids))
                    ids = ids + opening_ids
                self.generate_ids(
                    ids, limit, lambda token: push(text.add(token)), cancelled, layout, banned
                )

        async for delta in stream_from_thread(decode, name=self.name):
            yield delta

    def _encode_opening(self, opening: str) -> list[int]:
        """The answer's given first words as tokens, the way they start an answer."""
        if not opening.strip():
            return []
        return list(self.tokenizer(opening.strip(), add_special_tokens=False)["input_ids"])

    def _first_tokens(self, openings: Sequence[str]) -> list[int]:
        """The first token id of each opening: what a steered draft may not start with."""
        return sorted({ids[0] for ids in map(self._encode_opening, openings) if ids})

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @functools.cached_property
    def _key_rotary(self) -> Rotary | None:
        """How to move keys for block reading, read once from the model's config."""
        return model_rotary(self.model, self.model_dir)

    def generate_ids(
        self,
        input_ids: list[int],
        max_new_tokens: int,
        on_token: Callable[[int], None],
        cancelled: threading.Event | None = None,
        layout: PromptLayout | None = None,
        banned_first: Collection[int] = (),
    ) -> None:
        """Greedy decoding of ``input_ids``; ``on_token`` gets each new token id as it is chosen.

        With a ``layout`` the passages are read as independent blocks, the way the ONNX
        runtime reads them (``block_reuse``). Stops on end-of-turn (that token is not passed
        on), ``max_new_tokens``, a repeated tail or ``cancelled``; the answer does not start
        with a ``banned_first`` id. Callers hold ``_decode_lock`` when they share the model.
        """
        import torch
        from transformers import DynamicCache

        model = self.model
        cache = DynamicCache()
        position = 0

        def run(tokens: list[int]) -> Any:
            nonlocal position
            out = model(
                input_ids=torch.tensor([tokens]),
                position_ids=torch.arange(position, position + len(tokens))[None],
                cache=cache,
                use_cache=True,
                logits_to_keep=1,
            )
            position += len(tokens)
            return out.logits[0, -1]

        with torch.inference_mode():
            rotary = self._key_rotary if layout is not None else None
            if layout is not None and rotary is not None:
                cache = read_passages(model, input_ids, layout, rotary)
                position = layout.passages_end
            decode_greedily(
                run(input_ids[position:]),
                lambda token: run([token]),
                max_new_tokens=max_new_tokens,
                stop_ids=set(self._stop_ids),
                on_token=on_token,
                cancelled=cancelled or threading.Event(),
                repeat_size=self.repeat_stop_size,
                banned_first=banned_first,
            )


class IncrementalText:
    """Token ids in, new text out: decodes the whole answer so far and returns what is new.

    Re-decoding (answers are a few hundred tokens at most) keeps multi-token characters and
    the tokenizer's spacing rules right; a trailing replacement character means a character
    is still incomplete, so nothing is returned until it is.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.sent = 0

    def add(self, token: int) -> str:
        return self.extend([token])

    def extend(self, tokens: Sequence[int]) -> str:
        self.ids.extend(tokens)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd") or len(text) <= self.sent:
            return ""
        delta, self.sent = text[self.sent :], len(text)
        return delta
