"""The catalogue, its lock file and project.yml agree; `project-assets` fetches and checks
the catalogue's files (here from local file URLs: the code path of a download)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import srsly
from typer.testing import CliRunner
from weasel.util import get_checksum, load_project_config

from spacy_uniner.__main__ import app
from spacy_uniner.data import resource_path
from spacy_uniner.data.catalogue import (
    BENCHMARK_TAGS,
    DEFAULT_CATALOGUE,
    fetch_file,
    fetch_files,
    is_intact,
    load_catalogue,
    project_files,
)

from conftest import ROOT

LOCK = ROOT / "datasets.lock.json"


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue(lock=LOCK)


def test_every_file_is_pinned_to_its_source_commit_with_an_md5(catalogue):
    paths = []
    for name, spec in catalogue.items():
        repo, commit = spec.source.split("@")
        base = f"https://raw.githubusercontent.com/{repo}/{commit}/"
        for split, files in spec.splits.items():
            assert files, f"{name}/{split} lists no files"
            for f in files:
                assert f.url.startswith(base) and re.fullmatch(r"[0-9a-f]{32}", f.md5), (name, f)
                paths.append(f.path)
    assert len(paths) == len(set(paths)), "two catalogue entries write the same file"


def test_the_lock_lists_exactly_the_splits_the_catalogue_only_names(catalogue):
    entries = srsly.read_yaml(DEFAULT_CATALOGUE)["datasets"]
    lock = json.loads(LOCK.read_text(encoding="utf8"))["datasets"]
    named = {name: entry["splits"] for name, entry in entries.items() if isinstance(entry["splits"], list)}
    assert {name: list(entry["splits"]) for name, entry in lock.items()} == named
    assert all(lock[name]["source"] == entries[name]["source"] for name in named)
    pool = {name: sum(len(catalogue[name].files(s)) for s in catalogue[name].splits if s != "test") for name in named}
    assert pool == {"wlp": 493, "sofc": 102, "somesci": 2458}  # the pool's files of each


def test_package_data_stays_small():
    shipped = [resource_path("datasets.yml"), resource_path("paper_results.json")]
    assert sum(path.stat().st_size for path in shipped) < 100_000
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf8")
    assert '"spacy_uniner.data" = ["datasets.yml", "paper_results.json"]' in pyproject


def test_benchmark_and_pool_files(catalogue):
    benchmark = {n for n, spec in catalogue.items() if set(spec.tags) & set(BENCHMARK_TAGS)}
    default = [f for files in project_files(catalogue).values() for f in files]
    extra = [f for files in project_files(catalogue, extra=True).values() for f in files]
    expected = {f for n in benchmark for files in catalogue[n].splits.values() for f in files}
    assert set(default) == expected and len(default) == 25  # as many as project.yml listed before the lock file
    others = [spec for n, spec in catalogue.items() if n not in benchmark]
    pool = {f for spec in others for split in spec.splits if split != "test" for f in spec.files(split)}
    assert set(extra) == expected | pool and len(extra) == len(set(extra)) == 3131


def test_project_yml_fetches_the_catalogue_files_per_source(tmp_path, monkeypatch, catalogue):
    """project.yml lists no data file: its fetch commands run `project-assets`, checked here
    with `--check` on an empty folder (every file missing) from the project folder."""
    assert len((ROOT / "project.yml").read_text(encoding="utf8").splitlines()) <= 300
    config = load_project_config(ROOT)
    assert not [a for a in config["assets"] if a["dest"].startswith("assets/data/")]
    commands = {c["name"]: c for c in config["commands"]}
    assert "datasets.lock.json" in commands["fetch-pool"]["deps"]
    monkeypatch.chdir(ROOT)
    for name, extra in (("fetch-data", False), ("fetch-pool", True)):
        (script,) = commands[name]["script"]
        args = shlex.split(script)
        assert args[:4] == ["python", "-m", "spacy_uniner", "project-assets"] and ("--extra" in args) == extra
        total = sum(len(files) for files in project_files(catalogue, extra).values())
        result = CliRunner().invoke(app, ["project-assets", str(tmp_path), *args[5:], "--check"])
        assert result.exit_code == 1 and f"[E821] {total} of {total} data files" in result.output


def _toy(tmp_path: Path, md5: str | None = None) -> tuple[Path, Path, Path]:
    """Upstream files, a catalogue with a benchmark entry and a one-file-per-article entry,
    and the lock file listing the latter's files."""
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    for name in ("test.txt", "a.ann", "a.txt", "b.ann"):
        (upstream / name).write_text(f"{name}\n", encoding="utf8")

    def row(name: str, folder: str) -> dict:
        path = upstream / name
        return {"path": f"raw/{folder}/{name}", "url": path.as_uri(), "md5": get_checksum(path)}

    bench = {"domain": "general", "format": "bio", "source": "o/bench@1", "tags": ["mit"]}
    bench["splits"] = {"test": [row("test.txt", "bench")]}
    brat = {"domain": "STEM", "format": "brat", "source": "o/brat@2", "splits": ["test", "train"]}
    cat = tmp_path / "datasets.yml"
    srsly.write_yaml(cat, {"datasets": {"bench": bench, "brat": brat}})
    train = [row("a.ann", "brat"), row("a.txt", "brat")]
    if md5:
        train[0]["md5"] = md5
    lock = tmp_path / "datasets.lock.json"
    splits = {"test": [row("b.ann", "brat")], "train": train}
    srsly.write_json(lock, {"datasets": {"brat": {"source": "o/brat@2", "splits": splits}}})
    return cat, lock, tmp_path / "data"


def test_fetch_downloads_checks_and_keeps_files(tmp_path):
    cat, lock, data = _toy(tmp_path)
    groups = project_files(load_catalogue(cat, lock), extra=True)
    assert {s: [f.path for f in files] for s, files in groups.items()} == {
        "o/bench@1": ["raw/bench/test.txt"],
        "o/brat@2": ["raw/brat/a.ann", "raw/brat/a.txt"],  # never the pool's test split
    }
    for source, files in groups.items():
        fetch_files(files, data, desc=source, threads=2)
    assert (data / "raw/brat/a.ann").read_text(encoding="utf8") == "a.ann\n"
    assert not (data / "raw/brat/b.ann").exists() and not list(data.rglob("*.part"))
    (data / "raw/brat/a.txt").write_text("damaged", encoding="utf8")
    runner = CliRunner()
    args = ["project-assets", str(data), "--extra", "--catalogue", str(cat), "--lock", str(lock)]
    result = runner.invoke(app, [*args, "--check"])
    assert result.exit_code == 1 and "[E821] 1 of 3 data files" in result.output and "raw/brat/a.txt" in result.output
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "2 of 3 data files are already" in result.output and "Fetched 1 data file" in result.output
    assert all(is_intact(f, data) for files in groups.values() for f in files)
    assert runner.invoke(app, [*args, "--check"]).exit_code == 0


def test_a_file_with_another_md5_is_not_written(tmp_path):
    cat, lock, data = _toy(tmp_path, md5="0" * 32)
    (bad, good) = load_catalogue(cat, lock)["brat"].files("train")
    with pytest.raises(
        ValueError, match=r"^\[E820\] .*a\.ann: the downloaded file's md5 is [0-9a-f]{32}, not the pinned 0{32}"
    ):
        fetch_file(bad, data)
    assert not (data / bad.path).exists() and not list(data.rglob("*.part"))
    with pytest.raises(ValueError, match=r"\[E820\]"):
        fetch_files([good, bad], data, threads=1)


def test_a_missing_or_disagreeing_lock_file_names_the_fix(tmp_path):
    cat, lock, _ = _toy(tmp_path)
    catalogue = load_catalogue(cat, tmp_path / "nowhere.json")
    assert [f.path for files in project_files(catalogue).values() for f in files] == ["raw/bench/test.txt"]
    assert list(catalogue["brat"].splits) == ["test", "train"]
    with pytest.raises(FileNotFoundError, match=r"^\[E818\] brat/train: .*nowhere\.json, which is missing.*--lock"):
        catalogue["brat"].files("train")
    with pytest.raises(FileNotFoundError, match=r"\[E818\]"):
        project_files(catalogue, extra=True)
    data = srsly.read_json(lock)
    data["datasets"]["brat"]["source"] = "o/brat@3"
    srsly.write_json(lock, data)
    with pytest.raises(ValueError, match=r"^\[E819\] .*has no files for brat/test at o/brat@2: .*disagree"):
        load_catalogue(cat, lock)
    srsly.write_json(lock, {"brat": {}})
    with pytest.raises(ValueError, match=r"^\[E806\] .*datasets\.lock\.json: expected a top-level 'datasets'"):
        load_catalogue(cat, lock)


def test_cli_lists_split_on_commas():
    from spacy_uniner.data.catalogue import split_names, split_numbers

    assert split_names(" a, b ,,c ") == ["a", "b", "c"]
    assert split_numbers("5, 10,") == [5.0, 10.0] and split_numbers("50,100", int) == [50, 100]
    assert split_numbers(" , ") == []
    with pytest.raises(ValueError):
        split_numbers("5,x")
