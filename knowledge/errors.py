"""Errors of the knowledge package (kept here so the package depends on nothing of ours)."""

from __future__ import annotations


class KnowledgeError(ValueError):
    """A knowledge source, index or query cannot be used; the message says which and why."""


class IndexMismatchError(KnowledgeError):
    """An index was built with another embedder than the one asked to read it."""


class UnknownDocumentError(KnowledgeError):
    """A document id that is not in the knowledge base (for example in ``kb remove``)."""
