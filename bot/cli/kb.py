"""`supportbot kb`: build, update and search the knowledge index."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bot.cli.common import console, make_embedder
from bot.settings import Settings
from knowledge.options import IndexKind, RetrievalMode

kb_app = typer.Typer(help="The knowledge base.", no_args_is_help=True)


@kb_app.command("build")
def kb_build(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders (default: the tenant's kb/).")
    ] = None,
    index_kind: Annotated[
        IndexKind | None,
        typer.Option(help="FAISS index: auto (by size), flat (exact) or ivf (default: settings)."),
    ] = None,
) -> None:
    """Build the knowledge index; re-running on unchanged sources does nothing."""
    from knowledge.builder import build_index

    settings = Settings()
    sources = paths or [settings.kb_dir]
    kind = index_kind or settings.retrieval_index_kind
    report = build_index(sources, make_embedder(settings), settings.index_dir, index_kind=kind)
    _print_skipped(report.skipped)
    if report.unchanged:
        console.print(
            f"index unchanged ({report.documents} documents, {report.chunks} chunks): nothing to do"
        )
    else:
        console.print(
            f"index built: {report.documents} documents, {report.chunks} chunks "
            f"({report.index_type}) in {settings.index_dir}"
        )


@kb_app.command("add")
def kb_add(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to add or replace.")],
) -> None:
    """Add documents to the index without a rebuild; an id already there is replaced."""
    from knowledge.builder import update_index

    settings = Settings()
    report = update_index(paths, make_embedder(settings), settings.index_dir)
    _print_skipped(report.skipped)
    console.print(
        f"added {len(report.added)}, replaced {len(report.replaced)}, "
        f"unchanged {len(report.unchanged)}; the index now holds {report.documents} documents, "
        f"{report.chunks} chunks"
    )


@kb_app.command("remove")
def kb_remove(
    document_ids: Annotated[list[str], typer.Argument(help="Ids of the documents to remove.")],
) -> None:
    """Remove documents from the index by id, without a rebuild."""
    from knowledge.builder import remove_from_index

    settings = Settings()
    report = remove_from_index(document_ids, make_embedder(settings), settings.index_dir)
    console.print(
        f"removed {', '.join(report.removed)}; the index now holds {report.documents} documents, "
        f"{report.chunks} chunks"
    )


def _print_skipped(skipped: list[tuple[str, str]]) -> None:
    for path, reason in skipped:
        console.print(f"[yellow]skipped[/yellow] {path}: {reason}", markup=True, highlight=False)


@kb_app.command("search")
def kb_search(
    question: Annotated[str, typer.Argument(help="The question to search for.")],
    k: Annotated[int, typer.Option("--k", min=1, max=50, help="How many passages.")] = 5,
    mode: Annotated[
        RetrievalMode | None, typer.Option(help="dense, bm25 or hybrid (default: settings).")
    ] = None,
) -> None:
    """Show the passages the retriever finds for a question."""
    from bot.runtime import limit_blas_threads
    from knowledge.modes import make_retriever
    from knowledge.store import KnowledgeStore

    settings = Settings()
    embedder = make_embedder(settings)
    limit_blas_threads()
    store = KnowledgeStore.load(settings.index_dir, expected_embedder=embedder.name)
    retriever = make_retriever(store, embedder, mode or settings.retrieval_mode)
    table = Table("rank", "score", "dense", "bm25", "document", "section", "text")
    for passage in retriever.run(question, k):
        chunk = passage.chunk
        snippet = chunk.text if len(chunk.text) < 90 else chunk.text[:87] + "..."
        table.add_row(
            str(passage.rank + 1),
            f"{passage.score:.3f}",
            "" if passage.dense is None else f"{passage.dense:.3f}",
            "" if passage.lexical is None else f"{passage.lexical:.3f}",
            chunk.document_id,
            chunk.section,
            " ".join(snippet.split()),
        )
    Console().print(table)
