"""The protocol every backend implements."""

from __future__ import annotations

from typing import Any, Dict, List, Protocol, Sequence, runtime_checkable


@runtime_checkable
class Backend(Protocol):
    """Generates the answers to UniversalNER prompts.

    Each prompt is given as ``(prefix, suffix)``: the prefix is shared by every question
    about one passage, so a backend may encode it once; the prompt is ``prefix + suffix``.
    Answers are the raw generated text after ``ASSISTANT:``, in prompt order.
    """

    def generate(self, prompts: Sequence[tuple[str, str]]) -> List[str]: ...

    def count_tokens(self, texts: List[str], add_special_tokens: bool = False) -> List[int]:
        """Model tokens in each text; with ``add_special_tokens`` as the model receives it as a
        whole prompt (BOS included). Used to window long docs."""
        ...

    @property
    def config(self) -> Dict[str, Any]:
        """Settings that identify the backend, stored with the pipeline's metadata."""
        ...
