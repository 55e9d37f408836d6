"""Who answers: model backends behind one small protocol, chosen by registry name."""

from .base import Backend
from .hf import HuggingFaceBackend
from .openai_compat import OpenAICompatibleBackend

__all__ = ["Backend", "HuggingFaceBackend", "OpenAICompatibleBackend"]
