"""A released student's tensor files: safetensors, sharded the Hugging Face way.

Small students are one ``student.safetensors``; larger ones are split into files of at most
``max_shard_size`` (``student-00001-of-00002.safetensors``, ...) listed by
``student.safetensors.index.json`` (``{"metadata": {"total_size": ...}, "weight_map": {tensor: file}}``),
the layout ``transformers`` writes with ``save_pretrained(max_shard_size=...)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

import srsly
import torch

from ...errors import Errors

WEIGHTS_NAME = "student.safetensors"
WEIGHTS_INDEX_NAME = "student.safetensors.index.json"
MAX_SHARD_SIZE = "16MB"


def has_weights(folder: Path) -> bool:
    """Whether ``folder`` holds a student's tensors, in one file or sharded."""
    return (folder / WEIGHTS_NAME).exists() or (folder / WEIGHTS_INDEX_NAME).exists()


def _weight_map(folder: Path) -> Optional[Dict[str, str]]:
    """The index's ``{tensor: file}`` of a sharded student, or None for one file."""
    index = folder / WEIGHTS_INDEX_NAME
    return srsly.read_json(index)["weight_map"] if index.exists() else None


def _files(folder: Path, weight_map: Optional[Dict[str, str]]) -> List[Path]:
    if weight_map is None:
        return [folder / WEIGHTS_NAME]
    names = sorted(set(weight_map.values()))
    missing = [n for n in names if not (folder / n).exists()]
    if missing:
        raise OSError(Errors.E634.format(path=folder, missing=", ".join(missing), index=WEIGHTS_INDEX_NAME))
    return [folder / n for n in names]


def weight_files(folder: Path) -> List[Path]:
    """The tensor files of the student in ``folder``, in order; E634 if a listed shard is missing."""
    return _files(folder, _weight_map(folder))


def read_weights(folder: Path) -> Dict[str, torch.Tensor]:
    """Every tensor of the student in ``folder`` (safetensors: no code runs). A sharded
    student must have each tensor its index lists, in the file it names (E634)."""
    from safetensors.torch import load_file

    weight_map = _weight_map(folder)
    tensors: Dict[str, torch.Tensor] = {}
    for path in _files(folder, weight_map):
        tensors.update(load_file(str(path)))
    if weight_map is not None and set(weight_map) != set(tensors):
        detail = sorted(set(weight_map) ^ set(tensors))[:5]
        raise OSError(Errors.E634.format(path=folder, missing=f"tensors {detail}", index=WEIGHTS_INDEX_NAME))
    return tensors


def write_weights(tensors: Dict[str, torch.Tensor], folder: Path, max_shard_size: str = MAX_SHARD_SIZE) -> List[Path]:
    """Save ``tensors`` in ``folder``: one ``student.safetensors`` if they fit in
    ``max_shard_size`` (e.g. "16MB", "2GB"), else shards and their index. Earlier tensor
    files in ``folder`` are removed first, so a folder never mixes two students. Returns
    the files written. The same tensors, in any order, give the same bytes."""
    from huggingface_hub import split_torch_state_dict_into_shards
    from safetensors.torch import save_file

    tensors = dict(sorted(tensors.items()))
    try:
        split = split_torch_state_dict_into_shards(
            tensors, filename_pattern="student{suffix}.safetensors", max_shard_size=max_shard_size
        )
    except ValueError as error:
        raise ValueError(Errors.E635.format(size=max_shard_size, error=error)) from error
    folder.mkdir(parents=True, exist_ok=True)
    for old in [*folder.glob("student*.safetensors"), folder / WEIGHTS_INDEX_NAME]:
        old.unlink(missing_ok=True)
    written = []
    for filename, names in split.filename_to_tensors.items():
        save_file({n: tensors[n] for n in names}, str(folder / filename), metadata={"format": "pt"})
        written.append(folder / filename)
    if split.is_sharded:
        index = {"metadata": split.metadata, "weight_map": split.tensor_to_filename}
        srsly.write_json(folder / WEIGHTS_INDEX_NAME, index)
        written.append(folder / WEIGHTS_INDEX_NAME)
    return written
