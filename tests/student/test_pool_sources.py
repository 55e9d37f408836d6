"""The pool command over the open-type additions (UFET crowd typing, Pile-NER guideline
examples, FabNER train), on small cuts of the shared files: partial docs keep their flag and
list only their annotated types, known negatives are kept, the definitions are written."""

from __future__ import annotations

import json

import pytest
import srsly
from spacy.tokens import DocBin
from spacy.vocab import Vocab
from typer.testing import CliRunner

from spacy_uniner.__main__ import app
from spacy_uniner.data.catalogue import load_catalogue
from spacy_uniner.data.docs import doc_types, is_partial

NEW = ("ufet_crowd", "pilener_guidelines", "fabner_train")


def _small_copies(data, target):
    """The first lines of each file of the new sources, at their catalogue paths."""
    catalogue = load_catalogue()
    for name in NEW:
        for split in ("train", "dev"):
            for data_file in catalogue[name].splits.get(split, ()):
                src, dest = data / data_file.path, target / data_file.path
                dest.parent.mkdir(parents=True, exist_ok=True)
                if src.suffix == ".txt":  # FabNER: 120 sentences
                    dest.write_text("\n\n".join(src.read_text(encoding="utf8").split("\n\n")[:120]) + "\n")
                elif name == "ufet_crowd":  # JSON lines: 150 mentions
                    dest.write_text("".join(src.read_text(encoding="utf8").splitlines(True)[:150]))
                else:  # one object keyed by type: 30 types
                    entries = json.loads(src.read_text(encoding="utf8"))
                    dest.write_text(json.dumps(dict(list(entries.items())[:30])))


def _docs(path):
    return list(DocBin().from_disk(path).get_docs(Vocab()))


@pytest.mark.filterwarnings("ignore:.*W801")  # the small cuts are not the pinned files
def test_pool_command_builds_the_new_sources(shared_dir, tmp_path):
    data, out = tmp_path / "data", tmp_path / "pool"
    _small_copies(shared_dir / "data", data)
    args = ["student", "pool", str(data), str(out), "--datasets", ",".join(NEW)]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    stats = srsly.read_json(out / "stats.json")
    assert set(stats["sources"]) - {"_benchmark_overlap_dropped"} == set(NEW)
    assert stats["sources"]["pilener_guidelines"]["llm_annotated"] is True
    train, dev = _docs(out / "train.spacy"), _docs(out / "dev.spacy")
    assert dev and not {d.text for d in train} & {d.text for d in dev}  # a text's copies: one side
    by_source = {}
    for doc in train + dev:
        by_source.setdefault(doc.user_data["pool_source"], []).append(doc)
    assert not any(is_partial(d) for d in by_source["fabner_train"])
    for name in ("ufet_crowd", "pilener_guidelines"):
        docs = by_source[name]
        assert docs and all(is_partial(d) for d in docs)
        # Only annotated types are listed: every listed type is a mention's type, except the
        # keyed type of a negative guideline sentence (no mention: a true known negative).
        for doc in docs:
            labels = {e.label_ for e in doc.ents}
            assert set(doc_types(doc)) == labels or (name == "pilener_guidelines" and not labels)
    negatives = [d for d in by_source["pilener_guidelines"] if not d.ents]
    assert len(negatives) > 30  # all kept, unlike 90% of other mention-less sentences
    assert all(len(doc_types(d)) == 1 for d in negatives)
    ufet_types = {t for d in by_source["ufet_crowd"] for t in doc_types(d)}
    assert "football player" in ufet_types and not any("_" in t for t in ufet_types)
    definitions = srsly.read_json(out / "definitions.json")
    assert len(definitions) == 30 and all(len(v) == 1 and k in v[0] for k, v in definitions.items())
    assert stats["defined_types"] == 30 and stats["partial_passages"] == sum(map(is_partial, train + dev))

    args += ["--no-definitions", "--datasets", "pilener_guidelines"]
    assert CliRunner().invoke(app, args, catch_exceptions=False).exit_code == 0
    assert srsly.read_json(out / "definitions.json") == {}
