"""IntentClassifier on the real embedder: training, ranking, odd inputs, artifacts and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.errors import AssetError, InputError
from bot.intents.classifier import IntentClassifier, IntentPrediction
from knowledge.embedder import Embedder

TRAINING = {
    "track_order": [
        "where is my package",
        "track my order",
        "has my parcel shipped yet",
        "what is the status of my delivery",
        "my order hasn't arrived, where is it",
        "can I get a tracking number",
        "when will my order get here",
    ],
    "return_item": [
        "I want to return a jacket",
        "how do I send something back",
        "can I return shoes that don't fit",
        "I need a return label",
        "what is your returns policy",
        "send back an item I bought",
        "I'd like to return my purchase",
    ],
    "reset_password": [
        "I forgot my password",
        "reset my password",
        "I can't remember my login password",
        "how do I change my password",
        "password reset link not working",
        "locked out, need a new password",
        "help me recover my password",
    ],
    "payment_methods": [
        "which payment methods do you accept",
        "can I pay with PayPal",
        "do you take credit cards",
        "is Apple Pay supported",
        "can I pay by bank transfer",
        "what ways can I pay",
        "do you accept debit cards",
    ],
    "opening_hours": [
        "what are your opening hours",
        "when is customer service open",
        "are you open on sundays",
        "what time do you close",
        "what hours is your support team available",
        "when can I call you",
        "are you open on bank holidays",
    ],
}

HELD_OUT = {
    "where's my stuff? it still hasn't been delivered": "track_order",
    "the dress doesn't fit, how can I give it back": "return_item",
    "I don't remember the password for my account": "reset_password",
    "do you accept Visa or Mastercard": "payment_methods",
    "what time does your support open in the morning": "opening_hours",
}


def texts_and_labels(intents: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    pairs = [(text, label) for label, texts in intents.items() for text in texts]
    return [t for t, _ in pairs], [l for _, l in pairs]


@pytest.fixture(scope="module")
def classifier(embedder: Embedder) -> IntentClassifier:
    texts, labels = texts_and_labels(TRAINING)
    return IntentClassifier(embedder).fit(texts, labels)


def test_fit_sets_labels_and_weights(classifier: IntentClassifier) -> None:
    assert classifier.is_fitted
    assert classifier.labels == sorted(TRAINING)
    probabilities = classifier.predict_proba(["track my order"])
    assert probabilities.shape == (1, len(TRAINING))


def test_predicts_held_out_paraphrases(classifier: IntentClassifier) -> None:
    predictions = classifier.predict_batch(list(HELD_OUT))
    assert {text: p.top.name for text, p in zip(HELD_OUT, predictions)} == HELD_OUT
    assert not any(p.truncated for p in predictions)


def test_ranked_top_k_is_sorted_with_valid_confidences(classifier: IntentClassifier) -> None:
    for top_k, expected_len in [(1, 1), (3, 3), (10, len(TRAINING)), (0, 1)]:
        prediction = classifier.predict("can I pay for my order with a gift voucher", top_k=top_k)
        confidences = [score.confidence for score in prediction.ranked]
        assert len(prediction.ranked) == expected_len
        assert confidences == sorted(confidences, reverse=True)
        assert all(0.0 <= c <= 1.0 for c in confidences)
        assert sum(confidences) <= 1.0 + 1e-6
        assert len({score.name for score in prediction.ranked}) == expected_len
    full = classifier.predict("return a jacket", top_k=len(TRAINING))
    assert sum(s.confidence for s in full.ranked) == pytest.approx(1.0, abs=1e-5)


def test_predict_proba_rows_are_distributions(classifier: IntentClassifier) -> None:
    probabilities = classifier.predict_proba(list(HELD_OUT))
    assert probabilities.shape == (len(HELD_OUT), len(TRAINING))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert (probabilities >= 0).all()
    assert classifier.predict_batch([]) == []


ODD_INPUTS = ["", "   \n\t ", "🙂🙂👍", "hallo, 我的订单在哪里? where is it", "?!?!"]


def test_odd_inputs_predict_without_error(classifier: IntentClassifier) -> None:
    predictions = classifier.predict_batch(ODD_INPUTS)
    assert len(predictions) == len(ODD_INPUTS)
    for text, prediction in zip(ODD_INPUTS, predictions):
        assert isinstance(prediction, IntentPrediction), text
        assert prediction.top.name in TRAINING
        assert 0.0 <= prediction.top.confidence <= 1.0
        assert prediction.truncated is False
    single = classifier.predict("")  # single and batched prediction agree (up to padding noise)
    assert [s.name for s in single.ranked] == [s.name for s in predictions[0].ranked]
    assert [s.confidence for s in single.ranked] == pytest.approx(
        [s.confidence for s in predictions[0].ranked], abs=1e-5
    )


def test_long_message_is_truncated(classifier: IntentClassifier, embedder: Embedder) -> None:
    sentence = "My order from last week still has not arrived and the tracking page shows nothing. "
    long_text = (sentence * (10_000 // len(sentence) + 1))[:10_000]
    assert len(long_text) == 10_000
    predictions = classifier.predict_batch([long_text, "where is my order"])
    assert predictions[0].truncated is True
    assert predictions[1].truncated is False
    assert predictions[0].top.name == "track_order"
    # a text just within the window is not flagged
    assert embedder.token_count("track my order " * 10) <= embedder.max_tokens
    assert classifier.predict("track my order " * 10).truncated is False


def test_two_class_training(embedder: Embedder) -> None:
    two = {name: TRAINING[name] for name in ("payment_methods", "reset_password")}
    texts, labels = texts_and_labels(two)
    model = IntentClassifier(embedder).fit(texts, labels)
    assert model.labels == ["payment_methods", "reset_password"]
    probabilities = model.predict_proba(["can I pay with a credit card", "I lost my password"])
    assert probabilities.shape == (2, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert probabilities[0, 0] > 0.5 and probabilities[1, 1] > 0.5
    prediction = model.predict("I forgot my password again")
    assert prediction.top.name == "reset_password"
    assert len(prediction.ranked) == 2


def test_save_load_round_trip(
    classifier: IntentClassifier, embedder: Embedder, tmp_path: Path
) -> None:
    directory = tmp_path / "intent-model"
    classifier.save(directory, data_hash="abc123")
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["labels"] == classifier.labels and manifest["embedder"] == embedder.name
    assert manifest["data_hash"] == "abc123"
    loaded = IntentClassifier.load(directory, embedder)
    assert loaded.labels == classifier.labels
    texts = list(HELD_OUT) + ODD_INPUTS
    np.testing.assert_array_equal(
        loaded._weights, classifier._weights
    )  # the head is stored exactly
    np.testing.assert_array_equal(loaded._bias, classifier._bias)
    np.testing.assert_allclose(
        loaded.predict_proba(texts), classifier.predict_proba(texts), atol=1e-7
    )
    classifier.save(directory)  # saving again replaces the artifact whole
    assert "data_hash" not in json.loads((directory / "manifest.json").read_text())


def test_load_with_another_embedder_is_an_asset_error(
    classifier: IntentClassifier, tmp_path: Path
) -> None:
    classifier.save(tmp_path / "model")
    other = Embedder(name="acme/other-embedder")  # never loaded: the name check comes first
    with pytest.raises(AssetError, match="acme/other-embedder"):
        IntentClassifier.load(tmp_path / "model", other)


def test_load_missing_or_corrupt_artifact(embedder: Embedder, tmp_path: Path) -> None:
    with pytest.raises(AssetError, match="train intents"):
        IntentClassifier.load(tmp_path, embedder)
    (tmp_path / "manifest.json").write_text("{broken")
    with pytest.raises(AssetError, match="not valid JSON"):
        IntentClassifier.load(tmp_path, embedder)
    (tmp_path / "manifest.json").write_text(json.dumps({"artifact_version": 99}))
    with pytest.raises(AssetError, match="version"):
        IntentClassifier.load(tmp_path, embedder)


def test_untrained_classifier_raises(embedder: Embedder, tmp_path: Path) -> None:
    model = IntentClassifier(embedder)
    assert not model.is_fitted
    with pytest.raises(AssetError, match="not trained"):
        model.predict_proba(["hello"])
    with pytest.raises(AssetError):
        model.predict("hello")
    with pytest.raises(AssetError):
        model.save(tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_fit_input_errors(embedder: Embedder) -> None:
    model = IntentClassifier(embedder)
    with pytest.raises(InputError, match="3 texts but 2 labels"):
        model.fit(["a", "b", "c"], ["x", "y"])
    with pytest.raises(InputError, match="at least two intents"):
        model.fit(TRAINING["track_order"], ["track_order"] * len(TRAINING["track_order"]))
    assert not model.is_fitted
    with pytest.raises(InputError, match="regularization"):
        IntentClassifier(embedder, regularization=0)
