"""Recipes of the span student: its open-type pool, training data reader, pretraining,
thresholds, release selection and CLI (the pipe itself is :mod:`spacy_uniner.pipes.span`)."""
