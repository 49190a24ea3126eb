"""How close a message is to the training examples of the intent it was assigned.

A low similarity to every example of the predicted intent is one of the two out-of-scope
signals. Searching only that intent's examples, not all of them, reads about 1/N of the
vectors per message (the full search is memory-bound: 15 MB for 10k examples), and it is a
slightly sharper signal: an off-topic message often lands near *some* example, but rarely
near the examples of the intent the head chose.
"""

from __future__ import annotations

import numpy as np


class ExampleIndex:
    """Normalised training vectors grouped by class index."""

    def __init__(self, vectors: np.ndarray, classes: np.ndarray | None, class_count: int) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if classes is None:
            # Artifacts saved before examples kept their classes: search them all, as their
            # similarity threshold was fitted that way.
            self._by_class = [np.ascontiguousarray(vectors)]
        else:
            classes = np.asarray(classes)
            self._by_class = [
                np.ascontiguousarray(vectors[classes == c]) for c in range(class_count)
            ]

    def nearest(self, vectors: np.ndarray, predicted: np.ndarray) -> np.ndarray:
        """Per row, the best cosine to an example of ``predicted[row]`` (-1 when it has none)."""
        best = np.full(len(vectors), -1.0)
        single = len(self._by_class) == 1
        for row, (vector, label) in enumerate(zip(vectors, predicted, strict=True)):
            examples = self._by_class[0 if single else int(label)]
            if len(examples):
                best[row] = float((examples @ vector).max())
        return best
