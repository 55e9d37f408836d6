"""Targeted distillation data: passages, teacher annotation, parsing and instruction data.

The first two stages of UniversalNER (Zhou et al. 2023): sample passages from a raw
corpus, have an LLM teacher list their (entity, type) pairs, then turn the parsed and
filtered annotations into conversation-style instruction data.
"""
