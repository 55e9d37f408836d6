"""Torch models in forked worker processes (``nlp.pipe(n_process=2)`` on Linux).

PyTorch's CPU wheels run their intra-op threads on GNU OpenMP, whose thread pool does not
survive a fork: once the parent has run a model on more than one thread, a forked child
hangs at its first parallel operation. PyTorch's own ``DataLoader`` workers read with one
thread for this reason, and so do the children forked after one of our models has run: they
share the machine's cores with their siblings anyway. The fast tokenizer's warning about
forking after its own thread pool was used is silenced for the child alone.
"""

from __future__ import annotations

import os
from typing import Dict, Optional

TOKENIZERS_PARALLELISM = "TOKENIZERS_PARALLELISM"
_registered = False
_saved: Dict[str, Optional[str]] = {}


def _before_fork() -> None:
    """The child inherits ``TOKENIZERS_PARALLELISM=false`` unless the user set it."""
    _saved[TOKENIZERS_PARALLELISM] = os.environ.get(TOKENIZERS_PARALLELISM)
    os.environ.setdefault(TOKENIZERS_PARALLELISM, "false")


def _after_fork_in_parent() -> None:
    """The parent's environment as it was before the fork."""
    if _saved.pop(TOKENIZERS_PARALLELISM, "set") is None:
        os.environ.pop(TOKENIZERS_PARALLELISM, None)


def _after_fork_in_child() -> None:
    import torch

    if torch.get_num_threads() > 1:
        torch.set_num_threads(1)


def fork_safe_torch() -> None:
    """Make processes forked from now on read with one torch thread (once per process;
    called before a model first runs, so a fork before any run keeps its threads)."""
    global _registered
    if not _registered and hasattr(os, "register_at_fork"):  # no fork on Windows
        os.register_at_fork(
            before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
        )
        _registered = True
