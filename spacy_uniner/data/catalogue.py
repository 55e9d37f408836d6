"""The benchmark dataset catalogue (``spacy_uniner/data/datasets.yml``) with its lock file,
fetching its files and dataset loading."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import srsly
from spacy.tokens import Doc
from spacy.vocab import Vocab
from tqdm import tqdm
from weasel.util import download_file, get_checksum

from ..errors import Errors, Warnings
from . import resource_path
from .readers import FORMATS, EvalQuery, ReadStats, read_with_stats

DEFAULT_CATALOGUE = resource_path("datasets.yml")
# Beside project.yml (commands run in the project folder): the machine-written file lists of
# the datasets whose catalogue entry names only their splits.
LOCK_FILE = Path("datasets.lock.json")
DOMAINS = ("general", "biomed", "clinics", "STEM", "programming", "social media", "law", "finance", "transport")


@dataclass(frozen=True)
class DataFile:
    """One file of a split: ``path`` relative to the data folder, its source URL and md5."""

    path: str
    url: str | None = None
    md5: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """A catalogue entry; a split's files are ``None`` when the lock file that lists them is missing."""

    name: str
    domain: str
    format: str
    splits: dict[str, tuple[DataFile, ...] | None]
    label_map: dict[str, str | None] | None = None
    source: str | None = None
    license: str | None = None
    paper_name: str | None = None
    tags: tuple[str, ...] = ()
    note: str | None = None
    lock: Path | None = None  # the lock file read for the splits the entry only names

    @property
    def labels(self) -> list[str] | None:
        """The natural-language types queried, or ``None`` when the files define them."""
        if self.label_map is None:
            return None
        return list(dict.fromkeys(v for v in self.label_map.values() if v is not None))

    def files(self, split: str) -> tuple[DataFile, ...]:
        if split not in self.splits:
            raise ValueError(Errors.E801.format(name=self.name, split=split, splits=", ".join(self.splits)))
        files = self.splits[split]
        if files is None:
            raise FileNotFoundError(Errors.E818.format(name=self.name, split=split, path=self.lock))
        return files


@dataclass
class Dataset:
    """Gold docs and (passage, type) queries of one split."""

    spec: DatasetSpec
    split: str
    docs: list[Doc]
    queries: list[EvalQuery]
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


def _splits(name: str, entry: dict, lock: Path, locked: dict | None) -> dict[str, tuple[DataFile, ...] | None]:
    """The entry's files per split: listed in place, or (a list of split names) in the lock file."""
    if not isinstance(entry["splits"], list):
        return {
            split: tuple(DataFile(**f) if isinstance(f, dict) else DataFile(f) for f in files)
            for split, files in entry["splits"].items()
        }
    if locked is None:
        return dict.fromkeys(entry["splits"])
    listed = locked.get(name) or {}
    out = {}
    for split in entry["splits"]:
        if listed.get("source") != entry.get("source") or split not in (listed.get("splits") or {}):
            raise ValueError(Errors.E819.format(path=lock, name=name, split=split, source=entry.get("source")))
        out[split] = tuple(DataFile(**f) for f in listed["splits"][split])
    return out


def _spec(name: str, entry: dict, lock: Path, locked: dict | None) -> DatasetSpec:
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
    return DatasetSpec(
        name=name,
        domain=entry["domain"],
        format=entry["format"],
        splits=_splits(name, entry, lock, locked),
        label_map=labels,
        source=entry.get("source"),
        license=entry.get("license"),
        paper_name=entry.get("paper_name"),
        tags=tuple(entry.get("tags", ())),
        note=entry.get("note"),
        lock=lock if isinstance(entry["splits"], list) else None,
    )


def _datasets(path: Path, data: object) -> dict:
    if not isinstance(data, dict) or not isinstance(data.get("datasets"), dict):
        raise ValueError(Errors.E806.format(path=path))
    return data["datasets"]


def load_catalogue(path: str | Path | None = None, lock: str | Path | None = None) -> dict[str, DatasetSpec]:
    """Read the catalogue (default: the project's ``spacy_uniner/data/datasets.yml``) and, for
    the entries that only name their splits, the files the lock file lists (default:
    :data:`LOCK_FILE` in the current folder). Without the lock file, asking for such a
    split's files raises E818; the other entries need none."""
    path = Path(path) if path is not None else DEFAULT_CATALOGUE
    lock = Path(lock if lock is not None else LOCK_FILE).absolute()
    if not path.exists():
        raise FileNotFoundError(Errors.E805.format(path=path))
    entries = _datasets(path, srsly.read_yaml(path))
    locked = None
    if lock.exists() and any(isinstance(entry.get("splits"), list) for entry in entries.values()):
        locked = _datasets(lock, srsly.read_json(lock))
    return {name: _spec(name, entry, lock, locked) for name, entry in entries.items()}


def split_names(text: str) -> list[str]:
    """``"uniner,mit_movie_eng"`` -> ``["uniner", "mit_movie_eng"]`` (the CLI's list style)."""
    return [name.strip() for name in text.split(",") if name.strip()]


def split_numbers(text: str, kind: Callable[[str], Any] = float) -> list:
    """``"5,10,20"`` -> ``[5.0, 10.0, 20.0]`` (the CLI's list style); ValueError on a non-number."""
    return [kind(value) for value in split_names(text)]


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
    queries: list[EvalQuery] = []
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
            queries.extend(EvalQuery(q.doc_index + len(docs), q.label, q.gold, q.id) for q in file_queries)
        docs.extend(file_docs)
        stats += file_stats
    if spec.format != "uniner_eval":
        labels = spec.labels or sorted({s.label_ for d in docs for s in d.ents})
        queries = [EvalQuery(i, label) for i in range(len(docs)) for label in labels]
    return Dataset(spec, split, docs, queries, stats)


BENCHMARK_TAGS = ("uniner", "crossner", "mit")


def project_files(catalogue: dict[str, DatasetSpec] | None = None, extra: bool = False) -> dict[str, list[DataFile]]:
    """The files the project fetches, per source (``owner/repo@commit``): every file of the
    benchmark datasets (tags :data:`BENCHMARK_TAGS`); with ``extra`` also the span student's
    pool: every non-test file of the other datasets."""
    catalogue = catalogue if catalogue is not None else load_catalogue()
    benchmark = [n for n, spec in catalogue.items() if set(spec.tags) & set(BENCHMARK_TAGS)]
    names = benchmark + ([n for n in catalogue if n not in benchmark] if extra else [])
    groups: dict[str, list[DataFile]] = {}
    for name in names:
        spec = catalogue[name]
        for split in spec.splits:
            if name in benchmark or split != "test":
                groups.setdefault(spec.source or name, []).extend(f for f in spec.files(split) if f.url)
    return groups


def is_intact(data_file: DataFile, data_dir: str | Path) -> bool:
    """Whether ``data_dir`` holds the file with its pinned md5 (any content when it has none)."""
    path = Path(data_dir) / data_file.path
    return path.is_file() and (not data_file.md5 or get_checksum(path) == data_file.md5)


def fetch_file(data_file: DataFile, data_dir: str | Path) -> None:
    """Download one file from its URL into ``data_dir``; one whose md5 is not the pinned one
    is not written (E820)."""
    dest = Path(data_dir) / data_file.path
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    download_file(data_file.url, part, force=True)
    got = get_checksum(part)
    if data_file.md5 and got != data_file.md5:
        part.unlink()
        raise ValueError(Errors.E820.format(url=data_file.url, got=got, md5=data_file.md5, path=dest))
    part.replace(dest)


def fetch_files(files: Sequence[DataFile], data_dir: str | Path, desc: str = "", threads: int = 8) -> None:
    """Download ``files`` into ``data_dir``, ``threads`` at a time, with a progress bar."""
    with ThreadPoolExecutor(threads) as pool, tqdm(total=len(files), desc=desc, unit="file") as bar:
        futures = [pool.submit(fetch_file, f, data_dir) for f in files]
        try:
            for future in as_completed(futures):
                future.result()
                bar.update()
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise
