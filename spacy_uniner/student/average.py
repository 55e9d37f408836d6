"""Average released students' weights (a "model soup", Wortsman et al. 2022).

Students fine-tuned from one another share a loss basin: the mean of their weights is itself
a student, often better than each. Averaging reads released folders (safetensors weights
plus ``student.json``) and writes one; ``student export`` then chooses its threshold on dev.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import srsly
import torch

from ..errors import Errors
from ..pipes.span.model import PRETRAINED_META, lineage, pretrained_path, write_pretrained
from ..pipes.span.weights import MAX_SHARD_SIZE, read_weights

Tensors = Dict[str, torch.Tensor]


def mixing_weights(n: int, weights: Optional[Sequence[float]] = None) -> List[float]:
    """``weights`` normalised to sum to 1 (uniform when not given)."""
    if weights is None or len(weights) == 0:
        return [1.0 / n] * n
    if len(weights) != n or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(Errors.E630.format(weights=list(weights), n=n))
    total = float(sum(weights))
    return [w / total for w in weights]


def average_tensors(states: Sequence[Tensors], weights: Sequence[float], source_names: Sequence[str]) -> Tensors:
    """The weighted mean of each floating tensor (in fp32, saved in its first dtype); other
    tensors (integer buffers) must be equal across students."""
    first = states[0]
    for name, state in zip(source_names[1:], states[1:]):
        if set(state) != set(first):
            diff = sorted(set(state) ^ set(first))[:5]
            raise ValueError(Errors.E631.format(a=source_names[0], b=name, detail=f"tensors {diff} in one only"))
        for key, value in state.items():
            if value.shape != first[key].shape:
                detail = f"{key} {tuple(first[key].shape)} against {tuple(value.shape)}"
                raise ValueError(Errors.E631.format(a=source_names[0], b=name, detail=detail))
    averaged = {}
    for key, value in first.items():
        if not value.is_floating_point():
            for name, state in zip(source_names[1:], states[1:]):
                if not torch.equal(value, state[key]):
                    raise ValueError(Errors.E631.format(a=source_names[0], b=name, detail=f"{key} differs"))
            averaged[key] = value
            continue
        mean = weights[0] * value.to(torch.float32)
        for w, state in zip(weights[1:], states[1:]):
            mean += w * state[key].to(torch.float32)
        averaged[key] = mean.to(value.dtype).contiguous()
    return averaged


def average_students(
    names: Sequence[str],
    output: Path,
    weights: Optional[Sequence[float]] = None,
    name: Optional[str] = None,
    max_shard_size: str = MAX_SHARD_SIZE,
) -> Tuple[Path, dict]:
    """Write the weighted mean of the released students ``names`` (shipped names or folders)
    to ``output``. Their encoder and model settings must match (E631). Returns the folder
    and its metadata; its ``threshold_on_dev`` is left out: run ``student export``."""
    if len(names) < 2:
        raise ValueError(Errors.E632.format(n=len(names)))
    mix = mixing_weights(len(names), weights)
    paths = [pretrained_path(n) for n in names]
    metas = [srsly.read_json(p / PRETRAINED_META) for p in paths]
    for path, meta in zip(paths[1:], metas[1:]):
        for key in ("encoder", "model"):
            if meta.get(key) != metas[0].get(key):
                detail = f"{key} {metas[0].get(key)!r} against {meta.get(key)!r}"
                raise ValueError(Errors.E631.format(a=paths[0], b=path, detail=detail))
    states = [read_weights(p) for p in paths]
    tensors = average_tensors(states, mix, [str(p) for p in paths])
    meta = {
        "name": name or output.name,
        "encoder": metas[0]["encoder"],
        "model": metas[0].get("model", {}),
        "dtype": metas[0].get("dtype", "float16"),
        "averaged_from": [{"name": str(p), **lineage(m), "weight": w} for m, p, w in zip(metas, paths, mix)],
        "note": "weights averaged from the students above, each with its own threshold folded into `bias`; "
        "run `student export` to choose this one's on dev",
    }
    if "training_data" in metas[-1]:
        meta["training_data"] = metas[-1]["training_data"]
    return write_pretrained(tensors, output, meta, max_shard_size), meta
