"""Benchmarks: each measures its ratios side by side in one run and ends with one JSON line."""
