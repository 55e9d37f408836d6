"""A released student's tensor files: one safetensors file, or shards of at most a given size."""

from __future__ import annotations

import pytest
import srsly
import torch

from spacy_uniner.pipes.span.model import WORD_EMBEDDINGS, export_pretrained, pretrained_path
from spacy_uniner.pipes.span.weights import WEIGHTS_INDEX_NAME, WEIGHTS_NAME, read_weights, write_weights

from conftest import span_module

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tensors(n: int = 6, rows: int = 1000) -> dict:
    generator = torch.Generator().manual_seed(0)
    return {f"layer.{i}.weight": torch.randn(rows, 250, generator=generator).half() for i in range(n)}  # 0.5 MB each


def test_a_released_student_is_sharded_and_loads_back(tmp_path):
    module, base_vocab = span_module(1)
    meta = {"name": "s", "encoder": "sentence-transformers/all-MiniLM-L6-v2", "model": {"max_width": 12}}
    folder = export_pretrained(module, tmp_path / "s", meta, base_vocab, max_shard_size="8MB")
    shards = sorted(folder.glob("student-*.safetensors"))
    assert len(shards) >= 3 and not (folder / WEIGHTS_NAME).exists()
    assert all(p.stat().st_size <= 8e6 for p in shards)
    index = srsly.read_json(folder / WEIGHTS_INDEX_NAME)
    assert sorted(set(index["weight_map"].values())) == [p.name for p in shards]
    assert pretrained_path(str(folder)) == folder
    loaded, _ = span_module(2, pretrained=str(folder))  # another seed: every tensor must come from the files
    original = module.state_dict()
    for key, value in loaded.state_dict().items():
        expected = original[key].half().to(value.dtype) if value.is_floating_point() else original[key]
        if key == WORD_EMBEDDINGS:  # the packaged encoder's own rows (fp32), the saved marker rows
            expected = torch.cat([original[key][:base_vocab], expected[base_vocab:]])
        assert torch.equal(value, expected), key


def test_weights_that_fit_are_one_file_and_a_folder_never_mixes_two_students(tmp_path):
    tensors = _tensors()
    written = write_weights(tensors, tmp_path, max_shard_size="10MB")
    assert written == [tmp_path / WEIGHTS_NAME] and not (tmp_path / WEIGHTS_INDEX_NAME).exists()
    written = write_weights(tensors, tmp_path, max_shard_size="1MB")
    assert len(written) == 4 and not (tmp_path / WEIGHTS_NAME).exists()  # 3 shards + index
    back = read_weights(tmp_path)
    assert back.keys() == tensors.keys() and all(torch.equal(back[k], tensors[k]) for k in tensors)
    write_weights(tensors, tmp_path, max_shard_size="10MB")  # the shards and index of before are gone
    assert sorted(p.name for p in tmp_path.iterdir()) == [WEIGHTS_NAME]


def test_a_missing_shard_or_tensor_is_a_coded_error(tmp_path):
    write_weights(_tensors(), tmp_path, max_shard_size="1MB")
    index = srsly.read_json(tmp_path / WEIGHTS_INDEX_NAME)
    index["weight_map"]["extra.weight"] = "student-00001-of-00003.safetensors"
    srsly.write_json(tmp_path / WEIGHTS_INDEX_NAME, index)
    with pytest.raises(OSError, match=r"E634.*extra\.weight"):
        read_weights(tmp_path)
    (tmp_path / "student-00002-of-00003.safetensors").unlink()
    with pytest.raises(OSError, match=r"E634.*student-00002-of-00003\.safetensors"):
        read_weights(tmp_path)


def test_a_bad_shard_size_is_a_coded_error(tmp_path):
    with pytest.raises(ValueError, match=r"E635.*16 megs"):
        write_weights(_tensors(1), tmp_path, max_shard_size="16 megs")
