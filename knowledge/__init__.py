"""Knowledge base: documents, loaders, chunking, the embedder, the FAISS index and the retriever.

This package imports nothing else of supportbot, so it can be reused on its own.
"""

from knowledge.documents import Chunk, Document, Passage
from knowledge.errors import KnowledgeError

__all__ = ["Chunk", "Document", "KnowledgeError", "Passage"]
