"""UniversalNER for spaCy: open named-entity recognition with distilled LLMs."""

__version__ = "0.1.0"
