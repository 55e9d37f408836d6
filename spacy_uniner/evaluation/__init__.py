"""Benchmark evaluation: readers, the dataset catalogue, the paper's metric and reports."""

from .catalogue import Dataset, DatasetSpec, load_catalogue, load_dataset
from ..data.metric import PRF, normalize_answer, parse_answer, string_prf
from ..data.docs import GOLD_SPANS_KEY
from .readers import Query, ReadStats, read_docs, read_uniner_eval

__all__ = [
    "GOLD_SPANS_KEY",
    "PRF",
    "Dataset",
    "DatasetSpec",
    "Query",
    "ReadStats",
    "load_catalogue",
    "load_dataset",
    "normalize_answer",
    "parse_answer",
    "read_docs",
    "read_uniner_eval",
    "string_prf",
]
