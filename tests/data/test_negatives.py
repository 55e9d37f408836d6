"""Frequency-proportional negative types (paper 3.2): one sampler, two frequency counts."""

from __future__ import annotations

from collections import Counter

import numpy as np
import spacy

from spacy_uniner.data.negatives import NegativeSampler, mention_frequencies, passage_frequencies


def test_negative_sampler_frequencies():
    sampler = NegativeSampler({"a": 60, "b": 25, "c": 10, "d": 5})
    rng = np.random.default_rng(0)
    draws = 20_000
    counts = Counter(t for _ in range(draws) for t in sampler.sample(rng, 1))
    for etype, p in {"a": 0.60, "b": 0.25, "c": 0.10, "d": 0.05}.items():
        assert abs(counts[etype] / draws - p) < 0.015  # > 4 standard deviations
    counts = Counter(t for _ in range(draws) for t in sampler.sample(rng, 1, exclude={"a", "zzz"}))
    assert "a" not in counts
    for etype, p in {"b": 25 / 40, "c": 10 / 40, "d": 5 / 40}.items():
        assert abs(counts[etype] / draws - p) < 0.015
    two = [sampler.sample(rng, 2, exclude={"b"}) for _ in range(200)]
    assert all(len(set(s)) == 2 and "b" not in s for s in two)
    assert sorted(sampler.sample(rng, 10, exclude={"a"})) == ["b", "c", "d"]
    assert sampler.sample(rng, 3, exclude={"a", "b", "c", "d"}) == []


def test_many_types_are_drawn_with_the_same_distribution():
    """With many types the sampler rejects excluded draws instead of reweighting: the
    proportions among the remaining types must stay those of their frequencies."""
    frequencies = {f"t{i}": 1 for i in range(200)} | {"big": 300, "mid": 100}
    sampler = NegativeSampler(frequencies)
    rng = np.random.default_rng(1)
    draws = 20_000
    counts = Counter(t for _ in range(draws) for t in sampler.sample(rng, 1, exclude={"t0", "t1"}))
    total = sum(frequencies.values()) - 2
    assert "t0" not in counts and "t1" not in counts
    for etype in ("big", "mid"):
        assert abs(counts[etype] / draws - frequencies[etype] / total) < 0.015
    five = [sampler.sample(rng, 5, exclude={"big"}) for _ in range(200)]
    assert all(len(set(s)) == 5 and "big" not in s for s in five)


def test_frequencies_count_mentions_or_passages():
    nlp = spacy.blank("en")
    doc = nlp("Ann met Bo and Cy in Rome")
    doc.ents = [doc.char_span(0, 3, "person"), doc.char_span(8, 10, "person"), doc.char_span(21, 25, "city")]
    other = nlp("Dee left")
    other.ents = [other.char_span(0, 3, "person")]
    assert mention_frequencies(e.label_ for d in (doc, other) for e in d.ents) == {"person": 3, "city": 1}
    assert passage_frequencies([doc, other]) == {"person": 2, "city": 1}
