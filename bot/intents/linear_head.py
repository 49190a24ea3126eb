"""A multinomial logistic-regression head on fixed embeddings, stored as plain arrays."""

from __future__ import annotations

import numpy as np


def fit_linear_head(
    vectors: np.ndarray, targets: np.ndarray, regularization: float
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(weights, bias, labels)`` so that logits are ``vectors @ weights.T + bias``.

    Labels come out sorted, the order every head of the classifier uses.
    """
    from sklearn.linear_model import LogisticRegression

    head = LogisticRegression(C=regularization, max_iter=3000)
    head.fit(vectors, targets)
    weights = np.asarray(head.coef_, dtype=np.float32)
    bias = np.asarray(head.intercept_, dtype=np.float32)
    if len(head.classes_) == 2:
        # scikit-learn keeps one row for two classes; softmax over (-z/2, z/2) is sigmoid(z).
        weights = np.vstack([-weights / 2, weights / 2])
        bias = np.array([-bias[0] / 2, bias[0] / 2], dtype=np.float32)
    return weights, bias, [str(label) for label in head.classes_]
