"""Loading Hugging Face tokenizers with coded errors for what users meet first."""

from __future__ import annotations

import re
from typing import Any

from ..errors import Errors

# Optional libraries that transformers needs for some tokenizers (LLaMA-1's sentencepiece
# `tokenizer.model` needs both of the first two when no `tokenizer.json` is shipped).
TOKENIZER_PACKAGES = ("sentencepiece", "protobuf", "tiktoken", "tokenizers")


def load_tokenizer(name_or_path: str, **kwargs: Any):
    """``AutoTokenizer.from_pretrained`` whose failures name the model and the fix (E009, E013)."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name_or_path, **kwargs)
    except ImportError as e:
        raise ImportError(
            Errors.E013.format(name=name_or_path, packages=missing_packages(e), error=" ".join(str(e).split()))
        ) from e
    except (OSError, ValueError) as e:
        raise OSError(Errors.E009.format(name=name_or_path, error=e)) from e


def missing_packages(error: ImportError) -> str:
    """The pip names an ImportError from transformers asks for, space-separated."""
    text = str(error).lower()
    found = [p for p in TOKENIZER_PACKAGES if re.search(rf"\b{p}\b", text)]
    if not found and error.name:
        found = [error.name.split(".")[0]]
    return " ".join(found or ["sentencepiece", "protobuf"])


TORCH_DTYPES = ("auto", "float32", "float16", "bfloat16")


def torch_dtype(name: str):
    """``"auto"`` or the ``torch.dtype`` named by ``name`` (E010 for anything else)."""
    import torch

    if name not in TORCH_DTYPES:
        raise ValueError(Errors.E010.format(dtype=name))
    return name if name == "auto" else getattr(torch, name)
