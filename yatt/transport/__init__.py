"""Weight transports: how a policy version travels from the trainer to rollout instances.

grpc streams chunks (any pair of hosts), shm shares one segment per version on a host, nccl
broadcasts between GPUs. Import light: the reaper child imports this package without torch.
"""
