"""Averaging released students' weights (`student average`): the mean loads as a student."""

from __future__ import annotations

import pytest
import srsly
import torch

from spacy_uniner.pipes.span.model import PRETRAINED_META, export_pretrained
from spacy_uniner.student.average import average_students

from conftest import span_module

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _release(tmp_path, name: str, seed: int, max_width: int = 12, **settings):
    module, base_vocab = span_module(seed, max_width=max_width)
    model = {"max_width": max_width, **settings}
    meta = {"name": name, "encoder": "sentence-transformers/all-MiniLM-L6-v2", "model": model}
    return export_pretrained(module, tmp_path / name, meta, base_vocab), module


def test_weighted_mean_loads_into_a_fresh_pipe(tmp_path):
    (a, mod_a), (b, mod_b) = _release(tmp_path, "a", 1), _release(tmp_path, "b", 2)
    out, meta = average_students([str(a), str(b)], tmp_path / "soup", weights=[1, 3])
    assert [s["weight"] for s in meta["averaged_from"]] == [0.25, 0.75]
    assert srsly.read_json(out / PRETRAINED_META)["averaged_from"][0]["name"] == "a"
    loaded, _ = span_module(3, pretrained=str(out))
    state_a, state_b = mod_a.state_dict(), mod_b.state_dict()
    checked = 0
    for key, value in loaded.state_dict().items():
        if not value.is_floating_point() or torch.equal(state_a[key], state_b[key]):
            continue  # frozen vocabulary rows and buffers: equal in both
        expected = 0.25 * state_a[key].half().float() + 0.75 * state_b[key].half().float()
        assert torch.allclose(value.float(), expected, atol=2e-3), key
        checked += 1
    assert checked >= 5  # the randomly initialised heads (the encoder is the packaged one in both)


def test_a_student_averaged_with_itself_is_unchanged(tmp_path):
    a, _ = _release(tmp_path, "a", 1)
    out, _ = average_students([str(a), str(a)], tmp_path / "same")
    files = sorted(p.name for p in a.glob("student*.safetensors*"))
    assert len(files) >= 1 and sorted(p.name for p in out.glob("student*.safetensors*")) == files
    assert all((out / f).read_bytes() == (a / f).read_bytes() for f in files)


def test_bad_averages_name_the_fix(tmp_path):
    (a, _), (b, _) = _release(tmp_path, "a", 1), _release(tmp_path, "wide", 2, max_width=8)
    with pytest.raises(ValueError, match="E631"):
        average_students([str(a), str(b)], tmp_path / "x")
    bi, _ = _release(tmp_path, "bi", 3, type_encoding="separate")  # a joint and a separate student
    with pytest.raises(ValueError, match="E631.*type_encoding"):
        average_students([str(a), str(bi)], tmp_path / "x")
    with pytest.raises(ValueError, match="E630"):
        average_students([str(a), str(a)], tmp_path / "x", weights=[1, 2, 3])
    with pytest.raises(ValueError, match="E630"):
        average_students([str(a), str(a)], tmp_path / "x", weights=[0, 0])
    with pytest.raises(ValueError, match="E632"):
        average_students([str(a)], tmp_path / "x")
