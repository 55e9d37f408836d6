"""Commands: ``passages``, ``annotate``, ``build-data``, ``build-sup-data``, ``gold-teacher``."""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Iterator, Optional

import srsly
import typer
from wasabi import msg

from ..cache import ResponseCache
from ..errors import Errors
from . import gold_teacher as gold
from .instructions import examples_from_records, instruction_data, supervised_data
from .passages import PassageStats, hf_token_spans, read_documents, sample_passages, whitespace_spans
from .stats import data_stats, print_stats
from .teacher import Teacher, TeacherConfig


def passages(
    corpus: Path = typer.Argument(..., help="JSONL ({'text': ...}, .gz allowed) or .txt file, or a folder of them"),
    output: Path = typer.Argument(..., help="Output JSONL of {'id', 'text'} passages"),
    n: int = typer.Option(50_000, "--n", help="Passages to sample"),
    max_tokens: int = typer.Option(256, help="Maximum tokens per passage"),
    min_tokens: int = typer.Option(1, help="Drop passages with fewer tokens"),
    tokenizer: Optional[str] = typer.Option(None, help="Hugging Face fast tokenizer (default: white space)"),
    seed: int = typer.Option(0, help="Sampling seed"),
) -> None:
    """Chunk a raw corpus into passages, de-duplicate them and sample N."""
    spans = hf_token_spans(tokenizer) if tokenizer else whitespace_spans
    stats = PassageStats()
    rows = sample_passages(
        read_documents([corpus], stats),
        n,
        max_tokens=max_tokens,
        min_tokens=min_tokens,
        token_spans=spans,
        seed=seed,
        stats=stats,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_jsonl(output, rows)
    msg.table(
        [
            ("documents", stats.documents),
            ("empty documents", stats.empty_documents),
            ("passages", stats.passages),
            (f"shorter than {min_tokens} tokens", stats.short_passages),
            ("duplicates", stats.duplicates),
            ("distinct", stats.unique),
            ("sampled", stats.sampled),
        ],
        aligns=("l", "r"),
    )
    msg.good(f"Wrote {len(rows)} passages to {output}")


def annotate(
    passages_path: Path = typer.Argument(..., help="JSONL of {'id', 'text'} passages"),
    output: Path = typer.Argument(..., help="Output JSONL: one teacher record per passage"),
    cache: Optional[Path] = typer.Option(None, help="Response cache (default: teacher_cache.jsonl next to OUTPUT)"),
    model: str = typer.Option("gpt-3.5-turbo-0301", envvar="UNINER_TEACHER_MODEL", help="Teacher model"),
    base_url: Optional[str] = typer.Option(None, envvar="OPENAI_BASE_URL", help="OpenAI-compatible API URL"),
    api_key_env: str = typer.Option("OPENAI_API_KEY", help="Environment variable holding the API key"),
    variant: str = typer.Option("type", help="Prompt: 'type' or 'definition'"),
    concurrency: int = typer.Option(8, help="Concurrent requests"),
    max_retries: int = typer.Option(6, help="Retries per passage on 429/5xx/timeouts"),
    timeout: float = typer.Option(60.0, help="Seconds per request"),
    max_tokens: int = typer.Option(1024, help="Maximum answer tokens (part of the cache key)"),
    max_passages: Optional[int] = typer.Option(None, help="Budget: new requests in this run"),
    max_total_tokens: Optional[int] = typer.Option(None, help="Budget: prompt + answer tokens in this run"),
    gold_teacher: Optional[Path] = typer.Option(
        None, help="Serve this annotated sample as a local stand-in teacher (offline runs)"
    ),
    definitions: Optional[Path] = typer.Option(None, help="Type definitions (JSON) for --gold-teacher"),
    summary_path: Optional[Path] = typer.Option(None, "--summary", help="Write the run's counts as JSON"),
    progress: bool = typer.Option(True, help="Show a progress bar"),
) -> None:
    """Have the teacher annotate passages; cached, resumable and within budget."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    rows = list(srsly.read_jsonl(passages_path))
    config = TeacherConfig(
        model=model,
        base_url=base_url,
        api_key_env=api_key_env,
        variant=variant,  # type: ignore[arg-type]
        concurrency=concurrency,
        max_retries=max_retries,
        timeout=timeout,
        max_tokens=max_tokens,
        max_passages=max_passages,
        max_total_tokens=max_total_tokens,
    )
    cache_path = cache or output.parent / "teacher_cache.jsonl"
    with _teacher_server(gold_teacher, definitions, config), ResponseCache(cache_path) as store:
        if gold_teacher is not None:
            msg.warn(f"Gold teacher: answers come from {gold_teacher}, not from an LLM")
        teacher = Teacher(config)
        summary = teacher.annotate(rows, store, progress=progress)
        records, missing = teacher.collect(rows, store)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    srsly.write_jsonl(tmp, records)
    tmp.replace(output)
    report = summary.to_dict() | {"records_written": len(records), "missing": missing}
    if summary_path is not None:
        srsly.write_json(summary_path, report)
    msg.table([(k, v) for k, v in report.items() if k != "failures"], aligns=("l", "r"))
    msg.good(f"Wrote {len(records)} teacher records to {output} (cache: {cache_path})")
    if summary.malformed:
        msg.warn(f"{summary.malformed} malformed answers kept with an 'error' field")
    if summary.failed:
        msg.fail(f"{summary.failed} passages failed after retries; run again to retry them", exits=1)
    if missing:
        msg.warn(f"{missing} passages not annotated yet (budget: {summary.budget_stop})")


@contextlib.contextmanager
def _teacher_server(data: Path | None, definitions: Path | None, config: TeacherConfig) -> Iterator[None]:
    if data is None:
        yield
        return
    teacher = gold.GoldTeacher(
        gold.load_annotations(data),
        definitions=gold.load_definitions(definitions) if definitions else None,
    )
    with gold.GoldTeacherServer(teacher) as server:
        config.base_url = server.base_url
        config.model = teacher.model  # never cached under a real model's name
        config.api_key_env = ""  # a real key is not sent to the stand-in
        yield


def build_data(
    annotations: Path = typer.Argument(..., help="Teacher records from 'annotate'"),
    output: Path = typer.Argument(..., help="Output JSON in the released Pile-NER train.json format"),
    negatives: int = typer.Option(2, help="Negative types sampled per passage"),
    seed: int = typer.Option(0, help="Seed for negatives and query order"),
    stats_path: Optional[Path] = typer.Option(None, "--stats", help="Write the data statistics as JSON"),
) -> None:
    """Parse and filter the teacher's answers into instruction-tuning conversations."""
    examples, counts = examples_from_records(srsly.read_jsonl(annotations))
    if not examples:
        msg.fail(f"No usable teacher records in {annotations} ({dict(counts)})", exits=1)
    data = instruction_data(examples, negatives=negatives, seed=seed)
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, data)
    stats = data_stats(examples, counts)
    if stats_path is not None:
        srsly.write_json(stats_path, stats)
    print_stats(stats)
    msg.good(f"Wrote {len(data)} conversations to {output}")


def build_sup_data(
    datasets: str = typer.Argument(..., help="Comma-separated catalogue dataset names or tags"),
    output: Path = typer.Argument(..., help="Output JSON in the Pile-NER train.json format"),
    split: str = typer.Option("train", help="Split to convert"),
    data_dir: Path = typer.Option(Path("assets/data"), help="Folder the catalogue's paths are relative to"),
    catalogue_path: Optional[Path] = typer.Option(
        None, "--catalogue", help="Dataset catalogue (default: the project's)"
    ),
    seed: int = typer.Option(0, help="Seed for the query order"),
) -> None:
    """Turn labelled datasets into supervised conversations (``Dataset: {name} \\n Text: ...``)."""
    from ..data.catalogue import load_catalogue, load_dataset, select, split_names

    catalogue = load_catalogue(catalogue_path)
    data = []
    for name in select(split_names(datasets), catalogue):
        dataset = load_dataset(name, split, data_dir, catalogue=catalogue)
        converted = supervised_data(dataset.docs, name, labels=dataset.labels, seed=seed)
        msg.info(f"{name}/{split}: {len(converted)} passages, {len(dataset.labels)} types")
        data.extend(converted)
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, data)
    msg.good(f"Wrote {len(data)} conversations to {output}")


def gold_teacher(
    data: Path = typer.Argument(..., help="Annotated passages (sample JSONL or SLIMER Pile-NER JSONL)"),
    host: str = typer.Option("127.0.0.1", help="Host to bind"),
    port: int = typer.Option(8000, help="Port (0: any free port)"),
    definitions: Optional[Path] = typer.Option(None, help="Type definitions (JSON) for the definition prompt"),
    faults: str = typer.Option("", help="Injected faults, e.g. '429=0.1,500=0.05,timeout=0.05,malformed=0.02'"),
    seed: int = typer.Option(0, help="Seed of the fault schedule"),
    delay: float = typer.Option(0.0, help="Seconds of latency per request"),
    timeout_delay: float = typer.Option(2.0, help="Seconds an injected timeout holds the answer"),
) -> None:
    """Serve stored annotations as an OpenAI-compatible teacher (a stand-in for the LLM)."""
    rates = {}
    for item in filter(None, faults.split(",")):
        kind, _, rate = item.partition("=")
        try:
            rates[kind.strip()] = float(rate)
        except ValueError:
            raise typer.BadParameter(Errors.E515.format(item=item), param_hint="--faults") from None
    teacher = gold.GoldTeacher(
        gold.load_annotations(data),
        definitions=gold.load_definitions(definitions) if definitions else None,
        faults=rates,
        seed=seed,
        delay=delay,
        timeout_delay=timeout_delay,
    )
    with gold.GoldTeacherServer(teacher, host, port) as server:
        msg.info(f"Gold teacher ({len(teacher.annotations)} passages) at {server.base_url}", show=True)
        print(server.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


def register(app: typer.Typer) -> None:
    """Add the distillation commands to the ``python -m spacy_uniner`` app."""
    app.command("passages")(passages)
    app.command("annotate")(annotate)
    app.command("build-data")(build_data)
    app.command("build-sup-data")(build_sup_data)
    app.command("gold-teacher")(gold_teacher)
