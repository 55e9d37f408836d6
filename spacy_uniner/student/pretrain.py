"""Train the student on the open-type pool under a wall-clock budget.

``spacy train`` counts steps; pretraining on a pool too large for one pass is budgeted in
minutes instead, and one run leaves a checkpoint at each of several budgets, so a single
run gives quality against training time::

    spacy-uniner student-pretrain configs/student-pretrain.cfg POOL_DIR OUTPUT \
        --minutes 60 --checkpoints 15,30,45,60

The learning rate warms up linearly for ``warmup_minutes`` and then decays linearly to zero
at the end of the budget (both by elapsed time, not steps). Each checkpoint is a spaCy pipeline
(``OUTPUT/minutes-15``, ...); ``OUTPUT/log.jsonl`` has one line per logged step.

Batches vary in shape, so glibc's heap fragments under the many large tensors they leave
behind and the process keeps memory it no longer uses (7 GB after 10 minutes on one thread);
``return_freed_memory`` makes large blocks come from (and go back to) the system instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import json
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set

import srsly
from spacy import util
from spacy.util import registry

from ..errors import Errors
from ..pipes.base import OpenNERPipe
from .neighbours import NEIGHBOURS

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def return_freed_memory(threshold: int = 1 << 20) -> bool:
    """Serve allocations of at least ``threshold`` bytes by mmap and trim the heap above it,
    so freed tensors go back to the system (glibc only, as ``MALLOC_MMAP_THRESHOLD_`` and
    ``MALLOC_TRIM_THRESHOLD_`` would; fixed thresholds also stop glibc from raising them).
    Returns whether it was applied (False on other C libraries)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, threshold)) and bool(mallopt(M_TRIM_THRESHOLD, threshold))


def pretrain(
    config_path: Path,
    pool: Path,
    output: Path,
    minutes: float,
    checkpoints: Sequence[float] = (),
    overrides: Optional[Dict[str, object]] = None,
    log_every: int = 50,
    gpu_id: int = -1,
) -> List[Path]:
    """Train on ``pool/train.spacy`` for ``minutes`` of wall-clock time (on GPU ``gpu_id``,
    or the CPU when it is -1); returns the checkpoint folders."""
    import spacy_uniner.pipes.span.component  # noqa: F401  (registers the factory)
    import spacy_uniner.student.corpus  # noqa: F401  (registers the reader and its augmenters)

    return_freed_memory()
    if gpu_id >= 0:
        use_gpu(gpu_id)
    settings = {
        "paths.train": str(pool / "train.spacy"),
        "paths.dev": str(pool / "dev.spacy"),
        "paths.hierarchy": str(pool / "hierarchy.json"),
        "paths.synonyms": str(pool / "synonyms.json"),
        "paths.neighbours": str(pool / NEIGHBOURS) if (pool / NEIGHBOURS).exists() else None,
        **(overrides or {}),
    }
    config = util.load_config(config_path, overrides=settings, interpolate=False)
    nlp = util.load_model_from_config(config, auto_fill=True, validate=True)
    resolved = registry.resolve(config.interpolate()["training"])
    corpora = registry.resolve(config.interpolate()["corpora"])
    train_corpus = corpora["train"]
    check_sources(getattr(train_corpus, "sources", set()), pool)
    optimizer = resolved["optimizer"]
    batcher = resolved["batcher"]
    dropout = float(resolved["dropout"])
    base_rate = float(config["pretraining_schedule"]["learn_rate"])
    warmup = float(config["pretraining_schedule"]["warmup_minutes"])
    util.fix_random_seed(int(config["system"]["seed"]))
    nlp.initialize(lambda: itertools.islice(train_corpus(nlp), 20), sgd=optimizer)
    for _, pipe in nlp.pipeline:  # open types: no default labels taken from the 20 sampled docs
        if isinstance(pipe, OpenNERPipe):
            pipe.clear_labels()
    output.mkdir(parents=True, exist_ok=True)
    marks = sorted(float(m) for m in checkpoints if 0 < float(m) <= minutes)
    if not marks or marks[-1] != minutes:
        marks.append(minutes)
    saved: List[Path] = []
    losses: Dict[str, float] = {}
    step = docs = words = epoch = 0
    start = time.perf_counter()
    with (output / "log.jsonl").open("w", encoding="utf8") as log:
        log.write(json.dumps(_setup(gpu_id)) + "\n")
        while marks:
            for batch in batcher(train_corpus(nlp)):
                elapsed = (time.perf_counter() - start) / 60
                while marks and elapsed >= marks[0]:
                    saved.append(_checkpoint(nlp, output, marks.pop(0), step, docs, log))
                if not marks:
                    break
                rate = base_rate * min(1.0, max(elapsed, 0.01) / max(warmup, 0.01)) * max(0.0, 1.0 - elapsed / minutes)
                optimizer.learn_rate = rate
                nlp.update(batch, sgd=optimizer, drop=dropout, losses=losses)
                step += 1
                docs += len(batch)
                words += sum(len(eg.reference) for eg in batch)
                if step % log_every == 0:
                    row = {
                        "step": step,
                        "epoch": epoch,
                        "docs": docs,
                        "words": words,
                        "minutes": round(elapsed, 2),
                        "learn_rate": rate,
                        "loss": round(sum(losses.values()) / log_every, 4),
                    }
                    log.write(json.dumps(row) + "\n")
                    log.flush()
                    losses = {}
            epoch += 1
    return saved


def check_sources(sources: Set[str], pool: Path) -> None:
    """Every source the reader names must be one of the pool's (E312), so a misspelt name
    cannot silently drop its source from training."""
    stats = pool / "stats.json"
    if not sources or not stats.exists():
        return
    known = set(srsly.read_json(stats).get("sources", {}))
    unknown = sorted(sources - known)
    if unknown:
        raise ValueError(Errors.E312.format(unknown=unknown, pool=pool, known=", ".join(sorted(known))))


def _setup(gpu_id: int) -> Dict[str, object]:
    """What trains: the GPU's name (or ``cpu``) and torch's CPU threads."""
    import torch

    device = "cpu" if gpu_id < 0 else torch.cuda.get_device_name(gpu_id)
    return {"device": device, "threads": torch.get_num_threads()}


def use_gpu(gpu_id: int) -> None:
    """Put thinc's ops (and so the student's torch module) on GPU ``gpu_id``, with CuPy
    taking its memory from torch's allocator so the two share one pool (spaCy's
    ``gpu_allocator = "pytorch"``)."""
    from thinc.api import require_gpu, set_gpu_allocator

    try:
        require_gpu(gpu_id)
    except (ValueError, ImportError) as error:
        raise ValueError(Errors.E633.format(gpu_id=gpu_id, error=error)) from error
    set_gpu_allocator("pytorch")


def _checkpoint(nlp, output: Path, mark: float, step: int, docs: int, log) -> Path:
    path = output / f"minutes-{mark:g}"
    nlp.to_disk(path)
    log.write(json.dumps({"checkpoint": str(path.name), "minutes": mark, "step": step, "docs": docs}) + "\n")
    log.flush()
    return path
