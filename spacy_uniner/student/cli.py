"""Commands that make student training data and choose its threshold.

spacy-uniner student distill TEACHER CORPUS OUTPUT.spacy --labels person,city
spacy-uniner student convert-records teacher.jsonl OUTPUT.spacy
spacy-uniner student convert-labelled train.txt OUTPUT.spacy --format bio --label-map map.json
spacy-uniner student threshold MODEL dev.spacy
spacy-uniner student pool DATA_DIR OUTPUT_DIR
spacy-uniner student select POOL/dev.spacy v4=shipped new=CHECKPOINT
spacy-uniner student average v8 v9 --output SOUP
spacy-uniner student neighbours POOL
spacy-uniner student bootstrap new=select-new.json v11=select-v11.json
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

import spacy
import srsly
import typer
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans
from tqdm import tqdm
from wasabi import msg

from ..align import find_spans
from ..data.catalogue import split_names
from ..data.docs import LABELS_ATTR, copy_tokens, to_docbin
from ..errors import Errors
from ..labels import normalize_labels
from ..pipes.base import OpenNERPipe
from ..pipes.span.model import (
    DEFAULT_ENCODER,
    DEFAULT_PRETRAINED,
    PRETRAINED_META,
    lineage,
    pretrained_path,
    type_encoding,
)
from ..pipes.span.weights import MAX_SHARD_SIZE
from .corpus import StudentCorpus, dev_examples
from .threshold import tune_thresholds


def parse_labels(labels: str) -> Dict[str, str]:
    """``person,city`` or a JSON object/list (inline or a file path) -> ``{label: type text}``."""
    path = Path(labels)
    text = path.read_text(encoding="utf8") if path.is_file() else labels
    if text.lstrip().startswith(("{", "[")):
        return normalize_labels(json.loads(text))
    return normalize_labels([t.strip() for t in text.split(",") if t.strip()])


def doc_from_pairs(nlp: Language, text: str, pairs: Iterable[Tuple[str, str]], counts: Counter) -> Doc:
    """A doc whose entities are the (mention, type) pairs found at every occurrence; its type
    names are the pair types. Overlaps keep the longest span; misses are counted."""
    doc = nlp.make_doc(text)
    by_type: Dict[str, List[str]] = {}
    for mention, etype in pairs:
        by_type.setdefault(etype, []).append(mention)
    spans: List[Span] = []
    for etype, mentions in by_type.items():
        found = find_spans(doc, mentions, etype)
        spans += found.spans
        counts["not_found"] += len(found.not_found)
        counts["unaligned"] += len(found.unaligned)
    ents = filter_spans(spans)
    counts["overlapping"] += len(spans) - len(ents)
    counts["mentions"] += len(ents)
    doc.ents = ents
    doc._.set(LABELS_ATTR, list(by_type))
    return doc


def _report(counts: Counter, docs: List[Doc], output: Path) -> None:
    msg.good(f"Wrote {len(docs)} docs with {sum(len(d.ents) for d in docs)} mentions to {output}")
    dropped = {k: v for k, v in counts.items() if k != "mentions" and v}
    if dropped:
        msg.warn(f"Not kept: {dict(dropped)}")


def student_distill(
    teacher: str = typer.Argument(
        ..., help="Teacher pipeline (name or path) that sets doc.ents, e.g. one with universal_ner"
    ),
    corpus: Path = typer.Argument(
        ...,
        help="Unlabelled passages: .jsonl ({'text': ...} per line; e.g. the output of the passages "
        "command), .txt (one passage per file), or a folder of them",
    ),
    output: Path = typer.Argument(..., help="Output .spacy DocBin"),
    labels: str = typer.Option(..., help="Type names: 'person,city', a JSON list/object, or a JSON file"),
    batch_size: int = typer.Option(8, help="Passages per teacher batch"),
    limit: int = typer.Option(0, help="Read at most this many passages (0: all)"),
) -> None:
    """Run a teacher pipeline over a corpus with your labels and write student training data.

    Every passage lists all requested type names; those without a mention are negatives.
    Teacher components that take ``labels`` (universal_ner, universal_ner_span) are asked the
    labels; the entities of other pipelines are kept if their label is one of the labels."""
    from ..distill.passages import read_documents

    label_map = parse_labels(labels)
    nlp = spacy.load(teacher)
    component_cfg = {name: {"labels": label_map} for name, pipe in nlp.pipeline if isinstance(pipe, OpenNERPipe)}
    texts = read_documents([corpus])
    if limit:
        texts = (t for _, t in zip(range(limit), texts))
    counts: Counter = Counter()
    docs = []
    for doc in tqdm(
        nlp.pipe(texts, batch_size=batch_size, component_cfg=component_cfg), desc="teacher", unit="passage"
    ):
        kept = []
        for ent in doc.ents:
            if ent.label_ in label_map:
                kept.append(Span(doc, ent.start, ent.end, label=label_map[ent.label_]))
            else:
                counts[f"other_label:{ent.label_}"] += 1
        counts["mentions"] += len(kept)
        student_doc = copy_tokens(doc)
        student_doc.ents = [Span(student_doc, s.start, s.end, label=s.label_) for s in kept]
        student_doc._.set(LABELS_ATTR, list(label_map.values()))
        docs.append(student_doc)
    output.parent.mkdir(parents=True, exist_ok=True)
    to_docbin(docs).to_disk(output)
    _report(counts, docs, output)


student_app = typer.Typer(help="The compact span student: data, training, thresholds, release.", no_args_is_help=True)


@student_app.command("convert-records")
def convert_records(
    records: Path = typer.Argument(
        ...,
        help="Teacher JSONL: {'text', 'response'} (raw teacher output) or {'text', 'entities': [[mention, type], ...]}",
    ),
    output: Path = typer.Argument(..., help="Output .spacy DocBin"),
    dev: Optional[Path] = typer.Option(None, help="Also write a held-out dev DocBin here (for the threshold)"),
    dev_fraction: float = typer.Option(0.2, help="Share of the passages held out for --dev"),
    seed: int = typer.Option(0, help="Seed of the train/dev split"),
) -> None:
    """Teacher annotations (open types) -> DocBin. Each passage lists the types it has
    mentions of; train with ``negatives`` > 0 to sample absent types by frequency."""
    from ..distill.instructions import examples_from_records

    nlp = spacy.blank("en")
    rows = list(srsly.read_jsonl(records))
    raw = [r for r in rows if "response" in r]
    counts: Counter = Counter()
    passages = [(r["text"], [tuple(p) for p in r["entities"]]) for r in rows if "entities" in r and "response" not in r]
    counts["unreadable_rows"] = len(rows) - len(raw) - len(passages)
    if raw:
        examples, filter_counts = examples_from_records(raw)
        counts.update({k: v for k, v in filter_counts.items() if k != "records"})
        passages += [(ex.text, ex.pairs) for ex in examples]
    docs = [doc_from_pairs(nlp, text, pairs, counts) for text, pairs in tqdm(passages, desc="passages")]
    counts["no_types"] = sum(not d._.get(LABELS_ATTR) for d in docs)
    kept = [d for d in docs if d._.get(LABELS_ATTR)]
    if dev is not None:
        if not 0 < dev_fraction < 1:
            raise typer.BadParameter(f"--dev-fraction must be between 0 and 1, got {dev_fraction}")
        random.Random(seed).shuffle(kept)
        n_dev = max(1, round(len(kept) * dev_fraction))
        dev.parent.mkdir(parents=True, exist_ok=True)
        to_docbin(kept[:n_dev]).to_disk(dev)
        msg.good(f"Held out {n_dev} passages in {dev}")
        kept = kept[n_dev:]
    output.parent.mkdir(parents=True, exist_ok=True)
    to_docbin(kept).to_disk(output)
    _report(counts, kept, output)


@student_app.command("convert-labelled")
def convert_labelled(
    path: Path = typer.Argument(..., help="Labelled dataset file or folder"),
    output: Path = typer.Argument(..., help="Output .spacy DocBin"),
    fmt: str = typer.Option("bio", "--format", help="Reader format (see spacy_uniner.data.readers.FORMATS)"),
    label_map: Optional[Path] = typer.Option(
        None, help="JSON {dataset tag: type name or null}; tags not in it are dropped"
    ),
) -> None:
    """A labelled dataset -> DocBin; every doc lists all of the dataset's type names."""
    from ..data.readers import read_docs

    nlp = spacy.blank("en")
    mapping = srsly.read_json(label_map) if label_map else None
    docs = read_docs(path, fmt, nlp.vocab, mapping)
    types = sorted({v for v in mapping.values() if v}) if mapping else sorted({e.label_ for d in docs for e in d.ents})
    output.parent.mkdir(parents=True, exist_ok=True)
    to_docbin(docs, types).to_disk(output)
    msg.good(f"Wrote {len(docs)} docs ({len(types)} types) to {output}")


def student_threshold(
    model: Path = typer.Argument(..., help="Trained student pipeline; the chosen threshold is saved into it"),
    dev: Path = typer.Argument(..., help="Dev .spacy DocBin (never the test split)"),
    component: str = typer.Option("universal_ner_span", help="Component name"),
    output: Optional[Path] = typer.Option(None, help="Save here instead of over MODEL"),
    per_type: bool = typer.Option(True, "--per-type/--global-only", help="Also tune thresholds per type name"),
    min_support: int = typer.Option(10, min=1, help="Gold mentions a type needs in dev to get its own threshold"),
) -> None:
    """Choose the threshold with the best span F1 on a dev split, then per-type thresholds
    for the frequent types where they raise it, and store them in the pipeline."""
    nlp = spacy.load(model)
    examples = list(StudentCorpus(dev, gold_preproc=True)(nlp))
    chosen = tune_thresholds(nlp, examples, component, per_type=per_type, min_support=min_support)
    msg.table([(t, f"{100 * f:.1f}") for t, f in chosen.f_by_threshold.items()], header=("threshold", "dev F1"))
    if chosen.type_thresholds:
        msg.table(sorted(chosen.type_thresholds.items()), header=("type", "threshold"))
    chosen.apply(nlp, component)
    nlp.to_disk(output or model)
    msg.good(
        f"threshold {chosen.threshold} (dev span F1 {100 * chosen.f_by_threshold[chosen.threshold]:.1f}), "
        f"{len(chosen.type_thresholds)} per-type threshold(s) (dev span F1 {100 * chosen.f1:.1f}) "
        f"saved to {output or model}"
    )


def student_pool(
    data_dir: Path = typer.Argument(
        ..., help="Data folder in the catalogue's layout (raw/..., as fetched by `weasel run fetch-pool`)"
    ),
    output: Path = typer.Argument(
        ...,
        help="Output folder: train.spacy, dev.spacy, hierarchy.json, synonyms.json, definitions.json, stats.json",
    ),
    datasets: str = typer.Option("", help="Comma-separated catalogue names (default: every non-benchmark dataset)"),
    catalogue: Optional[Path] = typer.Option(None, help="datasets.yml (default: the project's)"),
    synonyms: Optional[Path] = typer.Option(None, help="Synonyms JSON copied next to the pool"),
    definitions: bool = typer.Option(
        True, help="Write the type definitions of the sources that give them (Pile-NER guidelines) as definitions.json"
    ),
    max_tokens: int = typer.Option(256, help="Longer passages are cut at sentence ends"),
    empty_rate: float = typer.Option(0.1, help="Share of mention-less sentences kept"),
    temperature: float = typer.Option(0.5, help="Mixture: a source of n docs is drawn with weight n ** (t - 1)"),
    llm_weight: float = typer.Option(3.0, help="Mixture: extra weight of the LLM-annotated (open-type) sources"),
    llm_repeat: int = typer.Option(1, help="Mixture: copies of each LLM-annotated training doc in the order"),
    seed: int = typer.Option(0),
    gliner: bool = typer.Option(False, help="Also write the train/dev docs in GLiNER's JSON format"),
) -> None:
    """Build the open-type training pool of the pretrained student: every non-test split of
    every non-benchmark catalogue dataset (never CrossNER, MIT or a test split)."""
    from .pool import build_pool, gliner_records, write_pool

    names = split_names(datasets) or None
    pool = build_pool(
        data_dir,
        catalogue,
        names,
        max_tokens=max_tokens,
        empty_rate=empty_rate,
        temperature=temperature,
        llm_weight=llm_weight,
        llm_repeat=llm_repeat,
        seed=seed,
    )
    summary = write_pool(pool, output, synonyms, definitions=definitions)
    if gliner:
        srsly.write_json(output / "gliner_train.json", gliner_records(pool.train, seed=seed))
        srsly.write_json(output / "gliner_dev.json", gliner_records(pool.dev, seed=seed))
    msg.table(
        [
            (name, s["passages"], s["mentions"], s["types"])
            for name, s in summary["sources"].items()
            if not name.startswith("_")
        ],
        header=("source", "passages", "mentions", "type names"),
    )
    msg.good(
        f"Pool: {summary['passages']} passages ({summary['dev_passages']} dev), {summary['mentions']} mentions, "
        f"{summary['type_names']} distinct type names (+{summary['coarse_names']} coarse names) in {output}"
    )


def student_pretrain(
    config: Path = typer.Argument(..., help="Pretraining config, e.g. configs/student-pretrain.cfg"),
    pool: Path = typer.Argument(..., help="Pool folder written by student pool"),
    output: Path = typer.Argument(..., help="Checkpoints (minutes-N pipelines) and log.jsonl go here"),
    minutes: float = typer.Option(60.0, help="Wall-clock training budget"),
    checkpoints: str = typer.Option("15,30,45", help="Also save a checkpoint after these many minutes"),
    overrides: List[str] = typer.Option(
        [], "--set", help="Config override, e.g. --set corpora.train.augmenters.negative_types.ratio=0.4"
    ),
    threads: int = typer.Option(1, help="Torch threads (one per run on a shared CPU)"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU to train on (-1: the CPU)"),
) -> None:
    """Train the student on the pool for a wall-clock budget, with checkpoints on the way."""
    import torch

    from .pretrain import pretrain

    torch.set_num_threads(threads)

    settings = {}
    for item in overrides:
        key, _, value = item.partition("=")
        try:
            settings[key] = srsly.json_loads(value)
        except ValueError:  # a bare string: --set ...encoder_dtype=float32
            settings[key] = value
    marks = [float(m) for m in checkpoints.split(",") if m.strip()]
    saved = pretrain(config, pool, output, minutes, marks, settings, gpu_id=gpu_id)
    msg.good(f"Saved {len(saved)} checkpoint(s): {', '.join(p.name for p in saved)} in {output}")


def _parent_meta(pretrained: Optional[str]) -> dict:
    """The metadata of the released student a pipeline started from ({} when none; only its
    name when its folder is no longer there)."""
    if not pretrained:
        return {}
    try:
        return srsly.read_json(pretrained_path(pretrained) / PRETRAINED_META)
    except OSError:
        return {"name": str(pretrained)}


def student_export(
    model: Path = typer.Argument(..., help="Trained student pipeline (e.g. a student pretrain checkpoint)"),
    output: Path = typer.Argument(
        ..., help="Folder of the released weights, e.g. spacy_uniner/pipes/span/pretrained/" + DEFAULT_PRETRAINED
    ),
    dev: Path = typer.Option(
        ..., help="Dev .spacy DocBin for the threshold (the pool's dev.spacy; never an eval file)"
    ),
    pool_stats: Optional[Path] = typer.Option(
        None, help="The pool's stats.json: sources and licences are recorded in the metadata"
    ),
    dev_sources: str = typer.Option(
        "llm",
        help="Pool sources whose dev docs choose the threshold: llm (the LLM-annotated, open-type "
        "ones; needs --pool-stats), all, or comma-separated names",
    ),
    limit: int = typer.Option(0, help="At most this many dev docs (0: all of those sources)"),
    name: str = typer.Option(DEFAULT_PRETRAINED),
    max_shard_size: str = typer.Option(MAX_SHARD_SIZE, help="Largest safetensors file; more tensors are sharded"),
    threshold_from: List[Path] = typer.Option(
        [],
        help="`student select --output` files scoring this student alone, one per dev view (repeatable): "
        "the threshold with the highest mean lower-of-two protocols over them replaces the --dev choice",
    ),
) -> None:
    """Release a student: choose its threshold on dev (or take the one `student select`
    scores best in both protocols), fold it into the score bias (so the component's default
    threshold 0.5 applies it), save fp16 safetensors (sharded above ``--max-shard-size``)
    without the encoder's own vocabulary (the packaged encoder provides it) and the metadata."""
    import math

    import torch

    from ..data.docs import SOURCE_KEY
    from ..pipes.span.model import export_pretrained
    from .pool import dev_from_sources
    from .selection import shared_threshold

    views = []  # read and checked before the dev passes, so a wrong file fails at once
    for path in threshold_from:
        records = srsly.read_json(path)
        if len(records) != 1:
            raise ValueError(Errors.E637.format(path=path, n=len(records), names=sorted(records)))
        views.append(next(iter(records.values())))
    if views:
        threshold, lower = shared_threshold(views)
    nlp = spacy.load(model)
    pipe = nlp.get_pipe("universal_ner_span")
    stats = srsly.read_json(pool_stats) if pool_stats is not None else None
    examples = dev_from_sources(dev_examples(dev, nlp), dev_sources, stats, dev)[: limit or None]
    chosen = tune_thresholds(nlp, examples, per_type=False)
    if not views:
        threshold = chosen.threshold
    module = pipe.model.shims[0]._model
    shift = math.log(threshold / (1.0 - threshold))
    with torch.no_grad():
        module.bias -= shift  # sigmoid(z - shift) >= 0.5  <=>  sigmoid(z) >= threshold
    attrs = pipe.model.attrs
    meta = {
        "name": name,
        "encoder": attrs["encoder"],
        "model": {
            **{
                k: attrs[k]
                for k in ("max_width", "hidden_width", "word_shapes", "max_length", "window_overlap")
                if k in attrs
            },
            # Only a student reading names apart says so: those released before the option read them jointly.
            **({"type_encoding": encoding} if (encoding := type_encoding(pipe.model)) != "joint" else {}),
        },
        "dtype": "float16",
        "threshold_on_dev": threshold,
        "dev_span_f1": 100 * chosen.f_by_threshold[threshold] if threshold in chosen.f_by_threshold else None,
        "dev_docs": len(examples),
        "dev_sources": sorted({str(eg.reference.user_data.get(SOURCE_KEY)) for eg in examples}),
        "note": "the dev-chosen threshold is folded into `bias`: use threshold 0.5",
    }
    if views:
        meta["threshold_from_select"] = {
            "files": [Path(p).name for p in threshold_from],
            "mean_lower_of_two_protocols": lower,
            "dev_threshold_instead": chosen.threshold,
        }
    parent = _parent_meta(attrs.get("pretrained"))
    if parent:  # the weights it started from: a soup keeps its parents, a continued student its start
        meta["started_from"] = lineage(parent)
    log = Path(model).parent / "log.jsonl"
    if log.exists():  # a student-pretrain checkpoint: how long it trained and on how much
        rows = list(srsly.read_jsonl(log))
        marks = [r for r in rows if r.get("checkpoint") == Path(model).name]
        setup = next((r for r in rows if "device" in r), {"device": "cpu", "threads": 1})  # older logs: one CPU thread
        threads = "one CPU thread" if setup["threads"] == 1 else f"{setup['threads']} CPU threads"
        where = threads if setup["device"] == "cpu" else setup["device"]
        if marks:
            meta["training"] = {
                "checkpoint_minutes": marks[-1]["minutes"],
                "steps": marks[-1]["step"],
                "passages_seen": marks[-1]["docs"],
                "device": setup["device"],
                "recipe": f"student pretrain configs/student-pretrain.cfg ({where}, wall-clock budget)",
            }
    if stats is not None:
        meta["training_data"] = {
            "passages": stats["passages"],
            "mentions": stats["mentions"],
            "type_names": stats["type_names"],
            "sources": {
                k: {"license": v.get("license"), "passages": v["passages"]}
                for k, v in stats["sources"].items()
                if not k.startswith("_")
            },
        }
    export_pretrained(module, output, meta, pipe.model.shims[0].cfg["base_vocab"], max_shard_size=max_shard_size)
    for path in output.iterdir():
        path.chmod(0o644)
    size = sum(p.stat().st_size for p in output.iterdir()) / 1e6
    dev_f1 = f"dev span F1 {meta['dev_span_f1']:.1f}" if meta["dev_span_f1"] is not None else "off the dev grid"
    source = f", from {len(views)} select file(s)" if views else ""
    msg.good(f"Threshold {threshold} ({dev_f1}{source}) folded in; wrote {output} ({size:.1f} MB)")


def student_average(
    students: List[str] = typer.Argument(..., help="Released students to average: shipped names or folders"),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the averaged student"),
    weights: str = typer.Option("", help="Comma-separated weight per student (default: uniform)"),
    name: Optional[str] = typer.Option(None, help="Name in the metadata (default: the folder's name)"),
    max_shard_size: str = typer.Option(MAX_SHARD_SIZE, help="Largest safetensors file; more tensors are sharded"),
) -> None:
    """Average released students' weights (a model soup). Then make it a pipeline with
    ``student pipeline --pretrained OUTPUT``, compare it with ``student select`` and release it
    with ``student export`` (which chooses its threshold on dev)."""
    from .average import average_students

    mix = [float(w) for w in weights.split(",") if w.strip()] or None
    folder, meta = average_students(students, output, mix, name, max_shard_size)
    parts = ", ".join(f"{s['name']} x {s['weight']:.3f}" for s in meta["averaged_from"])
    msg.good(f"Averaged {parts} into {folder}")


def student_select(
    dev: Path = typer.Argument(..., help="The pool's dev.spacy (never an eval file)"),
    candidates: List[str] = typer.Argument(
        ..., help="NAME=PIPELINE folders to compare; NAME=shipped is the component's default student"
    ),
    max_types: int = typer.Option(50, min=1, help="At most this many type names asked per passage"),
    min_docs: int = typer.Option(20, min=1, help="Sources with fewer dev docs are left out of the average"),
    protocol: str = typer.Option(
        "both", help="all (every type together), single (each type alone) or both (the lower of the two decides)"
    ),
    output: Optional[Path] = typer.Option(None, help="Also write the scores here (JSON)"),
    max_docs: int = typer.Option(0, min=0, help="Score only each source's first this many dev docs (0: all)"),
    skip_sources: str = typer.Option(
        "", help="Comma-separated pool sources to leave out: those only some candidates were trained on"
    ),
    bootstrap_samples: int = typer.Option(
        1000, min=0, help="Paired bootstrap of the best against each other candidate (0: none)"
    ),
) -> None:
    """Compare candidate students on the pool's dev split as the benchmark asks (every
    annotated type name per passage, all together and/or each alone, each source weighted
    the same), each at its best global threshold per protocol; the highest macro span F1
    (with ``both``: the highest lower of the two) is the release. Compare on the sources every
    candidate was trained on (``--skip-sources`` the others): a source only one of them saw is
    in-domain for that one alone."""
    from .selection import PROTOCOLS, all_types_examples, load_student, named_student, protocol_scores, scores_record

    if protocol not in PROTOCOLS:
        raise typer.BadParameter(Errors.E627.format(value=protocol))
    skip = split_names(skip_sources)
    results: Dict[str, Dict[str, Any]] = {}
    released: Dict[str, float] = {}
    for item in candidates:
        name, path = named_student(item)
        nlp = load_student(path)
        released[name] = float(nlp.get_pipe("universal_ner_span").threshold)
        examples = all_types_examples(dev, nlp, max_types)
        try:
            results[name] = protocol_scores(nlp, examples, protocol, min_docs=min_docs, max_docs=max_docs, skip=skip)
        except ValueError as err:
            raise typer.BadParameter(str(err)) from err
        for key, scores in results[name].items():
            msg.info(f"{name} ({key}): macro span F1 {100 * scores.macro_f1:.1f} at threshold {scores.threshold}")
    columns = [(name, key) for name, by_protocol in results.items() for key in by_protocol]
    sources = list(results[columns[0][0]][columns[0][1]].by_source)
    rows = [
        [source] + [f"{100 * results[n][k].by_source[source][results[n][k].threshold]:.1f}" for n, k in columns]
        for source in sources
    ]
    rows.append(["macro average"] + [f"{100 * results[n][k].macro_f1:.1f}" for n, k in columns])
    rows.append(["threshold"] + [f"{results[n][k].threshold:g}" for n, k in columns])
    msg.table(rows, header=["dev source"] + [f"{n} ({k})" for n, k in columns], divider=True)
    records = {name: scores_record(by_protocol, released[name]) for name, by_protocol in results.items()}
    best = max(records, key=lambda name: records[name]["score"])
    for name, record in records.items():  # a release ships one threshold for every query shape
        shipped = ""
        if "released_score" in record:
            shipped = (
                f"; at its own {record['released_threshold']:g}, as users run it: {100 * record['released_score']:.1f}"
            )
        msg.info(
            f"{name}: best one threshold for all protocols {record['shared_threshold']:g} "
            f"(lower of the protocols {100 * record['shared_score']:.1f}){shipped}"
        )
    what = "macro dev span F1" if protocol != "both" else "lower of the two protocols' macro dev span F1"
    msg.good(f"Highest {what}: {best} ({100 * records[best]['score']:.1f})")
    others = [(name, record) for name, record in records.items() if name != best]
    if bootstrap_samples and others:
        _print_bootstrap(best, records[best], others, bootstrap_samples, seed=0)
    if output is not None:
        srsly.write_json(output, records)


def _select_record(item: str) -> Tuple[str, Dict[str, Any]]:
    """``NAME=FILE`` or ``FILE`` (one candidate) of a ``student select --output`` file. A file of
    one candidate takes any NAME as its label in the table; in a file of several, NAME picks one."""
    name, _, path = item.rpartition("=")
    if not Path(path).is_file():
        raise typer.BadParameter(Errors.E646.format(path=path))
    records = srsly.read_json(path)
    if not isinstance(records, dict) or not all(isinstance(r, dict) and "score" in r for r in records.values()):
        raise typer.BadParameter(Errors.E646.format(path=path))
    if len(records) == 1:
        only = next(iter(records))
        return name or only, records[only]
    if name not in records:
        example = f"{next(iter(records), 'NAME')}={path}"
        raise typer.BadParameter(Errors.E645.format(path=path, n=len(records), names=sorted(records), example=example))
    return name, records[name]


def student_bootstrap(
    candidate: str = typer.Argument(..., help="NAME=FILE (or FILE with one candidate) of a `student select --output`"),
    baselines: List[str] = typer.Argument(..., help="One or more NAME=FILE to compare it with, on the same dev file"),
    samples: int = typer.Option(1000, help="Resamples of the dev docs"),
    seed: int = typer.Option(0),
) -> None:
    """Whether a student's dev score beats another's by more than the dev docs' noise: a paired
    bootstrap over the docs both `student select` runs scored (the same draws for both
    students and both protocols; thresholds where select chose them)."""
    name, record = _select_record(candidate)
    _print_bootstrap(name, record, [_select_record(item) for item in baselines], samples, seed)


def _print_bootstrap(
    name: str, record: Dict[str, Any], others: List[Tuple[str, Dict[str, Any]]], samples: int, seed: int
) -> None:
    """Table of ``name``'s paired bootstrap against each ``(name, record)`` of ``others``."""
    from .bootstrap import paired_bootstrap

    rows = []
    for other, other_record in others:
        try:
            result = paired_bootstrap(record, other_record, samples, seed, names=(name, other))
        except ValueError as err:
            raise typer.BadParameter(str(err)) from err
        rows.append(
            (
                other,
                f"{100 * record['score']:.2f}",
                f"{100 * other_record['score']:.2f}",
                f"{100 * result.difference:+.2f}",
                f"[{100 * result.low:+.2f}, {100 * result.high:+.2f}]",
                f"{100 * result.share_better:.1f}%",
            )
        )
    msg.table(
        rows,
        header=("baseline", name, "baseline score", "difference", "95% interval", f"resamples {name} wins"),
        divider=True,
    )
    msg.info(
        f"Paired bootstrap: {samples} resamples of each source's dev docs (seed {seed}); scores as select's "
        "(the lower of the protocols it scored). An interval holding 0: the dev docs cannot tell the two apart."
    )


def student_self_label(
    pool: Path = typer.Argument(..., help="Pool folder (`student pool`): train.spacy, dev.spacy, ..."),
    output: Path = typer.Argument(..., help="New pool folder: train.spacy self-labelled, the other files copied"),
    model: str = typer.Option("shipped", help="Student pipeline folder, or 'shipped' (the component's default)"),
    sources: str = typer.Option(
        "pilener_gner,pilener_validation,gliner_sample",
        help="Comma-separated pool sources whose annotation misses mentions (the LLM-annotated ones)",
    ),
    min_score: float = typer.Option(0.9, help="Add answers at or above this score (the pipe's scale: 0.5 = threshold)"),
    batch_size: int = typer.Option(32, min=1),
) -> None:
    """One round of self-training data: the student's confident answers, for the types each
    passage already has mentions of, are added to the passages of ``--sources`` where they overlap no
    gold mention. Train on the new folder as on any pool (`student pretrain`)."""
    from .selection import load_student
    from .self_label import self_label_pool

    names = split_names(sources)
    try:
        summary = self_label_pool(pool, output, load_student(model), names, min_score, batch_size)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    msg.table(
        [(s, summary["docs_with_added_mentions"].get(s, 0), summary["mentions_added"].get(s, 0)) for s in names],
        header=["source", "docs with added mentions", "mentions added"],
        divider=True,
    )
    msg.good(f"Wrote {output} ({summary['docs']} train docs)")


def student_neighbours(
    pool: Path = typer.Argument(..., help="Pool folder (`student pool`); neighbours.json is written into it"),
    k: int = typer.Option(10, help="Neighbours kept per type name"),
    min_similarity: float = typer.Option(0.45, help="Least cosine similarity of a neighbour"),
    max_similarity: float = typer.Option(0.8, help="Names at or above this similarity are left out (synonyms)"),
    encoder: str = typer.Option(DEFAULT_ENCODER, help="Encoder whose mean-pooled embeddings compare the names"),
) -> None:
    """Write the pool's near type names (POOL/neighbours.json), which `student pretrain` gives
    the negative sampler: `--set corpora.train.augmenters.negative_types.near=0.5` draws half of
    the negatives among the positive types' neighbours."""
    from .augment import read_hierarchy, read_synonyms
    from .neighbours import NEIGHBOURS, pool_type_names, type_neighbours

    if not (pool / "train.spacy").is_file():
        raise typer.BadParameter(Errors.E301.format(path=pool / "train.spacy"))
    counts, cotyped = pool_type_names(pool / "train.spacy")
    synonyms = read_synonyms(pool / "synonyms.json") if (pool / "synonyms.json").exists() else {}
    broad = sorted(set(read_hierarchy(pool / "hierarchy.json").values())) if (pool / "hierarchy.json").exists() else []
    try:
        table = type_neighbours(
            sorted(counts), encoder, k, min_similarity, max_similarity, synonyms, broad, set(cotyped)
        )
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    srsly.write_json(pool / NEIGHBOURS, table)
    examples = [(t, ", ".join(table[t][:5])) for t, _ in counts.most_common() if t in table][:8]
    msg.table(examples, header=["frequent type", "nearest names"], divider=True)
    msg.good(f"Wrote {pool / NEIGHBOURS}: neighbours for {len(table)} of {len(counts)} type names")


def student_pipeline(
    output: Path = typer.Argument(..., help="Folder for the pipeline"),
    pretrained: str = typer.Option(DEFAULT_PRETRAINED, help="Shipped student name or a released student folder"),
    labels: str = typer.Option("person,organization,location", help="Default type names of the pipe"),
) -> None:
    """Save the shipped pretrained student as a spaCy pipeline folder (no training), for
    ``evaluate`` and ``spacy.load``."""
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe(
        "universal_ner_span",
        config={"labels": list(parse_labels(labels).values()), "model": {"pretrained": pretrained}},
    )
    pipe.model.initialize()
    nlp.to_disk(output)
    msg.good(f"Saved the pretrained student {pretrained!r} as a pipeline in {output}")


def student_report(
    llm: Path = typer.Option(..., help="`evaluate` output folder of the generative student (metrics.json)"),
    student: Path = typer.Option(..., help="`evaluate` output folder of the span student (metrics.json)"),
    pipeline: Path = typer.Option(..., help="The span student pipeline, for the displaCy page"),
    samples: Path = typer.Option(
        ..., help="Passages for the page: JSONL with 'text' (and 'entities': [[mention, type]] giving the types)"
    ),
    page: Path = typer.Option(Path("metrics/student_samples.html"), help="displaCy page to write"),
    n_samples: int = typer.Option(12),
    llm_name: str = typer.Option("tiny LLaMA (paper recipe)"),
    student_name: str = typer.Option("span student (shipped)"),
) -> None:
    """One table: the generative student and the shipped span student next to the paper's
    published F1s, per eval dataset; and a displaCy page of the span student."""
    from spacy import displacy

    from ..colors import DISPLACY_COLORS, register_label_colors
    from ..evaluation.report import load_paper_results, paper_scores

    paper = load_paper_results()
    systems = paper.get("compare", [])
    runs = [
        (llm_name, srsly.read_json(llm / "metrics.json")),
        (student_name, srsly.read_json(student / "metrics.json")),
    ]
    names = list(dict.fromkeys(n for _, r in runs for n in r["datasets"]))
    header = (
        ["dataset"] + [f"{name} string / span F1 (passages)" for name, _ in runs] + [f"{s} (paper)" for s in systems]
    )
    rows = []
    for dataset in names:
        row = [dataset]
        paper_name = None
        for _, run in runs:
            d = run["datasets"].get(dataset)
            paper_name = paper_name or (d or {}).get("paper_name")
            row.append(
                f"{100 * d['string']['f']:.1f} / {100 * d['spans']['ents_f']:.1f} ({d['passages']})" if d else "-"
            )
        published = paper_scores(paper, paper_name)
        row += [f"{published[s]:.1f}" if s in published else "" for s in systems]
        rows.append(row)
    msg.table(rows, header=header, divider=True)
    nlp = spacy.load(pipeline)
    docs, labels = [], set()
    for row in list(srsly.read_jsonl(samples))[:n_samples]:
        # the passage's annotated types, plus the common ones
        types = list(dict.fromkeys([t for _, t in row.get("entities", [])] + ["person", "organization", "location"]))
        doc = nlp.make_doc(row["text"])
        doc._.set(LABELS_ATTR, types)
        doc = nlp(doc)
        labels |= {e.label_ for e in doc.ents}
        docs.append(
            {
                "text": doc.text,
                "ents": [{"start": e.start_char, "end": e.end_char, "label": e.label_} for e in doc.ents],
                "title": f"asked: {', '.join(types)}",
            }
        )
    register_label_colors(sorted(labels))
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(
        displacy.render(
            docs, style="ent", manual=True, page=True, jupyter=False, options={"colors": dict(DISPLACY_COLORS)}
        ),
        encoding="utf8",
    )
    msg.good(f"displaCy page of the span student on {len(docs)} sample passages: {page.resolve()}")


def register(app: typer.Typer) -> None:
    """Add the ``student`` command family: ``python -m spacy_uniner student COMMAND``."""
    for name, command in (
        ("distill", student_distill),
        ("threshold", student_threshold),
        ("pool", student_pool),
        ("pretrain", student_pretrain),
        ("export", student_export),
        ("select", student_select),
        ("average", student_average),
        ("bootstrap", student_bootstrap),
        ("self-label", student_self_label),
        ("neighbours", student_neighbours),
        ("pipeline", student_pipeline),
        ("report", student_report),
    ):
        student_app.command(name)(command)
    app.add_typer(student_app, name="student")
