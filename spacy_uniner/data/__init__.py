"""The bottom data layer: gold docs, dataset readers and catalogue, negatives, the paper's metric.

``datasets.yml`` (the catalogue) and ``paper_results.json`` are package data.
"""

from importlib.resources import files
from pathlib import Path


def resource_path(name: str) -> Path:
    """A data file shipped inside the package (``datasets.yml``, ``paper_results.json``)."""
    return Path(str(files(__name__).joinpath(name)))
