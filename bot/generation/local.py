"""A Hugging Face causal LM on this machine, decoded greedily in a background thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import AssetError, ConfigError
from bot.generation.stopping import make_stopping_criteria
from bot.generation.types import ChatMessage, GenerationError

# Chat-format markers that end a turn in ChatML models such as SmolLM2; whichever of
# them the tokenizer knows also stops decoding.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|im_start|>", "<|eot_id|>")


@dataclass(frozen=True)
class _Finished:
    error: BaseException | None = None


class LocalGenerator:
    """Greedy decoding with transformers; text deltas are pushed to the caller's event loop.

    ``generate`` runs in its own thread (one at a time: a second turn waits for the lock,
    two decodes side by side on a 2-core CPU would only slow both). Closing the stream
    sets an event that a stopping criterion checks after every token.
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
            vocab = tokenizer.get_vocab()
            self._stop_ids = sorted(
                {vocab[t] for t in END_OF_TURN_TOKENS if t in vocab}
                | ({tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set())
            )
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

    # -- decoding --------------------------------------------------------------------------

    async def stream(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int | None = None
    ) -> AsyncIterator[str]:
        if not messages:
            raise GenerationError("no messages to answer")
        if self._model is None:
            await asyncio.to_thread(self.warm_up)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | _Finished] = asyncio.Queue()
        cancelled = threading.Event()

        def push(item: str | _Finished) -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(queue.put_nowait, item)

        worker = threading.Thread(
            target=self._decode,
            args=(list(messages), max_new_tokens or self.max_new_tokens, push, cancelled),
            name="supportbot-generate",
            daemon=True,
        )
        worker.start()
        try:
            while True:
                item = await queue.get()
                if isinstance(item, _Finished):
                    if item.error is not None:
                        raise GenerationError(
                            f"{self.name} failed while generating: {item.error}"
                        ) from item.error
                    return
                if item:
                    yield item
        finally:
            cancelled.set()  # the stopping criterion ends decoding after the current token

    def _decode(
        self,
        messages: list[ChatMessage],
        max_new_tokens: int,
        push: Any,
        cancelled: threading.Event,
    ) -> None:
        import torch
        from transformers import StoppingCriteriaList, TextStreamer

        class _Streamer(TextStreamer):
            def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
                if text:
                    push(text)

        try:
            with self._decode_lock:
                if cancelled.is_set():
                    push(_Finished())
                    return
                input_ids = self.encode_chat(messages)
                streamer = _Streamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
                stopping = StoppingCriteriaList(
                    [make_stopping_criteria(input_ids.shape[1], cancelled, self.repeat_stop_size)]
                )
                with torch.inference_mode():
                    self._model.generate(
                        input_ids=input_ids,
                        attention_mask=torch.ones_like(input_ids),
                        max_new_tokens=max_new_tokens,
                        do_sample=False,
                        eos_token_id=self._stop_ids,
                        pad_token_id=self._stop_ids[0] if self._stop_ids else None,
                        streamer=streamer,
                        stopping_criteria=stopping,
                    )
            push(_Finished())
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting coroutine, not lost
            push(_Finished(exc))
