"""The shipped pretrained student: offline, no training, weights without code."""

from __future__ import annotations

import json
import struct

import pytest
import spacy

import spacy_uniner.student.component  # noqa: F401
from spacy_uniner.student.model import (
    DEFAULT_PRETRAINED,
    PRETRAINED_DIR,
    PRETRAINED_META,
    PRETRAINED_WEIGHTS,
    pretrained_path,
)

SHIPPED = PRETRAINED_DIR / DEFAULT_PRETRAINED


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def nlp():
    nlp = spacy.blank("en")
    nlp.add_pipe("universal_ner_span", config={"labels": ["person", "city"]})
    return nlp


def test_shipped_weights_are_small_tensors_only():
    files = sorted(p.name for p in SHIPPED.iterdir())
    assert files == [PRETRAINED_META, PRETRAINED_WEIGHTS]
    assert sum(p.stat().st_size for p in SHIPPED.iterdir()) < 50e6
    raw = (SHIPPED / PRETRAINED_WEIGHTS).read_bytes()
    (header_size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_size])  # safetensors: a JSON header, then raw tensor bytes
    assert {v["dtype"] for k, v in header.items() if k != "__metadata__"} == {"F16"}
    assert b"\x80\x04" not in raw[:2] and not raw.startswith(b"PK")  # not a pickle or a zip
    meta = json.loads((SHIPPED / PRETRAINED_META).read_text())
    assert meta["model"]["max_width"] == 12 and "training_data" in meta


def test_fresh_pipe_finds_entities_with_no_training(nlp):
    doc = nlp("Barack Obama was born in Honolulu and later moved to Chicago.")
    found = {(e.text, e.label_) for e in doc.ents}
    assert ("Barack Obama", "person") in found
    assert ("Honolulu", "city") in found or ("Chicago", "city") in found
    scores = dict(((s.text, s.label_), p) for s, p in zip(doc.spans["uniner"], doc.spans["uniner"].attrs["scores"]))
    assert scores[("Barack Obama", "person")] > 0.7  # a margin over the 0.5 threshold
    assert ("was born", "person") not in scores and ("Barack Obama", "city") not in scores


def test_any_type_names_at_call_time(nlp):
    doc = nlp.get_pipe("universal_ner_span")(
        nlp.make_doc("Apple released the iPhone in California."), labels=["company", "product"]
    )
    labels = {e.text: e.label_ for e in doc.ents}
    assert labels.get("Apple") == "company"


def test_pretrained_name_errors():
    with pytest.raises(OSError, match="E622"):
        pretrained_path("no-such-student")
