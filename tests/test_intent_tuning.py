"""Intent models with fine-tuned top layers: layer states, training, artifacts, odd inputs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from bot.errors import AssetError, InputError
from bot.intents.classifier import IntentClassifier
from bot.intents.ensemble import blend_logits, fit_blend_weight
from bot.intents.linear_head import fit_linear_head
from bot.intents.top_layers import TopLayers
from bot.intents.tuning import TuningConfig, tuning_for
from knowledge.embedder import Embedder
from knowledge.errors import KnowledgeError
from tests.test_intent_classifier import HELD_OUT, ODD_INPUTS, TRAINING, texts_and_labels

# One layer and a few epochs: enough to learn five intents, quick enough for CI.
SMALL_TUNING = TuningConfig(layers=1, epochs=4, batch_size=8)


@pytest.fixture(scope="module")
def tuned(embedder: Embedder) -> IntentClassifier:
    texts, labels = texts_and_labels(TRAINING)
    return IntentClassifier(embedder, tuning=SMALL_TUNING).fit(texts, labels)


def test_layer_states_come_from_the_same_pass_as_the_embeddings(embedder: Embedder) -> None:
    texts = ["where is my order", "I would like a refund for the blue jacket please"]
    last = embedder.num_layers
    batch = embedder.encode_with_states(texts, last)
    np.testing.assert_allclose(batch.embeddings, embedder.encode(texts), atol=1e-5)
    # Mean pooling of the last layer's states, normalised, is the sentence embedding.
    for state, embedding in zip(batch.states, batch.embeddings, strict=True):
        pooled = state.mean(axis=0)
        np.testing.assert_allclose(pooled / np.linalg.norm(pooled), embedding, atol=1e-5)
    lengths = [len(s) for s in embedder.encode_with_states(texts, 3).states]
    assert lengths == [embedder.token_count(t) for t in texts]  # padding removed
    single = embedder.encode_with_states([texts[1]], 3)
    np.testing.assert_allclose(
        single.states[0], embedder.encode_with_states(texts, 3).states[1], atol=1e-4
    )
    with pytest.raises(KnowledgeError, match="layer must be within"):
        embedder.encode_with_states(texts, last + 1)


def test_single_message_states_and_embedding_share_one_cached_pass(embedder: Embedder) -> None:
    text = "a message whose states a tuned intent model reads"
    embedder.encode_with_states([text], 4)
    hits = embedder._encode_single.cache_info().hits
    embedder.encode([text])  # retrieval's embedding of the same message
    assert embedder._encode_single.cache_info().hits == hits + 1


def test_tuned_model_learns_the_intents(tuned: IntentClassifier) -> None:
    assert tuned.kind == "tuned-top-layers"
    predictions = tuned.predict_batch(list(HELD_OUT))
    assert {t: p.top.name for t, p in zip(HELD_OUT, predictions, strict=True)} == HELD_OUT
    assert tuned.temperature > 0 and tuned.validation["examples"] >= len(TRAINING)


def test_tuned_top_layers_differ_from_the_embedder(
    tuned: IntentClassifier, embedder: Embedder
) -> None:
    assert tuned._top is not None
    original = embedder.transformer.encoder.layer[-1].state_dict()
    changed = [
        name
        for name, tensor in tuned._top.layers[0].state_dict().items()
        if not np.allclose(tensor.numpy(), original[name].numpy())
    ]
    assert changed  # training moved the copy ...
    fresh = TopLayers(embedder, 1).layers[0].state_dict()  # ... and left the shared model alone
    assert all(np.allclose(fresh[n].numpy(), original[n].numpy()) for n in original)


def test_tuned_model_handles_odd_and_long_inputs(tuned: IntentClassifier) -> None:
    sentence = "My parcel from last week has still not arrived and tracking shows nothing. "
    long_text = (sentence * 200)[:10_000]
    predictions = tuned.predict_batch([*ODD_INPUTS, long_text])
    assert all(p.top.name in TRAINING for p in predictions)
    assert all(0.0 <= p.top.confidence <= 1.0 for p in predictions)
    assert predictions[-1].truncated and not any(p.truncated for p in predictions[:-1])
    assert predictions[-1].top.name == "track_order"


def test_tuned_artifact_round_trip(
    tuned: IntentClassifier, embedder: Embedder, tmp_path: Path
) -> None:
    directory = tmp_path / "tuned"
    tuned.save(directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["kind"] == "tuned-top-layers" and manifest["tuned_layers"] == 1
    assert manifest["tuning"]["epochs"] == SMALL_TUNING.epochs
    assert (directory / "top_layers.safetensors").is_file()
    loaded = IntentClassifier.load(directory, embedder)
    texts = list(HELD_OUT) + ODD_INPUTS
    np.testing.assert_allclose(loaded.predict_proba(texts), tuned.predict_proba(texts), atol=1e-6)
    assert loaded.tuning == SMALL_TUNING
    # The ONNX export of the tuned layers computes what torch computes.
    assert (directory / "top_layers.onnx").is_file()
    on_onnx = TopLayers.load(directory, embedder, 1, onnx=True)
    on_torch = TopLayers.load(directory, embedder, 1)
    assert on_onnx._session is not None and on_torch._session is None
    states = embedder.encode_with_states(texts, on_torch.tap_layer).states
    np.testing.assert_allclose(on_onnx.embed(states), on_torch.embed(states), atol=1e-5)
    (directory / "top_layers.safetensors").unlink()
    with pytest.raises(AssetError, match="top_layers.safetensors is missing"):
        IntentClassifier.load(directory, embedder)


def test_tuning_options_are_validated(embedder: Embedder) -> None:
    assert tuning_for(0) is None
    assert tuning_for(2, epochs=3) == TuningConfig(layers=2, epochs=3)
    for bad in ({"layers": 0}, {"epochs": 0}, {"learning_rate": 0.0}, {"label_smoothing": 1.0}):
        with pytest.raises(InputError):
            TuningConfig(**bad)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="can tune 1 to"):
        TopLayers(embedder, embedder.num_layers)


def test_blend_weight_follows_the_head_that_predicts_held_out_data() -> None:
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 5, size=400)
    informative = rng.normal(size=(400, 5))
    informative[np.arange(400), targets] += 3.0
    noise = rng.normal(size=(400, 5))
    assert fit_blend_weight(informative, noise, targets) >= 0.8
    assert fit_blend_weight(noise, informative, targets) <= 0.2
    assert blend_logits(informative, None, 0.3) is informative


def test_blended_model_reads_both_heads_and_round_trips(
    tuned: IntentClassifier, embedder: Embedder, tmp_path: Path
) -> None:
    assert 0.0 <= tuned.validation["blend_weight"] <= 1.0
    texts, labels = texts_and_labels(TRAINING)
    blended = copy.copy(tuned)
    head = fit_linear_head(embedder.encode(texts), np.asarray(labels), 10.0)
    assert head[2] == tuned.labels  # both heads number the intents the same way
    blended._frozen_head, blended.blend_weight = head[:2], 0.5
    probe = list(HELD_OUT) + ODD_INPUTS
    assert not np.allclose(blended.predict_proba(probe), tuned.predict_proba(probe))
    blended.save(tmp_path / "blended")
    manifest = json.loads((tmp_path / "blended" / "manifest.json").read_text())
    assert manifest["blend_weight"] == 0.5
    loaded = IntentClassifier.load(tmp_path / "blended", embedder)
    np.testing.assert_allclose(loaded.predict_proba(probe), blended.predict_proba(probe), atol=1e-5)
    pooled = loaded.predict_pooled(["where is my parcel", "it has not arrived"])
    assert pooled.top.name == "track_order"
