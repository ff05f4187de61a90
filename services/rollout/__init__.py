"""The rollout service: generates completions with the current policy weights over gRPC."""
