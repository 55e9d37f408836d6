"""The bottom data layer: gold docs, the dataset readers and catalogue, the paper's metric."""

from importlib.resources import files
from pathlib import Path


def resource_path(name: str) -> Path:
    """A data file shipped inside the package (``datasets.yml``, ``paper_results.json``)."""
    return Path(str(files(__name__).joinpath(name)))
