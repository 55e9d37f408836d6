"""A built wheel works outside the checkout: package data (catalogue, paper results) ships."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import spacy
import srsly

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_scores_an_embedded_eval_file_with_the_default_catalogue(tiny_llama_dir, tmp_path):
    # Built from a copy, so that the build leaves nothing in the checkout.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "spacy_uniner", source / "spacy_uniner", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("spacy_uniner-*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    assert (site / "spacy_uniner" / "data" / "datasets.yml").exists()
    nlp = spacy.blank("en")
    model = {"name": str(tiny_llama_dir), "max_new_tokens": 2}
    nlp.add_pipe("universal_ner", config={"labels": ["person"], "model": model})
    nlp.to_disk(tmp_path / "pipeline")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    where = subprocess.run(
        [sys.executable, "-c", "import spacy_uniner; print(spacy_uniner.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(site))
    data = ROOT / "assets" / "embedded" / "data"
    args = [
        "evaluate",
        str(tmp_path / "pipeline"),
        "uniner_crossner_ai",
        "out",
        "--data-dir",
        str(data),
        "--limit",
        "3",
    ]
    result = subprocess.run(
        [sys.executable, "-m", "spacy_uniner", *args],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    metrics = srsly.read_json(elsewhere / "out" / "metrics.json")
    assert "uniner_crossner_ai" in metrics["datasets"] and metrics["datasets"]["uniner_crossner_ai"]["passages"] == 3
