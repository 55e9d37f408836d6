"""`student pretrain`: a wall-clock budget with checkpoints, on a tiny pool, through the real loop."""

from __future__ import annotations

import json
import platform

import pytest
import spacy
from spacy.tokens import Span

from spacy_uniner.data.docs import LABELS_ATTR, to_docbin
from spacy_uniner.student.pretrain import pretrain, return_freed_memory

from conftest import ROOT

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_freed_memory_goes_back_to_the_system_on_glibc():
    applied = return_freed_memory()
    assert applied == (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")


def test_budget_leaves_each_checkpoint_and_a_log(tmp_path):
    nlp = spacy.blank("en")
    docs = []
    for i in range(24):
        doc = nlp.make_doc(f"Ann Lee met Bo in Rome on day {i} .")
        doc.ents = [Span(doc, 0, 2, label="person"), Span(doc, 5, 6, label="city")]
        doc._.set(LABELS_ATTR, ["person", "city", "company"])
        docs.append(doc)
    pool = tmp_path / "pool"
    pool.mkdir()
    to_docbin(docs).to_disk(pool / "train.spacy")
    to_docbin(docs[:4]).to_disk(pool / "dev.spacy")
    (pool / "hierarchy.json").write_text("{}")
    (pool / "synonyms.json").write_text("{}")
    overrides = {"training.batcher.size": 60, "pretraining_schedule.warmup_minutes": 0.01}
    saved = pretrain(ROOT / "configs" / "student-pretrain.cfg", pool, tmp_path / "out", 0.2, [0.05], overrides, 5)
    assert [p.name for p in saved] == ["minutes-0.05", "minutes-0.2"]
    rows = [json.loads(line) for line in (tmp_path / "out" / "log.jsonl").read_text().splitlines()]
    assert rows[0] == {"device": "cpu", "threads": 1}  # what trained, for the release's metadata
    marks = [r for r in rows if "checkpoint" in r]
    assert [m["checkpoint"] for m in marks] == ["minutes-0.05", "minutes-0.2"]
    assert 0 <= marks[0]["step"] < marks[1]["step"]  # trained between the two (a loaded machine may not step in 3 s)
    steps = [r for r in rows if "loss" in r]
    assert steps and all(r["learn_rate"] >= 0 for r in steps)
    loaded = spacy.load(saved[-1])
    doc = loaded.get_pipe("universal_ner_span")(loaded.make_doc("Ann Lee met Bo in Rome ."), labels=["person"])
    assert all(e.label_ == "person" for e in doc.ents)  # runs and answers only what is asked
    assert loaded.get_pipe("universal_ner_span").labels == {}  # open types: no defaults from sampled docs


def test_gpu_id_without_a_usable_gpu_is_a_coded_error_before_any_work(tmp_path):
    """Where thinc has no CUDA GPU (no CuPy, or no device), ``--gpu-id 0`` names the fix."""
    from thinc.util import has_cupy_gpu

    if has_cupy_gpu:
        pytest.skip("this machine has a CUDA GPU: the GPU path itself runs")
    with pytest.raises(ValueError, match=r"E633.*--gpu-id -1"):
        pretrain(ROOT / "configs" / "student-pretrain.cfg", tmp_path / "no-pool", tmp_path / "out", 0.1, gpu_id=0)
    assert not (tmp_path / "out").exists()  # stopped before reading the pool or writing anything


def test_a_misspelt_source_is_a_coded_error_before_training(tmp_path):
    """A reader source the pool's stats.json does not list would silently drop from training."""
    pool = tmp_path / "pool"
    pool.mkdir()
    nlp = spacy.blank("en")
    doc = nlp.make_doc("Ann Lee met Bo in Rome .")
    doc._.set(LABELS_ATTR, ["person"])
    for split in ("train", "dev"):
        to_docbin([doc]).to_disk(pool / f"{split}.spacy")
    (pool / "hierarchy.json").write_text("{}")
    (pool / "synonyms.json").write_text("{}")
    (pool / "stats.json").write_text(json.dumps({"sources": {"wiki": {"passages": 1}, "llm": {"passages": 0}}}))
    overrides = {"corpora.train.sources": "wiki,wikk"}  # as `--set corpora.train.sources=wiki,wikk` gives it
    with pytest.raises(ValueError, match=r"E312.*\['wikk'\].*llm, wiki"):
        pretrain(ROOT / "configs" / "student-pretrain.cfg", pool, tmp_path / "out", 0.1, overrides=overrides)
    assert not (tmp_path / "out").exists()
