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
    protocol: str = typer.Option(
        "all",
        "--protocol",
        help="Types per call: 'all' (each passage asked all its dataset's types at once), 'single' "
        "(each type alone, as the paper asks) or 'both' (reported side by side)",
    ),
) -> None:
    from spacy.cli._util import parse_config_overrides

    from ..data.catalogue import load_catalogue, load_dataset, select, split_names
    from .evaluate import PROTOCOLS, evaluate_dataset, is_pipeline, load_pipeline, protocols
    from .report import load_paper_results, write_report

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    overrides = parse_config_overrides(list(ctx.args))
    specs = load_catalogue(catalogue)
    try:
        names = select(split_names(datasets), specs)
        asked = protocols(protocol)
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
        for each in asked:
            result = evaluate_dataset(
                nlp, dataset, limit=limit, batch_size=batch_size, label_map=mapping, protocol=each
            )
            msg.good(
                f"{name} ({PROTOCOLS[each]}): string F1 {100 * result.string.f1:.1f}, "
                f"span F1 {100 * result.spans['ents_f']:.1f}"
            )
            results.append(result)
    meta = {
        "model": model,
        "split": split,
        "limit": limit,
        "datasets": names,
        "protocols": asked,
        "overrides": overrides,
        "seconds": round(time.perf_counter() - start, 1),
    }
    summary = write_report(
        results, output, meta=meta, paper=load_paper_results(paper_results), n_error_pages=errors_per_page
    )
    typer.echo((output / "metrics.md").read_text(encoding="utf8"))
    msg.good(f"Overall string F1 {100 * summary['overall']['string_f']:.1f}; outputs in {output}")


def project_assets_command(
    data_dir: Path = typer.Argument(Path("assets/data"), help="Folder to fetch into (the catalogue's layout)"),
    extra: bool = typer.Option(False, "--extra", help="Also every non-test file of the span student's pool datasets"),
    check: bool = typer.Option(False, "--check", help="Only check that the files are there with their md5"),
    lock: Optional[Path] = typer.Option(
        None, "--lock", help="File list of the one-file-per-article datasets (default: ./datasets.lock.json)"
    ),
    catalogue: Optional[Path] = typer.Option(None, "--catalogue", help="datasets.yml to use"),
    threads: int = typer.Option(8, help="Parallel downloads"),
) -> None:
    """Fetch the catalogue's data files at their pinned commits, md5-checked, one progress
    bar per source: the benchmark's files, with --extra also the pool's. Files already
    present with their md5 are kept."""
    from ..data.catalogue import fetch_files, is_intact, load_catalogue, project_files
    from ..errors import Errors

    groups = project_files(load_catalogue(catalogue, lock), extra)
    total = sum(len(files) for files in groups.values())
    todo = {source: [f for f in files if not is_intact(f, data_dir)] for source, files in groups.items()}
    missing = [f for files in todo.values() for f in files]
    if check:
        if missing:
            flag = " --extra" if extra else ""
            msg.fail(
                Errors.E821.format(count=len(missing), total=total, path=data_dir, first=missing[0].path, extra=flag),
                exits=1,
            )
        msg.good(f"All {total} data files are in {data_dir} with their md5")
        return
    msg.info(f"{total - len(missing)} of {total} data files are already in {data_dir} with their md5")
    for source, files in todo.items():
        if files:
            fetch_files(files, data_dir, desc=source, threads=threads)
    msg.good(f"Fetched {len(missing)} data file(s) into {data_dir}")


def register(app: typer.Typer) -> None:
    """Add the ``evaluate`` and ``project-assets`` commands to the package CLI."""
    app.command(
        "evaluate",
        help=HELP,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(evaluate_command)
    app.command("project-assets")(project_assets_command)
