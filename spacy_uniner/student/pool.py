"""The open-type training pool of the pretrained ``universal_ner_span`` student.

Every non-test split of every catalogue dataset that is not part of the benchmark
(CrossNER, MIT and the UniNER eval files are never read), LLM-annotated data first:

* Pile-NER passages annotated by ChatGPT (SLIMER's validation split, with the queried types
  that have no mention as known negatives; GNER's lossy BIO conversion; GLiNER's sample);
* every labelled dataset, all of its non-test sentences, with natural-language type names
  and, where the catalogue gives one (``coarse``), a broader name for each fine type.

Each doc lists the types it is annotated for in ``doc._.uniner_labels`` (a listed type
without a mention is a known negative) and its source in ``doc.user_data["pool_source"]``.
A partially annotated doc (entity typing, guideline examples: ``is_partial``) lists only
its annotated types; one sentence may then appear once per set of types (a span has one
label), and all its copies fall on the same side of the dev split. Sources that define
their types (Pile-NER guidelines) give ``definitions.json``: type name -> [definition],
usable like synonyms.
Long passages are cut into pieces of at most ``max_tokens`` tokens at sentence ends.
A small held-out part of every source is the dev set (thresholds are chosen there).

The training file's order is a mixture: docs are drawn without replacement with
probability proportional to ``n_source ** (temperature - 1)`` (times ``llm_weight`` for
LLM-annotated sources), so small, fine-typed sources are not drowned by large coarse ones,
and a run that stops early has seen every source. With ``llm_repeat`` each LLM-annotated
doc enters the order that many times, each copy drawn on its own, so a long run meets the
scarce open-type passages again (under new sampled negatives and type-name dropout)
instead of running out of them.

    spacy-uniner student pool DATA_DIR OUTPUT_DIR
"""

from __future__ import annotations

import logging
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import srsly
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.vocab import Vocab
from tqdm import tqdm

from ..data.catalogue import DEFAULT_CATALOGUE, DatasetSpec, load_catalogue, load_dataset, split_names
from ..data.docs import LABELS_ATTR, SOURCE_KEY, copy_tokens, is_partial, to_docbin
from ..data.readers import QUERIED_TYPES_KEY, read_definitions
from ..errors import Errors

logger = logging.getLogger("spacy_uniner")

# Never in the pool: the benchmark (CrossNER, MIT, the UniNER eval files).
EXCLUDED_PREFIXES = ("crossner", "mit", "uniner")
EXCLUDED_TAGS = ("crossner", "uniner")
TEST_SPLITS = ("test",)
LLM_TAG = "llm-annotated"


def is_excluded(spec: DatasetSpec) -> bool:
    """Whether a catalogue dataset belongs to the benchmark and so never enters the pool."""
    return spec.name.startswith(EXCLUDED_PREFIXES) or any(t in spec.tags for t in EXCLUDED_TAGS)


def pool_splits(spec: DatasetSpec) -> List[str]:
    """The splits of a dataset the pool reads: all but the test split."""
    return [s for s in spec.splits if s not in TEST_SPLITS]


@dataclass
class Pool:
    train: List[Doc]  # the training order: a repeated doc appears once per copy
    dev: List[Doc]
    hierarchy: Dict[str, str]  # fine type name -> coarse type name
    stats: Dict[str, Dict] = field(default_factory=dict)
    definitions: Dict[str, List[str]] = field(default_factory=dict)  # type name -> definitions

    def summary(self) -> Dict:
        distinct = list({id(d): d for d in self.train}.values())
        docs = distinct + self.dev
        types = {t for d in docs for t in d._.get(LABELS_ATTR) or []}
        return {
            "passages": len(docs),
            "train_passages": len(distinct),
            "train_order_length": len(self.train),
            "dev_passages": len(self.dev),
            "mentions": sum(len(d.ents) for d in docs),
            "type_names": len(types),
            "type_names_with_mentions": len({e.label_ for d in docs for e in d.ents}),
            "coarse_names": len(set(self.hierarchy.values())),
            "partial_passages": sum(is_partial(d) for d in docs),
            "defined_types": len(self.definitions),
            "sources": self.stats,
        }


def catalogue_coarse(path: Optional[Path] = None) -> Dict[str, Dict[str, str]]:
    """The ``coarse`` maps (fine type name -> broader name) of the catalogue's entries."""
    data = srsly.read_yaml(path or DEFAULT_CATALOGUE)["datasets"]
    return {name: dict(entry.get("coarse") or {}) for name, entry in data.items()}


def _cut(doc: Doc, max_tokens: int) -> List[Doc]:
    """Pieces of at most ``max_tokens`` tokens, cut after sentence-final tokens outside mentions."""
    if len(doc) <= max_tokens:
        return [doc]
    inside = {i for e in doc.ents for i in range(e.start, e.end - 1)}
    pieces, start = [], 0
    while start < len(doc):
        end = min(len(doc), start + max_tokens)
        if end < len(doc):
            cuts = [
                i + 1
                for i in range(start + max_tokens // 2, end)
                if doc[i].text in {".", "!", "?", "\n", "\n\n"} and i not in inside
            ]
            if cuts:
                end = cuts[-1]
            else:
                while end > start + 1 and end - 1 in inside:
                    end -= 1
        span = doc[start:end]
        words = [t.text for t in span]
        spaces = [bool(t.whitespace_) for t in span]
        spaces[-1] = False
        piece = Doc(doc.vocab, words=words, spaces=spaces)
        piece.ents = [
            Span(piece, e.start - start, e.end - start, e.label_) for e in doc.ents if start <= e.start and e.end <= end
        ]
        piece.user_data.update(doc.user_data)
        pieces.append(piece)
        start = end
    return pieces


def _strip(doc: Doc) -> Doc:
    """A copy with only words, spaces and entities (no gold span groups)."""
    out = copy_tokens(doc)
    out.ents = [Span(out, e.start, e.end, e.label_) for e in doc.ents]
    out.user_data.update(doc.user_data)
    return out


def read_source(
    name: str, data_dir: Path, vocab: Vocab, catalogue: Dict[str, DatasetSpec], max_tokens: int
) -> Tuple[List[Doc], Dict]:
    """All non-test docs of one catalogue dataset, with their type names."""
    spec = catalogue[name]
    if is_excluded(spec):
        raise ValueError(Errors.E620.format(name=name))
    docs: List[Doc] = []
    splits = pool_splits(spec)
    for split in splits:
        dataset = load_dataset(name, split, data_dir, vocab=vocab, catalogue=catalogue)
        labels = list(dataset.labels)
        for doc in dataset.docs:
            doc = _strip(doc)
            queried = doc.user_data.pop(QUERIED_TYPES_KEY, None)
            types = list(dict.fromkeys((queried if queried is not None else labels) + [e.label_ for e in doc.ents]))
            for piece in _cut(doc, max_tokens):
                piece._.set(LABELS_ATTR, types)
                piece.user_data[SOURCE_KEY] = name
                docs.append(piece)
    return docs, {"splits": splits, "license": spec.license}


def source_definitions(name: str, data_dir: Path, catalogue: Dict[str, DatasetSpec]) -> Dict[str, str]:
    """Type name -> definition from the non-test files of a dataset whose format gives them."""
    spec = catalogue[name]
    out: Dict[str, str] = {}
    for split in pool_splits(spec):
        for data_file in spec.files(split):
            out.update(read_definitions(Path(data_dir) / data_file.path, spec.format, spec.label_map))
    return out


def build_pool(
    data_dir: Path,
    catalogue_path: Optional[Path] = None,
    datasets: Optional[Sequence[str]] = None,
    max_tokens: int = 256,
    empty_rate: float = 0.1,
    dev_fraction: float = 0.02,
    max_dev: int = 200,
    temperature: float = 0.5,
    llm_weight: float = 3.0,
    llm_repeat: int = 1,
    seed: int = 0,
) -> Pool:
    """Read the pool from ``data_dir`` (the catalogue's folder layout).

    datasets: catalogue names to read (default: every dataset that is not excluded).
    empty_rate: share of the docs without any mention that are kept (as negatives).
    llm_repeat: copies of each LLM-annotated training doc in the order.
    """
    if isinstance(llm_repeat, bool) or not isinstance(llm_repeat, int) or llm_repeat < 1:
        raise ValueError(Errors.E625.format(value=llm_repeat))
    catalogue = load_catalogue(catalogue_path)
    coarse = catalogue_coarse(catalogue_path)
    names = list(datasets) if datasets else [n for n, s in catalogue.items() if not is_excluded(s)]
    for name in names:
        if name not in catalogue:
            raise ValueError(Errors.E621.format(name=name, known=", ".join(catalogue)))
        if is_excluded(catalogue[name]):
            raise ValueError(Errors.E620.format(name=name))
    rng = random.Random(seed)
    copy_rng = random.Random(seed + 1)
    vocab = Vocab()
    banned = benchmark_texts(data_dir, catalogue)
    dropped_benchmark = 0
    train: List[Tuple[float, Doc]] = []
    dev: List[Doc] = []
    stats: Dict[str, Dict] = {}
    hierarchy: Dict[str, str] = {}
    definitions: Dict[str, List[str]] = {}
    for name in tqdm(names, desc="pool", unit="source"):
        docs, info = read_source(name, data_dir, vocab, catalogue, max_tokens)
        kept = []
        llm = LLM_TAG in catalogue[name].tags
        seen_texts = set()  # per source: datasets sharing texts annotate different types
        for doc in docs:
            # A partial doc's copies (one per set of its types) are distinct questions.
            key = (doc.text, tuple(doc._.get(LABELS_ATTR))) if is_partial(doc) else doc.text
            if key in seen_texts or not len(doc):
                continue
            if _normal(doc.text) in banned:
                dropped_benchmark += 1
                continue
            # LLM-annotated passages without a mention keep their queried types as negatives,
            # and so do partial docs (their listed types are the only ones annotated).
            if not doc.ents and not llm and not is_partial(doc) and rng.random() >= empty_rate:
                continue
            seen_texts.add(key)
            kept.append(doc)
        rng.shuffle(kept)
        texts = list(dict.fromkeys(d.text for d in kept))  # all copies of a text on one side
        n_dev = min(max_dev, int(len(texts) * dev_fraction)) if len(texts) >= 50 else 0
        dev_texts = set(texts[:n_dev])
        source_dev = [d for d in kept if d.text in dev_texts]
        dev += source_dev
        rest = [d for d in kept if d.text not in dev_texts]
        for etype, definition in source_definitions(name, data_dir, catalogue).items():
            if definition not in definitions.setdefault(etype, []):
                definitions[etype].append(definition)
        weight = (len(rest) ** (temperature - 1.0) if rest else 0.0) * (llm_weight if llm else 1.0)
        copies = llm_repeat if llm else 1
        train += [(-math.log(1.0 - rng.random()) / weight, d) for d in rest]
        # Extra copies draw from their own generator: the dev splits never depend on them.
        train += [(-math.log(1.0 - copy_rng.random()) / weight, d) for d in rest for _ in range(copies - 1)]
        for fine, broad in coarse.get(name, {}).items():
            hierarchy.setdefault(fine, broad)
        stats[name] = {
            **info,
            "passages": len(kept),
            "dev": len(source_dev),
            "mentions": sum(len(d.ents) for d in kept),
            "types": len({t for d in kept for t in d._.get(LABELS_ATTR)}),
            "llm_annotated": llm,
            "copies": copies,
            "partial": sum(is_partial(d) for d in kept),
            "texts": len(texts),
        }
        logger.info("pool: %s %s", name, stats[name])
    train.sort(key=lambda kd: kd[0])
    stats["_benchmark_overlap_dropped"] = {"passages": dropped_benchmark, "benchmark_passages_checked": len(banned)}
    return Pool([d for _, d in train], dev, hierarchy, stats, definitions)


def dev_from_sources(examples: List[Example], sources: str, stats: Optional[Dict], path: Path) -> List[Example]:
    """The dev examples of some pool sources: ``all``, ``llm`` (the LLM-annotated, open-type
    sources named in the pool's ``stats``) or comma-separated source names."""
    if sources == "all":
        return examples
    if sources == "llm":
        wanted = {
            k for k, v in (stats or {}).get("sources", {}).items() if isinstance(v, dict) and v.get("llm_annotated")
        }
    else:
        wanted = set(split_names(sources))
    kept = [eg for eg in examples if eg.reference.user_data.get(SOURCE_KEY) in wanted]
    if not kept:
        found = sorted({str(eg.reference.user_data.get(SOURCE_KEY)) for eg in examples})
        raise ValueError(Errors.E624.format(wanted=sorted(wanted) or sources, path=path, found=", ".join(found)))
    return kept


def _normal(text: str) -> str:
    return "".join(text.lower().split())


def benchmark_texts(data_dir: Path, catalogue: Dict[str, DatasetSpec]) -> set:
    """Normalised passages of the benchmark's eval files found in ``data_dir``: pool docs
    with the same text are dropped (decontamination; nothing else is read from them)."""
    from ..data.readers import parse_uniner_eval_items

    texts = set()
    for spec in catalogue.values():
        if spec.format != "uniner_eval":
            continue
        for files in spec.splits.values():
            for data_file in files:
                path = Path(data_dir) / data_file.path
                if path.exists():
                    texts.update(_normal(passage) for passage, *_ in parse_uniner_eval_items(path))
    return texts


def write_pool(pool: Pool, output: Path, synonyms: Optional[Path] = None, definitions: bool = True) -> Dict:
    """Write ``train.spacy``, ``dev.spacy``, ``hierarchy.json``, ``synonyms.json`` (the given
    synonyms file), ``definitions.json`` (the sources' type definitions; ``{}`` without
    ``definitions``) and ``stats.json`` into ``output``; returns the summary."""

    output.mkdir(parents=True, exist_ok=True)
    to_docbin(pool.train).to_disk(output / "train.spacy")
    to_docbin(pool.dev).to_disk(output / "dev.spacy")
    srsly.write_json(output / "hierarchy.json", pool.hierarchy)
    srsly.write_json(output / "synonyms.json", srsly.read_json(synonyms) if synonyms else {})
    srsly.write_json(output / "definitions.json", pool.definitions if definitions else {})
    summary = pool.summary()
    srsly.write_json(output / "stats.json", summary)
    return summary


def type_names(docs: Iterable[Doc]) -> Counter:
    """How many docs list each type name."""
    return Counter(t for d in docs for t in (d._.get(LABELS_ATTR) or []))


def gliner_records(docs: Iterable[Doc], max_types: int = 25, negative_ratio: float = 1.0, seed: int = 0) -> List[Dict]:
    """The docs in GLiNER's training format: ``tokenized_text``, ``ner`` (inclusive token
    offsets) and ``ner_negatives``: a sample of the doc's known negative types, at most
    ``negative_ratio`` times its positives (GLiNER's ``max_neg_type_ratio``; at least one)
    and ``max_types`` in all, for ``gliner.training.Trainer``."""
    rng = random.Random(seed)
    records = []
    for doc in docs:
        positives = {e.label_ for e in doc.ents}
        negatives = [t for t in (doc._.get(LABELS_ATTR) or []) if t not in positives]
        rng.shuffle(negatives)
        record = {"tokenized_text": [t.text for t in doc], "ner": [[e.start, e.end - 1, e.label_] for e in doc.ents]}
        if negatives:
            wanted = max(1, int(round(negative_ratio * len(positives))))
            record["ner_negatives"] = negatives[: max(0, min(wanted, max_types - len(positives)))]
        records.append(record)
    return records
