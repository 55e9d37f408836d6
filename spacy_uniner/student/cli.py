"""Commands that make student training data and choose its threshold.

    spacy-uniner student-distill TEACHER CORPUS OUTPUT.spacy --labels person,city
    spacy-uniner student-convert records teacher.jsonl OUTPUT.spacy
    spacy-uniner student-convert labelled train.txt OUTPUT.spacy --format bio --label-map map.json
    spacy-uniner student-threshold MODEL dev.spacy
"""

from __future__ import annotations

import inspect
import json
import random
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

import spacy
import srsly
import typer
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans
from tqdm import tqdm
from wasabi import msg

from ..align import find_spans
from ..labels import normalize_labels
from .component import TYPES_ATTR
from .corpus import StudentCorpus, to_docbin
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
    doc._.set(TYPES_ATTR, list(by_type))
    return doc


def _takes_labels(pipe) -> bool:
    try:
        return "labels" in inspect.signature(pipe.pipe).parameters
    except (AttributeError, TypeError, ValueError):
        return False


def _report(counts: Counter, docs: List[Doc], output: Path) -> None:
    msg.good(f"Wrote {len(docs)} docs with {sum(len(d.ents) for d in docs)} mentions to {output}")
    dropped = {k: v for k, v in counts.items() if k != "mentions" and v}
    if dropped:
        msg.warn(f"Not kept: {dict(dropped)}")


def student_distill(
    teacher: str = typer.Argument(..., help="Teacher pipeline (name or path) that sets doc.ents, e.g. one with universal_ner"),
    corpus: Path = typer.Argument(..., help="Unlabelled passages: .jsonl ({'text': ...} per line; e.g. the output of the passages command), .txt (one passage per file), or a folder of them"),
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
    component_cfg = {name: {"labels": label_map} for name, pipe in nlp.pipeline if _takes_labels(pipe)}
    texts = read_documents([corpus])
    if limit:
        texts = (t for _, t in zip(range(limit), texts))
    counts: Counter = Counter()
    docs = []
    for doc in tqdm(nlp.pipe(texts, batch_size=batch_size, component_cfg=component_cfg), desc="teacher", unit="passage"):
        kept = []
        for ent in doc.ents:
            if ent.label_ in label_map:
                kept.append(Span(doc, ent.start, ent.end, label=label_map[ent.label_]))
            else:
                counts[f"other_label:{ent.label_}"] += 1
        counts["mentions"] += len(kept)
        student_doc = Doc(doc.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc])
        student_doc.ents = [Span(student_doc, s.start, s.end, label=s.label_) for s in kept]
        student_doc._.set(TYPES_ATTR, list(label_map.values()))
        docs.append(student_doc)
    output.parent.mkdir(parents=True, exist_ok=True)
    to_docbin(docs).to_disk(output)
    _report(counts, docs, output)


convert_app = typer.Typer(help="Convert annotations into student training data (.spacy).", no_args_is_help=True)


@convert_app.command("records")
def convert_records(
    records: Path = typer.Argument(..., help="Teacher JSONL: {'text', 'response'} (raw teacher output) or {'text', 'entities': [[mention, type], ...]}"),
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
    counts["no_types"] = sum(not d._.get(TYPES_ATTR) for d in docs)
    kept = [d for d in docs if d._.get(TYPES_ATTR)]
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


@convert_app.command("labelled")
def convert_labelled(
    path: Path = typer.Argument(..., help="Labelled dataset file or folder"),
    output: Path = typer.Argument(..., help="Output .spacy DocBin"),
    fmt: str = typer.Option("bio", "--format", help="Reader format (see spacy_uniner.evaluation.readers.FORMATS)"),
    label_map: Optional[Path] = typer.Option(None, help="JSON {dataset tag: type name or null}; tags not in it are dropped"),
) -> None:
    """A labelled dataset -> DocBin; every doc lists all of the dataset's type names."""
    from ..evaluation.readers import read_docs

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
    examples = list(StudentCorpus(dev, shuffle_types=False, gold_preproc=True)(nlp))
    chosen = tune_thresholds(nlp, examples, component, per_type=per_type, min_support=min_support)
    msg.table([(t, f"{100 * f:.1f}") for t, f in chosen.f_by_threshold.items()], header=("threshold", "dev F1"))
    if chosen.type_thresholds:
        msg.table(sorted(chosen.type_thresholds.items()), header=("type", "threshold"))
    chosen.apply(nlp, component)
    nlp.to_disk(output or model)
    msg.good(
        f"threshold {chosen.threshold} (dev span F1 {100 * chosen.f_by_threshold[chosen.threshold]:.1f}), "
        f"{len(chosen.type_thresholds)} per-type threshold(s) (dev span F1 {100 * chosen.f1:.1f}) saved to {output or model}"
    )


def register(app: typer.Typer) -> None:
    app.command("student-distill")(student_distill)
    app.add_typer(convert_app, name="student-convert")
    app.command("student-threshold")(student_threshold)
