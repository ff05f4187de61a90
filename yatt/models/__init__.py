"""Tiny causal LMs built from configs, their tokenizers, loading, and per-token log-probs.

Every service and the trainer load models through this package, from local directories only.
"""
