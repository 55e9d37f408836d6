"""The open-type training pool: its readers, its exclusions and the corpus recipe."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Span

import spacy_uniner.pipes.span.component  # noqa: F401
from spacy_uniner.data.catalogue import load_catalogue
from spacy_uniner.data.docs import LABELS_ATTR, to_docbin
from spacy_uniner.student.augment import (
    coarse_types_augmenter,
    max_types_augmenter,
    negative_types_augmenter,
    shuffle_types_augmenter,
)
from spacy_uniner.student.corpus import StudentCorpus
from spacy_uniner.student.pool import build_pool, gliner_records, is_excluded, pool_splits, write_pool

BENCHMARK = ("crossner", "mit", "uniner")


def test_pool_never_selects_the_benchmark_or_a_test_split():
    catalogue = load_catalogue()
    chosen = [name for name, spec in catalogue.items() if not is_excluded(spec)]
    assert chosen and not [n for n in chosen if n.startswith(BENCHMARK)]
    assert all(is_excluded(catalogue[n]) for n in catalogue if n.startswith(BENCHMARK))
    assert all("test" not in pool_splits(catalogue[n]) for n in chosen)
    for name in ("fewnerd", "figer", "wlp", "sofc", "somesci", "pilener_validation", "pilener_gner", "gliner_sample"):
        assert name in chosen
    with pytest.raises(ValueError, match="E620"):
        build_pool(Path("nowhere"), datasets=["crossner_ai"])
    with pytest.raises(ValueError, match="E621"):
        build_pool(Path("nowhere"), datasets=["no_such_set"])


def _copy_split_files(data: Path, target: Path, names, splits=("train", "dev")) -> None:
    catalogue = load_catalogue()
    for name in names:
        for split in splits:
            for data_file in catalogue[name].splits.get(split, ()):
                dest = target / data_file.path
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(data / data_file.path, dest)


def test_pool_reads_only_non_test_files(shared_dir, tmp_path):
    """With only the train and dev files present, the pool builds: it never needs a test file."""
    data = tmp_path / "data"
    _copy_split_files(shared_dir / "data", data, ["sofc", "wnut17", "gliner_sample"])
    assert not (data / "raw" / "wnut17" / "emerging.test.annotated").exists()
    pool = build_pool(data, datasets=["sofc", "wnut17", "gliner_sample"], seed=0)
    summary = write_pool(pool, tmp_path / "pool")
    assert set(summary["sources"]) - {"_benchmark_overlap_dropped"} == {"sofc", "wnut17", "gliner_sample"}
    assert summary["passages"] == len(pool.train) + len(pool.dev) > 100
    assert {"material", "device", "person", "creative work"} <= {e.label_ for d in pool.train for e in d.ents}
    assert (tmp_path / "pool" / "train.spacy").exists() and (tmp_path / "pool" / "hierarchy.json").exists()
    # GLiNER's format: inclusive token offsets, known negatives listed.
    records = gliner_records(pool.train[:50])
    doc, record = pool.train[0], records[0]
    assert record["tokenized_text"] == [t.text for t in doc]
    assert [tuple(x) for x in record["ner"]] == [(e.start, e.end - 1, e.label_) for e in doc.ents]


def test_llm_annotated_passages_keep_their_negatives_and_fine_types_their_coarse_name(shared_dir):
    pool = build_pool(shared_dir / "data", datasets=["pilener_validation", "fewnerd"], dev_fraction=0.0)
    docs = pool.train
    pile = [d for d in docs if d.user_data["pool_source"] == "pilener_validation"]
    negatives = [t for d in pile for t in d._.get(LABELS_ATTR) if t not in {e.label_ for e in d.ents}]
    assert len(pile) > 800 and len(negatives) > 300  # the `[]` answers are kept as negatives
    assert any(not d.ents for d in pile)
    few = [d for d in docs if d.user_data["pool_source"] == "fewnerd"]
    assert len({e.label_ for d in few for e in d.ents}) == 66
    assert pool.hierarchy["athlete"] == "person" and pool.hierarchy["airport"] == "facility"


def test_llm_repeat_puts_each_llm_doc_in_the_order_that_many_times(shared_dir, tmp_path):
    data = tmp_path / "data"
    _copy_split_files(shared_dir / "data", data, ["sofc", "gliner_sample"])
    names = ["gliner_sample", "sofc"]  # the LLM source first: its copies come before sofc's split
    once = build_pool(data, datasets=names, seed=0)
    thrice = build_pool(data, datasets=names, llm_repeat=3, seed=0)

    def counts(pool):
        seen = {}
        for doc in pool.train:
            seen.setdefault(doc.user_data["pool_source"], []).append(doc.text)
        return {name: (len(texts), len(set(texts))) for name, texts in seen.items()}

    assert counts(once)["gliner_sample"][0] == counts(once)["gliner_sample"][1] > 0
    n_llm = counts(once)["gliner_sample"][1]
    assert counts(thrice)["gliner_sample"] == (3 * n_llm, n_llm)
    assert counts(thrice)["sofc"] == counts(once)["sofc"]  # only LLM-annotated sources repeat
    # The summary counts distinct passages; the order's length is reported on its own.
    summary, base = thrice.summary(), once.summary()
    assert summary["passages"] == base["passages"] and summary["mentions"] == base["mentions"]
    assert summary["train_order_length"] == base["train_passages"] + 2 * n_llm
    assert summary["sources"]["gliner_sample"]["copies"] == 3
    assert [d.text for d in thrice.dev] == [d.text for d in once.dev]  # copies never move the dev split
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="E625"):
            build_pool(data, datasets=["sofc"], llm_repeat=bad)


def _doc(nlp, words, ents, types):
    doc = spacy.tokens.Doc(nlp.vocab, words=words)
    doc.ents = [Span(doc, s, e, label=label) for s, e, label in ents]
    doc._.set(LABELS_ATTR, types)
    return doc


def test_corpus_recipe_ratio_cap_and_coarse_names(tmp_path):
    nlp = spacy.blank("en")
    docs = [
        _doc(
            nlp,
            ["Ann", "met", "Bo", "in", "Rome"],
            [(0, 1, "athlete"), (2, 3, "actor"), (4, 5, "city")],
            ["athlete", "actor", "city"],
        )
    ]
    docs += [_doc(nlp, ["x", str(i)], [(1, 2, f"type {i}")], [f"type {i}"]) for i in range(40)]
    to_docbin(docs).to_disk(tmp_path / "d.spacy")
    hierarchy = {"athlete": "person", "actor": "person"}
    ratio, cap = negative_types_augmenter(ratio=0.5), max_types_augmenter(4)
    corpus = StudentCorpus(tmp_path / "d.spacy", augmenters=[ratio, cap, shuffle_types_augmenter()], limit=1, seed=1)
    for _ in range(20):
        (eg,) = list(corpus(nlp))
        types = eg.reference._.get(LABELS_ATTR)
        assert len(types) <= 4 and {"athlete", "actor", "city"} <= set(types)  # positives first
    merged = StudentCorpus(tmp_path / "d.spacy", augmenters=[coarse_types_augmenter(hierarchy, rate=1.0)], limit=1)
    (eg,) = list(merged(nlp))
    assert set(eg.reference._.get(LABELS_ATTR)) == {"person", "city"}
    assert [e.label_ for e in eg.reference.ents] == ["person", "person", "city"]
    balanced = StudentCorpus(tmp_path / "d.spacy", augmenters=[ratio], seed=0)
    counts = []
    for eg in balanced(nlp):
        types = eg.reference._.get(LABELS_ATTR)
        positives = {e.label_ for e in eg.reference.ents}
        counts.append((len(positives), len([t for t in types if t not in positives])))
    assert all(n_neg == n_pos for n_pos, n_neg in counts)  # about 50% negative types
