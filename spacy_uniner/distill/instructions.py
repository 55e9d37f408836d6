"""Instruction data: conversations in the released Pile-NER ``train.json`` format.

One conversation per passage (:func:`spacy_uniner.protocol.conversation`): every type
the teacher found (positives), plus negative types sampled from the types absent from
the passage in proportion to their frequency in the whole data, in shuffled order. The
supervised variant turns labelled docs into conversations that start with
``Dataset: {name} \\n Text: {passage}`` and ask for every label of the dataset.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from ..data.docs import GOLD_SPANS_KEY
from ..data.negatives import NegativeSampler, mention_frequencies
from ..errors import Errors
from ..protocol import conversation
from .teacher_output import Pair, TeacherOutputError, filter_pairs, parse_teacher_output

if TYPE_CHECKING:
    from spacy.tokens import Doc

Turns = list[tuple[str, list[str]]]


@dataclass
class AnnotatedPassage:
    """A passage and its filtered teacher pairs."""

    id: str
    text: str
    pairs: list[Pair]


def examples_from_records(
    records: Iterable[Mapping[str, Any]],
) -> tuple[list[AnnotatedPassage], Counter[str]]:
    """Parse and filter teacher records (``{"id", "text", "response"}``) as the paper does.

    Returns the kept examples and counts: ``records``, ``unparseable``, ``no_entities``
    (passages left without pairs) and, prefixed ``dropped_``, the filtered pairs by reason.
    """
    examples: list[AnnotatedPassage] = []
    counts: Counter[str] = Counter()
    for record in records:
        counts["records"] += 1
        text = record["text"]
        try:
            pairs = parse_teacher_output(record.get("response") or "")
        except TeacherOutputError:
            counts["unparseable"] += 1
            continue
        kept, dropped = filter_pairs(pairs, text)
        counts.update({f"dropped_{reason}": n for reason, n in dropped.items()})
        if not kept:
            counts["no_entities"] += 1
            continue
        examples.append(AnnotatedPassage(id=str(record.get("id", counts["records"] - 1)), text=text, pairs=kept))
    return examples, counts


def positive_turns(pairs: Sequence[Pair]) -> Turns:
    """(type, mentions) per type, types and mentions in the order the teacher gave them."""
    turns: dict[str, list[str]] = {}
    for mention, etype in pairs:
        mentions = turns.setdefault(etype, [])
        if mention not in mentions:
            mentions.append(mention)
    return list(turns.items())


def instruction_data(examples: Sequence[AnnotatedPassage], negatives: int = 2, seed: int = 0) -> list[dict[str, Any]]:
    """``{"id", "conversations"}`` per example: positives, ``negatives`` sampled negative
    types (answer ``[]``), all in a seeded random order."""
    if negatives < 0:
        raise ValueError(Errors.E008.format(name="negatives", what="an integer >= 0", value=negatives))
    rng = np.random.default_rng(seed)
    sampler = NegativeSampler(mention_frequencies(etype for ex in examples for _, etype in ex.pairs))
    data = []
    for example in examples:
        turns = positive_turns(example.pairs)
        present = [etype for etype, _ in turns]
        turns += [(etype, []) for etype in sampler.sample(rng, negatives, exclude=present)]
        order = rng.permutation(len(turns))
        data.append({"id": example.id, "conversations": conversation(example.text, [turns[i] for i in order])})
    return data


def supervised_data(
    docs: Iterable["Doc"],
    dataset: str,
    labels: Sequence[str] | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Conversations from gold ``doc.ents`` with the ``Dataset: {name}`` first turn.

    Every label of the dataset is asked (``labels``, default: all labels in ``docs``, sorted),
    in a seeded random order per doc; the answer lists each gold mention's text in document
    order, as the released evaluation files do. Gold mentions are the readers' full set
    (``doc.spans["uniner_gold"]``, nested ones included) when present, else ``doc.ents``.
    """

    docs = list(docs)
    gold = [list(doc.spans[GOLD_SPANS_KEY]) if GOLD_SPANS_KEY in doc.spans else list(doc.ents) for doc in docs]
    if labels is None:
        labels = sorted({span.label_ for spans in gold for span in spans})
    if not labels:
        raise ValueError(Errors.E509.format(dataset=dataset))
    rng = np.random.default_rng(seed)
    data = []
    for i, (doc, spans) in enumerate(zip(docs, gold, strict=True)):
        spans = sorted(spans, key=lambda span: (span.start, span.end))
        turns = [(label, [s.text for s in spans if s.label_ == label]) for label in labels]
        order = rng.permutation(len(turns))
        data.append(
            {
                "id": f"{dataset}-{i}",
                "conversations": conversation(doc.text, [turns[j] for j in order], dataset=dataset),
            }
        )
    return data
