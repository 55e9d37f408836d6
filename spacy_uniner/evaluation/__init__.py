"""Benchmark evaluation: run a pipeline over catalogue datasets, score, report, CLI."""
