"""The spaCy components: one base (labels, ents policy, scorer, serialization) and its pipes."""
