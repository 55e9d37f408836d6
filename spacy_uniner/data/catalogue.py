"""The benchmark dataset catalogue (``spacy_uniner/data/datasets.yml``) and dataset loading."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import srsly
from spacy.tokens import Doc
from spacy.vocab import Vocab
from weasel.util import get_checksum

from ..errors import Errors, Warnings
from . import resource_path
from .readers import FORMATS, Query, ReadStats, read_with_stats

DEFAULT_CATALOGUE = resource_path("datasets.yml")
DOMAINS = ("general", "biomed", "clinics", "STEM", "programming", "social media", "law", "finance", "transport")


@dataclass(frozen=True)
class DataFile:
    """One file of a split: ``path`` relative to the data folder, its source URL and md5."""

    path: str
    url: str | None = None
    md5: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """A catalogue entry."""

    name: str
    domain: str
    format: str
    splits: dict[str, tuple[DataFile, ...]]
    label_map: dict[str, str | None] | None = None
    source: str | None = None
    license: str | None = None
    paper_name: str | None = None
    tags: tuple[str, ...] = ()
    note: str | None = None

    @property
    def labels(self) -> list[str] | None:
        """The natural-language types queried, or ``None`` when the files define them."""
        if self.label_map is None:
            return None
        return list(dict.fromkeys(v for v in self.label_map.values() if v is not None))

    def files(self, split: str) -> tuple[DataFile, ...]:
        if split not in self.splits:
            raise ValueError(Errors.E801.format(name=self.name, split=split, splits=", ".join(self.splits)))
        return self.splits[split]


@dataclass
class Dataset:
    """Gold docs and (passage, type) queries of one split."""

    spec: DatasetSpec
    split: str
    docs: list[Doc]
    queries: list[Query]
    stats: ReadStats = field(default_factory=ReadStats)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def domain(self) -> str:
        return self.spec.domain

    @property
    def labels(self) -> list[str]:
        return self.spec.labels or list(dict.fromkeys(q.label for q in self.queries))


def _spec(name: str, entry: dict) -> DatasetSpec:
    missing = [key for key in ("domain", "format", "splits") if key not in entry]
    if missing:
        raise ValueError(Errors.E802.format(name=name, keys=", ".join(missing)))
    if entry["domain"] not in DOMAINS:
        raise ValueError(Errors.E803.format(name=name, domain=entry["domain"], domains=", ".join(DOMAINS)))
    if entry["format"] not in FORMATS:
        raise ValueError(Errors.E804.format(name=name, format=entry["format"], formats=", ".join(FORMATS)))
    labels = entry.get("labels")
    if isinstance(labels, list):
        labels = {label: label for label in labels}
    splits = {
        split: tuple(DataFile(**f) if isinstance(f, dict) else DataFile(f) for f in files)
        for split, files in entry["splits"].items()
    }
    return DatasetSpec(
        name=name,
        domain=entry["domain"],
        format=entry["format"],
        splits=splits,
        label_map=labels,
        source=entry.get("source"),
        license=entry.get("license"),
        paper_name=entry.get("paper_name"),
        tags=tuple(entry.get("tags", ())),
        note=entry.get("note"),
    )


def load_catalogue(path: str | Path | None = None) -> dict[str, DatasetSpec]:
    """Read the catalogue (default: the project's ``spacy_uniner/data/datasets.yml``)."""
    path = Path(path) if path is not None else DEFAULT_CATALOGUE
    if not path.exists():
        raise FileNotFoundError(Errors.E805.format(path=path))
    data = srsly.read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("datasets"), dict):
        raise ValueError(Errors.E806.format(path=path))
    return {name: _spec(name, entry) for name, entry in data["datasets"].items()}


def split_names(text: str) -> list[str]:
    """``"uniner,mit_movie_eng"`` -> ``["uniner", "mit_movie_eng"]`` (the CLI's list style)."""
    return [name.strip() for name in text.split(",") if name.strip()]


def select(names: Iterable[str], catalogue: dict[str, DatasetSpec]) -> list[str]:
    """Expand dataset names and tags (e.g. ``zero-shot``) to dataset names, in order."""
    out: list[str] = []
    for name in names:
        if name in catalogue:
            matches = [name]
        else:
            matches = [n for n, spec in catalogue.items() if name in spec.tags]
        if not matches:
            tags = sorted({t for spec in catalogue.values() for t in spec.tags})
            raise ValueError(Errors.E807.format(name=name, datasets=", ".join(catalogue), tags=", ".join(tags)))
        out.extend(m for m in matches if m not in out)
    return out


def load_dataset(
    name: str,
    split: str = "test",
    data_dir: str | Path = "assets/data",
    vocab: Vocab | None = None,
    catalogue: dict[str, DatasetSpec] | None = None,
) -> Dataset:
    """Read one split of a catalogue dataset from ``data_dir``.

    Eval-file datasets keep the file's queries; for the others every passage is queried for
    every type of the dataset, as the paper does. Checksum mismatches and drops are logged.
    """
    catalogue = catalogue if catalogue is not None else load_catalogue()
    if name not in catalogue:
        raise ValueError(Errors.E808.format(name=name, known=", ".join(catalogue)))
    spec = catalogue[name]
    vocab = vocab if vocab is not None else Vocab()
    docs: list[Doc] = []
    queries: list[Query] = []
    stats = ReadStats()
    for data_file in spec.files(split):
        path = Path(data_dir) / data_file.path
        if not path.exists():
            raise FileNotFoundError(Errors.E809.format(name=name, split=split, path=path, url=data_file.url))
        if data_file.md5 and path.is_file() and get_checksum(path) != data_file.md5:
            warnings.warn(Warnings.W801.format(path=path, md5=data_file.md5), stacklevel=2)
        file_docs, file_queries, file_stats = read_with_stats(path, spec.format, vocab, spec.label_map)
        file_stats.log(path)
        if file_queries is not None:
            queries.extend(Query(q.doc_index + len(docs), q.label, q.gold, q.id) for q in file_queries)
        docs.extend(file_docs)
        stats += file_stats
    if spec.format != "uniner_eval":
        labels = spec.labels or sorted({s.label_ for d in docs for s in d.ents})
        queries = [Query(i, label) for i in range(len(docs)) for label in labels]
    return Dataset(spec, split, docs, queries, stats)


def weasel_assets(
    names: Iterable[str], catalogue: dict[str, DatasetSpec] | None = None, dest: str = "assets/data"
) -> list[dict]:
    """``assets`` entries for a weasel ``project.yml`` (every split of the named datasets)."""
    catalogue = catalogue if catalogue is not None else load_catalogue()
    assets = []
    for name in select(names, catalogue):
        spec = catalogue[name]
        for split, files in spec.splits.items():
            for f in files:
                if f.url is None:
                    continue
                asset = {"dest": f"{dest}/{f.path}", "url": f.url}
                if f.md5:
                    asset["checksum"] = f.md5
                asset["description"] = f"{name} ({split})"
                assets.append(asset)
    return assets


BENCHMARK_TAGS = ("uniner", "crossner", "mit")
ASSETS_BEGIN = "  # BEGIN catalogue assets: generated by `python -m spacy_uniner project-assets project.yml`"
ASSETS_END = "  # END catalogue assets"


def project_assets(catalogue: dict[str, DatasetSpec] | None = None) -> list[dict]:
    """The catalogue's weasel assets: every file of the benchmark datasets (tags
    :data:`BENCHMARK_TAGS`), then the span student's pool, fetched with ``weasel assets
    --extra``: every non-test file of the other datasets."""
    catalogue = catalogue if catalogue is not None else load_catalogue()
    benchmark = [n for n, spec in catalogue.items() if set(spec.tags) & set(BENCHMARK_TAGS)]
    assets = weasel_assets(benchmark, catalogue)
    for name in (n for n in catalogue if n not in benchmark):
        for asset in weasel_assets([name], catalogue):
            if not asset["description"].endswith("(test)"):
                assets.append({**asset, "description": f"pool: {asset['description']}", "extra": True})
    return assets


def render_project_assets(project_yml: str, catalogue: dict[str, DatasetSpec] | None = None) -> str:
    """``project_yml`` with the block between :data:`ASSETS_BEGIN` and :data:`ASSETS_END`
    replaced by :func:`project_assets`; the hand-written assets around it are kept."""
    start, end = project_yml.find(ASSETS_BEGIN), project_yml.find(ASSETS_END)
    if start < 0 or end < start:
        raise ValueError(Errors.E817.format(begin=ASSETS_BEGIN.strip(), end=ASSETS_END.strip()))
    lines = [ASSETS_BEGIN]
    for asset in project_assets(catalogue):
        lines.append(f"  - dest: {asset['dest']}")
        lines += [
            f"    {key}: {json.dumps(asset[key])}"
            for key in ("url", "checksum", "description", "extra")
            if key in asset
        ]
    return project_yml[:start] + "\n".join(lines) + "\n" + project_yml[end:]
