"""Trainer service: DeepSpeed policy (and critic) training, versioned weights, checkpoints."""
