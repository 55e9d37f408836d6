"""Statistics of distilled data, comparable with the paper's Pile-NER figures
(45,889 passages, 240,725 entities, 13,020 types; top 1% of types = 74% of mentions)."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from wasabi import msg

from ..data.negatives import mention_frequencies
from .instructions import AnnotatedPassage


def data_stats(
    examples: Sequence[AnnotatedPassage], counts: Mapping[str, int], head: int = 20, tail: int = 10
) -> dict[str, Any]:
    """Passages, entities, distinct types, the frequency head/tail and what was dropped."""
    freqs = mention_frequencies(etype for example in examples for _, etype in example.pairs)
    ranked = sorted(freqs.items(), key=lambda item: (-item[1], item[0]))
    total = sum(freqs.values())
    bands = {}
    edges = [("top_1pct", 0.01), ("top_1_10pct", 0.10), ("rest", 1.0)]
    start = 0
    for name, fraction in edges:
        end = min(len(ranked), math.ceil(fraction * len(ranked)))
        mentions = sum(count for _, count in ranked[start:end])
        bands[name] = {"types": end - start, "mention_share": mentions / total if total else 0.0}
        start = end
    return {
        "records": counts.get("records", 0),
        "unparseable": counts.get("unparseable", 0),
        "no_entities": counts.get("no_entities", 0),
        "dropped_pairs": {k[len("dropped_") :]: v for k, v in sorted(counts.items()) if k.startswith("dropped_")},
        "passages": len(examples),
        "entities": total,
        "distinct_types": len(freqs),
        "singleton_types": sum(1 for count in freqs.values() if count == 1),
        "frequency_bands": bands,
        "head": [[etype, count] for etype, count in ranked[:head]],
        "tail": [[etype, count] for etype, count in ranked[-tail:]] if len(ranked) > head else [],
    }


def print_stats(stats: Mapping[str, Any]) -> None:
    """The statistics as tables on the terminal."""
    msg.divider("Distilled data")
    rows = [
        ("teacher records", stats["records"]),
        ("unparseable answers", stats["unparseable"]),
        ("passages without entities", stats["no_entities"]),
        *((f"dropped pairs: {reason}", n) for reason, n in stats["dropped_pairs"].items()),
        ("passages kept", stats["passages"]),
        ("entities", stats["entities"]),
        ("distinct types", stats["distinct_types"]),
        ("types seen once", stats["singleton_types"]),
    ]
    msg.table(rows, aligns=("l", "r"))
    bands = [
        (name, band["types"], f"{100 * band['mention_share']:.1f}%") for name, band in stats["frequency_bands"].items()
    ]
    msg.table(bands, header=("band", "types", "mentions"), aligns=("l", "r", "r"), divider=True)
    msg.table(stats["head"], header=("head type", "mentions"), aligns=("l", "r"), divider=True)
    if stats["tail"]:
        msg.table(stats["tail"], header=("tail type", "mentions"), aligns=("l", "r"), divider=True)
