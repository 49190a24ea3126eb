"""Generator training data and the fine-tuning run (on a tiny model), and how serving finds it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.errors import ConfigError, InputError
from bot.generation.factory import local_model_location, make_generator
from bot.generation.grounding import GroundingChecker
from bot.generation.local import LocalGenerator
from bot.generation.prompt import PromptPassage
from bot.generation.types import ChatMessage, complete_text
from bot.runtime import Runtime
from bot.settings import Settings
from knowledge.embedder import Embedder
from knowledge.modes import make_retriever
from knowledge.store import KnowledgeStore
from tests.tiny_lm import build_tiny_lm, needs_generator_base
from training.generator_data import (
    TrainingExample,
    load_generator_items,
    read_training_jsonl,
    write_training_jsonl,
)
from training.generator_dataset import build_examples, split_by_grounding
from training.generator_eval import rouge_l
from training.generator_training import MANIFEST, GeneratorTrainingConfig, train_generator

DEMO_GENERATOR = Path(__file__).resolve().parents[1] / "demo" / "generator"


def test_demo_generator_files_load_and_do_not_overlap() -> None:
    train = load_generator_items(DEMO_GENERATOR / "train.yml")
    heldout = load_generator_items(DEMO_GENERATOR / "heldout.yml")
    assert len(train) > 200 and len(heldout) > 50
    assert {i.question for i in train}.isdisjoint({i.question for i in heldout})
    assert any(not i.answerable for i in train) and any(i.history for i in train)


def test_training_set_from_the_demo_kb_shows_each_answer_its_article(
    demo_runtime: Runtime, tmp_path: Path
) -> None:
    settings = demo_runtime.settings
    store = KnowledgeStore.load(settings.index_dir, expected_embedder=demo_runtime.embedder.name)
    retriever = make_retriever(store, demo_runtime.embedder, settings.retrieval_mode)
    items = load_generator_items(DEMO_GENERATOR / "train.yml")[:12]
    path = tmp_path / "train.jsonl"
    assert write_training_jsonl(build_examples(items, retriever), path) == 12
    examples = read_training_jsonl(path)
    for item, example in zip(items, examples, strict=True):
        assert example.question == item.question and example.answer == item.answer
        assert len(example.passages) == 3
        if item.article:
            assert item.article in example.document_ids
    first = json.loads(path.read_text("utf-8").splitlines()[0])
    assert set(first) == {"messages", "passages", "answer"}


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"messages": [], "passages": [], "answer": "x"}', "last message"),
        ('{"messages": [{"role": "user", "content": "q"}], "answer": ""}', "empty answer"),
        ('{"messages": [{"role": "system", "content": "q"}], "answer": "a"}', "last message"),
        ("not json", "not a training example"),
    ],
)
def test_bad_training_lines_are_reported_with_file_and_line(
    tmp_path: Path, line: str, problem: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "q"}], "answer": "a"}\n' + line)
    with pytest.raises(InputError, match=rf"bad.jsonl:2: .*{problem}"):
        read_training_jsonl(path)


def _tiny_training_file(path: Path) -> Path:
    passage = {"title": "Returns policy", "text": "You can return items within 30 days."}
    lines = [
        {
            "messages": [{"role": "user", "content": f"how long do I have to return item {n}?"}],
            "passages": [passage],
            "answer": "You can return items within 30 days.",
        }
        for n in range(8)
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines), "utf-8")
    return path


@needs_generator_base
def test_lora_fine_tune_lowers_eval_loss_saves_a_manifest_and_merges(tmp_path: Path) -> None:
    base = build_tiny_lm(tmp_path / "base")
    config = GeneratorTrainingConfig(
        epochs=4,
        trainable_layers=2,
        grad_accumulation=2,
        learning_rate=3e-3,
        eval_fraction=0.25,
        passages_as_blocks=True,
    )
    result = train_generator(
        _tiny_training_file(tmp_path / "train.jsonl"),
        base,
        tmp_path / "tuned",
        config,
        merge=True,
        progress=False,
    )
    assert result.eval_loss < result.eval_loss_before
    manifest = json.loads((result.output_dir / MANIFEST).read_text("utf-8"))
    assert manifest["method"] == "lora" and manifest["train_examples"] == 6
    assert manifest["prompts"] == "blocks"  # the passage read the way serving reads it
    assert manifest["prompt_gradients"] is True  # blocks always learn through the prompt
    assert (result.output_dir / "adapter_config.json").is_file()
    assert result.merged_dir and (result.merged_dir / "config.json").is_file()
    # Serving finds the merged model, and the adapter on the base gives the same answer.
    settings = Settings(
        data_home=tmp_path, generator_backend="local", generator_quantize=False, _env_file=None
    )
    merged = LocalGenerator(result.merged_dir, max_new_tokens=6)
    adapted = LocalGenerator(base, adapter_dir=result.output_dir, max_new_tokens=6)
    messages = [ChatMessage("user", "how long do I have to return item 3?")]
    assert asyncio.run(complete_text(merged, messages)) == asyncio.run(
        complete_text(adapted, messages)
    )
    assert settings.generator_tuned_dir.name == "generator-tuned"


@needs_generator_base
def test_prompts_are_trained_whole_by_default_and_when_they_have_no_passages(
    tmp_path: Path,
) -> None:
    base = build_tiny_lm(tmp_path / "base")
    with_passages = _tiny_training_file(tmp_path / "train.jsonl")
    without = tmp_path / "bare.jsonl"
    without.write_text(
        "\n".join(
            json.dumps({**json.loads(line), "passages": []})
            for line in with_passages.read_text("utf-8").splitlines()
        ),
        "utf-8",
    )
    blocks = GeneratorTrainingConfig(
        epochs=1, trainable_layers=1, eval_fraction=0.25, passages_as_blocks=True
    )
    default = GeneratorTrainingConfig(epochs=1, trainable_layers=1, eval_fraction=0.25)
    for data, settings, out in ((without, blocks, "bare"), (with_passages, default, "whole")):
        result = train_generator(data, base, tmp_path / out, settings, progress=False)
        manifest = json.loads((result.output_dir / MANIFEST).read_text("utf-8"))
        assert manifest["prompts"] == "whole"
        # By default the prompt is read without gradients; the answer's tokens teach.
        assert manifest["prompt_gradients"] is False
        assert result.eval_loss < result.eval_loss_before


def test_serving_prefers_a_tuned_model_then_an_adapter_then_the_base(tmp_path: Path) -> None:
    settings = Settings(data_home=tmp_path, _env_file=None)
    assert local_model_location(settings) == (settings.generator_base_dir, None)
    tuned = settings.generator_tuned_dir
    tuned.mkdir(parents=True)
    (tuned / "adapter_config.json").write_text("{}")
    assert local_model_location(settings) == (settings.generator_base_dir, tuned)
    (tuned / "merged").mkdir()
    (tuned / "merged" / "config.json").write_text("{}")
    assert local_model_location(settings) == (tuned / "merged", None)
    explicit = settings.model_copy(update={"generator_model_dir": tmp_path / "mine"})
    assert local_model_location(explicit) == (tmp_path / "mine", None)


def test_backend_choice_and_its_required_settings(tmp_path: Path) -> None:
    assert make_generator(Settings(generator_backend="none", _env_file=None)) is None
    with pytest.raises(ConfigError, match="GENERATOR_URL"):
        make_generator(Settings(generator_backend="remote", _env_file=None))
    remote = make_generator(
        Settings(
            generator_backend="remote",
            generator_url="http://127.0.0.1:9/v1",
            generator_model="m",
            _env_file=None,
        )
    )
    assert remote is not None and remote.name.startswith("remote:m@")
    with pytest.raises(Exception, match="models fetch"):
        make_generator(Settings(data_home=tmp_path, generator_backend="local", _env_file=None))


def test_training_config_is_validated() -> None:
    with pytest.raises(ConfigError):
        GeneratorTrainingConfig(method="qlora")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        GeneratorTrainingConfig(eval_fraction=0.9)


def test_rouge_l() -> None:
    assert rouge_l("returns within 30 days", "returns within 30 days") == 1.0
    assert rouge_l("", "x") == 0.0 and rouge_l("a b c", "d e f") == 0.0
    assert 0.0 < rouge_l("you can return within 30 days", "return it within 30 days") < 1.0


def test_answers_their_passages_do_not_support_are_left_out_of_training(
    embedder: Embedder,
) -> None:
    passage = PromptPassage("Returns policy", "You can return most items within 30 days.")
    question = (ChatMessage("user", "how long do I have to send it back?"),)
    grounded = TrainingExample(question, (passage,), "You can return most items within 30 days.")
    invented = TrainingExample(question, (passage,), "Returns are accepted for 90 days in Paris.")
    kept, dropped = split_by_grounding([grounded, invented], GroundingChecker(embedder))
    assert kept == [grounded] and dropped == [invented]


def test_the_train_command_passes_its_options_to_the_fine_tune(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from bot.cli.train import train_app
    from training import generator_training

    seen: list[GeneratorTrainingConfig] = []

    def record(data: Path, base: Path, output: Path, config: GeneratorTrainingConfig, **_: object):
        seen.append(config)
        raise SystemExit(0)  # the options are what is tested, not another fine-tune

    monkeypatch.setattr(generator_training, "train_generator", record)
    data = _tiny_training_file(tmp_path / "train.jsonl")
    result = CliRunner().invoke(
        train_app, ["generator", "--data", str(data), "--seed", "3", "--epochs", "2"]
    )
    assert result.exit_code == 0, result.output
    assert seen and seen[0].seed == 3 and seen[0].epochs == 2 and seen[0].method == "lora"
