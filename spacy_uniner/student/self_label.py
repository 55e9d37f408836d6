"""One round of self-training data: a student adds its confident answers to pool passages
whose annotation is known to miss mentions (the LLM-annotated sources), for the types each
passage already has mentions of (the annotator found the type there, and may have missed
more of it; a passage may also list hundreds of types found nowhere in it). Gold mentions
are kept and win every overlap; docs of other sources, and partially annotated docs, are
copied unchanged.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

import srsly
from spacy.language import Language
from spacy.tokens import Doc, Span
from tqdm import tqdm

from ..data.docs import SOURCE_KEY, doc_types, is_partial, read_docbin, to_docbin
from ..errors import Errors
from ..spans import label_order_filter

Key = Tuple[str, Tuple[str, ...]]  # a passage's text and the types it is asked

# The pool's files other than train.spacy, copied as they are.
POOL_FILES = ("dev.spacy", "hierarchy.json", "synonyms.json", "definitions.json", "stats.json", "type_names.json")


def self_label_docs(
    docs: Iterable[Doc], nlp: Language, sources: Set[str], min_score: float, batch_size: int = 32
) -> Iterator[Tuple[Doc, int]]:
    """Each doc, in stream order, and the number of mentions added to it: for a doc of
    ``sources``, the student's non-overlapping (span, type) answers at or above ``min_score``
    for the types of its gold mentions, overlapping no gold mention. A passage repeated in the
    stream is asked once."""
    pipe = nlp.get_pipe("universal_ner_span")
    answered: Dict[Key, List[Tuple[int, int, str]]] = {}
    pending: List[Tuple[Doc, Optional[Key]]] = []  # every doc in stream order, and its key if it is asked

    def flush() -> Iterator[Tuple[Doc, int]]:
        unique = list({k: d for d, k in pending if k is not None and k not in answered}.items())
        label_maps = [{t: t for t in k[1]} for k, _ in unique]
        docs_asked = [d for _, d in unique]
        scores = pipe.span_scores(docs_asked, label_maps) if unique else []
        for (k, _), label_map, doc_scores in zip(unique, label_maps, scores):
            found = pipe.candidates(doc_scores, label_map, floor=min_score)
            answered[k] = [(s, e, label) for s, e, label, _ in sorted(found, key=lambda f: -f[3])]
        for doc, k in pending:
            yield doc, add_mentions(doc, answered[k]) if k is not None else 0
        pending.clear()

    n_asked = 0
    for doc in docs:
        ask = doc.user_data.get(SOURCE_KEY) in sources and not is_partial(doc) and bool(doc.ents)
        pending.append((doc, key(doc) if ask else None))
        n_asked += ask
        if n_asked >= batch_size:
            yield from flush()
            n_asked = 0
    yield from flush()


def found_types(doc: Doc) -> List[str]:
    """The doc's type names that have a gold mention in it, in its listed order."""
    present = {e.label_ for e in doc.ents}
    return [t for t in doc_types(doc) if t in present]


def key(doc: Doc) -> Key:
    """What a passage is asked by: its text and the types it has mentions of."""
    return doc.text, tuple(found_types(doc))


def add_mentions(doc: Doc, answers: Sequence[Tuple[int, int, str]]) -> int:
    """Add ``answers`` (best first) that overlap neither a gold mention nor a better answer."""
    gold = list(doc.ents)
    chosen = label_order_filter(gold, (Span(doc, start, end, label=label) for start, end, label in answers))
    if len(chosen) > len(gold):
        doc.ents = sorted(chosen, key=lambda s: s.start)
    return len(chosen) - len(gold)


def self_label_pool(
    pool: Path, output: Path, nlp: Language, sources: Sequence[str], min_score: float, batch_size: int = 32
) -> Dict:
    """Write ``output``: the pool's ``train.spacy`` self-labelled (:func:`self_label_docs`), its
    other files copied, and ``self_label.json`` with the mentions added per source."""
    if not (pool / "train.spacy").exists():
        raise FileNotFoundError(Errors.E301.format(path=pool / "train.spacy"))
    if not 0.0 < min_score < 1.0:
        raise ValueError(Errors.E629.format(value=min_score))
    docs = list(read_docbin(pool / "train.spacy", nlp.vocab))
    found = {d.user_data.get(SOURCE_KEY) for d in docs}
    missing = sorted(set(sources) - found)
    if missing:
        raise ValueError(Errors.E309.format(sources=missing, path=pool / "train.spacy"))
    added: Counter = Counter()
    labelled: Counter = Counter()
    out: List[Doc] = []
    stream = self_label_docs(tqdm(docs, desc="self-label", unit="doc"), nlp, set(sources), min_score, batch_size)
    for doc, n in stream:
        out.append(doc)
        if n:
            added[doc.user_data.get(SOURCE_KEY)] += n
            labelled[doc.user_data.get(SOURCE_KEY)] += 1
    output.mkdir(parents=True, exist_ok=True)
    to_docbin(out).to_disk(output / "train.spacy")
    for name in POOL_FILES:
        if (pool / name).exists():
            shutil.copy(pool / name, output / name)
    summary = {
        "pool": str(pool),
        "sources": sorted(sources),
        "min_score": min_score,
        "docs": len(out),
        "docs_with_added_mentions": dict(labelled),
        "mentions_added": dict(added),
    }
    srsly.write_json(output / "self_label.json", summary)
    return summary
