"""Registries of spacy-uniner, resolvable from spaCy configs."""

from spacy.util import registry

# Backends ("who answers"): ``@uniner_backends = "spacy_uniner.HuggingFace.v1"``.
registry.create("uniner_backends", entry_points=True)
# Answer caches around any backend: ``@uniner_caches = "spacy_uniner.DiskCache.v1"``.
registry.create("uniner_caches", entry_points=True)

__all__ = ["registry"]
