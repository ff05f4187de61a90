"""Keeps the algorithm unit tests on one thread: the machine is shared by several helpers."""

import torch

torch.set_num_threads(1)
