"""The passage features the grounding check reads, and their cache."""

from __future__ import annotations

from bot.generation.passage_features import PassageFeatureCache

PASSAGE = (
    "Orders placed at weekends ship the next business day, and standard delivery takes "
    "3-5 business days.\nItems we cannot take back:\n- Gift cards.\n- Final-sale items."
)


def test_features_hold_words_numbers_sentences_and_clauses() -> None:
    features = PassageFeatureCache(None)(PASSAGE)
    assert features.numbers == {"3", "5"}
    assert "weekend" in features.words or "weekends" in features.words
    assert "Orders placed at weekends ship the next business day" in features.units
    assert any(unit.startswith("Orders placed") and "3-5" in unit for unit in features.units)
    # A list item is read with its lead-in, which holds its polarity.
    assert any("cannot take back" in unit and "Gift cards" in unit for unit in features.units)
    assert len(features.unit_words) == len(features.units)
    negated = dict(zip(features.units, features.unit_negated, strict=True))
    assert not negated["Orders placed at weekends ship the next business day"]
    assert all(negated[u] for u in features.units if "cannot take back" in u)
    assert features.vectors is None  # no embedder: lexical features only


def test_a_passage_seen_again_is_not_computed_again_and_the_oldest_goes_first() -> None:
    cache = PassageFeatureCache(None, size=2)
    first = cache("First passage about returns.")
    assert cache("First passage about returns.") is first
    second = cache("Second passage about refunds.")
    cache("First passage about returns.")  # now the most recently used
    cache("Third passage about delivery.")  # over the size: the second one goes
    assert cache("First passage about returns.") is first
    recomputed = cache("Second passage about refunds.")
    assert recomputed is not second and recomputed == second
