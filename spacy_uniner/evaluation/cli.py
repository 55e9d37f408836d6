"""``python -m spacy_uniner evaluate``: score a pipeline or model on benchmark datasets."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional

import srsly
import typer
from wasabi import msg

HELP = (
    "Score a spaCy pipeline (folder or package) or a UniversalNER model (HF hub name or "
    "folder, run through universal_ner) on benchmark datasets (names or tags from the "
    "catalogue, e.g. `zero-shot`). Extra `--section.key value` options override the "
    "pipeline config; for a model they set the component config (`--model.batch_size 8`)."
)


def evaluate_command(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="Pipeline folder/package, or HF model name/folder"),
    datasets: str = typer.Argument(..., help="Comma-separated dataset names or catalogue tags"),
    output: Path = typer.Argument(..., help="Folder for metrics and reports"),
    split: str = typer.Option("test", "--split", help="Split to evaluate"),
    data_dir: Path = typer.Option(Path("assets/data"), "--data-dir", help="Data folder"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="First N passages only"),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Docs per nlp.pipe batch"),
    errors_per_page: int = typer.Option(50, "--errors-per-page", min=0, help="Passages per error page"),
    label_map: Optional[Path] = typer.Option(
        None, "--label-map", help="JSON: pipeline label -> dataset type (third-party pipelines)"
    ),
    catalogue: Optional[Path] = typer.Option(None, "--catalogue", help="datasets.yml to use"),
    paper_results: Optional[Path] = typer.Option(None, "--paper-results", help="Published F1s"),
) -> None:
    from spacy.cli._util import parse_config_overrides

    from ..data.catalogue import load_catalogue, load_dataset, select, split_names
    from .evaluate import evaluate_dataset, is_pipeline, load_pipeline
    from .report import load_paper_results, write_report

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    overrides = parse_config_overrides(list(ctx.args))
    specs = load_catalogue(catalogue)
    try:
        names = select(split_names(datasets), specs)
    except ValueError as err:
        msg.fail(str(err), exits=1)
    mapping = srsly.read_json(label_map) if label_map is not None else None
    if is_pipeline(model):
        nlp = load_pipeline(model, [], overrides)
        vocab = nlp.vocab
    else:
        import spacy

        nlp, vocab = None, spacy.blank("en").vocab
    results = []
    start = time.perf_counter()
    for name in names:
        dataset = load_dataset(name, split, data_dir, vocab=vocab, catalogue=specs)
        if nlp is None:
            nlp = load_pipeline(model, dataset.labels, overrides, vocab=vocab)
        n = min(limit, len(dataset.docs)) if limit else len(dataset.docs)
        msg.info(f"{name} ({split}): {n} of {len(dataset.docs)} passages, {len(dataset.labels)} types")
        result = evaluate_dataset(nlp, dataset, limit=limit, batch_size=batch_size, label_map=mapping)
        msg.good(f"{name}: string F1 {100 * result.string.f1:.1f}, span F1 {100 * result.spans['ents_f']:.1f}")
        results.append(result)
    meta = {
        "model": model,
        "split": split,
        "limit": limit,
        "datasets": names,
        "overrides": overrides,
        "seconds": round(time.perf_counter() - start, 1),
    }
    summary = write_report(
        results, output, meta=meta, paper=load_paper_results(paper_results), n_error_pages=errors_per_page
    )
    typer.echo((output / "metrics.md").read_text(encoding="utf8"))
    msg.good(f"Overall string F1 {100 * summary['overall']['string_f']:.1f}; outputs in {output}")


def project_assets_command(
    project: Path = typer.Argument(Path("project.yml"), help="The weasel project.yml to update"),
    check: bool = typer.Option(False, "--check", help="Only check that it agrees with the catalogue"),
    catalogue: Optional[Path] = typer.Option(None, "--catalogue", help="datasets.yml to use"),
) -> None:
    """Write the catalogue's datasets into project.yml's generated assets block."""
    from ..data.catalogue import load_catalogue, render_project_assets

    text = project.read_text(encoding="utf8")
    rendered = render_project_assets(text, load_catalogue(catalogue))
    if check:
        if rendered != text:
            msg.fail(
                f"{project} disagrees with the catalogue: run `python -m spacy_uniner project-assets {project}`",
                exits=1,
            )
        msg.good(f"{project} agrees with the catalogue")
        return
    project.write_text(rendered, encoding="utf8")
    msg.good(f"Wrote the catalogue's assets into {project}")


def register(app: typer.Typer) -> None:
    """Add the ``evaluate`` and ``project-assets`` commands to the package CLI."""
    app.command(
        "evaluate",
        help=HELP,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(evaluate_command)
    app.command("project-assets")(project_assets_command)
